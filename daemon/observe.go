package daemon

import (
	"math"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/policy/chunk"
	"github.com/robotd/robotd/policy/steer"
)

// Observer watches the loops for a live view or a log (package viz: the MCAP log, the
// Foxglove WebSocket server, the operator page). Every method is called from the control
// loop, so none may block or allocate: an implementation copies what it needs into a
// bounded queue and counts what it drops. The arguments are owned by the daemon and valid
// during the call only.
type Observer interface {
	// Tick is called after every control tick that read the arm (homing, running,
	// stopping, braking), with what the tick measured and commanded.
	Tick(t *TickRecord)
	// Transition is called at each change of the state machine, with its reason.
	Transition(at time.Duration, from, to State, why string)
	// Plan is called for each chunk the executor accepted: the tool positions (m, base
	// frame) its actions lead through, in order, path[0] at c.T0 (empty for actions that
	// do not name a tool pose), and the chunk itself.
	Plan(at time.Duration, c *chunk.Chunk, path []mgl64.Vec3)
	// Steer is called for each steered policy step when its chunk reaches the control
	// loop, with the step's record.
	Steer(at time.Duration, info *steer.StepInfo)
}

// TickRecord is one control tick as an Observer sees it. The slices are the daemon's.
type TickRecord struct {
	// T is the control-clock time of the tick; State the state machine's state after it.
	T     time.Duration
	State State
	// Q and DQ are the measured joint positions (rad) and velocities (rad/s), Tau the
	// torques commanded (N m; for arms that take poses or joint targets, the impedance
	// law's torques that were not sent).
	Q, DQ, Tau []float64
	// Target is the Cartesian target in force (after the safety layer), Tool the
	// measured tool pose.
	Target, Tool control.Pose
	// Gripper is the measured opening (m, NaN without a gripper), GripperCommand the last
	// one commanded (NaN before any).
	Gripper, GripperCommand float64
	// Safety is the safety layer's counters so far; Watchdogs the watchdog trips so far
	// by kind (WatchdogNames).
	Safety    control.SafetyCounters
	Watchdogs [3]uint64
}

// WatchdogNames names TickRecord.Watchdogs' entries (the kind label of
// robotd_watchdog_trips_total).
func WatchdogNames() [3]string { return watchdogNames }

// observe hands the tick just run to the Observer (control loop).
func (d *Daemon) observe(now time.Duration) {
	t := &d.obsTick
	st := d.servo.State()
	t.T, t.State = now, d.State()
	t.Q, t.DQ, t.Tau = st.Q, st.DQ, d.servo.Torque()
	t.Target = d.servo.cart.Target()
	t.Tool = d.servo.Tool()
	t.Gripper = math.NaN()
	if d.gripper != nil {
		t.Gripper = d.gripper.GripperWidth()
	}
	t.GripperCommand = d.gripCmd
	t.Safety = d.servo.safety.Counters
	for k := range t.Watchdogs {
		t.Watchdogs[k] = d.m.watchdogs[k].Value()
	}
	d.ports.Observer.Tick(t)
}

// observePlan hands an accepted chunk to the Observer with the tool path its actions
// lead through (control loop; path buffer preallocated in l.path).
func (l *policyLoop) observePlan(now time.Duration, c *chunk.Chunk) {
	obs := l.d.ports.Observer
	n := min(c.Len(), cap(l.path))
	path := l.path[:0]
	switch l.pp.Action {
	case SpaceEEPose, SpaceEEPose6D:
		for i := range n {
			path = append(path, l.pp.Action.Pose(c.Actions[i*c.Dim:(i+1)*c.Dim]).Pos)
		}
	case SpaceJoints:
		r := l.d.ports.Robot
		for i := range n {
			r.Forward(l.pathKin, c.Actions[i*c.Dim:i*c.Dim+l.dof])
			path = append(path, l.pathKin.Pose().Pos)
		}
	}
	obs.Plan(now, c, path)
}
