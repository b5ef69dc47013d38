// Package drivers defines the ports between robotd and an arm: the state it reports, the
// commands it takes, the optional gripper, and the conformance suite (driverstest) that
// every implementation passes unchanged: the in-process MuJoCo arm (sim/mujoco), the ROS
// driver (drivers/ros), and any future one.
//
// # Commands
//
// Every arm reports in Info.Command which command its robot-side controller takes, and
// the control loop sends exactly that one each tick:
//
//   - CommandTorque (the zero value): joint torques through Arm.WriteTorque; robotd's own
//     impedance controllers run in the loop.
//   - CommandPose: an equilibrium pose for a Cartesian impedance controller that runs on
//     the robot (franka_ros' equilibrium_pose convention), through PoseCommander.
//   - CommandJointTarget: joint positions for a position-controlled arm, through
//     JointTargetCommander.
//
// The capability interfaces are one method each and found by type assertion; a driver
// whose Info.Command is CommandPose (CommandJointTarget) implements PoseCommander
// (JointTargetCommander). A driver may implement a method it is not configured for (one
// ROS driver type serves all three conventions): then the method refuses every call with
// an error wrapping ErrCommandKind and ErrBadCommand, so the field, not the method set,
// decides. All command methods follow WriteTorque's rules: a wrong-size or non-finite
// command (or a non-unit quaternion) is refused with ErrBadCommand and reaches nothing;
// they never block on I/O and allocate nothing.
//
// Ownership: the caller owns a State and the command slices; a driver fills the State in
// ReadState and only reads a command during the call that passes it, so nothing is
// allocated per control tick on either side.
package drivers

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/go-gl/mathgl/mgl64"
)

// DefaultStateStale is how old an arm's newest joint state may be before it counts as
// stale: the daemon's watchdog (daemon.Config.StateStale, which says why 100 ms) and a
// driver's own check (drivers/ros ArmConfig.StaleLimit) default to it.
const DefaultStateStale = 100 * time.Millisecond

// CommandKind is which command an arm's robot-side controller takes.
type CommandKind int

const (
	// CommandTorque: joint torques (Arm.WriteTorque). The zero value.
	CommandTorque CommandKind = iota
	// CommandPose: an equilibrium pose of the tool (PoseCommander).
	CommandPose
	// CommandJointTarget: joint positions (JointTargetCommander).
	CommandJointTarget
)

func (k CommandKind) String() string {
	switch k {
	case CommandTorque:
		return "torque"
	case CommandPose:
		return "pose"
	case CommandJointTarget:
		return "joint target"
	}
	return fmt.Sprintf("CommandKind(%d)", int(k))
}

// Info describes an arm. It does not change while the arm is open.
type Info struct {
	// Joints names the actuated joints; every joint vector follows this order.
	Joints []string
	// CompensatesGravity is true for arms whose own controller cancels gravity (a real
	// Franka does): robotd then must not add it. The simulator does not.
	CompensatesGravity bool
	// Command is the command the arm takes; the zero value is CommandTorque.
	Command CommandKind
}

// State is one measurement of the arm. Joint vectors have len(Info.Joints) entries.
type State struct {
	// Time is the arm's clock at the measurement: simulation time in the simulator, the
	// message stamp over ROS.
	Time time.Duration
	// Seq increases by at least one with every new measurement.
	Seq uint64
	// Q, DQ and Tau are the measured joint positions (rad), velocities (rad/s) and
	// torques (Nm).
	Q, DQ, Tau []float64
	// Coriolis is C(q, dq) dq (Nm) as the arm's model reports it.
	Coriolis []float64
	// Gravity is g(q) (Nm) for arms that do not compensate gravity; nil otherwise.
	Gravity []float64
}

// NewState allocates a State for an arm described by info.
func NewState(info Info) *State {
	n := len(info.Joints)
	s := &State{Q: make([]float64, n), DQ: make([]float64, n), Tau: make([]float64, n), Coriolis: make([]float64, n)}
	if !info.CompensatesGravity {
		s.Gravity = make([]float64, n)
	}
	return s
}

// CheckShape reports whether s fits an arm described by info.
func (s *State) CheckShape(info Info) error {
	n := len(info.Joints)
	if len(s.Q) != n || len(s.DQ) != n || len(s.Tau) != n || len(s.Coriolis) != n {
		return fmt.Errorf("%w: state has %d/%d/%d/%d joint values, the arm has %d joints",
			ErrShape, len(s.Q), len(s.DQ), len(s.Tau), len(s.Coriolis), n)
	}
	if info.CompensatesGravity != (s.Gravity == nil) || (s.Gravity != nil && len(s.Gravity) != n) {
		return fmt.Errorf("%w: state gravity has %d values; arm compensates gravity: %v", ErrShape, len(s.Gravity), info.CompensatesGravity)
	}
	return nil
}

