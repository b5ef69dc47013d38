package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"time"

	"github.com/go-gl/mathgl/mgl64"
	"gonum.org/v1/plot/plotter"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/episode"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/sim/task"
	"github.com/robotd/robotd/system"
)

const replayUsage = `robotd replay DATASET --episode N [--launch FILE] [flags]

Sends a recorded episode's actions to the arm of the launch file at the dataset's fps and
reports how closely the arm tracks the recorded states. Actions in robotd's layout (x y z
rx ry rz [gripper]) are Cartesian targets; joint-position actions (one per joint [+
gripper]) become the tool pose they reach. The arm first goes to the episode's initial
joint configuration (in the embedded simulator it is put there). On the pick-and-place
scene the cube is put at its recorded start (observation.environment_state, frame 0) too,
so the replay reproduces the episode, and the cube's course is compared with the
recorded one; a dataset without that feature replays the arm only (with a note). The
safety layer vets every recorded action as it vets a policy's.
`

func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), replayUsage, "\nFlags:\n"); fs.PrintDefaults() }
	path := fs.String("launch", "launch/pickplace.yaml", "launch file (its policy section is ignored)")
	index := fs.Int("episode", 0, "episode index")
	plotPath := fs.String("plot", "", "write a PNG of the recorded and replayed tool position")
	dir, extra, err := parseAround(fs, args, stderr)
	if err != nil {
		return err
	}
	if extra > 0 {
		return fmt.Errorf("%s: want one DATASET; %d more arguments: %q", fs.Name(), extra, fs.Args()[len(fs.Args())-extra:])
	}
	if dir == "" {
		return errors.New("replay: a DATASET directory is required (robotd replay DATASET --episode N)")
	}
	ds, err := episode.Open(dir)
	if err != nil {
		return err
	}
	data, err := ds.Episode(*index)
	if err != nil {
		return err
	}
	f, err := launch.Load(*path)
	if err != nil {
		return err
	}
	f.Policy, f.Duration = nil, 0
	w, _, err := wireLogged(ctx, f, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer w.Close()
	src, err := newReplaySource(ds, data, w.Ports.Robot)
	if err != nil {
		return err
	}
	w.Ports.Source = src
	w.Home = src.start
	tr := &tracker{period: time.Second / time.Duration(ds.Info.FPS), robot: w.Ports.Robot, kin: w.Ports.Robot.NewKinematics(), data: data}
	env, note, err := restoreEnvironment(w, data)
	if err != nil {
		return err
	}
	if note != "" {
		fmt.Fprintf(stderr, "replay: %s: %s\n", dir, note)
	}
	if env != nil {
		tr.cube, tr.envRec = env.CubePose, data.Vectors[episode.KeyEnvState]
	}
	if w.SimArm != nil {
		if err := w.SimArm.SetJointPositions(src.start); err != nil {
			return err
		}
		if g, ok := drivers.GripperOf(w.SimArm); ok && src.gripper >= 0 && len(data.State[0]) > len(src.start) {
			g.SetGripperWidth(float64(data.State[0][len(src.start)]))
		}
	}
	w.Ports.Recorder = tr
	// Ctrl-C ramps to a hold and stops; a second one: safe stop at once.
	d, done, err := w.Serve(ctx, nil)
	if err != nil {
		return err
	}
	defer done()
	fmt.Fprintf(stdout, "replaying episode %d of %s (%d frames at %d fps, %s actions) on %s\n",
		*index, dir, len(data.Action), ds.Info.FPS, src.layout, f.Path())
	runErr := d.Run(ctx)
	r := tr.report()
	fmt.Fprintf(stdout, "tracked %d frames: joint error RMS %.4f rad, max %.4f rad; tool position error RMS %.2f mm, max %.2f mm; targets clamped %d\n",
		r.frames, r.jointRMS, r.jointMax, r.toolRMS*1e3, r.toolMax*1e3, d.Summary().Safety["targets_clamped"])
	if env != nil {
		fmt.Fprintln(stdout, cubeReport(env, tr))
	}
	if *plotPath != "" {
		if err := plotReplay(*plotPath, tr); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "plot: %s\n", *plotPath)
	}
	if runErr != nil {
		var fault *daemon.Fault
		if errors.As(runErr, &fault) {
			return exitError{code: system.ExitFault, err: runErr}
		}
		return runErr
	}
	return nil
}

