// Package episode records and reads robot episodes as LeRobotDataset v3.0, the format
// LeRobot trains on, so that what robotd records trains directly in LeRobot and what
// LeRobot users record replays in robotd.
//
// It owns the on-disk format (meta/info.json, meta/stats.json, meta/tasks.parquet,
// meta/episodes/chunk-XXX/file-XXX.parquet, data/chunk-XXX/file-XXX.parquet and
// videos/<camera key>/chunk-XXX/file-XXX.mp4), the statistics LeRobot normalizes with,
// video encoding through ffmpeg off the caller's path, and crash safety.
//
// Writing: [Create] starts a dataset, [OpenAppend] adds to one (robotd's or LeRobot's);
// [Writer.BeginEpisode] returns an [EpisodeWriter] fed with [EpisodeWriter.AddFrame] at
// the dataset fps, then [EpisodeWriter.End] commits the episode or
// [EpisodeWriter.Discard] drops it. Reading: [Open] and [Dataset.Episode].
//
// Crash safety: an episode is committed completely or not at all. Its frames are staged
// under <dataset>/.robotd/staging, every file that changes is rebuilt there in full
// (the shared data, episodes and video files are rewritten, never modified in place),
// fsynced, and a journal listing the renames is written atomically: that journal is the
// commit point. The renames follow; a crash after the journal is redone by the next
// writer, a crash before it leaves staging files that the next writer discards (and
// reports in [Writer.Recovered]). Files already recorded are only ever replaced by a
// renamed copy that contains them.
//
// Timestamps: LeRobot finds a frame's image in the video at from_timestamp + timestamp
// with a tolerance of 1e-4 s, so the timestamp column is frame_index / fps, the grid the
// video is encoded on. The capture clock of each frame ([Frame.Timestamp]) is checked
// against that grid and frames further than half a period from it are counted
// ([Progress.OffGridFrames]).
package episode
