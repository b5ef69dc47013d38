// Package task is robotd's simulated pick-and-place task: the scene (sim/models/pickplace.xml),
// seeded episode starts, success detection from simulator state, the reward/done/success
// signals a recording stores, and a scripted expert that solves the task from privileged
// state (the cube's pose) through the same Cartesian targets and gripper commands a policy
// gives.
//
// The task: a 5 cm cube starts on the table at a random position in Config.Region and a
// random yaw; the arm must pick it up and put it down inside the green target zone. An
// instant is a success when the cube's centre is inside the zone's square (seen from
// above), the cube rests flat on the table (touching it, bottom within RestTolerance of the
// table top, tilted at most MaxTilt, moving slower than RestSpeed) and no finger touches it.
// An Episode is a success once that has held for HoldTime.
//
// Conventions are control's (doc.go): SI units, world frame = robot base frame, quaternions
// scalar first. The package reads and writes the simulator; it does not step it.
package task

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
)

// ModelFile is the task scene's file name in the models directory.
const ModelFile = "pickplace.xml"

// Scene is the task's simulation scene: pickplace.xml in sim.ModelsDir(), with the
// reference arm's joints, gripper and tool.
func Scene() sim.Scene {
	return sim.Scene{Model: filepath.Join(sim.ModelsDir(), ModelFile)}.WithDefaults()
}

// Region is an axis-aligned rectangle of the table in the world frame (m).
type Region struct {
	Min, Max mgl64.Vec2
}

// Contains reports whether p is inside the rectangle (borders included).
func (r Region) Contains(p mgl64.Vec2) bool {
	return p[0] >= r.Min[0] && p[0] <= r.Max[0] && p[1] >= r.Min[1] && p[1] <= r.Max[1]
}

// Config describes the task. Zero fields take the defaults noted.
type Config struct {
	// Region is where the cube's centre starts. Default x 0.40..0.60, y -0.22..-0.02: a
	// 20 cm square on the arm's right, 10 cm or more from the zone's edge.
	Region Region
	// Yaw is the largest start yaw of the cube about the vertical (rad); the yaw is drawn
	// uniformly in [-Yaw, Yaw). Default pi/4: the cube is square, so that covers every
	// orientation.
	Yaw float64
	// RestTolerance is how far above the table the cube's bottom may be and still rest on
	// it (m). Default 0.003.
	RestTolerance float64
	// MaxTilt is the largest angle (rad) between the cube's nearest face normal and the
	// vertical for it to lie flat. Default 0.1.
	MaxTilt float64
	// RestSpeed is the largest speed of the cube's centre (m/s) for it to be at rest.
	// Default 0.02.
	RestSpeed float64
	// LiftThreshold is the height of the cube's bottom above the table (m) from which an
	// episode counts as lifted. Default 0.05.
	LiftThreshold float64
	// HoldTime is how long an instant success must last for the episode to succeed.
	// Default 500 ms.
	HoldTime time.Duration
	// Timeout ends an episode that has not succeeded. Default 30 s.
	Timeout time.Duration

	// Cube is the cube's body, whose free joint and box geom have the same name; Table and
	// Zone are geoms (the zone's box gives its square). Defaults "cube", "table", "zone".
	Cube, Table, Zone string
}

// DefaultRegion is the cube's default start region.
var DefaultRegion = Region{Min: mgl64.Vec2{0.40, -0.22}, Max: mgl64.Vec2{0.60, -0.02}}

