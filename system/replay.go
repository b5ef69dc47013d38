package system

import (
	"fmt"
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
	"github.com/robotd/robotd/internal/plot"
	"github.com/robotd/robotd/sim/task"
)

// Replay plays a recorded episode's actions back on the system's arm (robotd replay) and
// compares the arm's course with the recorded one. Actions in robotd's layout (x y z rx
// ry rz [gripper]) are Cartesian targets; joint-position actions (one per joint [+
// gripper]) become the tool pose they reach. The safety layer vets every recorded action
// as it vets a policy's.
type Replay struct {
	// Layout is how the actions were read: "ee_pose" or "joint_position".
	Layout string
	// Note says why the environment (the pick-and-place cube) is not restored, when there
	// is something to say ("" otherwise).
	Note string
	src  *replaySource
	tr   *tracker
	env  *task.Task // the restored environment (nil: none)
}

// NewReplay prepares the system to replay episode data of ds: the replay installed as the
// daemon's Source and the tracker as its Recorder, home at the episode's initial joint
// configuration (in the embedded simulator the arm and the gripper are put there) and, on
// the pick-and-place scene, the cube put at its recorded start
// (observation.environment_state, frame 0). Call it before Serve or Run; the system
// should have no policy.
func (s *System) NewReplay(ds *episode.Dataset, data *episode.EpisodeData) (*Replay, error) {
	robot := s.Ports.Robot
	src, err := newReplaySource(ds, data, robot)
	if err != nil {
		return nil, err
	}
	s.Ports.Source = src
	s.Home = src.start
	r := &Replay{Layout: src.layout, src: src,
		tr: &tracker{period: time.Second / time.Duration(ds.Info.FPS), robot: robot, kin: robot.NewKinematics(), data: data}}
	if r.env, r.Note, err = restoreEnvironment(s, data); err != nil {
		return nil, err
	}
	if r.env != nil {
		r.tr.cube, r.tr.envRec = r.env.CubePose, data.Vectors[episode.KeyEnvState]
	}
	if s.SimArm != nil {
		if err := s.SimArm.SetJointPositions(src.start); err != nil {
			return nil, err
		}
		if g, ok := drivers.GripperOf(s.SimArm); ok && src.gripper >= 0 && len(data.State[0]) > len(src.start) {
			g.SetGripperWidth(float64(data.State[0][len(src.start)]))
		}
	}
	s.Ports.Recorder = r.tr
	return r, nil
}

// restoreEnvironment puts the recorded initial state of the environment (the cube of the
// pick-and-place scene, observation.environment_state at frame 0) into the embedded
// simulator. It returns the task when it did, or a note saying why the environment is
// not restored (nothing to say when neither the scene nor the dataset has one).
func restoreEnvironment(s *System, data *episode.EpisodeData) (*task.Task, string, error) {
	rec, has := data.Vectors[episode.KeyEnvState]
	has = has && len(rec) > 0
	onTask := s.SimArm != nil && filepath.Base(s.SimArm.Scene().Model) == task.ModelFile
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
	tk, err := task.New(s.SimArm, task.Config{})
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

// Tracking is how closely the arm followed the recording, over the frames replayed so
// far: joint positions (rad, RMS over frames and joints) and the tool position the
// recorded joints reach (m).
type Tracking struct {
	Frames                               int
	JointRMS, JointMax, ToolRMS, ToolMax float64
}

// Tracking compares the replayed frames with the recorded ones.
func (r *Replay) Tracking() Tracking {
	t := r.tr
	if t.n == 0 {
		return Tracking{}
	}
	dof := float64(t.robot.DoF())
	return Tracking{Frames: t.n, JointRMS: math.Sqrt(t.jointSq / (float64(t.n) * dof)), JointMax: t.jointMax,
		ToolRMS: math.Sqrt(t.toolSq / float64(t.n)), ToolMax: t.toolMax}
}

// CubeTracking compares the cube's course in a replay with the recorded one (m).
type CubeTracking struct {
	Frames   int // frames compared (0: the cube was not tracked)
	RMS, Max float64
	// EndError is the distance of the cube at the end from its recorded end.
	EndError float64
	// InZone and RecordedInZone say whether the cube ended in the place zone, now and in
	// the recording; PlaceError, Resting (on the table, not held) and Success are the
	// task's view of the end.
	InZone, RecordedInZone, Resting, Success bool
	PlaceError                               float64
}

// Cube compares the cube's course with the recorded one and says where it ended; ok is
// false when the environment was not restored.
func (r *Replay) Cube() (c CubeTracking, ok bool) {
	if r.env == nil {
		return c, false
	}
	t := r.tr
	if t.cubeN == 0 {
		return c, true
	}
	st := r.env.Evaluate()
	centre, half := r.env.Zone()
	last := task.EnvPose(t.envRec[len(t.envRec)-1])
	return CubeTracking{Frames: t.cubeN, RMS: math.Sqrt(t.cubeSq / float64(t.cubeN)), Max: t.cubeMax,
		EndError: st.Cube.Pos.Sub(last.Pos).Len(), InZone: st.InZone,
		RecordedInZone: math.Abs(last.Pos[0]-centre[0]) <= half[0] && math.Abs(last.Pos[1]-centre[1]) <= half[1],
		Resting:        st.OnTable && st.Fingers == 0, Success: st.Success, PlaceError: st.PlaceError}, true
}

// Plot draws the recorded and the replayed tool position per axis into a PNG.
func (r *Replay) Plot(path string) error {
	t := r.tr
	var panels []plot.Panel
	for axis, name := range []string{"x", "y", "z"} {
		rec, got := make(plotter.XYs, len(t.rec)), make(plotter.XYs, len(t.got))
		for i := range t.rec {
			s := float64(i) * t.period.Seconds()
			rec[i] = plotter.XY{X: s, Y: t.rec[i][axis]}
			got[i] = plotter.XY{X: s, Y: t.got[i][axis]}
		}
		panels = append(panels, plot.Panel{Title: "tool " + name, XLabel: "time (s)", YLabel: name + " (m)",
			Lines: []plot.Series{{Name: "replayed", XY: got}, {Name: "recorded", XY: rec, Dashed: true}}})
	}
	return plot.Panels(path, panels)
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
	poseNames := daemon.SpaceEEPose.Names(nil)
	s := &replaySource{fps: float64(ds.Info.FPS), gripper: -1}
	switch {
	case slices.Equal(names, append(poseNames, "gripper")) || slices.Equal(names, poseNames):
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
