package episode

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go"
)

// An episode's commit runs in stages, each building in staging the files the episode
// changes (stageFile lists the rename that will install each one):
//
//	resolveTask   the task's index; a new task adds a row to meta/tasks.parquet
//	stageData     the data rows, appended to the latest data file when it has room,
//	              and the per-episode stats of the numeric features
//	stageVideos   each camera's video: the episode's own mp4, as the encoder wrote it
//	stageEpisode  the episodes-table row (an EpisodeMeta and the episode's stats)
//	stageTasks    meta/tasks.parquet, when the task is new
//	stageTotals   meta/stats.json, meta/info.json and robotd's last-episode record
//
// then everything staged is synced, the journal listing the renames is written (the
// commit point) and applied. Nothing in the dataset changes before the journal exists;
// after it, OpenAppend finishes an interrupted apply.
//
// Each episode's video is a file of its own (videos/KEY/chunk-C/file-F.mp4, the next
// file index after the last episode's): appending it to the current file would mean
// rewriting that file (a stream copy of the whole file at every episode, so a session's
// close time would grow with the dataset, huggingface/lerobot#1434). LeRobot v3.0 reads
// many files per chunk through each episode's chunk_index/file_index and from/to
// timestamps. Data and episodes-table files are small (a few bytes a frame) and are
// appended to by rewrite while they stay under rewriteLimitMB (see roomIn).

// commit is one episode's commit under construction.
type commit struct {
	w     *Writer
	ep    *EpisodeWriter
	out   string      // the staging directory of the new files
	moves [][2]string // [staged, final], relative to the dataset root

	taskIndex int
	tasks     []string    // the dataset's tasks after the commit
	stats     *Stats      // the episode's stats, in the dataset's feature order
	meta      EpisodeMeta // the episode's row of meta/episodes
	info      Info        // meta/info.json after the commit
	aggStats  *Stats      // meta/stats.json after the commit
}

// stageFile returns the staging path of the dataset file rel and records its rename.
func (c *commit) stageFile(rel string) (string, error) {
	p := filepath.Join(c.out, rel)
	c.moves = append(c.moves, [2]string{mustRel(c.w.dir, p), rel})
	return p, os.MkdirAll(filepath.Dir(p), 0o755)
}