// WithDefaults returns c with its zero fields filled.
func (c Config) WithDefaults() Config {
	if c.Region == (Region{}) {
		c.Region = DefaultRegion
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Yaw, math.Pi/4)
	def(&c.RestTolerance, 0.003)
	def(&c.MaxTilt, 0.1)
	def(&c.RestSpeed, 0.02)
	def(&c.LiftThreshold, 0.05)
	if c.HoldTime == 0 {
		c.HoldTime = 500 * time.Millisecond
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Cube == "" {
		c.Cube = "cube"
	}
	if c.Table == "" {
		c.Table = "table"
	}
	if c.Zone == "" {
		c.Zone = "zone"
	}
	return c
}

// Validate checks the ranges of a config with defaults filled.
func (c Config) Validate() error {
	switch {
	case !(c.Region.Min[0] < c.Region.Max[0] && c.Region.Min[1] < c.Region.Max[1]):
		return fmt.Errorf("task: region %v..%v: want min < max on both axes", c.Region.Min, c.Region.Max)
	case !(c.Yaw > 0 && c.Yaw <= math.Pi):
		return fmt.Errorf("task: yaw range %g rad: want in (0, pi]", c.Yaw)
	case !(c.RestTolerance > 0), !(c.MaxTilt > 0), !(c.RestSpeed > 0), !(c.LiftThreshold > 0):
		return fmt.Errorf("task: rest tolerance %g m, max tilt %g rad, rest speed %g m/s, lift threshold %g m: want all > 0",
			c.RestTolerance, c.MaxTilt, c.RestSpeed, c.LiftThreshold)
	case c.HoldTime < 0 || c.Timeout <= 0:
		return fmt.Errorf("task: hold time %v, timeout %v: want >= 0 and > 0", c.HoldTime, c.Timeout)
	}
	return nil
}

// Start is an episode's initial condition.
type Start struct {
	Seed int64
	Cube mgl64.Vec3 // the cube's centre (m)
	Yaw  float64    // the cube's rotation about the vertical (rad)
}

// Sample draws the cube's start from seed: the position uniform in c.Region, resting on a
// table top at z = 0 (centre at half the cube's size, halfSize), the yaw uniform in
// [-c.Yaw, c.Yaw). The same seed always gives the same start (math/rand/v2's PCG, whose
// sequence is fixed by its specification).
func (c Config) Sample(seed int64, halfSize float64) Start {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7069636b706c6163)) // "pickplac"
	r := c.Region
	x := r.Min[0] + rng.Float64()*(r.Max[0]-r.Min[0])
	y := r.Min[1] + rng.Float64()*(r.Max[1]-r.Min[1])
	yaw := (2*rng.Float64() - 1) * c.Yaw
	return Start{Seed: seed, Cube: mgl64.Vec3{x, y, halfSize}, Yaw: yaw}
}

// Task binds the task to one simulated arm of its scene. It is used from the goroutine that
// steps the arm, between ticks. Evaluate allocates nothing.
type Task struct {
	arm *mujoco.Arm
	s   *mujoco.Sim
	cfg Config

	cubeJoint, cubeDof int
	cubeGeom, table    int
	fingerBody         [2]int
	half               float64    // the cube's half size (m)
	tableTop           float64    // z of the table's top face (m)
	zone               mgl64.Vec3 // centre of the zone on the table top
	zoneHalf           mgl64.Vec2 // half-extents of the zone's square

	contacts []mujoco.Contact
}

// New checks that the arm's scene has the task's cube, table and zone and returns the task.
// It does not reset the arm: call Reset.
func New(arm *mujoco.Arm, cfg Config) (*Task, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := arm.Sim()
	t := &Task{arm: arm, s: s, cfg: cfg, contacts: make([]mujoco.Contact, 0, 64)}
	var err error
	id := func(kind mujoco.ObjType, name, what string) int {
		if err != nil {
			return -1
		}
		i, e := s.ID(kind, name)
		if e != nil {
			err = fmt.Errorf("task: %s: %w", what, e)
		}
		return i
	}
	t.cubeJoint = id(mujoco.ObjJoint, cfg.Cube, "the cube's free joint")
	t.cubeGeom = id(mujoco.ObjGeom, cfg.Cube, "the cube's geom")
	t.table = id(mujoco.ObjGeom, cfg.Table, "the table's geom")
	zone := id(mujoco.ObjGeom, cfg.Zone, "the target zone's geom")
	for i, f := range arm.Scene().Fingers {
		t.fingerBody[i] = id(mujoco.ObjBody, f, "finger body")
	}
	if err != nil {
		return nil, err
	}
	p, _ := s.GeomPose(t.table)
	t.tableTop = p[2] + s.GeomSize(t.table)[2]
	zp, _ := s.GeomPose(zone)
	zs := s.GeomSize(zone)
	t.zone = mgl64.Vec3{zp[0], zp[1], t.tableTop}
	t.zoneHalf = mgl64.Vec2{zs[0], zs[1]}
	if jt := s.JointType(t.cubeJoint); jt != mujoco.JointFree {
		return nil, fmt.Errorf("task: joint %q is a %v joint, want a free joint", cfg.Cube, jt)
	}
	sz := s.GeomSize(t.cubeGeom)
	if sz[0] != sz[1] || sz[1] != sz[2] {
		return nil, fmt.Errorf("task: geom %q has size %v: want a cube (equal half-extents)", cfg.Cube, sz)
	}
	t.half = sz[0]
	t.cubeDof = s.JointDofAdr(t.cubeJoint)
	return t, nil
}

