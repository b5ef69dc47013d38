package task

import (
	"fmt"
	"math"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
)

// Phase is a step of the expert's script.
type Phase int

// The expert's phases, in the order it goes through them.
const (
	Approach Phase = iota // above the cube, the fingers across two of its faces
	Descend               // down around the cube
	Close                 // close the fingers
	Lift                  // up to the carrying height
	Carry                 // over the zone
	Lower                 // down until the cube is just above the table
	Open                  // open the fingers
	Retreat               // up, clear of the cube
	Finished              // hold
)

var phaseNames = [...]string{"approach", "descend", "close", "lift", "carry", "lower", "open", "retreat", "finished"}

func (p Phase) String() string {
	if p >= 0 && int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// ExpertConfig configures the scripted expert. Zone, ZoneHalf, CubeSize, TableTop and Down
// describe the scene (Task.ExpertConfig fills them); the other zero fields take the
// defaults noted.
type ExpertConfig struct {
	// Zone is the target zone's centre on the table top, ZoneHalf the half-extents of its
	// square, CubeSize the cube's edge (m), TableTop the table's height.
	Zone     mgl64.Vec3
	ZoneHalf mgl64.Vec2
	CubeSize float64
	TableTop float64
	// Down is the tool orientation of the arm's home pose (pointing down); the expert turns
	// it about the vertical only.
	Down mgl64.Quat

	// MaxSpeed (m/s) and MaxAccel (m/s^2) bound the target's motion; SlowSpeed is the speed
	// near the cube and the table (descend, lower). Defaults 0.25, 0.6, 0.15.
	MaxSpeed, MaxAccel, SlowSpeed float64
	// MaxTurnRate bounds the target's rotation (rad/s). Default 1.
	MaxTurnRate float64
	// Hover is how far above the cube's centre the tool waits before descending (m).
	// Default 0.10.
	Hover float64
	// GraspDepth is how far below the cube's centre the tool goes to grasp (m). Default
	// 0.005.
	GraspDepth float64
	// CarryHeight is the cube bottom's height above the table while carried (m). Default
	// 0.12.
	CarryHeight float64
	// Clearance is the cube bottom's height above the table when the fingers open (m).
	// Default 0.005.
	Clearance float64
	// OpenWidth and ClosedWidth are the gripper commands (m). Defaults 0.08 and 0.
	OpenWidth, ClosedWidth float64
	// Tolerance is how near the measured tool must come to a waypoint before the next
	// phase (m). Default 0.01.
	Tolerance float64
	// Settle is the longest the expert waits at a waypoint for the tool to come within
	// Tolerance before it moves on anyway. Default 2 s.
	Settle time.Duration
	// CloseTime and OpenTime are how long the gripper gets to close and open. Defaults
	// 600 ms and 400 ms.
	CloseTime, OpenTime time.Duration
}

func (c *ExpertConfig) defaults() error {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxSpeed, 0.25)
	def(&c.MaxAccel, 0.6)
	def(&c.SlowSpeed, 0.15)
	def(&c.MaxTurnRate, 1)
	def(&c.Hover, 0.10)
	def(&c.GraspDepth, 0.005)
	def(&c.CarryHeight, 0.12)
	def(&c.Clearance, 0.005)
	def(&c.OpenWidth, 0.08)
	def(&c.Tolerance, 0.01)
	if c.Settle == 0 {
		c.Settle = 2 * time.Second
	}
	if c.CloseTime == 0 {
		c.CloseTime = 600 * time.Millisecond
	}
	if c.OpenTime == 0 {
		c.OpenTime = 400 * time.Millisecond
	}
	switch {
	case !(c.CubeSize > 0) || !(c.ZoneHalf[0] > 0 && c.ZoneHalf[1] > 0):
		return fmt.Errorf("task: expert: cube size %g m, zone half-extents %v: want > 0", c.CubeSize, c.ZoneHalf)
	case math.Abs(c.Down.Len()-1) > 1e-6:
		return fmt.Errorf("task: expert: down orientation %v: want a unit quaternion", c.Down)
	case !(c.MaxSpeed > 0 && c.MaxAccel > 0 && c.SlowSpeed > 0 && c.MaxTurnRate > 0):
		return fmt.Errorf("task: expert: speed %g, accel %g, slow speed %g, turn rate %g: want > 0",
			c.MaxSpeed, c.MaxAccel, c.SlowSpeed, c.MaxTurnRate)
	case !(c.ClosedWidth < c.CubeSize && c.OpenWidth > c.CubeSize):
		return fmt.Errorf("task: expert: gripper widths %g..%g m must bracket the cube's %g m",
			c.ClosedWidth, c.OpenWidth, c.CubeSize)
	}
	return nil
}

// ExpertConfig returns an expert configuration for this task's scene: the zone, the cube's
// size, the table's height and the tool's home orientation. To read the latter it resets
// the arm to its keyframe (Arm.Reset): call it before an episode starts, not during one.
func (t *Task) ExpertConfig() (ExpertConfig, error) {
	if err := t.arm.Reset(); err != nil {
		return ExpertConfig{}, err
	}
	_, down := t.arm.ToolPose()
	return ExpertConfig{Zone: t.zone, ZoneHalf: t.zoneHalf, CubeSize: 2 * t.half, TableTop: t.tableTop, Down: down}, nil
}

