package episode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Frame is one row of an episode. AddFrame copies what it needs: the caller keeps
// ownership of the slices and may reuse them as soon as AddFrame returns.
type Frame struct {
	// Timestamp is the capture time since the episode started (capture clock). The
	// stored timestamp is frame_index / fps; this one is checked against it.
	Timestamp time.Duration
	// State and Action have one value per Spec.State / Spec.Action name.
	State, Action []float32
	// Vectors holds one slice per Spec.Vectors entry, in that order, each with one value
	// per name.
	Vectors [][]float32
	// Images holds one RGB24 frame (Height*Width*3 bytes, row-major) per Spec.Cameras
	// entry, in that order.
	Images [][]byte
	// Reward, Done and Success fill next.reward, next.done and next.success when the
	// Spec has them. next.done is also set on the episode's last frame.
	Reward        float32
	Done, Success bool
}

// Progress is a snapshot of a Writer's counters, for a progress display.
type Progress struct {
	Episodes      int           // episodes in the dataset
	Frames        int64         // frames in the dataset
	Recorded      int           // episodes this Writer committed
	EpisodeFrames int           // frames added to the open episode (0 when none is open)
	FPS           float64       // frame rate of the open episode by the capture clock
	DroppedFrames int64         // camera images dropped on full encoder queues (repeated in the video)
	OffGridFrames int64         // frames captured more than half a period away from frame_index/fps
	EncoderCPU    time.Duration // CPU time of the ffmpeg encoders of finished episodes
}

// EpisodeResult describes a committed episode.
type EpisodeResult struct {
	Index         int
	Length        int
	Task          string
	DroppedFrames int64         // camera images dropped (all cameras)
	OffGridFrames int64         // see Progress.OffGridFrames
	EncoderCPU    time.Duration // ffmpeg CPU time spent on this episode
	CloseTime     time.Duration // time End took
}

// Writer adds episodes to one dataset. One episode is open at a time; AddFrame is for
// one goroutine, Progress for any.
type Writer struct {
	dir       string
	spec      Spec
	info      *Info
	stats     *Stats
	tasks     []string
	last      *EpisodeMeta // latest committed episode, nil when none
	lock      *os.File
	recovered []string

	mu     sync.Mutex
	cur    *EpisodeWriter
	broken error // a commit could not be applied: reopen

	episodes, recorded atomic.Int64
	frames             atomic.Int64
	dropped, offGrid   atomic.Int64
	encCPU             atomic.Int64
}

// Create makes a new dataset in dir, which must not exist or be empty. A dataset
// already there is refused (use OpenAppend), and so is any other non-empty directory.
func Create(dir string, spec Spec) (*Writer, error) {
	spec = spec.withDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(dir, InfoPath)); err == nil {
			return nil, fmt.Errorf("episode: %s: already a dataset (%s exists); OpenAppend adds episodes to it", dir, InfoPath)
		}
		names := []string{}
		for _, e := range entries[:min(3, len(entries))] {
			names = append(names, e.Name())
		}
		return nil, fmt.Errorf("episode: %s: directory not empty (%s...) and not a dataset: refusing to write into it", dir, strings.Join(names, ", "))
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("episode: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "meta"), 0o755); err != nil {
		return nil, fmt.Errorf("episode: %w", err)
	}
	lock, err := lockDataset(dir)
	if err != nil {
		return nil, err
	}
	w := &Writer{dir: dir, spec: spec, info: newInfo(spec), lock: lock}
	b, _ := w.info.MarshalJSON()
	if err := writeFileAtomic(filepath.Join(dir, InfoPath), b); err != nil {
		lock.Close()
		return nil, fmt.Errorf("episode: %w", err)
	}
	return w, nil
}