// Config returns the configuration in use, defaults filled.
func (t *Task) Config() Config { return t.cfg }

// Arm is the arm the task was built on.
func (t *Task) Arm() *mujoco.Arm { return t.arm }

// CubeSize is the cube's edge length (m).
func (t *Task) CubeSize() float64 { return 2 * t.half }

// Zone is the target zone: its centre on the table top and the half-extents of its square.
func (t *Task) Zone() (centre mgl64.Vec3, half mgl64.Vec2) { return t.zone, t.zoneHalf }

// TableTop is the height of the table's top face (m).
func (t *Task) TableTop() float64 { return t.tableTop }

// Reset starts an episode: the whole scene back to its keyframe (the arm at home, fingers
// open, zero torques, the clock at 0), then the cube at the start drawn from seed (see
// Config.Sample), at rest. Deterministic: the same seed gives the same state.
func (t *Task) Reset(seed int64) (Start, error) {
	if err := t.arm.Reset(); err != nil {
		return Start{}, err
	}
	st := t.cfg.Sample(seed, t.half)
	st.Cube[2] += t.tableTop
	q := mgl64.QuatRotate(st.Yaw, mgl64.Vec3{0, 0, 1})
	if err := t.s.SetFreeJointPose(t.cubeJoint, st.Cube, [4]float64{q.W, q.V[0], q.V[1], q.V[2]}); err != nil {
		return Start{}, err
	}
	if err := t.s.Forward(); err != nil {
		return Start{}, err
	}
	return st, nil
}

// Privileged is the simulator state the scripted expert acts on: ground truth no policy
// sees.
type Privileged struct {
	Cube    control.Pose // the cube's centre and orientation
	Tool    control.Pose // the tool (tcp) frame, measured
	Gripper float64      // the finger opening (m), measured
}

// Privileged reads the state the expert needs.
func (t *Task) Privileged() Privileged {
	p, q := t.s.FreeJointPose(t.cubeJoint)
	tp, tq := t.arm.ToolPose()
	return Privileged{
		Cube:    control.Pose{Pos: p, Rot: mgl64.Quat{W: q[0], V: mgl64.Vec3{q[1], q[2], q[3]}}},
		Tool:    control.Pose{Pos: tp, Rot: tq},
		Gripper: t.arm.GripperWidth(),
	}
}

// Status is the task's state at one instant, read from the simulator.
type Status struct {
	Cube control.Pose // the cube's centre and orientation
	// Lift is the height of the cube's lowest corner above the table top (m): 0 when it
	// lies flat on the table.
	Lift float64
	// Tilt is the angle between the vertical and the cube's face normal nearest to it (rad).
	Tilt float64
	// Speed is the speed of the cube's centre (m/s).
	Speed float64
	// InZone: the cube's centre is inside the zone's square, seen from above.
	InZone bool
	// OnTable: the cube touches the table, lies flat (Tilt <= MaxTilt) and its bottom is
	// at most RestTolerance above the table top.
	OnTable bool
	// Fingers is how many of the two fingers touch the cube.
	Fingers int
	// Grasped: both fingers touch the cube and it does not touch the table.
	Grasped bool
	// PlaceError is the horizontal distance from the cube's centre to the zone's centre (m).
	PlaceError float64
	// Success: InZone, OnTable, no finger touching (Fingers == 0) and Speed <= RestSpeed.
	Success bool
}