// stageAndCommit builds every file the episode changes in staging, writes the journal
// (the commit point, reported through committed) and applies it.
func (w *Writer) stageAndCommit(ctx context.Context, ep *EpisodeWriter, committed *bool) error {
	c := &commit{w: w, ep: ep, out: filepath.Join(ep.stage, "out"), stats: &Stats{}}
	c.meta = EpisodeMeta{Index: ep.index, Tasks: []string{ep.task}, Length: ep.n, From: int64(w.info.TotalFrames),
		To: int64(w.info.TotalFrames) + int64(ep.n), Videos: map[string]VideoRef{}}
	c.resolveTask()
	for _, stage := range []func() error{c.stageData, func() error { return c.stageVideos(ctx) }, c.stageEpisode, c.stageTasks, c.stageTotals} {
		if err := stage(); err != nil {
			return err
		}
	}
	if err := syncTree(c.out); err != nil {
		return fmt.Errorf("episode: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	// Commit point, then apply.
	j := &journal{Episode: ep.index, Moves: c.moves, Stage: mustRel(w.dir, ep.stage)}
	if err := writeJournal(w.dir, j); err != nil {
		return fmt.Errorf("episode: journal: %w", err)
	}
	*committed = true
	if err := applyJournal(w.dir, j, w.afterMove); err != nil {
		return err // the next OpenAppend redoes it
	}
	w.last, w.info, w.stats, w.tasks = &c.meta, &c.info, c.aggStats, c.tasks
	w.lastSeed, w.hasSeed = ep.seed, ep.hasSeed
	w.episodes.Store(int64(c.info.TotalEpisodes))
	w.frames.Store(int64(c.info.TotalFrames))
	w.recorded.Add(1)
	return nil
}

// resolveTask finds the episode's task, or appends it.
func (c *commit) resolveTask() {
	c.taskIndex, c.tasks = -1, c.w.tasks
	for i, t := range c.w.tasks {
		if t == c.ep.task {
			c.taskIndex = i
		}
	}
	if c.taskIndex < 0 {
		c.taskIndex = len(c.tasks)
		c.tasks = append(append([]string(nil), c.tasks...), c.ep.task)
	}
}

// frameColumns are an episode's values per feature, one column per dimension (the
// input of vectorStats).
type frameColumns map[string][][]float64

func (fc frameColumns) add(key string, dims, n int) [][]float64 {
	c := make([][]float64, dims)
	for i := range c {
		c[i] = make([]float64, n)
	}
	fc[key] = c
	return c
}

// dataRows are the episode's rows of the data file, typed per column.
type dataRows struct {
	n                             int
	state, action                 []float32 // n × dim, row-major
	vectors                       [][]float32
	timestamp                     []float32
	frame, episode, index, taskIx int64 // first frame's values; frame and index count up
	reward                        []float32
	done, success                 []bool
}

// stageData writes the data rows and computes the per-episode stats of the numeric
// features.
func (c *commit) stageData() error {
	w, ep := c.w, c.ep
	n, fps := ep.n, w.info.FPS
	ds, da := len(w.spec.State.Names), len(w.spec.Action.Names)
	cols := frameColumns{}
	st, ac := cols.add(KeyState, ds, n), cols.add(KeyAction, da, n)
	ts, fi, ei, gi, ti := cols.add(KeyTimestamp, 1, n), cols.add(KeyFrameIndex, 1, n), cols.add(KeyEpisodeIndex, 1, n), cols.add(KeyIndex, 1, n), cols.add(KeyTaskIndex, 1, n)
	rows := dataRows{n: n, state: ep.state, action: ep.action, vectors: ep.vecs, timestamp: make([]float32, n),
		episode: int64(ep.index), index: c.meta.From, taskIx: int64(c.taskIndex), reward: ep.reward,
		done: make([]bool, n), success: ep.succ}
	for k := 0; k < n; k++ {
		t := float32(float64(k) / float64(fps))
		rows.timestamp[k] = t
		rows.done[k] = ep.done[k] || k == n-1
		for j := 0; j < ds; j++ {
			st[j][k] = float64(ep.state[k*ds+j])
		}
		for j := 0; j < da; j++ {
			ac[j][k] = float64(ep.action[k*da+j])
		}
		ts[0][k], fi[0][k], ei[0][k], gi[0][k], ti[0][k] = float64(t), float64(k), float64(ep.index), float64(c.meta.From+int64(k)), float64(c.taskIndex)
	}
	for i, v := range w.spec.Vectors {
		vc := cols.add(v.Key, len(v.Names), n)
		for k := 0; k < n; k++ {
			for j := range v.Names {
				vc[j][k] = float64(ep.vecs[i][k*len(v.Names)+j])
			}
		}
	}
	scalar := func(key string, on bool, v func(k int) float64) {
		if on {
			col := cols.add(key, 1, n)
			for k := 0; k < n; k++ {
				col[0][k] = v(k)
			}
		}
	}
	scalar(KeyReward, w.spec.Reward, func(k int) float64 { return float64(ep.reward[k]) })
	scalar(KeyDone, w.spec.Done, func(k int) float64 { return b2f(rows.done[k]) })
	scalar(KeySuccess, w.spec.Success, func(k int) float64 { return b2f(ep.succ[k]) })
	camIdx := map[string]int{}
	for i, cam := range w.spec.Cameras {
		camIdx[cam.Key] = i
	}
	for _, f := range w.info.Features {
		if i, ok := camIdx[f.Key]; ok {
			c.stats.put(f.Key, ep.enc[i].episodeImageStats())
		} else if col, ok := cols[f.Key]; ok {
			c.stats.put(f.Key, vectorStats(col))
		}
	}

	// Data file: append to the latest one when it is ours and has room.
	schema, err := dataSchema(w.info.Features)
	if err != nil {
		return fmt.Errorf("episode: %w", err)
	}
	appendData := false
	if w.last != nil {
		c.meta.DataChunk, c.meta.DataFile = w.last.DataChunk, w.last.DataFile
		appendData = w.roomIn(formatPath(w.info.DataPath, "", c.meta.DataChunk, c.meta.DataFile), schema, w.info.DataFilesSizeInMB, n, rewriteDataRows)
		if !appendData {
			c.meta.DataChunk, c.meta.DataFile = nextFile(c.meta.DataChunk, c.meta.DataFile, w.info.ChunksSize)
		}
	}
	rel := formatPath(w.info.DataPath, "", c.meta.DataChunk, c.meta.DataFile)
	p, err := c.stageFile(rel)
	if err != nil {
		return fmt.Errorf("episode: %w", err)
	}
	return writeParquet(p, schema, appendData, filepath.Join(w.dir, rel), rows.maps(&w.spec))
}

// maps gives the rows in the form parquet-go's writer of a schema built at run time
// takes: one map per row, keyed by column.
func (r *dataRows) maps(s *Spec) []map[string]any {
	ds, da := len(s.State.Names), len(s.Action.Names)
	out := make([]map[string]any, r.n)
	for k := range out {
		m := map[string]any{
			KeyState: r.state[k*ds : (k+1)*ds], KeyAction: r.action[k*da : (k+1)*da],
			KeyTimestamp: r.timestamp[k], KeyFrameIndex: int64(k), KeyEpisodeIndex: r.episode,
			KeyIndex: r.index + int64(k), KeyTaskIndex: r.taskIx,
		}
		for i, v := range s.Vectors {
			d := len(v.Names)
			if vals := r.vectors[i][k*d : (k+1)*d]; d == 1 {
				m[v.Key] = vals[0] // shape (1,): a scalar column, as LeRobot's
			} else {
				m[v.Key] = vals
			}
		}
		if s.Reward {
			m[KeyReward] = r.reward[k]
		}
		if s.Done {
			m[KeyDone] = r.done[k]
		}
		if s.Success {
			m[KeySuccess] = r.success[k]
		}
		out[k] = m
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// stageVideos installs each camera's episode video as a new file: the file after the
// last episode's for that camera. The close time therefore does not depend on the size
// of the dataset (see the comment at the top of this file).
func (c *commit) stageVideos(ctx context.Context) error {
	w, ep := c.w, c.ep
	for i, cam := range w.spec.Cameras {
		if err := ctx.Err(); err != nil {
			return err
		}
		ref := VideoRef{From: 0, To: float64(ep.n) / float64(w.info.FPS)}
		if w.last != nil {
			if prev, ok := w.last.Videos[cam.Key]; ok {
				ref.Chunk, ref.File = nextFile(prev.Chunk, prev.File, w.info.ChunksSize)
			}
		}
		rel := formatPath(w.info.VideoPath, cam.Key, ref.Chunk, ref.File)
		if _, err := os.Stat(filepath.Join(w.dir, rel)); err == nil {
			return fmt.Errorf("episode: %s exists but no episode refers to it: move it away", filepath.Join(w.dir, rel))
		}
		if err := syncFile(ep.enc[i].path); err != nil {
			return fmt.Errorf("episode: %w", err)
		}
		c.moves = append(c.moves, [2]string{mustRel(w.dir, ep.enc[i].path), rel})
		c.meta.Videos[cam.Key] = ref
	}
	return syncDir(ep.stage)
}

// stageEpisode appends the episode's row to the latest episodes-table file when it has
// room.
func (c *commit) stageEpisode() error {
	w := c.w
	schema := episodesSchema(w.info.Features, c.stats.order)
	appendMeta := false
	if w.last != nil {
		c.meta.MetaChunk, c.meta.MetaFile = w.last.MetaChunk, w.last.MetaFile
		appendMeta = w.roomIn(episodesPath(c.meta.MetaChunk, c.meta.MetaFile), schema, w.info.DataFilesSizeInMB, 1, rewriteEpisodeRows)
		if !appendMeta {
			c.meta.MetaChunk, c.meta.MetaFile = nextFile(c.meta.MetaChunk, c.meta.MetaFile, w.info.ChunksSize)
		}
	}
	rel := episodesPath(c.meta.MetaChunk, c.meta.MetaFile)
	p, err := c.stageFile(rel)
	if err != nil {
		return fmt.Errorf("episode: %w", err)
	}
	return writeParquet(p, schema, appendMeta, filepath.Join(w.dir, rel), []map[string]any{episodeRow(&c.meta, c.stats)})
}

// episodeRow is an episode's row of meta/episodes, keyed by column (see dataRows.maps).
func episodeRow(m *EpisodeMeta, st *Stats) map[string]any {
	row := map[string]any{
		"episode_index": int64(m.Index), "tasks": m.Tasks, "length": int64(m.Length),
		"data/chunk_index": int64(m.DataChunk), "data/file_index": int64(m.DataFile),
		"dataset_from_index": m.From, "dataset_to_index": m.To,
		"meta/episodes/chunk_index": int64(m.MetaChunk), "meta/episodes/file_index": int64(m.MetaFile),
	}
	for key, v := range m.Videos {
		pre := "videos/" + key + "/"
		row[pre+"chunk_index"], row[pre+"file_index"] = int64(v.Chunk), int64(v.File)
		row[pre+"from_timestamp"], row[pre+"to_timestamp"] = v.From, v.To
	}
	for _, k := range st.order {
		s := st.m[k]
		for _, sk := range statKeys {
			if sk == "count" {
				row["stats/"+k+"/count"] = []int64{s.Count}
			} else {
				row["stats/"+k+"/"+sk] = s.jsonValue(s.stat(sk))
			}
		}
	}
	return row
}

// stageTasks rewrites meta/tasks.parquet when the episode's task is new.
func (c *commit) stageTasks() error {
	if len(c.tasks) == len(c.w.tasks) {
		return nil
	}
	p, err := c.stageFile(TasksPath)
	if err != nil {
		return fmt.Errorf("episode: %w", err)
	}
	rows := make([]map[string]any, len(c.tasks))
	for i, t := range c.tasks {
		rows[i] = map[string]any{"task_index": int64(i), "task": t}
	}
	po, err := createParquet(p, tasksSchema(), "pandas", pandasTasksMeta)
	if err != nil {
		return fmt.Errorf("episode: %w", err)
	}
	if err := po.writeGroup(rows); err != nil {
		po.abort()
		return fmt.Errorf("episode: tasks: %w", err)
	}
	if err := po.close(); err != nil {
		return fmt.Errorf("episode: tasks: %w", err)
	}
	return nil
}

// lastEpisode is robotd's record of the dataset's last episode (lastEpisodePath): what
// the LeRobot layout has no place for.
type lastEpisode struct {
	Episode int    `json:"episode_index"`
	Seed    *int64 `json:"seed,omitempty"` // the seed its scene started from (EpisodeWriter.SetSeed); absent: none
}

// stageTotals writes meta/stats.json, meta/info.json and the last-episode record.
func (c *commit) stageTotals() error {
	c.aggStats = aggregateStats(c.w.stats, c.stats)
	c.info = *c.w.info
	c.info.TotalEpisodes++
	c.info.TotalFrames += c.ep.n
	c.info.TotalTasks = len(c.tasks)
	last := lastEpisode{Episode: c.ep.index}
	if c.ep.hasSeed {
		last.Seed = &c.ep.seed
	}
	for _, f := range []struct {
		rel     string
		marshal func() ([]byte, error)
	}{{StatsPath, c.aggStats.MarshalJSON}, {InfoPath, c.info.MarshalJSON}, {lastEpisodePath, func() ([]byte, error) { return json.Marshal(last) }}} {
		b, err := f.marshal()
		if err != nil {
			return fmt.Errorf("episode: %s: %w", f.rel, err)
		}
		p, err := c.stageFile(f.rel)
		if err != nil {
			return fmt.Errorf("episode: %w", err)
		}
		if err := writeFileSynced(p, append(b, '\n')); err != nil {
			return fmt.Errorf("episode: %w", err)
		}
	}
	return nil
}

// readLastSeed returns the seed robotd recorded for the dataset's last episode, if any.
func readLastSeed(dir string, last *EpisodeMeta) (int64, bool) {
	if last == nil {
		return 0, false
	}
	b, err := os.ReadFile(filepath.Join(dir, lastEpisodePath))
	if err != nil {
		return 0, false
	}
	var l lastEpisode
	if json.Unmarshal(b, &l) != nil || l.Episode != last.Index || l.Seed == nil {
		return 0, false
	}
	return *l.Seed, true
}

// Appending to a parquet file rewrites it (parquet has its index at the end), so a file
// is appended to only while it has fewer rows than these bounds: a session's close time
// then stays bounded however large the dataset grows. BenchmarkAppendRewrite: 36 ms to
// append 300 rows to a data file of 1,000 rows, 83 ms to one of 50,000 (2-core VM, most
// of it the fsync). A data file of 50,000 rows is 28 minutes at 30 fps.
const (
	rewriteDataRows    = 50_000
	rewriteEpisodeRows = 1_000
)

// roomIn reports whether a parquet file can take more rows: it exists, has exactly the
// schema robotd writes (LeRobot's own files are left alone: the next file starts), and
// stays under limitMB with rows more rows of its average size, and under maxRows rows.
func (w *Writer) roomIn(rel string, schema *parquet.Schema, limitMB, rows, maxRows int) bool {
	pf, closeFn, err := openParquet(filepath.Join(w.dir, rel))
	if err != nil {
		return false
	}
	defer closeFn()
	if !parquet.EqualNodes(pf.Schema(), schema) {
		return false
	}
	size, nrows := float64(pf.Size()), float64(pf.NumRows())
	if nrows == 0 || int(nrows)+rows > maxRows {
		return false
	}
	return size+size/nrows*float64(rows) < float64(limitMB)*float64(w.mb)
}

func nextFile(chunk, file, chunksSize int) (int, int) {
	if file == chunksSize-1 {
		return chunk + 1, 0
	}
	return chunk, file + 1
}

// writeParquet writes path with the rows of prev (when appendPrev) and rows.
func writeParquet(path string, schema *parquet.Schema, appendPrev bool, prev string, rows []map[string]any) error {
	po, err := createParquet(path, schema)
	if err != nil {
		return fmt.Errorf("episode: %w", err)
	}
	if appendPrev {
		if err := po.copyFrom(prev); err != nil {
			po.abort()
			return fmt.Errorf("episode: %w", err)
		}
	}
	if err := po.writeGroup(rows); err != nil {
		po.abort()
		return fmt.Errorf("episode: %s: %w", path, err)
	}
	if err := po.close(); err != nil {
		return fmt.Errorf("episode: %s: %w", path, err)
	}
	return nil
}

func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return syncDir(p)
	})
}

func mustRel(base, p string) string {
	r, err := filepath.Rel(base, p)
	if err != nil {
		panic(err)
	}
	return r
}
