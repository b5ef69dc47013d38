package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/episode"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/sim/task"
	"github.com/robotd/robotd/system"
)

const recordUsage = `robotd record --launch FILE --out DATASET --task TEXT [flags]

Records episodes as a LeRobotDataset v3.0 (docs/episodes.md): the arm's joint state and
gripper opening (observation.state; with a policy, the policy's observation.state
layout), the tool target and gripper command in force
(action, x y z rx ry rz gripper), the measured tool pose (observation.ee_pose, x y z rx
ry rz), and every camera of the launch file as an mp4 video
(observation.images.<camera>), at --fps. The source is the launch file's policy, or with
--source expert the scripted pick-and-place expert (launch/pickplace.yaml). On the
pick-and-place scene each episode starts from a seeded cube pose (seed + episode number),
ends when the task succeeds or times out, and carries next.reward/next.done/next.success
and the cube's pose (observation.environment_state, x y z qw qx qy qz; --env-state=false
leaves it out), which robotd replay restores. LeRobot's policies (ACT, diffusion) take
observation.environment_state as an input when a dataset has it: that is ground truth a
camera policy never gets on a robot, so leave it out of the policy's input_features (or
record without it) to train one. With --expert-noise (DART) the expert's executed target
wanders off its path by a smooth random offset while it approaches and carries the cube,
and action records the expert's own target: the demonstrations then show how to get back.

With --episode-time an episode ends at the task's end or after that long, whichever
comes first, and is kept either way; one cut short by the time limit carries
next.success false on every frame (next.done on its last, as every episode's end).

An existing dataset at --out is appended to (same fps and features; the extra features
above are left out, with a note, when the dataset was recorded without them); a crashed recording
left in it is completed or discarded first. Without --seed an append continues after the
dataset's last recorded seed (a dataset that has none needs --seed). An episode that does
not finish (Ctrl-C, a fault) is discarded; the episodes before it stay.
`

// The action and pose names of a recording (system.ActionNames), for replay and
// eval-offline.
var (
	actionNames = system.ActionNames
	poseNames   = system.PoseNames
)

func recordCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseRecordFlags(args, stderr)
	if err != nil {
		return err
	}
	f, err := launch.Load(o.launch)
	if err != nil {
		return err
	}
	f.Duration = o.episodeTime
	w, _, err := wireLogged(ctx, f, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer w.Close()
	onTask := w.SimArm != nil && filepath.Base(w.SimArm.Scene().Model) == task.ModelFile
	switch {
	case !onTask && o.source == "expert":
		return fmt.Errorf("record: --source expert needs the pick-and-place scene (arm.model sim/models/%s, as in launch/pickplace.yaml)", task.ModelFile)
	case !onTask && o.episodeTime <= 0:
		return errors.New("record: --episode-time is required outside the pick-and-place scene (nothing else ends an episode)")
	}

	// The dataset: its features follow the arm and the launch file's cameras.
	spec, state := w.RecordSpec(o.robotType, o.fps, onTask, o.envState)
	ds, spec, notes, err := openDataset(o.out, spec)
	if err != nil {
		return err
	}
	defer ds.Close()
	for _, n := range append(notes, ds.Recovered()...) {
		fmt.Fprintf(stderr, "record: %s: %s\n", o.out, n)
	}
	var eps *system.TaskEpisodes
	if onTask {
		if eps, err = o.taskEpisodes(w, ds, stderr); err != nil {
			return err
		}
	}
	if w.Ports.Policy == nil && w.Ports.Source == nil {
		return fmt.Errorf("record: %s has no policy section: nothing would move the arm (add a policy, or --source expert on the pick-and-place scene)", f.Path())
	}
	rec, err := w.NewRecorder(spec, state, eps)
	if err != nil {
		return err
	}
	// Ctrl-C: the episode under way is stopped and discarded; a second one: safe stop.
	var interrupted atomic.Int32
	d, done, err := w.Serve(ctx, func() { interrupted.Add(1) })
	if err != nil {
		return err
	}
	defer done()
	fmt.Fprintf(stdout, "recording %d episode(s) of %q into %s (%d fps, %d camera(s), source %s)\n", o.episodes, o.task, o.out, o.fps, len(w.Cameras), o.source)
	s := &recordSession{o: o, d: d, ds: ds, rec: rec, eps: eps, interrupted: &interrupted, stdout: stdout, stderr: stderr, start: time.Now()}
	return s.run(ctx)
}

// recordOptions are robotd record's flags.
type recordOptions struct {
	launch, out, task, source, robotType string
	episodes, fps                        int
	seed                                 int64
	seedSet                              bool // --seed was given (else an append continues after the dataset's last seed)
	episodeTime                          time.Duration
	noise, yawNoise                      float64
	envState                             bool
}

