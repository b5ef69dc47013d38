package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

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
	switch onTask := w.OnTask(); {
	case !onTask && o.source == "expert":
		return fmt.Errorf("record: --source expert needs the pick-and-place scene (arm.model sim/models/%s, as in launch/pickplace.yaml)", task.ModelFile)
	case !onTask && o.episodeTime <= 0:
		return errors.New("record: --episode-time is required outside the pick-and-place scene (nothing else ends an episode)")
	}
	// The dataset: its features follow the arm and the launch file's cameras.
	s, err := w.OpenRecording(system.RecordingConfig{Dir: o.out, RobotType: o.robotType, FPS: o.fps, EnvState: o.envState,
		Expert: o.source == "expert", Seed: o.seed, SeedSet: o.seedSet, Noise: o.noise, YawNoise: o.yawNoise,
		Note: func(n string) { fmt.Fprintf(stderr, "record: %s: %s\n", o.out, n) }})
	if err != nil {
		return err
	}
	defer s.Dataset.Close()
	// Ctrl-C: the episode under way is stopped and discarded; a second one: safe stop.
	var interrupted atomic.Int32
	d, done, err := w.Serve(ctx, func() { interrupted.Add(1) })
	if err != nil {
		return err
	}
	defer done()
	fmt.Fprintf(stdout, "recording %d episode(s) of %q into %s (%d fps, %d camera(s), source %s)\n", o.episodes, o.task, o.out, o.fps, len(w.Cameras), o.source)
	s.Daemon, s.Stopped = d, func() bool { return interrupted.Load() > 0 }
	return o.record(ctx, s, stdout, stderr)
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

// record runs the session, printing a line per episode and the summary.
func (o *recordOptions) record(ctx context.Context, s *system.RecordSession, stdout, stderr io.Writer) error {
	start := time.Now()
	s.Task, s.N = o.task, o.episodes
	s.Progress = func(i int) func() { return showProgress(stderr, s.Dataset, i, o.episodes) }
	s.Discarded = func(index int, why string, kept int) {
		fmt.Fprintf(stderr, "\nrecord: episode %d discarded (%s); the %d episode(s) before it are kept\n", index, why, kept)
	}
	s.Kept = func(r system.EpisodeReport) {
		line := fmt.Sprintf("episode %d: %d frames (%.1f s)", r.Index, r.Length, float64(r.Length)/float64(o.fps))
		switch e := r.Task; {
		case e == nil:
		case e.Success:
			line += fmt.Sprintf(", success after %.1f s", e.TimeToSuccess.Seconds())
		case !r.Done:
			line += fmt.Sprintf(", not done at --episode-time %v (max lift %.0f mm)", o.episodeTime, e.MaxLift*1e3)
		default:
			line += fmt.Sprintf(", failed (max lift %.0f mm, place error %.0f mm)", e.MaxLift*1e3, e.PlaceError*1e3)
		}
		if f, ok := stderr.(*os.File); ok && isTerminal(f) {
			fmt.Fprintf(stderr, "\r\033[K")
		}
		fmt.Fprintf(stdout, "%s, %d dropped images, closed in %v\n", line, r.DroppedFrames, r.CloseTime.Round(time.Millisecond))
	}
	sum, err := s.Run(ctx)
	if err != nil {
		return faultExit(err)
	}
	p := s.Dataset.Progress()
	fmt.Fprintf(stdout, "recorded %d episode(s) in %v", sum.Recorded, time.Since(start).Round(time.Second))
	if s.Episodes != nil {
		fmt.Fprintf(stdout, ", %d succeeded", sum.Succeeded)
	}
	fmt.Fprintf(stdout, "; dataset: %d episodes, %d frames; dropped images %d, off-grid frames %d; encoder CPU %v; slowest close %v\n",
		p.Episodes, p.Frames, p.DroppedFrames, p.OffGridFrames, p.EncoderCPU.Round(time.Millisecond), sum.CloseMax.Round(time.Millisecond))
	if s.Stopped() || ctx.Err() != nil {
		return exitError{code: system.ExitInterrupted, err: errors.New("record: interrupted")}
	}
	return nil
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