// Expert is a scripted pick-and-place expert. It reads privileged state (the cube's pose,
// the measured tool pose and gripper opening) and returns what a policy returns: a
// Cartesian tool target and a gripper opening, for the same safety layer and impedance
// controller. Its script: approach above the cube with the fingers across two faces,
// descend, close, lift, carry over the zone, lower, open, retreat. It watches the cube
// and starts over from Approach when the cube is not in the hand after closing, is lost
// while carried, or lies outside the zone after the retreat.
//
// The target moves toward each waypoint with bounded speed and acceleration (a trapezoid
// along the straight line) and bounded turn rate, so a step never kicks the controller.
// Act may be called at any rate (10-30 Hz is intended); the bounds hold per call from the
// time elapsed since the previous one. An Expert is used from one goroutine.
type Expert struct {
	cfg ExpertConfig

	started  bool
	last     time.Duration
	cmd      control.Pose // target sent last
	speed    float64      // along the current straight line (m/s)
	gripper  float64
	phase    Phase
	entered  time.Duration // when the phase began
	arrived  time.Duration // when cmd reached the phase's waypoint, -1 if not yet
	yaw      float64       // grasp rotation about the vertical from Down (rad)
	offset   mgl64.Vec3    // cube centre minus tool position, measured after closing
	attempts int
}

// NewExpert validates cfg, fills its defaults and returns an expert at the start of its
// script. Use a new Expert (or Reset) per episode.
func NewExpert(cfg ExpertConfig) (*Expert, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	e := &Expert{cfg: cfg}
	e.Reset()
	return e, nil
}

// Config returns the configuration in use, defaults filled.
func (e *Expert) Config() ExpertConfig { return e.cfg }

// Reset puts the expert back at the start of its script; the next Act starts from the
// measured tool pose.
func (e *Expert) Reset() {
	*e = Expert{cfg: e.cfg, gripper: e.cfg.OpenWidth, arrived: -1}
}

// Phase is the script's current phase.
func (e *Expert) Phase() Phase { return e.phase }

// Attempts is how many times the expert has started an approach.
func (e *Expert) Attempts() int { return e.attempts }

// Act returns the tool target and the gripper opening (m) for time t (any monotonic clock,
// such as the simulation time), given the privileged state.
func (e *Expert) Act(t time.Duration, obs Privileged) (target control.Pose, gripper float64) {
	c := &e.cfg
	if !e.started {
		e.started, e.last = true, t
		e.cmd = control.Pose{Pos: obs.Tool.Pos, Rot: obs.Tool.Rot.Normalize()}
		e.enter(Approach, t)
	}
	dt := (t - e.last).Seconds()
	e.last = t
	cube := obs.Cube.Pos
	held := e.holding(obs)

	var goal mgl64.Vec3
	vmax := c.MaxSpeed
	rot := e.graspRot()
	switch e.phase {
	case Approach:
		e.yaw = nearestYaw(cubeYaw(obs.Cube.Rot)-yawOf(c.Down), e.yaw)
		rot = e.graspRot()
		goal = mgl64.Vec3{cube[0], cube[1], cube[2] + c.Hover}
		if e.reached(t, goal, obs, 0.03) {
			e.enter(Descend, t)
		}
	case Descend:
		vmax = c.SlowSpeed
		goal = mgl64.Vec3{cube[0], cube[1], cube[2] - c.GraspDepth}
		if e.reached(t, goal, obs, 0) {
			e.enter(Close, t)
		}
	case Close:
		goal = e.cmd.Pos
		e.gripper = c.ClosedWidth
		if t-e.entered >= c.CloseTime {
			if obs.Gripper < 0.5*c.CubeSize || !held {
				e.restart(t) // closed on nothing
				break
			}
			e.offset = cube.Sub(obs.Tool.Pos)
			e.enter(Lift, t)
		}
	case Lift:
		goal = mgl64.Vec3{e.cmd.Pos[0], e.cmd.Pos[1], c.TableTop + c.CarryHeight + c.CubeSize/2 - e.offset[2]}
		if !held {
			e.restart(t)
		} else if e.reached(t, goal, obs, 0.02) {
			e.enter(Carry, t)
		}
	case Carry, Lower:
		z := c.TableTop + c.CarryHeight + c.CubeSize/2 - e.offset[2]
		if e.phase == Lower {
			vmax = c.SlowSpeed
			z = c.TableTop + c.Clearance + c.CubeSize/2 - e.offset[2]
		}
		// Put the cube's centre, not the tool, over the zone's centre.
		goal = mgl64.Vec3{c.Zone[0] - e.offset[0], c.Zone[1] - e.offset[1], z}
		switch {
		case !held:
			e.restart(t)
		case e.phase == Carry && e.reached(t, goal, obs, 0):
			e.enter(Lower, t)
		case e.phase == Lower && e.reached(t, goal, obs, 0):
			e.enter(Open, t)
		}
	case Open:
		goal = e.cmd.Pos
		e.gripper = c.OpenWidth
		if t-e.entered >= c.OpenTime {
			e.enter(Retreat, t)
		}
	case Retreat:
		goal = mgl64.Vec3{e.cmd.Pos[0], e.cmd.Pos[1], c.TableTop + c.CubeSize + c.Hover}
		if e.reached(t, goal, obs, 0.02) {
			e.enter(Finished, t)
		}
	case Finished:
		goal = e.cmd.Pos
		d := cube.Sub(c.Zone)
		if math.Abs(d[0]) > c.ZoneHalf[0] || math.Abs(d[1]) > c.ZoneHalf[1] {
			e.restart(t) // missed: pick it up again
		}
	}
	e.move(goal, rot, vmax, dt)
	return e.cmd, e.gripper
}