func parseRecordFlags(args []string, stderr io.Writer) (*recordOptions, error) {
	o := &recordOptions{}
	fs := flag.NewFlagSet("record", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), recordUsage, "\nFlags:\n"); fs.PrintDefaults() }
	fs.StringVar(&o.launch, "launch", "launch/pickplace.yaml", "launch file")
	fs.StringVar(&o.out, "out", "", "dataset directory (created, or appended to)")
	fs.StringVar(&o.task, "task", "", "the task's instruction, stored in meta/tasks.parquet (required)")
	fs.IntVar(&o.episodes, "episodes", 1, "episodes to record")
	fs.StringVar(&o.source, "source", "policy", "what drives the arm: policy (the launch file's) or expert (the scripted pick-and-place expert)")
	fs.Int64Var(&o.seed, "seed", 0, "episode i starts from the cube pose of seed+i (pick-and-place scene; default 0 for a new dataset, the dataset's last recorded seed + 1 when appending)")
	fs.IntVar(&o.fps, "fps", 30, "dataset frame rate")
	fs.DurationVar(&o.episodeTime, "episode-time", 0, "end each episode after this long, or at the task's end when that comes first (0: the task's end; required for other scenes)")
	fs.StringVar(&o.robotType, "robot-type", "panda", "info.json robot_type")
	fs.Float64Var(&o.noise, "expert-noise", 0, "with --source expert: DART noise, the standard deviation (m) of a smooth random offset of the executed target in x and y while the expert approaches the cube and carries it; the recorded action stays the expert's own target (0: none; 0.01 is a good start)")
	fs.Float64Var(&o.yawNoise, "expert-yaw-noise", 0, "with --expert-noise: the offset's standard deviation about the vertical (rad)")
	fs.BoolVar(&o.envState, "env-state", true, "on the pick-and-place scene, record the cube's pose as observation.environment_state (for replay; LeRobot's ACT and diffusion policies take that feature as an input when a dataset has it)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return nil, err
	}
	fs.Visit(func(fl *flag.Flag) { o.seedSet = o.seedSet || fl.Name == "seed" })
	switch {
	case o.out == "":
		return nil, errors.New("record: --out DATASET is required")
	case o.task == "":
		return nil, errors.New("record: --task is required (the instruction stored with every episode)")
	case o.episodes < 1:
		return nil, fmt.Errorf("record: --episodes %d: want at least 1", o.episodes)
	case o.source != "policy" && o.source != "expert":
		return nil, fmt.Errorf("record: --source %q: want policy or expert", o.source)
	case o.fps < 1 || o.fps > 1000:
		return nil, fmt.Errorf("record: --fps %d: want 1..1000", o.fps)
	case (o.noise != 0 || o.yawNoise != 0) && o.source != "expert":
		return nil, errors.New("record: --expert-noise and --expert-yaw-noise need --source expert")
	case o.episodeTime < 0:
		return nil, fmt.Errorf("record: --episode-time %v: want 0 (the task's end) or more", o.episodeTime)
	}
	return o, nil
}

// taskEpisodes binds the pick-and-place task with the first seed: --seed, or when
// appending without it, the seed after the dataset's last recorded one. A dataset whose
// last episode has no recorded seed (another tool's, or a scene without seeds) needs
// --seed: starting again at 0 would record the same episodes twice.
func (o *recordOptions) taskEpisodes(w *system.System, ds *episode.Writer, stderr io.Writer) (*system.TaskEpisodes, error) {
	if !o.seedSet && ds.Progress().Episodes > 0 {
		last, ok := ds.LastSeed()
		if !ok {
			return nil, fmt.Errorf("record: %s: the dataset's last episode has no recorded seed: pass --seed (the first seed of this run) so that its episodes do not repeat earlier ones", o.out)
		}
		o.seed = last + 1
		fmt.Fprintf(stderr, "record: %s: continuing after the dataset's last seed %d: this run's first seed is %d\n", o.out, last, o.seed)
	}
	var dart *task.TargetNoise
	if o.noise != 0 || o.yawNoise != 0 {
		var err error
		if dart, err = task.NewTargetNoise(o.noise, o.yawNoise, 0, 0, uint64(o.seed)); err != nil {
			return nil, fmt.Errorf("record: %w", err)
		}
	}
	return w.NewTaskEpisodes(o.source == "expert", o.seed, dart)
}

// recordSession records the episodes of one robotd record run and reports them.
type recordSession struct {
	o           *recordOptions
	d           *daemon.Daemon
	ds          *episode.Writer
	rec         *system.Recorder
	eps         *system.TaskEpisodes // nil outside the pick-and-place scene
	interrupted *atomic.Int32
	stdout      io.Writer
	stderr      io.Writer
	start       time.Time

	recorded, succeeded int
	closeMax            time.Duration
}

