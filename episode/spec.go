package episode

import (
	"fmt"
	"strings"
)

// CodebaseVersion is the LeRobotDataset version this package writes and reads.
const CodebaseVersion = "v3.0"

// LegacyVersion is the earlier LeRobotDataset version this package reads (not writes).
const LegacyVersion = "v2.1"

// Defaults LeRobot uses (lerobot/datasets/utils.py), used when a Spec leaves them zero.
const (
	DefaultChunksSize  = 1000 // files per chunk-XXX directory
	DefaultDataFileMB  = 100  // data parquet files roll over past this size
	DefaultVideoFileMB = 200  // mp4 files roll over past this size
)

// Feature keys of the LeRobot format.
const (
	KeyState        = "observation.state"
	KeyAction       = "action"
	KeyReward       = "next.reward"
	KeyDone         = "next.done"
	KeySuccess      = "next.success"
	KeyTimestamp    = "timestamp"
	KeyFrameIndex   = "frame_index"
	KeyEpisodeIndex = "episode_index"
	KeyIndex        = "index"
	KeyTaskIndex    = "task_index"
	// KeyEnvState is LeRobot's key for the state of the environment (objects, not the
	// robot), e.g. a simulated object's pose.
	KeyEnvState = "observation.environment_state"
	// CameraKeyPrefix starts the key of every camera robotd records; LeRobot policies
	// pick their image inputs by it.
	CameraKeyPrefix = "observation.images."
)

// FeatureSpec describes a vector feature: one float32 per name.
type FeatureSpec struct {
	Names []string
}

// VectorSpec describes an extra float32 vector feature stored in the data table, one
// value per name, under any key LeRobot does not reserve (e.g. KeyEnvState or
// "observation.ee_pose").
type VectorSpec struct {
	Key   string
	Names []string
}

// CameraSpec describes one camera stream, stored as an mp4 video of RGB frames.
type CameraSpec struct {
	// Key is the feature key, CameraKeyPrefix + a name ("observation.images.front").
	Key string
	// Width and Height are the frame size in pixels; frames are RGB24, Height*Width*3 bytes.
	Width, Height int
}

// VideoSpec sets the encoder. Videos are H.264 (libx264), yuv420p, without B-frames,
// which LeRobot decodes with torchcodec and PyAV.
type VideoSpec struct {
	// CRF is libx264's constant rate factor (default 23; lower is better and larger).
	CRF int
	// GOP is the keyframe interval in frames (default 2, as LeRobot: its PyAV decoder
	// seeks to the keyframe before a sample and decodes forward).
	GOP int
	// Preset is the libx264 speed preset (default "ultrafast": CAVLC, no deblocking
	// filter, the cheapest motion search; about 45 % larger files than "veryfast" at the
	// same CRF, half the encoder CPU, and faster to decode when training).
	Preset string
	// Tune is libx264's tune (default "zerolatency": no lookahead, no mb-tree, which
	// a recording with no B-frames and GOP 2 gains nothing from; "none" for none). It is
	// written to info.json as LeRobot's video.extra_options.
	Tune string
	// QueueFrames bounds each camera's encoder queue (default: one second of frames).
	// When it is full AddFrame drops the image instead of waiting; the encoder repeats
	// the previous image in its place so the video keeps one frame per row, and the drop
	// is counted in Progress.DroppedFrames.
	QueueFrames int
	// Wait makes AddFrame wait for room in a full queue instead of dropping the image:
	// for simulated time (lockstep), which can run ahead of the encoders and wait for
	// them. A real-time recorder leaves it false and never blocks.
	Wait bool
}

// Spec describes a dataset robotd records.
type Spec struct {
	// RobotType goes to info.json's robot_type (e.g. "panda").
	RobotType string
	// FPS is the dataset frame rate: one row per 1/FPS seconds.
	FPS int
	// State is observation.state, Action is action; both float32 vectors.
	State, Action FeatureSpec
	// Vectors are extra float32 vector features, in this order in Frame.Vectors.
	Vectors []VectorSpec
	// Cameras are the video features, in this order in Frame.Images.
	Cameras []CameraSpec
	// Reward, Done and Success add the next.reward (float32), next.done and
	// next.success (bool) columns.
	Reward, Done, Success bool
	// Video configures the encoder.
	Video VideoSpec
	// ChunksSize, DataFileMB, VideoFileMB: info.json's chunks_size,
	// data_files_size_in_mb and video_files_size_in_mb (defaults as LeRobot's).
	ChunksSize, DataFileMB, VideoFileMB int
}

func (s Spec) withDefaults() Spec {
	if s.ChunksSize == 0 {
		s.ChunksSize = DefaultChunksSize
	}
	if s.DataFileMB == 0 {
		s.DataFileMB = DefaultDataFileMB
	}
	if s.VideoFileMB == 0 {
		s.VideoFileMB = DefaultVideoFileMB
	}
	s.Video = s.Video.withDefaults(s.FPS)
	return s
}

// withDefaults fills the defaults documented at the fields, for video at fps.
func (v VideoSpec) withDefaults(fps int) VideoSpec {
	if v.CRF == 0 {
		v.CRF = 23
	}
	if v.GOP == 0 {
		v.GOP = 2
	}
	if v.Preset == "" {
		v.Preset = "ultrafast"
	}
	if v.Tune == "" {
		v.Tune = "zerolatency"
	}
	if v.QueueFrames == 0 {
		v.QueueFrames = fps
	}
	return v
}

