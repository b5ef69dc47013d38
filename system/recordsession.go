package system

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/episode"
	"github.com/robotd/robotd/sim/task"
)

// OpenDataset creates the dataset at dir, or appends to the one already there. A
// dataset recorded before robotd recorded an extra vector feature
// (observation.ee_pose, observation.environment_state) keeps its features: the vectors
// it lacks are left out of spec, one note each. It returns the spec the writer records.
func OpenDataset(dir string, spec episode.Spec) (*episode.Writer, episode.Spec, []string, error) {
	if _, err := os.Stat(filepath.Join(dir, episode.InfoPath)); err != nil {
		w, err := episode.Create(dir, spec)
		return w, spec, nil, err
	}
	var notes []string
	if info, err := episode.ReadInfo(dir); err == nil {
		var keep []episode.VectorSpec
		for _, v := range spec.Vectors {
			if _, ok := info.Feature(v.Key); ok {
				keep = append(keep, v)
			} else {
				notes = append(notes, fmt.Sprintf("the dataset has no %s feature: appending without it (record into a new dataset to have it)", v.Key))
			}
		}
		spec.Vectors = keep
	}
	w, err := episode.OpenAppend(dir, spec)
	return w, spec, notes, err
}

// RecordSeed is the first seed of a recording into ds: seed when set (--seed was
// given) or the dataset is empty, else the seed after the dataset's last recorded one
// (continued true). A dataset whose last episode has no recorded seed (another tool's,
// or a scene without seeds) is an error: starting again at 0 would record the same
// episodes twice.
func RecordSeed(ds *episode.Writer, seed int64, set bool) (first int64, continued bool, err error) {
	if set || ds.Progress().Episodes == 0 {
		return seed, false, nil
	}
	last, ok := ds.LastSeed()
	if !ok {
		return 0, false, fmt.Errorf("the dataset's last episode has no recorded seed: pass --seed (the first seed of this run) so that its episodes do not repeat earlier ones")
	}
	return last + 1, true, nil
}

// OnTask reports whether the simulated arm runs the pick-and-place scene (sim/task),
// whose episodes have seeds, an end and labels.
func (s *System) OnTask() bool {
	return s.SimArm != nil && filepath.Base(s.SimArm.Scene().Model) == task.ModelFile
}

// RecordingConfig is what a recording sets up before its first episode.
type RecordingConfig struct {
	Dir       string // the dataset directory: created, or appended to (OpenDataset)
	RobotType string // info.json robot_type
	FPS       int    // the dataset's frame rate
	EnvState  bool   // on the pick-and-place scene, record the cube's pose
	Expert    bool   // the scripted expert drives the arm (pick-and-place scene), else the policy
	// Seed is the first episode's seed on the pick-and-place scene; unless SeedSet, an
	// append continues after the dataset's last seed (RecordSeed).
	Seed    int64
	SeedSet bool
	// Noise and YawNoise are the expert's DART noise (task.NewTargetNoise: m, rad;
	// 0: none), seeded with the first seed.
	Noise, YawNoise float64
	// Note, when set, is told what a user should know: vector features the dataset
	// lacks, a crashed recording completed or discarded, the seed an append continues at.
	Note func(string)
}

// OpenRecording opens the dataset and makes the recorder (and on the pick-and-place
// scene the task's episodes) of cfg for this system: the session it returns lacks only
// its Daemon and its run's options. The caller closes its Dataset.
func (s *System) OpenRecording(cfg RecordingConfig) (*RecordSession, error) {
	note := func(n string) {
		if cfg.Note != nil {
			cfg.Note(n)
		}
	}
	onTask := s.OnTask()
	spec, state := s.RecordSpec(cfg.RobotType, cfg.FPS, onTask, cfg.EnvState)
	ds, spec, notes, err := OpenDataset(cfg.Dir, spec)
	if err != nil {
		return nil, err
	}
	for _, n := range append(notes, ds.Recovered()...) {
		note(n)
	}
	r := &RecordSession{Dataset: ds}
	if onTask {
		r.Episodes, err = s.recordEpisodes(ds, cfg, note)
	}
	if err == nil && s.Ports.Policy == nil && s.Ports.Source == nil {
		err = fmt.Errorf("record: %s has no policy section: nothing would move the arm (add a policy, or --source expert on the pick-and-place scene)", s.File.Path())
	}
	if err == nil {
		r.Recorder, err = s.NewRecorder(spec, state, r.Episodes)
	}
	if err != nil {
		ds.Close()
		return nil, err
	}
	return r, nil
}