// restoreEnvironment puts the recorded initial state of the environment (the cube of the
// pick-and-place scene, observation.environment_state at frame 0) into the embedded
// simulator. It returns the task when it did, or a note saying why the environment is
// not restored (nothing to say when neither the scene nor the dataset has one).
func restoreEnvironment(w *system.System, data *episode.EpisodeData) (*task.Task, string, error) {
	rec, has := data.Vectors[episode.KeyEnvState]
	has = has && len(rec) > 0
	onTask := w.SimArm != nil && filepath.Base(w.SimArm.Scene().Model) == task.ModelFile
	switch {
	case !has && onTask:
		return nil, fmt.Sprintf("no %s in the dataset: only the arm's initial state is restored (the cube starts where the scene puts it)", episode.KeyEnvState), nil
	case !has:
		return nil, "", nil
	case !onTask:
		return nil, fmt.Sprintf("%s not restored: only the pick-and-place scene's embedded simulator (sim/models/%s) can take it", episode.KeyEnvState, task.ModelFile), nil
	case len(rec[0]) != len(task.EnvNames):
		return nil, fmt.Sprintf("%s has %d values, not the cube pose robotd records (%v): not restored", episode.KeyEnvState, len(rec[0]), task.EnvNames), nil
	}
	tk, err := task.New(w.SimArm, task.Config{})
	if err != nil {
		return nil, "", fmt.Errorf("replay: %w", err)
	}
	if _, err := tk.Reset(0); err != nil { // the scene at its keyframe
		return nil, "", fmt.Errorf("replay: %w", err)
	}
	if err := tk.SetCubePose(task.EnvPose(rec[0])); err != nil {
		return nil, "", fmt.Errorf("replay: %s frame 0: %w", episode.KeyEnvState, err)
	}
	return tk, "", nil
}

// cubeReport compares the cube's course in the replay with the recorded one and says
// where it ended.
func cubeReport(tk *task.Task, t *tracker) string {
	if t.cubeN == 0 {
		return "cube: not tracked"
	}
	st := tk.Evaluate()
	yes := map[bool]string{true: "yes", false: "no"}
	centre, half := tk.Zone()
	last := task.EnvPose(t.envRec[len(t.envRec)-1])
	recIn := math.Abs(last.Pos[0]-centre[0]) <= half[0] && math.Abs(last.Pos[1]-centre[1]) <= half[1]
	return fmt.Sprintf("cube: position error RMS %.2f mm, max %.2f mm over %d frames; at the end %.2f mm from the recorded end, in the zone %s (recorded: %s), place error %.1f mm, resting %s, task success %s",
		math.Sqrt(t.cubeSq/float64(t.cubeN))*1e3, t.cubeMax*1e3, t.cubeN, st.Cube.Pos.Sub(last.Pos).Len()*1e3,
		yes[st.InZone], yes[recIn], st.PlaceError*1e3, yes[st.OnTable && st.Fingers == 0], yes[st.Success])
}

// replaySource plays recorded actions back as a daemon.Source: positions interpolated
// linearly between frames, orientations by slerp, the gripper held per frame.
type replaySource struct {
	layout  string // "ee_pose" or "joint_position"
	fps     float64
	poses   []control.Pose
	grip    []float64 // per frame; nil without a gripper action
	gripper int       // index of the gripper in the action, -1: none
	start   []float64 // the episode's initial joint configuration
	t0      time.Duration
	begun   bool
}

func newReplaySource(ds *episode.Dataset, data *episode.EpisodeData, robot *control.Robot) (*replaySource, error) {
	dof := robot.DoF()
	if len(data.Action) == 0 {
		return nil, fmt.Errorf("replay: episode %d has no frames", data.Meta.Index)
	}
	feat, _ := ds.Info.Feature(episode.KeyAction)
	names := feat.Names
	s := &replaySource{fps: float64(ds.Info.FPS), gripper: -1}
	switch {
	case slices.Equal(names, actionNames) || slices.Equal(names, poseNames):
		s.layout = "ee_pose"
		if len(names) == 7 {
			s.gripper = 6
		}
	case len(names) == dof || len(names) == dof+1:
		s.layout = "joint_position"
		if len(names) == dof+1 {
			s.gripper = dof
		}
	default:
		return nil, fmt.Errorf("replay: %s: action has %d values %q: want robotd's ee_pose layout %q [+ gripper] or %d joint positions [+ gripper] for this arm",
			ds.Dir, len(names), names, poseNames, dof)
	}
	if len(data.State) == 0 || len(data.State[0]) < dof {
		return nil, fmt.Errorf("replay: %s: observation.state has %d values: want the arm's %d joint positions first", ds.Dir, len(data.State[0]), dof)
	}
	s.start = make([]float64, dof)
	for i := range s.start {
		s.start[i] = float64(data.State[0][i])
	}
	kin := robot.NewKinematics()
	q := make([]float64, dof)
	for k, a := range data.Action {
		var p control.Pose
		if s.layout == "ee_pose" {
			p = daemon.ValuesPose(a)
		} else {
			for i := range q {
				q[i] = float64(a[i])
			}
			robot.Forward(kin, q)
			p = kin.Pose()
		}
		if !p.IsFinite() {
			return nil, fmt.Errorf("replay: %s: episode %d frame %d: action %v is not finite", ds.Dir, data.Meta.Index, k, a)
		}
		s.poses = append(s.poses, p)
		if s.gripper >= 0 {
			s.grip = append(s.grip, float64(a[s.gripper]))
		}
	}
	return s, nil
}