func (s *recordSession) run(ctx context.Context) error {
	for i := 0; i < s.o.episodes && s.interrupted.Load() == 0 && ctx.Err() == nil; i++ {
		kept, err := s.episode(ctx, i)
		if err != nil {
			return err
		}
		if !kept {
			break
		}
	}
	p := s.ds.Progress()
	fmt.Fprintf(s.stdout, "recorded %d episode(s) in %v", s.recorded, time.Since(s.start).Round(time.Second))
	if s.eps != nil {
		fmt.Fprintf(s.stdout, ", %d succeeded", s.succeeded)
	}
	fmt.Fprintf(s.stdout, "; dataset: %d episodes, %d frames; dropped images %d, off-grid frames %d; encoder CPU %v; slowest close %v\n",
		p.Episodes, p.Frames, p.DroppedFrames, p.OffGridFrames, p.EncoderCPU.Round(time.Millisecond), s.closeMax.Round(time.Millisecond))
	if s.interrupted.Load() > 0 || ctx.Err() != nil {
		return exitError{code: system.ExitInterrupted, err: errors.New("record: interrupted")}
	}
	return nil
}

// episode records episode i of the run. An episode ends at the task's end or at
// --episode-time (the daemon's run duration), whichever comes first, and is kept; one
// stopped by Ctrl-C, a fault or a recording error is discarded (kept false).
func (s *recordSession) episode(ctx context.Context, i int) (kept bool, err error) {
	if s.eps != nil {
		if err := s.eps.Reset(i); err != nil {
			return false, err
		}
	}
	ep, err := s.ds.BeginEpisode(s.o.task)
	if err != nil {
		return false, err
	}
	if s.eps != nil {
		ep.SetSeed(s.eps.Seed(i))
	}
	s.rec.Begin(ep)
	stopProgress := showProgress(s.stderr, s.ds, i, s.o.episodes)
	runErr := s.d.Run(ctx)
	stopProgress()
	success := s.eps != nil && s.eps.Episode() != nil && s.eps.Episode().Success
	recErr := s.rec.Finish(success)
	if runErr != nil || recErr != nil || s.interrupted.Load() > 0 || ctx.Err() != nil {
		ep.Discard()
		why := "interrupted"
		switch {
		case runErr != nil:
			why = runErr.Error()
		case recErr != nil:
			why = recErr.Error()
		}
		fmt.Fprintf(s.stderr, "\nrecord: episode %d discarded (%s); the %d episode(s) before it are kept\n", ep.Index(), why, s.recorded)
		if runErr != nil {
			return false, faultExit(runErr)
		}
		return false, recErr
	}
	res, err := ep.End(context.Background()) // a late Ctrl-C must not lose a finished episode
	if err != nil {
		return false, fmt.Errorf("record: episode %d: %w", ep.Index(), err)
	}
	s.report(res)
	return true, nil
}

// report prints a committed episode's line.
func (s *recordSession) report(res episode.EpisodeResult) {
	s.recorded++
	s.closeMax = max(s.closeMax, res.CloseTime)
	line := fmt.Sprintf("episode %d: %d frames (%.1f s)", res.Index, res.Length, float64(res.Length)/float64(s.o.fps))
	if s.eps != nil {
		switch e := s.eps.Episode(); {
		case e == nil:
		case e.Success:
			s.succeeded++
			line += fmt.Sprintf(", success after %.1f s", e.TimeToSuccess.Seconds())
		case !s.eps.Signal().Done:
			line += fmt.Sprintf(", not done at --episode-time %v (max lift %.0f mm)", s.o.episodeTime, e.MaxLift*1e3)
		default:
			line += fmt.Sprintf(", failed (max lift %.0f mm, place error %.0f mm)", e.MaxLift*1e3, e.PlaceError*1e3)
		}
	}
	line += fmt.Sprintf(", %d dropped images, closed in %v", res.DroppedFrames, res.CloseTime.Round(time.Millisecond))
	if f, ok := s.stderr.(*os.File); ok && isTerminal(f) {
		fmt.Fprintf(s.stderr, "\r\033[K")
	}
	fmt.Fprintln(s.stdout, line)
}

// openDataset creates the dataset, or appends to the one already at dir. A dataset
// recorded before robotd recorded an extra vector feature (observation.ee_pose,
// observation.environment_state) keeps its features: the vectors it lacks are left out
// of spec, one note each. It returns the spec the writer records.
func openDataset(dir string, spec episode.Spec) (*episode.Writer, episode.Spec, []string, error) {
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

// showProgress prints the open episode's progress on stderr once a second until
// stopped, when stderr is a terminal.
func showProgress(w io.Writer, ds *episode.Writer, i, n int) (stop func()) {
	if f, ok := w.(*os.File); !ok || !isTerminal(f) {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p := ds.Progress()
				fmt.Fprintf(w, "\r\033[Kepisode %d/%d: %d frames, %.1f fps, %d dropped images", i+1, n, p.EpisodeFrames, p.FPS, p.DroppedFrames)
			}
		}
	}()
	return func() { close(done); <-finished }
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