// OpenAppend opens an existing v3.0 dataset (recorded by robotd or by LeRobot) to add
// episodes described by spec. It first completes or discards an episode a crashed
// writer left (see Recovered), then checks that the dataset's fps and features are
// exactly the ones spec records; any difference is an error naming it. The dataset's
// chunks_size and file sizes win over spec's.
func OpenAppend(dir string, spec Spec) (*Writer, error) {
	spec = spec.withDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if _, err := readWritableInfo(dir); err != nil { // refuse other versions before touching anything
		return nil, err
	}
	lock, err := lockDataset(dir)
	if err != nil {
		return nil, err
	}
	w := &Writer{dir: dir, lock: lock}
	fail := func(err error) (*Writer, error) {
		lock.Close()
		return nil, err
	}
	if w.recovered, err = recoverDataset(dir); err != nil {
		return fail(err)
	}
	ds, err := Open(dir)
	if err != nil {
		return fail(err)
	}
	if err := compatible(ds.Info, spec); err != nil {
		return fail(fmt.Errorf("episode: %s: %w", filepath.Join(dir, InfoPath), err))
	}
	spec.ChunksSize, spec.DataFileMB, spec.VideoFileMB = ds.Info.ChunksSize, ds.Info.DataFilesSizeInMB, ds.Info.VideoFilesSizeInMB
	w.spec, w.info, w.stats, w.tasks = spec, ds.Info, ds.Stats, ds.Tasks
	if n := len(ds.Episodes); n > 0 {
		w.last = &ds.Episodes[n-1]
		// The files the next episode may extend must be readable.
		for _, rel := range []string{ds.DataPath(*w.last), episodesPath(w.last.MetaChunk, w.last.MetaFile)} {
			_, closeFn, err := openParquet(filepath.Join(dir, rel))
			if err != nil {
				return fail(fmt.Errorf("episode: %w", err))
			}
			closeFn()
		}
	}
	w.episodes.Store(int64(ds.Info.TotalEpisodes))
	w.frames.Store(int64(ds.Info.TotalFrames))
	return w, nil
}