// Evaluate reads the task's status from the simulator's current state (positions and the
// contacts of the last step). It allocates nothing.
func (t *Task) Evaluate() Status {
	p, q := t.s.FreeJointPose(t.cubeJoint)
	rot := mgl64.Quat{W: q[0], V: mgl64.Vec3{q[1], q[2], q[3]}}.Normalize()
	st := Status{Cube: control.Pose{Pos: p, Rot: rot}}
	m := rot.Mat4().Mat3()
	// The cube's lowest corner: centre minus the half size times the sum of |z components|
	// of its axes; the face normal nearest the vertical has the largest |z component|.
	reach, maxz := 0.0, 0.0
	for i := 0; i < 3; i++ {
		z := math.Abs(m.At(2, i))
		reach += z
		maxz = math.Max(maxz, z)
	}
	st.Lift = p[2] - t.half*reach - t.tableTop
	st.Tilt = math.Acos(math.Min(1, maxz))
	v := t.s.Qvel()[t.cubeDof : t.cubeDof+3]
	st.Speed = math.Sqrt(v[0]*v[0] + v[1]*v[1] + v[2]*v[2])
	dx, dy := p[0]-t.zone[0], p[1]-t.zone[1]
	st.InZone = math.Abs(dx) <= t.zoneHalf[0] && math.Abs(dy) <= t.zoneHalf[1]
	st.PlaceError = math.Hypot(dx, dy)

	var onTable bool
	var finger [2]bool
	t.contacts = t.s.Contacts(t.contacts[:0])
	for _, c := range t.contacts {
		other := -1
		switch t.cubeGeom {
		case c.Geom1:
			other = c.Geom2
		case c.Geom2:
			other = c.Geom1
		default:
			continue
		}
		if c.Dist > 0 { // within the margin, not touching
			continue
		}
		if other == t.table {
			onTable = true
			continue
		}
		b := t.s.GeomBody(other)
		for i, fb := range t.fingerBody {
			if b == fb {
				finger[i] = true
			}
		}
	}
	for _, f := range finger {
		if f {
			st.Fingers++
		}
	}
	st.Grasped = st.Fingers == 2 && !onTable
	st.OnTable = onTable && st.Tilt <= t.cfg.MaxTilt && st.Lift <= t.cfg.RestTolerance
	st.Success = st.InZone && st.OnTable && st.Fingers == 0 && st.Speed <= t.cfg.RestSpeed
	return st
}

// Signal is what a recording stores per step: next.reward, next.done, next.success.
type Signal struct {
	// Reward is 1 while the instant status is a success, else 0 (sparse).
	Reward float64
	// Done: the episode ended at this step, by success held for HoldTime or by timeout.
	Done bool
	// Success: the episode has succeeded (success held for HoldTime).
	Success bool
}

// Episode accumulates one episode's outcome from the Status of each step. Its zero value
// is not usable: make it with NewEpisode.
type Episode struct {
	cfg   Config
	start time.Duration

	// MaxLift is the highest Lift seen (m).
	MaxLift float64
	// Lifted: MaxLift reached Config.LiftThreshold.
	Lifted bool
	// Success: an instant success lasted Config.HoldTime.
	Success bool
	// TimeToSuccess is the time from the episode's start to the beginning of the success
	// that lasted HoldTime (valid when Success).
	TimeToSuccess time.Duration
	// PlaceError is the last PlaceError seen (m).
	PlaceError float64
	// Done: the episode ended (success or timeout); later updates change nothing.
	Done bool
	// Duration is the time from the start to the last update.
	Duration time.Duration

	since time.Duration // start of the current run of instant successes, -1 if none
}

// NewEpisode starts accumulating an episode that begins at now (simulation time).
func (t *Task) NewEpisode(now time.Duration) *Episode {
	return &Episode{cfg: t.cfg, start: now, since: -1}
}

// Update folds in the status at now and returns the step's signal.
func (e *Episode) Update(now time.Duration, st Status) Signal {
	if e.Done {
		return Signal{Reward: b2f(st.Success), Done: true, Success: e.Success}
	}
	e.Duration = now - e.start
	e.MaxLift = math.Max(e.MaxLift, st.Lift)
	e.Lifted = e.Lifted || e.MaxLift >= e.cfg.LiftThreshold
	e.PlaceError = st.PlaceError
	if st.Success {
		if e.since < 0 {
			e.since = now
		}
		if now-e.since >= e.cfg.HoldTime {
			e.Success, e.Done = true, true
			e.TimeToSuccess = e.since - e.start
		}
	} else {
		e.since = -1
	}
	if e.Duration >= e.cfg.Timeout {
		e.Done = true
	}
	return Signal{Reward: b2f(st.Success), Done: e.Done, Success: e.Success}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// CubePose is the cube's pose (centre and orientation), read from the simulator. It
// allocates nothing.
func (t *Task) CubePose() control.Pose {
	p, q := t.s.FreeJointPose(t.cubeJoint)
	return control.Pose{Pos: p, Rot: mgl64.Quat{W: q[0], V: mgl64.Vec3{q[1], q[2], q[3]}}}
}

// SetCubePose puts the cube at p (its orientation normalised) at rest and recomputes the
// scene (positions, contacts): for restoring a recorded episode's start. The rest of the
// scene is left as it is. A non-finite pose is an error and changes nothing.
func (t *Task) SetCubePose(p control.Pose) error {
	q := p.Rot
	if err := t.s.SetFreeJointPose(t.cubeJoint, p.Pos, [4]float64{q.W, q.V[0], q.V[1], q.V[2]}); err != nil {
		return fmt.Errorf("task: %w", err)
	}
	return t.s.Forward()
}