// Act is daemon.Source's.
func (s *replaySource) Act(now time.Duration, _ *drivers.State, _ control.Pose) (control.Pose, float64, bool) {
	if !s.begun {
		s.t0, s.begun = now, true
	}
	x := (now - s.t0).Seconds() * s.fps
	k := min(int(x), len(s.poses)-1)
	done := k >= len(s.poses)-1
	p := s.poses[k]
	if !done {
		u := x - float64(k)
		a, b := s.poses[k], s.poses[k+1]
		p = control.Pose{Pos: a.Pos.Add(b.Pos.Sub(a.Pos).Mul(u)), Rot: mgl64.QuatSlerp(a.Rot, b.Rot, u)}
	}
	g := math.NaN()
	if s.grip != nil {
		g = s.grip[k]
	}
	return p, g, done
}

// tracker is a daemon.Recorder comparing the arm's state at each frame time with the
// recorded one.
type tracker struct {
	period time.Duration
	robot  *control.Robot
	kin    *control.Kinematics
	data   *episode.EpisodeData
	q      []float64

	jointSq, toolSq   float64
	jointMax, toolMax float64
	n                 int
	rec, got          []mgl64.Vec3 // recorded and replayed tool positions, per frame

	// The environment, when restored: the cube's pose now and as recorded per frame.
	cube            func() control.Pose
	envRec          [][]float32
	cubeSq, cubeMax float64
	cubeN           int
}

func (t *tracker) Period() time.Duration { return t.period }

func (t *tracker) Record(s *daemon.Sample) bool {
	k := t.n
	if k >= len(t.data.State) {
		return true
	}
	t.q = t.q[:0]
	for i, q := range s.Q {
		e := q - float64(t.data.State[k][i])
		t.jointSq += e * e
		t.jointMax = max(t.jointMax, math.Abs(e))
		t.q = append(t.q, float64(t.data.State[k][i]))
	}
	t.robot.Forward(t.kin, t.q)
	e := s.Tool.Pos.Sub(t.kin.Pos).Len()
	t.toolSq += e * e
	t.toolMax = max(t.toolMax, e)
	t.rec, t.got = append(t.rec, t.kin.Pos), append(t.got, s.Tool.Pos)
	if t.cube != nil && k < len(t.envRec) {
		e := t.cube().Pos.Sub(task.EnvPose(t.envRec[k]).Pos).Len()
		t.cubeSq += e * e
		t.cubeMax = max(t.cubeMax, e)
		t.cubeN++
	}
	t.n++
	return true
}

type trackReport struct {
	frames                               int
	jointRMS, jointMax, toolRMS, toolMax float64
}

func (t *tracker) report() trackReport {
	if t.n == 0 {
		return trackReport{}
	}
	dof := float64(t.robot.DoF())
	return trackReport{frames: t.n, jointRMS: math.Sqrt(t.jointSq / (float64(t.n) * dof)), jointMax: t.jointMax,
		toolRMS: math.Sqrt(t.toolSq / float64(t.n)), toolMax: t.toolMax}
}

// plotReplay draws the recorded and the replayed tool position per axis.
func plotReplay(path string, t *tracker) error {
	var panels []panel
	for axis, name := range []string{"x", "y", "z"} {
		rec, got := make(plotter.XYs, len(t.rec)), make(plotter.XYs, len(t.got))
		for i := range t.rec {
			s := float64(i) * t.period.Seconds()
			rec[i] = plotter.XY{X: s, Y: t.rec[i][axis]}
			got[i] = plotter.XY{X: s, Y: t.got[i][axis]}
		}
		panels = append(panels, panel{Title: "tool " + name, XLabel: "time (s)", YLabel: name + " (m)",
			Lines: []series{{Name: "replayed", XY: got}, {Name: "recorded", XY: rec, Dashed: true}}})
	}
	return plotPanels(path, panels)
}