// compatible checks that a dataset has exactly the features spec records.
func compatible(in *Info, spec Spec) error {
	var errs []string
	if in.FPS != spec.FPS {
		errs = append(errs, fmt.Sprintf("fps %d, want %d", in.FPS, spec.FPS))
	}
	if spec.RobotType != "" && in.RobotType != "" && in.RobotType != spec.RobotType {
		errs = append(errs, fmt.Sprintf("robot_type %q, want %q", in.RobotType, spec.RobotType))
	}
	want := spec.features()
	for _, f := range want {
		have, ok := in.Feature(f.Key)
		switch {
		case !ok:
			errs = append(errs, fmt.Sprintf("feature %q missing", f.Key))
		case have.Dtype != f.Dtype || fmt.Sprint(have.Shape) != fmt.Sprint(f.Shape):
			errs = append(errs, fmt.Sprintf("feature %q is %s%v, want %s%v", f.Key, have.Dtype, have.Shape, f.Dtype, f.Shape))
		case !f.IsVideo() && f.Names != nil && have.Names != nil && strings.Join(have.Names, ",") != strings.Join(f.Names, ","):
			errs = append(errs, fmt.Sprintf("feature %q names %v, want %v", f.Key, have.Names, f.Names))
		}
	}
	for _, f := range in.Features {
		if _, ok := featureOf(want, f.Key); !ok {
			errs = append(errs, fmt.Sprintf("feature %q not recorded by this spec", f.Key))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("dataset does not match the recording: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Recovered reports what opening the dataset repaired: a partial episode discarded or
// an interrupted commit completed, one sentence each (empty when nothing).
func (w *Writer) Recovered() []string { return append([]string(nil), w.recovered...) }

// Dir is the dataset root.
func (w *Writer) Dir() string { return w.dir }

// Progress returns the current counters; safe from any goroutine.
func (w *Writer) Progress() Progress {
	p := Progress{Episodes: int(w.episodes.Load()), Frames: w.frames.Load(), Recorded: int(w.recorded.Load()),
		DroppedFrames: w.dropped.Load(), OffGridFrames: w.offGrid.Load(), EncoderCPU: time.Duration(w.encCPU.Load())}
	w.mu.Lock()
	if ep := w.cur; ep != nil {
		n := ep.count.Load()
		p.EpisodeFrames = int(n)
		if last := time.Duration(ep.lastTS.Load()); n > 1 && last > 0 {
			p.FPS = float64(n-1) / last.Seconds()
		}
	}
	w.mu.Unlock()
	return p
}

// Close discards an episode still open and releases the dataset.
func (w *Writer) Close() error {
	w.mu.Lock()
	ep := w.cur
	w.mu.Unlock()
	if ep != nil {
		ep.Discard()
	}
	if w.lock == nil {
		return nil
	}
	err := w.lock.Close()
	w.lock = nil
	return err
}

// EpisodeWriter records one episode. It belongs to the goroutine that calls AddFrame.
type EpisodeWriter struct {
	w      *Writer
	index  int
	task   string
	stage  string // absolute staging directory
	enc    []*encoder
	state  []float32
	action []float32
	vecs   [][]float32 // per Spec.Vectors entry, frames concatenated
	reward []float32
	done   []bool
	succ   []bool
	n      int
	count  atomic.Int64 // n, for Progress
	lastTS atomic.Int64 // capture time of the last frame
	drop   int64
	off    int64
	ended  bool
}

// BeginEpisode opens the next episode with its task (a sentence, LeRobot's "task"),
// starting one encoder per camera.
func (w *Writer) BeginEpisode(task string) (*EpisodeWriter, error) {
	if strings.TrimSpace(task) == "" {
		return nil, errors.New("episode: empty task: LeRobot needs a task per episode")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lock == nil {
		return nil, errors.New("episode: writer closed")
	}
	if w.cur != nil {
		return nil, fmt.Errorf("episode: episode %d still open", w.cur.index)
	}
	if w.broken != nil {
		return nil, fmt.Errorf("episode: writer stopped after a failed commit (reopen with OpenAppend): %w", w.broken)
	}
	idx := w.info.TotalEpisodes
	stage := filepath.Join(w.dir, stagingDir, fmt.Sprintf("episode-%06d", idx))
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return nil, fmt.Errorf("episode: %w", err)
	}
	marker, _ := json.Marshal(map[string]any{"episode_index": idx, "task": task, "started": time.Now().UTC().Format(time.RFC3339)})
	if err := writeFileSynced(filepath.Join(stage, "episode.json"), marker); err != nil {
		return nil, fmt.Errorf("episode: %w", err)
	}
	ep := &EpisodeWriter{w: w, index: idx, task: task, stage: stage, vecs: make([][]float32, len(w.spec.Vectors))}
	for i, c := range w.spec.Cameras {
		e, err := startEncoder(c, w.spec.FPS, w.spec.Video, filepath.Join(stage, fmt.Sprintf("camera-%d.mp4", i)))
		if err != nil {
			for _, e := range ep.enc {
				e.kill()
			}
			os.RemoveAll(stage)
			return nil, err
		}
		e.onDone = func(cpu time.Duration) { w.encCPU.Add(int64(cpu)) }
		ep.enc = append(ep.enc, e)
	}
	w.cur = ep
	return ep, nil
}

// Index is the episode's index in the dataset.
func (ep *EpisodeWriter) Index() int { return ep.index }

// Len is the number of frames added.
func (ep *EpisodeWriter) Len() int { return ep.n }

// AddFrame appends a frame. It copies the frame and never waits for the encoders
// (unless Spec.Video.Wait): an image that finds its camera's queue full is dropped and
// counted (the video repeats
// the previous image there, so it keeps one frame per row). A frame of the wrong shape
// is refused and not added.
func (ep *EpisodeWriter) AddFrame(f *Frame) error {
	if ep.ended {
		return errors.New("episode: AddFrame after End or Discard")
	}
	s := &ep.w.spec
	if len(f.State) != len(s.State.Names) || len(f.Action) != len(s.Action.Names) || len(f.Images) != len(s.Cameras) {
		return fmt.Errorf("episode: frame %d: %d state, %d action values and %d images, want %d, %d and %d",
			ep.n, len(f.State), len(f.Action), len(f.Images), len(s.State.Names), len(s.Action.Names), len(s.Cameras))
	}
	if len(f.Vectors) != len(s.Vectors) {
		return fmt.Errorf("episode: frame %d: %d vectors, want %d (%s)", ep.n, len(f.Vectors), len(s.Vectors), vectorKeys(s.Vectors))
	}
	for i, v := range f.Vectors {
		if len(v) != len(s.Vectors[i].Names) {
			return fmt.Errorf("episode: frame %d: %s: %d values, want %d", ep.n, s.Vectors[i].Key, len(v), len(s.Vectors[i].Names))
		}
	}
	for i, img := range f.Images {
		if len(img) != ep.enc[i].frameBytes {
			c := s.Cameras[i]
			return fmt.Errorf("episode: frame %d: camera %s: %d bytes, want %dx%dx3 = %d (RGB24)", ep.n, c.Key, len(img), c.Width, c.Height, ep.enc[i].frameBytes)
		}
	}
	period := time.Second / time.Duration(s.FPS)
	if d := f.Timestamp - time.Duration(ep.n)*period; d > period/2 || d < -period/2 {
		ep.off++
		ep.w.offGrid.Add(1)
	}
	ep.state = append(ep.state, f.State...)
	ep.action = append(ep.action, f.Action...)
	for i, v := range f.Vectors {
		ep.vecs[i] = append(ep.vecs[i], v...)
	}
	ep.reward = append(ep.reward, f.Reward)
	ep.done = append(ep.done, f.Done)
	ep.succ = append(ep.succ, f.Success)
	for i, img := range f.Images {
		if !ep.enc[i].push(ep.n, img) {
			ep.drop++
			ep.w.dropped.Add(1)
		}
	}
	ep.n++
	ep.count.Store(int64(ep.n))
	ep.lastTS.Store(int64(f.Timestamp))
	return nil
}

// Discard drops the episode: nothing of it reaches the dataset.
func (ep *EpisodeWriter) Discard() error {
	if ep.ended {
		return nil
	}
	ep.ended = true
	for _, e := range ep.enc {
		e.kill()
	}
	err := os.RemoveAll(ep.stage)
	ep.w.mu.Lock()
	ep.w.cur = nil
	ep.w.mu.Unlock()
	return err
}

// End finishes the encoders and commits the episode atomically: afterwards the
// dataset holds it completely, or (on error) not at all. If ctx ends before the commit
// point the episode is discarded and ctx's error returned.
func (ep *EpisodeWriter) End(ctx context.Context) (EpisodeResult, error) {
	if ep.ended {
		return EpisodeResult{}, errors.New("episode: End after End or Discard")
	}
	start := time.Now()
	if ep.n == 0 {
		ep.Discard()
		return EpisodeResult{}, fmt.Errorf("episode: episode %d has no frames: discarded", ep.index)
	}
	var cpu time.Duration
	for _, e := range ep.enc {
		if err := e.finish(ctx, ep.n); err != nil {
			ep.Discard()
			return EpisodeResult{}, err
		}
		cpu += e.cpu
	}
	committed, err := ep.w.commit(ctx, ep)
	if err != nil && committed {
		// Past the commit point: the staged files are the journal's; keep them.
		ep.ended = true
		ep.w.mu.Lock()
		ep.w.cur, ep.w.broken = nil, err
		ep.w.mu.Unlock()
		return EpisodeResult{}, fmt.Errorf("%w (episode %d is committed; OpenAppend finishes applying it)", err, ep.index)
	}
	if err != nil {
		ep.Discard()
		return EpisodeResult{}, err
	}
	ep.ended = true
	ep.w.mu.Lock()
	ep.w.cur = nil
	ep.w.mu.Unlock()
	return EpisodeResult{Index: ep.index, Length: ep.n, Task: ep.task, DroppedFrames: ep.drop,
		OffGridFrames: ep.off, EncoderCPU: cpu, CloseTime: time.Since(start)}, nil
}

// mib is a megabyte of the file size limits (a variable so that tests roll files over at KiB).
var mib = 1 << 20

// commit builds every file the episode changes in staging, writes the journal (the
// commit point) and applies it.
func (w *Writer) commit(ctx context.Context, ep *EpisodeWriter) (committed bool, err error) {
	err = w.stageAndCommit(ctx, ep, &committed)
	return committed, err
}

func (w *Writer) stageAndCommit(ctx context.Context, ep *EpisodeWriter, committed *bool) error {
	n, fps := ep.n, w.info.FPS
	out := filepath.Join(ep.stage, "out")
	var moves [][2]string
	stageFile := func(rel string) (string, error) {
		p := filepath.Join(out, rel)
		moves = append(moves, [2]string{mustRel(w.dir, p), rel})
		return p, os.MkdirAll(filepath.Dir(p), 0o755)
	}

	// Task.
	taskIndex := -1
	for i, t := range w.tasks {
		if t == ep.task {
			taskIndex = i
		}
	}
	tasks := w.tasks
	if taskIndex < 0 {
		taskIndex = len(tasks)
		tasks = append(append([]string(nil), tasks...), ep.task)
	}

	// Rows and per-episode stats.
	ds, da := len(w.spec.State.Names), len(w.spec.Action.Names)
	from := int64(w.info.TotalFrames)
	rows := make([]map[string]any, n)
	cols := map[string][][]float64{}
	col := func(key string, d int) [][]float64 {
		c := make([][]float64, d)
		for i := range c {
			c[i] = make([]float64, n)
		}
		cols[key] = c
		return c
	}
	st, ac := col(KeyState, ds), col(KeyAction, da)
	ts, fi, ei, gi, ti := col(KeyTimestamp, 1), col(KeyFrameIndex, 1), col(KeyEpisodeIndex, 1), col(KeyIndex, 1), col(KeyTaskIndex, 1)
	var rw, dn, sc [][]float64
	if w.spec.Reward {
		rw = col(KeyReward, 1)
	}
	if w.spec.Done {
		dn = col(KeyDone, 1)
	}
	if w.spec.Success {
		sc = col(KeySuccess, 1)
	}
	vc := make([][][]float64, len(w.spec.Vectors))
	for i, v := range w.spec.Vectors {
		vc[i] = col(v.Key, len(v.Names))
	}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for k := 0; k < n; k++ {
		t := float32(float64(k) / float64(fps))
		r := map[string]any{
			KeyState: ep.state[k*ds : (k+1)*ds], KeyAction: ep.action[k*da : (k+1)*da],
			KeyTimestamp: t, KeyFrameIndex: int64(k), KeyEpisodeIndex: int64(ep.index),
			KeyIndex: from + int64(k), KeyTaskIndex: int64(taskIndex),
		}
		for j := 0; j < ds; j++ {
			st[j][k] = float64(ep.state[k*ds+j])
		}
		for j := 0; j < da; j++ {
			ac[j][k] = float64(ep.action[k*da+j])
		}
		ts[0][k], fi[0][k], ei[0][k], gi[0][k], ti[0][k] = float64(t), float64(k), float64(ep.index), float64(from+int64(k)), float64(taskIndex)
		for i, v := range w.spec.Vectors {
			d := len(v.Names)
			vals := ep.vecs[i][k*d : (k+1)*d]
			if d == 1 {
				r[v.Key] = vals[0] // shape (1,): a scalar column, as LeRobot's
			} else {
				r[v.Key] = vals
			}
			for j, x := range vals {
				vc[i][j][k] = float64(x)
			}
		}
		if rw != nil {
			r[KeyReward] = ep.reward[k]
			rw[0][k] = float64(ep.reward[k])
		}
		done := ep.done[k] || k == n-1
		if dn != nil {
			r[KeyDone] = done
			dn[0][k] = b2f(done)
		}
		if sc != nil {
			r[KeySuccess] = ep.succ[k]
			sc[0][k] = b2f(ep.succ[k])
		}
		rows[k] = r
	}
	epStats := &Stats{}
	camIdx := map[string]int{}
	for i, c := range w.spec.Cameras {
		camIdx[c.Key] = i
	}
	for _, f := range w.info.Features {
		if i, ok := camIdx[f.Key]; ok {
			epStats.put(f.Key, ep.enc[i].episodeImageStats())
		} else if c, ok := cols[f.Key]; ok {
			epStats.put(f.Key, vectorStats(c))
		}
	}

	// Data file: append to the latest one when it is ours and has room.
	schema, err := dataSchema(w.info.Features)
	if err != nil {
		return fmt.Errorf("episode: %w", err)
	}
	dChunk, dFile, appendData := 0, 0, false
	if w.last != nil {
		dChunk, dFile = w.last.DataChunk, w.last.DataFile
		appendData = w.roomIn(formatPath(w.info.DataPath, "", dChunk, dFile), schema, w.info.DataFilesSizeInMB, n)
		if !appendData {
			dChunk, dFile = nextFile(dChunk, dFile, w.info.ChunksSize)
		}
	}
	dataRel := formatPath(w.info.DataPath, "", dChunk, dFile)
	p, err := stageFile(dataRel)
	if err != nil {
		return fmt.Errorf("episode: %w", err)
	}
	if err := writeParquet(p, schema, appendData, filepath.Join(w.dir, dataRel), rows); err != nil {
		return err
	}

	// Videos.
	meta := map[string]any{
		"episode_index": int64(ep.index), "tasks": []string{ep.task}, "length": int64(n),
		"data/chunk_index": int64(dChunk), "data/file_index": int64(dFile),
		"dataset_from_index": from, "dataset_to_index": from + int64(n),
	}
	// One concatenation per camera, concurrently (End's largest cost: a stream copy of
	// the camera's current file plus the episode).
	type concat struct {
		out, rel    string
		ins         []string
		chunk, file int
		base        float64
	}
	jobs := make([]concat, len(w.spec.Cameras))
	for i, c := range w.spec.Cameras {
		j := concat{ins: []string{ep.enc[i].path}}
		if w.last != nil {
			ref := w.last.Videos[c.Key]
			j.chunk, j.file = ref.Chunk, ref.File
			cur := filepath.Join(w.dir, formatPath(w.info.VideoPath, c.Key, j.chunk, j.file))
			if w.videoRoom(cur, ep.enc[i].path) {
				j.ins, j.base = []string{cur, ep.enc[i].path}, ref.To
			} else {
				j.chunk, j.file = nextFile(j.chunk, j.file, w.info.ChunksSize)
			}
		}
		j.rel = formatPath(w.info.VideoPath, c.Key, j.chunk, j.file)
		if j.out, err = stageFile(j.rel); err != nil {
			return fmt.Errorf("episode: %w", err)
		}
		jobs[i] = j
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = concatVideos(ctx, jobs[i].out, jobs[i].ins, fps)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, c := range w.spec.Cameras {
		pre := "videos/" + c.Key + "/"
		meta[pre+"chunk_index"], meta[pre+"file_index"] = int64(jobs[i].chunk), int64(jobs[i].file)
		meta[pre+"from_timestamp"], meta[pre+"to_timestamp"] = jobs[i].base, jobs[i].base+float64(n)/float64(fps)
	}

	// Episodes table.
	for _, k := range epStats.order {
		s := epStats.m[k]
		for _, sk := range statKeys {
			if sk == "count" {
				meta["stats/"+k+"/count"] = []int64{s.Count}
			} else {
				meta["stats/"+k+"/"+sk] = s.jsonValue(s.stat(sk))
			}
		}
	}
	eSchema := episodesSchema(w.info.Features, epStats.order)
	mChunk, mFile, appendMeta := 0, 0, false
	if w.last != nil {
		mChunk, mFile = w.last.MetaChunk, w.last.MetaFile
		appendMeta = w.roomIn(episodesPath(mChunk, mFile), eSchema, w.info.DataFilesSizeInMB, 1)
		if !appendMeta {
			mChunk, mFile = nextFile(mChunk, mFile, w.info.ChunksSize)
		}
	}
	meta["meta/episodes/chunk_index"], meta["meta/episodes/file_index"] = int64(mChunk), int64(mFile)
	metaRel := episodesPath(mChunk, mFile)
	if p, err = stageFile(metaRel); err != nil {
		return fmt.Errorf("episode: %w", err)
	}
	if err := writeParquet(p, eSchema, appendMeta, filepath.Join(w.dir, metaRel), []map[string]any{meta}); err != nil {
		return err
	}

	// Tasks, stats, info.
	if len(tasks) != len(w.tasks) {
		if p, err = stageFile(TasksPath); err != nil {
			return fmt.Errorf("episode: %w", err)
		}
		trows := make([]map[string]any, len(tasks))
		for i, t := range tasks {
			trows[i] = map[string]any{"task_index": int64(i), "task": t}
		}
		po, err := createParquet(p, tasksSchema(), "pandas", pandasTasksMeta)
		if err != nil {
			return fmt.Errorf("episode: %w", err)
		}
		if err := po.writeGroup(trows); err != nil {
			po.abort()
			return fmt.Errorf("episode: tasks: %w", err)
		}
		if err := po.close(); err != nil {
			return fmt.Errorf("episode: tasks: %w", err)
		}
	}
	stats := aggregateStats(w.stats, epStats)
	info := *w.info
	info.TotalEpisodes++
	info.TotalFrames += n
	info.TotalTasks = len(tasks)
	for _, f := range []struct {
		rel string
		v   json.Marshaler
	}{{StatsPath, stats}, {InfoPath, &info}} {
		b, err := f.v.MarshalJSON()
		if err != nil {
			return fmt.Errorf("episode: %s: %w", f.rel, err)
		}
		if p, err = stageFile(f.rel); err != nil {
			return fmt.Errorf("episode: %w", err)
		}
		if err := writeFileSynced(p, append(b, '\n')); err != nil {
			return fmt.Errorf("episode: %w", err)
		}
	}
	if err := syncTree(out); err != nil {
		return fmt.Errorf("episode: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	// Commit point, then apply.
	j := &journal{Episode: ep.index, Moves: moves, Stage: mustRel(w.dir, ep.stage)}
	if err := writeJournal(w.dir, j); err != nil {
		return fmt.Errorf("episode: journal: %w", err)
	}
	*committed = true
	if err := applyJournal(w.dir, j); err != nil {
		return err // the next OpenAppend redoes it
	}

	m := EpisodeMeta{Index: ep.index, Tasks: []string{ep.task}, Length: n, DataChunk: dChunk, DataFile: dFile,
		From: from, To: from + int64(n), MetaChunk: mChunk, MetaFile: mFile, Videos: map[string]VideoRef{}}
	for _, c := range w.spec.Cameras {
		pre := "videos/" + c.Key + "/"
		m.Videos[c.Key] = VideoRef{Chunk: int(meta[pre+"chunk_index"].(int64)), File: int(meta[pre+"file_index"].(int64)),
			From: meta[pre+"from_timestamp"].(float64), To: meta[pre+"to_timestamp"].(float64)}
	}
	w.last, w.info, w.stats, w.tasks = &m, &info, stats, tasks
	w.episodes.Store(int64(info.TotalEpisodes))
	w.frames.Store(int64(info.TotalFrames))
	w.recorded.Add(1)
	return nil
}

// roomIn reports whether a parquet file can take more rows: it exists, has exactly the
// schema robotd writes (LeRobot's own files are left alone: the next file starts), and
// stays under limitMB with rows more rows of its average size.
func (w *Writer) roomIn(rel string, schema *parquet.Schema, limitMB, rows int) bool {
	pf, closeFn, err := openParquet(filepath.Join(w.dir, rel))
	if err != nil {
		return false
	}
	defer closeFn()
	if !parquet.EqualNodes(pf.Schema(), schema) {
		return false
	}
	size, nrows := float64(pf.Size()), float64(pf.NumRows())
	if nrows == 0 {
		return false
	}
	return size+size/nrows*float64(rows) < float64(limitMB)*float64(mib)
}

// videoRoom reports whether the staged episode video can be appended to cur: same
// encoder settings (x264's options string) and the sum under video_files_size_in_mb.
func (w *Writer) videoRoom(cur, staged string) bool {
	a, err1 := os.Stat(cur)
	b, err2 := os.Stat(staged)
	if err1 != nil || err2 != nil {
		return false
	}
	if float64(a.Size()+b.Size()) >= float64(w.info.VideoFilesSizeInMB)*float64(mib) {
		return false
	}
	oa, ob := x264Options(cur), x264Options(staged)
	return oa != "" && oa == ob
}

// x264Options returns the encoder settings x264 writes into its first frame (an SEI
// "x264 - core N - H.264/MPEG-4 AVC codec - ... options: ..."), or "".
func x264Options(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	n, _ := f.Read(buf)
	buf = buf[:n]
	i := bytes.Index(buf, []byte("x264 - core "))
	if i < 0 {
		return ""
	}
	end := bytes.IndexByte(buf[i:], 0)
	if end < 0 {
		return ""
	}
	return string(buf[i : i+end])
}

func nextFile(chunk, file, chunksSize int) (int, int) {
	if file == chunksSize-1 {
		return chunk + 1, 0
	}
	return chunk, file + 1
}

// writeParquet writes path with the rows of prev (when appendPrev) and rows.
func writeParquet(path string, schema *parquet.Schema, appendPrev bool, prev string, rows []map[string]any) error {
	var kv []string
	po, err := createParquet(path, schema, kv...)
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

func vectorKeys(vs []VectorSpec) string {
	keys := make([]string, len(vs))
	for i, v := range vs {
		keys[i] = v.Key
	}
	return strings.Join(keys, ", ")
}
