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

An existing dataset at --out is appended to (same fps and features; the extra features
above are left out, with a note, when the dataset was recorded without them); a crashed recording
left in it is completed or discarded first. An episode that does not finish (Ctrl-C, a
fault) is discarded; the episodes before it stay.
`

func recordCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("record", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), recordUsage, "\nFlags:\n"); fs.PrintDefaults() }
	path := fs.String("launch", "launch/pickplace.yaml", "launch file")
	out := fs.String("out", "", "dataset directory (created, or appended to)")
	taskText := fs.String("task", "", "the task's instruction, stored in meta/tasks.parquet (required)")
	episodes := fs.Int("episodes", 1, "episodes to record")
	source := fs.String("source", "policy", "what drives the arm: policy (the launch file's) or expert (the scripted pick-and-place expert)")
	seed := fs.Int64("seed", 0, "episode i starts from the cube pose of seed+i (pick-and-place scene)")
	fps := fs.Int("fps", 30, "dataset frame rate")
	episodeTime := fs.Duration("episode-time", 0, "end each episode after this long (0: the task's end; required for other scenes)")
	robotType := fs.String("robot-type", "panda", "info.json robot_type")
	noise := fs.Float64("expert-noise", 0, "with --source expert: DART noise, the standard deviation (m) of a smooth random offset of the executed target in x and y while the expert approaches the cube and carries it; the recorded action stays the expert's own target (0: none; 0.01 is a good start)")
	yawNoise := fs.Float64("expert-yaw-noise", 0, "with --expert-noise: the offset's standard deviation about the vertical (rad)")
	envState := fs.Bool("env-state", true, "on the pick-and-place scene, record the cube's pose as observation.environment_state (for replay; LeRobot's ACT and diffusion policies take that feature as an input when a dataset has it)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	switch {
	case *out == "":
		return errors.New("record: --out DATASET is required")
	case *taskText == "":
		return errors.New("record: --task is required (the instruction stored with every episode)")
	case *episodes < 1:
		return fmt.Errorf("record: --episodes %d: want at least 1", *episodes)
	case *source != "policy" && *source != "expert":
		return fmt.Errorf("record: --source %q: want policy or expert", *source)
	case *fps < 1 || *fps > 1000:
		return fmt.Errorf("record: --fps %d: want 1..1000", *fps)
	case (*noise != 0 || *yawNoise != 0) && *source != "expert":
		return errors.New("record: --expert-noise and --expert-yaw-noise need --source expert")
	}
	var dart *task.TargetNoise
	if *noise != 0 || *yawNoise != 0 {
		var err error
		if dart, err = task.NewTargetNoise(*noise, *yawNoise, 0, 0, uint64(*seed)); err != nil {
			return fmt.Errorf("record: %w", err)
		}
	}
	f, err := launch.Load(*path)
	if err != nil {
		return err
	}
	f.Duration = *episodeTime
	w, _, err := wireLogged(ctx, f, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer w.Close()

	var eps *system.TaskEpisodes
	if w.SimArm != nil && filepath.Base(w.SimArm.Scene().Model) == task.ModelFile {
		if eps, err = w.NewTaskEpisodes(*source == "expert", *seed, dart); err != nil {
			return err
		}
	} else if *source == "expert" {
		return fmt.Errorf("record: --source expert needs the pick-and-place scene (arm.model sim/models/%s, as in launch/pickplace.yaml)", task.ModelFile)
	} else if *episodeTime <= 0 {
		return errors.New("record: --episode-time is required outside the pick-and-place scene (nothing else ends an episode)")
	}
	if w.Ports.Policy == nil && w.Ports.Source == nil {
		return fmt.Errorf("record: %s has no policy section: nothing would move the arm (add a policy, or --source expert on the pick-and-place scene)", f.Path())
	}

	// The dataset: its features follow the arm and the launch file's cameras.
	sizes := make([][2]int, len(w.Cameras))
	for i, c := range w.Cameras {
		for _, lc := range f.Cameras {
			if lc.Name == c.Name() {
				sizes[i] = [2]int{lc.Width, lc.Height}
			}
		}
	}
	state := recordState(w.Ports.Robot.JointNames(), w.Ports.Policy)
	spec := recordSpec(*robotType, *fps, state, w.Cameras, sizes, eps != nil, eps != nil && *envState)
	// Simulated time can run ahead of the video encoders: it waits for them instead of
	// dropping images. In realtime a full encoder queue drops (counted).
	spec.Video.Wait = f.Mode == launch.ModeLockstep
	ds, spec, notes, err := openDataset(*out, spec)
	if err != nil {
		return err
	}
	defer ds.Close()
	for _, n := range notes {
		fmt.Fprintf(stderr, "record: %s: %s\n", *out, n)
	}
	for _, r := range ds.Recovered() {
		fmt.Fprintf(stderr, "record: %s: %s\n", *out, r)
	}

	var labels func() task.Signal
	var env func([]float32)
	if eps != nil {
		labels = func() task.Signal { return eps.Signal() }
		env = eps.Environment
	}
	rec, err := newRecorder(*fps, w.Cameras, f.Mode == launch.ModeLockstep, labels, state, w.Ports.Robot.DoF(), spec.Vectors, env)
	if err != nil {
		return err
	}
	w.Ports.Recorder = rec
	// Ctrl-C: the episode under way is stopped and discarded; a second one: safe stop.
	var interrupted atomic.Int32
	d, done, err := w.Serve(ctx, func() { interrupted.Add(1) })
	if err != nil {
		return err
	}
	defer done()

	fmt.Fprintf(stdout, "recording %d episode(s) of %q into %s (%d fps, %d camera(s), source %s)\n", *episodes, *taskText, *out, *fps, len(w.Cameras), *source)
	start := time.Now()
	var recorded, succeeded int
	var closeMax time.Duration
	for i := 0; i < *episodes && interrupted.Load() == 0; i++ {
		if eps != nil {
			if err := eps.Reset(i); err != nil {
				return err
			}
		}
		ep, err := ds.BeginEpisode(*taskText)
		if err != nil {
			return err
		}
		rec.begin(ep)
		stopProgress := showProgress(stderr, ds, i, *episodes)
		runErr := d.Run(ctx)
		stopProgress()
		success := eps != nil && eps.Episode() != nil && eps.Episode().Success
		recErr := rec.finish(success)
		complete := runErr == nil && recErr == nil && interrupted.Load() == 0 && (eps == nil || eps.Signal().Done)
		if !complete {
			ep.Discard()
			why := "interrupted"
			switch {
			case runErr != nil:
				why = runErr.Error()
			case recErr != nil:
				why = recErr.Error()
			}
			fmt.Fprintf(stderr, "\nrecord: episode %d discarded (%s); the %d episode(s) before it are kept\n", ep.Index(), why, recorded)
			var fault *daemon.Fault
			if errors.As(runErr, &fault) {
				return exitError{code: system.ExitFault, err: runErr}
			}
			if runErr != nil {
				return runErr
			}
			if recErr != nil {
				return recErr
			}
			break
		}
		res, err := ep.End(context.Background()) // a late Ctrl-C must not lose a finished episode
		if err != nil {
			return fmt.Errorf("record: episode %d: %w", ep.Index(), err)
		}
		recorded++
		closeMax = max(closeMax, res.CloseTime)
		line := fmt.Sprintf("episode %d: %d frames (%.1f s)", res.Index, res.Length, float64(res.Length)/float64(*fps))
		if eps != nil {
			if eps.Episode().Success {
				succeeded++
				line += fmt.Sprintf(", success after %.1f s", eps.Episode().TimeToSuccess.Seconds())
			} else {
				line += fmt.Sprintf(", failed (max lift %.0f mm, place error %.0f mm)", eps.Episode().MaxLift*1e3, eps.Episode().PlaceError*1e3)
			}
		}
		line += fmt.Sprintf(", %d dropped images, closed in %v", res.DroppedFrames, res.CloseTime.Round(time.Millisecond))
		if f, ok := stderr.(*os.File); ok && isTerminal(f) {
			fmt.Fprintf(stderr, "\r\033[K")
		}
		fmt.Fprintln(stdout, line)
	}
	p := ds.Progress()
	fmt.Fprintf(stdout, "recorded %d episode(s) in %v", recorded, time.Since(start).Round(time.Second))
	if eps != nil {
		fmt.Fprintf(stdout, ", %d succeeded", succeeded)
	}
	fmt.Fprintf(stdout, "; dataset: %d episodes, %d frames; dropped images %d, off-grid frames %d; encoder CPU %v; slowest close %v\n",
		p.Episodes, p.Frames, p.DroppedFrames, p.OffGridFrames, p.EncoderCPU.Round(time.Millisecond), closeMax.Round(time.Millisecond))
	if interrupted.Load() > 0 {
		return exitError{code: 130, err: errors.New("record: interrupted")}
	}
	return nil
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