// enter starts phase p at t.
func (e *Expert) enter(p Phase, t time.Duration) {
	if p == Approach {
		e.attempts++
	}
	e.phase, e.entered, e.arrived = p, t, -1
}

// restart opens the gripper and goes back to the approach.
func (e *Expert) restart(t time.Duration) {
	e.gripper = e.cfg.OpenWidth
	e.offset = mgl64.Vec3{}
	e.enter(Approach, t)
}

// reached reports whether the phase's waypoint is reached: the target has arrived at goal,
// and either the measured tool is within the tolerance (tol, or the config's when 0) or
// Settle has passed since the target arrived.
func (e *Expert) reached(t time.Duration, goal mgl64.Vec3, obs Privileged, tol float64) bool {
	if tol == 0 {
		tol = e.cfg.Tolerance
	}
	if e.cmd.Pos.Sub(goal).Len() > 1e-4 || control.OrientationError(e.cmd.Rot, e.graspRot()) > 1e-3 {
		e.arrived = -1
		return false
	}
	if e.arrived < 0 {
		e.arrived = t
	}
	return obs.Tool.Pos.Sub(goal).Len() <= tol || t-e.arrived >= e.cfg.Settle
}

// holding reports whether the cube is between the fingers: its centre within a cube size
// of the tool and the fingers not closed past it.
func (e *Expert) holding(obs Privileged) bool {
	return obs.Cube.Pos.Sub(obs.Tool.Pos).Len() < e.cfg.CubeSize && obs.Gripper > 0.5*e.cfg.CubeSize
}

// graspRot is the tool orientation of the current grasp yaw.
func (e *Expert) graspRot() mgl64.Quat {
	return mgl64.QuatRotate(e.yaw, mgl64.Vec3{0, 0, 1}).Mul(e.cfg.Down).Normalize()
}

// move advances the target toward goal and rot within the speed, acceleration and turn
// bounds for dt seconds.
func (e *Expert) move(goal mgl64.Vec3, rot mgl64.Quat, vmax, dt float64) {
	c := &e.cfg
	d := goal.Sub(e.cmd.Pos)
	dist := d.Len()
	if dt <= 0 {
		return
	}
	v := math.Min(math.Min(vmax, e.speed+c.MaxAccel*dt), math.Sqrt(2*c.MaxAccel*dist))
	if e.speed > vmax { // slowing down into a slower phase
		v = math.Max(vmax, e.speed-c.MaxAccel*dt)
	}
	step := math.Min(dist, v*dt)
	if dist > 0 {
		e.cmd.Pos = e.cmd.Pos.Add(d.Mul(step / dist))
	}
	e.speed = step / dt
	e.cmd.Rot = turn(e.cmd.Rot, rot, c.MaxTurnRate*dt)
}

// turn rotates from toward to by at most limit radians, about the axis of the shortest
// rotation between them. (mgl64.QuatSlerp falls back to a normalised linear interpolation
// for nearby orientations, which does not bound the angle exactly.)
func turn(from, to mgl64.Quat, limit float64) mgl64.Quat {
	d := to.Mul(from.Conjugate()).Normalize()
	if d.W < 0 {
		d = d.Scale(-1)
	}
	s := d.V.Len()
	angle := 2 * math.Atan2(s, d.W)
	if angle <= limit || s == 0 {
		return to.Normalize()
	}
	return mgl64.QuatRotate(limit, d.V.Mul(1/s)).Mul(from).Normalize()
}

// cubeYaw is the rotation about the vertical of the cube's x axis (rad).
func cubeYaw(q mgl64.Quat) float64 {
	x := q.Normalize().Rotate(mgl64.Vec3{1, 0, 0})
	return math.Atan2(x[1], x[0])
}

// yawOf is the rotation about the vertical of a down-pointing tool's x axis (rad).
func yawOf(q mgl64.Quat) float64 { return cubeYaw(q) }

// nearestYaw is the angle equivalent to a modulo a quarter turn (the cube's symmetry)
// nearest to ref.
func nearestYaw(a, ref float64) float64 {
	const quarter = math.Pi / 2
	return a + quarter*math.Round((ref-a)/quarter)
}