// Arm is a torque-controlled arm.
type Arm interface {
	Info() Info
	// ReadState fills dst with the latest measurement. It never blocks on I/O.
	ReadState(dst *State) error
	// WriteTorque commands joint torques (Nm), gravity included when the arm does not
	// compensate it. A command of the wrong length or with a NaN/Inf is refused with an
	// error wrapping ErrBadCommand and does not reach the motors.
	WriteTorque(tau []float64) error
}

// PoseCommander is implemented by arms whose robot-side Cartesian impedance controller
// takes an equilibrium pose (Info.Command == CommandPose).
type PoseCommander interface {
	// WriteEquilibrium sets the pose the robot's controller pulls the tool toward:
	// position (m) and orientation (unit quaternion, W first, rotating tool-frame vectors
	// into the base frame) of T_base_ee in the robot's base frame. A non-finite value or
	// a quaternion whose norm is not 1 (within UnitQuatTolerance) is refused with an
	// error wrapping ErrBadCommand.
	WriteEquilibrium(pos mgl64.Vec3, rot mgl64.Quat) error
}

// JointTargetCommander is implemented by position-controlled arms (Info.Command ==
// CommandJointTarget).
type JointTargetCommander interface {
	// WriteJointTarget sets the joint positions (rad) the robot moves to, one per joint
	// in Info.Joints order. A wrong-size or non-finite command is refused with an error
	// wrapping ErrBadCommand.
	WriteJointTarget(q []float64) error
}

// Gripper is the optional parallel-jaw gripper of an arm (found by type assertion).
type Gripper interface {
	// SetGripperWidth commands the opening between the fingers (m), clamped to the
	// gripper's range.
	SetGripperWidth(width float64) error
	// GripperWidth returns the measured opening (m).
	GripperWidth() float64
}

// GripperProvider is implemented by drivers whose gripper is configured apart from the
// arm (a ROS arm has one only when its launch file says so), so the method set of the arm
// cannot tell. Use GripperOf rather than either interface directly.
type GripperProvider interface {
	// Gripper returns the arm's gripper, or false when it has none.
	Gripper() (Gripper, bool)
}

// GripperOf returns an arm's gripper: the arm itself when it implements Gripper (the
// in-process simulator), else the one its GripperProvider offers.
func GripperOf(arm Arm) (Gripper, bool) {
	if g, ok := arm.(Gripper); ok {
		return g, true
	}
	if p, ok := arm.(GripperProvider); ok {
		return p.Gripper()
	}
	return nil, false
}

var (
	// ErrBadCommand is wrapped by errors for commands a driver refuses.
	ErrBadCommand = errors.New("bad command")
	// ErrCommandKind is wrapped (with ErrBadCommand) by errors for a command the arm is
	// not configured to take: see Info.Command.
	ErrCommandKind = errors.New("command kind not taken by this arm")
	// ErrShape is wrapped by errors for state buffers of the wrong size.
	ErrShape = errors.New("wrong shape")
)

// CheckTorque validates a torque command for an n-joint arm; drivers call it before
// anything reaches the motors.
func CheckTorque(tau []float64, n int) error {
	if len(tau) != n {
		return fmt.Errorf("%w: %d torques for %d joints", ErrBadCommand, len(tau), n)
	}
	for i, v := range tau {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: torque[%d] = %v", ErrBadCommand, i, v)
		}
	}
	return nil
}

// CheckJointTarget validates a joint position command for an n-joint arm.
func CheckJointTarget(q []float64, n int) error {
	if len(q) != n {
		return fmt.Errorf("%w: %d joint positions for %d joints", ErrBadCommand, len(q), n)
	}
	for i, v := range q {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: joint position[%d] = %v", ErrBadCommand, i, v)
		}
	}
	return nil
}

// UnitQuatTolerance is how far from 1 the norm of a commanded quaternion may be.
const UnitQuatTolerance = 1e-3

// CheckPose validates an equilibrium pose command: finite, unit quaternion.
func CheckPose(pos mgl64.Vec3, rot mgl64.Quat) error {
	for i, v := range [7]float64{pos[0], pos[1], pos[2], rot.W, rot.V[0], rot.V[1], rot.V[2]} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: pose component %d (x y z qw qx qy qz) = %v", ErrBadCommand, i, v)
		}
	}
	if n := rot.Len(); math.Abs(n-1) > UnitQuatTolerance {
		return fmt.Errorf("%w: orientation quaternion has norm %.6f, want 1 (within %g)", ErrBadCommand, n, UnitQuatTolerance)
	}
	return nil
}

// CommandKindError is the error for a command an arm is not configured to take; it wraps
// ErrCommandKind and ErrBadCommand.
func CommandKindError(driver string, takes, got CommandKind) error {
	return fmt.Errorf("%s: %w: the arm takes %v commands, not %v (%w)", driver, ErrCommandKind, takes, got, ErrBadCommand)
}
