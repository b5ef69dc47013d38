package episode

import (
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
	CommitTime    time.Duration // of CloseTime, the commit after the encoders finished
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
	lastSeed  int64 // the seed of the last episode, when hasSeed
	hasSeed   bool

	// mb is the bytes of a megabyte of the file size limits (1 MiB; tests roll files
	// over at KiB), afterMove runs after each rename of a commit when set (the crash
	// tests kill the process there).
	mb        int
	afterMove func(i int)

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
	w := &Writer{dir: dir, spec: spec, info: newInfo(spec), lock: lock, mb: 1 << 20}
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
	w := &Writer{dir: dir, lock: lock, mb: 1 << 20}
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
		// So must its videos: a truncated file would leave those episodes without
		// frames, and a recording appended after them would look fine.
		for _, key := range ds.Info.VideoKeys() {
			if err := checkVideo(filepath.Join(dir, ds.VideoPath(*w.last, key)), w.last.Videos[key].To); err != nil {
				return fail(fmt.Errorf("episode: %w (the dataset's last episode, %d, is not all there: restore the file or record into a new dataset)", err, w.last.Index))
			}
		}
		w.lastSeed, w.hasSeed = readLastSeed(dir, w.last)
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

// LastSeed is the seed the dataset's last episode started from (EpisodeWriter.SetSeed),
// and false when it has none recorded (no episodes, or the last one was recorded
// without a seed or by another program).
func (w *Writer) LastSeed() (int64, bool) { return w.lastSeed, w.hasSeed }

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
	w       *Writer
	index   int
	task    string
	stage   string // absolute staging directory
	enc     []*encoder
	state   []float32
	action  []float32
	vecs    [][]float32 // per Spec.Vectors entry, frames concatenated
	reward  []float32
	done    []bool
	succ    []bool
	n       int
	count   atomic.Int64 // n, for Progress
	lastTS  atomic.Int64 // capture time of the last frame
	drop    int64
	off     int64
	ended   bool
	seed    int64 // see SetSeed
	hasSeed bool
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

// SetSeed records the seed the episode's scene started from (a simulated task's); the
// next OpenAppend reports the last episode's as Writer.LastSeed, so that a later
// recording can continue after it. It is kept in robotd's private area of the dataset
// (.robotd/), which LeRobot does not read.
func (ep *EpisodeWriter) SetSeed(seed int64) { ep.seed, ep.hasSeed = seed, true }

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
	commitStart := time.Now()
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
		OffGridFrames: ep.off, EncoderCPU: cpu, CloseTime: time.Since(start), CommitTime: time.Since(commitStart)}, nil
}

// commit builds every file the episode changes in staging, writes the journal (the
// commit point) and applies it (commit.go).
func (w *Writer) commit(ctx context.Context, ep *EpisodeWriter) (committed bool, err error) {
	err = w.stageAndCommit(ctx, ep, &committed)
	return committed, err
}

func vectorKeys(vs []VectorSpec) string {
	keys := make([]string, len(vs))
	for i, v := range vs {
		keys[i] = v.Key
	}
	return strings.Join(keys, ", ")
}
