package daemon

import (
	"math"
	"time"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/drivers"
)

// Source is a scripted or teleoperated action source, the alternative to a policy: the
// control loop asks it for the target at every running tick, so it must not block or
// allocate (a teleoperation device hands its pose over through a mailbox).
type Source interface {
	// Act returns the tool target (the safety layer vets it) and the gripper opening in
	// metres (NaN: leave the gripper as it is) at control-clock time now, for the state
	// st whose tool pose is tool. done ends the run gracefully (the episode is over).
	Act(now time.Duration, st *drivers.State, tool control.Pose) (target control.Pose, gripper float64, done bool)
}

// A Labeler is a Source whose recorded action is not the target it executes: DART-style
// noise injection perturbs the executed target (so demonstrations show the arm off the
// expert's path) and records the expert's own target, the action that brings the arm
// back. Label returns that action for the last Act; Sample.Target carries it.
type Labeler interface {
	Label() control.Pose
}

// Sample is what the arm did at one recording instant. The daemon owns it; it is valid
// during the Recorder.Record call only.
type Sample struct {
	// T is the control-clock time of the sample (the capture clock of the cameras too);
	// Episode is the control-clock time running began.
	T, Episode time.Duration
	// Q and DQ are the measured joint positions (rad) and velocities (rad/s).
	Q, DQ []float64
	// Tool is the measured tool pose (from Q).
	Tool control.Pose
	// Gripper is the measured gripper opening (m); NaN for an arm without a gripper.
	Gripper float64
	// Target is the Cartesian target in force (after the safety layer): the action; for a
	// Source that is a Labeler, its Label instead.
	Target control.Pose
	// GripperCommand is the last gripper opening commanded (m); NaN before any.
	GripperCommand float64
}

// Recorder receives one Sample per Period while the daemon runs (policy or source). In
// realtime mode Record is called from the control loop and must not block or allocate:
// copy what is needed and report false when the sample had to be dropped. In lockstep it
// may block: simulated time waits for it, so the cameras it reads (perception.Latest)
// hold exactly the frames of the sample's time.
type Recorder interface {
	Period() time.Duration
	Record(s *Sample) bool
}

// recordTap samples the arm for a Recorder; owned by the control loop.
type recordTap struct {
	rec    Recorder
	period time.Duration
	next   time.Duration
	s      Sample
}

func newRecordTap(r Recorder, dof int) *recordTap {
	return &recordTap{rec: r, period: r.Period(), s: Sample{Q: make([]float64, dof), DQ: make([]float64, dof)}}
}

// begin starts sampling at control-clock time now (entering Running).
func (t *recordTap) begin(now time.Duration) {
	t.next, t.s.Episode = now, now
}

// tick samples when a recording instant has come.
func (d *Daemon) recordTick(now time.Duration) {
	t := d.rec
	if now < t.next {
		return
	}
	t.next += t.period
	if t.next <= now { // fell behind: realign
		t.next = now + t.period
	}
	st := d.servo.State()
	s := &t.s
	s.T = now
	copy(s.Q, st.Q)
	copy(s.DQ, st.DQ)
	s.Tool = d.servo.Tool()
	s.Gripper = math.NaN()
	if d.gripper != nil {
		s.Gripper = d.gripper.GripperWidth()
	}
	s.Target = d.servo.cart.Target()
	if d.labeler != nil {
		s.Target = d.labeler.Label()
	}
	s.GripperCommand = d.gripCmd
	if !t.rec.Record(s) {
		d.m.recordDropped.Inc()
	}
}

// setGripper commands the gripper when the opening changed, remembering the command.
func (d *Daemon) setGripper(w float64) {
	if d.gripper == nil || math.IsNaN(w) {
		return
	}
	if !math.IsNaN(d.gripCmd) && math.Abs(w-d.gripCmd) <= 1e-4 {
		return
	}
	if err := d.gripper.SetGripperWidth(w); err == nil {
		d.gripCmd = w
	} else {
		d.m.armWriteErrors.Inc()
	}
}