// Validate checks a Spec (after defaults): positive fps and sizes, named features,
// camera keys and even frame sizes (yuv420p needs them).
func (s Spec) Validate() error {
	var errs []string
	if s.FPS <= 0 || s.FPS > 1000 {
		errs = append(errs, fmt.Sprintf("fps %d: want 1..1000", s.FPS))
	}
	if len(s.State.Names) == 0 {
		errs = append(errs, "state: no names (want one per dimension)")
	}
	if len(s.Action.Names) == 0 {
		errs = append(errs, "action: no names (want one per dimension)")
	}
	seen := map[string]bool{}
	for i, v := range s.Vectors {
		switch {
		case v.Key == "" || reservedKey(v.Key):
			errs = append(errs, fmt.Sprintf("vector %d: key %q: want a key that is not empty, %s, %s, next.*, an index feature or %s*", i, v.Key, KeyState, KeyAction, CameraKeyPrefix))
		case seen[v.Key]:
			errs = append(errs, fmt.Sprintf("vector %d: key %q twice", i, v.Key))
		case len(v.Names) == 0:
			errs = append(errs, fmt.Sprintf("vector %q: no names (want one per dimension)", v.Key))
		}
		seen[v.Key] = true
	}
	for i, c := range s.Cameras {
		switch {
		case !strings.HasPrefix(c.Key, CameraKeyPrefix) || len(c.Key) == len(CameraKeyPrefix):
			errs = append(errs, fmt.Sprintf("camera %d: key %q: want %q + a name", i, c.Key, CameraKeyPrefix))
		case seen[c.Key]:
			errs = append(errs, fmt.Sprintf("camera %d: key %q twice", i, c.Key))
		}
		seen[c.Key] = true
		if c.Width <= 0 || c.Height <= 0 || c.Width%2 != 0 || c.Height%2 != 0 {
			errs = append(errs, fmt.Sprintf("camera %q: size %dx%d: want positive even width and height (yuv420p)", c.Key, c.Width, c.Height))
		}
	}
	if s.ChunksSize <= 0 || s.DataFileMB <= 0 || s.VideoFileMB <= 0 {
		errs = append(errs, fmt.Sprintf("chunks_size %d, data_files_size_in_mb %d, video_files_size_in_mb %d: want positive", s.ChunksSize, s.DataFileMB, s.VideoFileMB))
	}
	if s.Video.CRF < 0 || s.Video.CRF > 51 || s.Video.GOP < 1 || s.Video.QueueFrames < 1 {
		errs = append(errs, fmt.Sprintf("video: crf %d (0..51), gop %d (>= 1), queue %d (>= 1)", s.Video.CRF, s.Video.GOP, s.Video.QueueFrames))
	}
	if len(errs) > 0 {
		return fmt.Errorf("episode: spec: %s", strings.Join(errs, "; "))
	}
	return nil
}

// reservedKey reports whether key is one Spec fills itself (state, action, next.*, the
// index features) or a camera's.
func reservedKey(key string) bool {
	switch key {
	case KeyState, KeyAction, KeyTimestamp, KeyFrameIndex, KeyEpisodeIndex, KeyIndex, KeyTaskIndex:
		return true
	}
	return strings.HasPrefix(key, "next.") || strings.HasPrefix(key, CameraKeyPrefix)
}

// features returns the info.json features robotd writes for s, in LeRobot's order:
// the recorded features, then the five index features.
func (s Spec) features() []Feature {
	fs := []Feature{
		{Key: KeyState, Dtype: "float32", Shape: []int{len(s.State.Names)}, Names: s.State.Names},
		{Key: KeyAction, Dtype: "float32", Shape: []int{len(s.Action.Names)}, Names: s.Action.Names},
	}
	for _, v := range s.Vectors {
		fs = append(fs, Feature{Key: v.Key, Dtype: "float32", Shape: []int{len(v.Names)}, Names: v.Names})
	}
	for _, c := range s.Cameras {
		fs = append(fs, Feature{Key: c.Key, Dtype: "video", Shape: []int{c.Height, c.Width, 3},
			Names: []string{"height", "width", "channels"}, video: &c, fps: s.FPS, vspec: s.Video})
	}
	if s.Reward {
		fs = append(fs, Feature{Key: KeyReward, Dtype: "float32", Shape: []int{1}})
	}
	if s.Done {
		fs = append(fs, Feature{Key: KeyDone, Dtype: "bool", Shape: []int{1}})
	}
	if s.Success {
		fs = append(fs, Feature{Key: KeySuccess, Dtype: "bool", Shape: []int{1}})
	}
	return append(fs, defaultFeatures()...)
}

func defaultFeatures() []Feature {
	return []Feature{
		{Key: KeyTimestamp, Dtype: "float32", Shape: []int{1}},
		{Key: KeyFrameIndex, Dtype: "int64", Shape: []int{1}},
		{Key: KeyEpisodeIndex, Dtype: "int64", Shape: []int{1}},
		{Key: KeyIndex, Dtype: "int64", Shape: []int{1}},
		{Key: KeyTaskIndex, Dtype: "int64", Shape: []int{1}},
	}
}