// recordEpisodes binds the pick-and-place task with the first seed (RecordSeed) and
// the expert's DART noise.
func (s *System) recordEpisodes(ds *episode.Writer, cfg RecordingConfig, note func(string)) (*TaskEpisodes, error) {
	seed, continued, err := RecordSeed(ds, cfg.Seed, cfg.SeedSet)
	if err != nil {
		return nil, fmt.Errorf("record: %s: %w", cfg.Dir, err)
	}
	if continued {
		note(fmt.Sprintf("continuing after the dataset's last seed %d: this run's first seed is %d", seed-1, seed))
	}
	var dart *task.TargetNoise
	if cfg.Noise != 0 || cfg.YawNoise != 0 {
		if dart, err = task.NewTargetNoise(cfg.Noise, cfg.YawNoise, 0, 0, uint64(seed)); err != nil {
			return nil, fmt.Errorf("record: %w", err)
		}
	}
	return s.NewTaskEpisodes(cfg.Expert, seed, dart)
}

// RecordSession records episodes one after another into a dataset through the
// daemon, each one run until the daemon's run ends (the task's end or the launch
// file's duration). The callbacks let a command report as it goes; each may be nil.
type RecordSession struct {
	Daemon   *daemon.Daemon
	Dataset  *episode.Writer
	Recorder *Recorder
	Episodes *TaskEpisodes // the pick-and-place task's seeded episodes (nil outside its scene)
	Task     string        // the instruction stored with every episode
	N        int           // episodes to record

	// Stopped reports a request to stop (Ctrl-C): the episode under way is discarded
	// and no other begins.
	Stopped func() bool
	// Progress is called as episode i (0-based) starts running; the function it
	// returns is called when the run ends.
	Progress func(i int) (stop func())
	// Kept is called for each committed episode.
	Kept func(EpisodeReport)
	// Discarded is called for an episode that did not finish, with its dataset index,
	// the reason and the number of episodes this session kept before it.
	Discarded func(index int, why string, kept int)
}

// EpisodeReport describes a committed episode.
type EpisodeReport struct {
	episode.EpisodeResult
	Task *task.Episode // the task's outcome (nil outside the pick-and-place scene)
	Done bool          // the task signalled done (false: the episode ended at the time limit)
}

// RecordSummary counts a session's committed episodes.
type RecordSummary struct {
	Recorded, Succeeded int
	CloseMax            time.Duration // the slowest episode close
}

// Run records up to N episodes, stopping early at ctx's cancellation, Stopped, or an
// episode that is discarded. A daemon fault or a recording error is returned (the
// episode under way discarded, the ones before it kept); an interruption is not an
// error, the caller sees it in ctx and Stopped.
func (s *RecordSession) Run(ctx context.Context) (RecordSummary, error) {
	var sum RecordSummary
	for i := 0; i < s.N && !s.stopped() && ctx.Err() == nil; i++ {
		kept, err := s.episode(ctx, i, &sum)
		if err != nil || !kept {
			return sum, err
		}
	}
	return sum, nil
}

func (s *RecordSession) stopped() bool { return s.Stopped != nil && s.Stopped() }

// episode records episode i. An episode that ends at the task's end or at the time
// limit is kept; one stopped by Ctrl-C, a fault or a recording error is discarded
// (kept false).
func (s *RecordSession) episode(ctx context.Context, i int, sum *RecordSummary) (kept bool, err error) {
	if s.Episodes != nil {
		if err := s.Episodes.Reset(i); err != nil {
			return false, err
		}
	}
	ep, err := s.Dataset.BeginEpisode(s.Task)
	if err != nil {
		return false, err
	}
	if s.Episodes != nil {
		ep.SetSeed(s.Episodes.Seed(i))
	}
	s.Recorder.Begin(ep)
	stop := func() {}
	if s.Progress != nil {
		stop = s.Progress(i)
	}
	runErr := s.Daemon.Run(ctx)
	stop()
	success := s.Episodes != nil && s.Episodes.Episode() != nil && s.Episodes.Episode().Success
	recErr := s.Recorder.Finish(success)
	if runErr != nil || recErr != nil || s.stopped() || ctx.Err() != nil {
		ep.Discard()
		why := "interrupted"
		switch {
		case runErr != nil:
			why = runErr.Error()
		case recErr != nil:
			why = recErr.Error()
		}
		if s.Discarded != nil {
			s.Discarded(ep.Index(), why, sum.Recorded)
		}
		if runErr != nil {
			return false, runErr
		}
		return false, recErr
	}
	res, err := ep.End(context.Background()) // a late Ctrl-C must not lose a finished episode
	if err != nil {
		return false, fmt.Errorf("record: episode %d: %w", ep.Index(), err)
	}
	r := EpisodeReport{EpisodeResult: res}
	if s.Episodes != nil {
		r.Task, r.Done = s.Episodes.Episode(), s.Episodes.Signal().Done
	}
	sum.Recorded++
	sum.CloseMax = max(sum.CloseMax, res.CloseTime)
	if r.Task != nil && r.Task.Success {
		sum.Succeeded++
	}
	if s.Kept != nil {
		s.Kept(r)
	}
	return true, nil
}
