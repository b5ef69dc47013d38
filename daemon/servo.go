// Package daemon runs robotd's loops. This file holds the servo: the per-tick chain
// from a target to the motors (safety on the target, the active impedance controller,
// safety on the torques, the arm) that the 1 kHz control loop calls once per tick.
package daemon

import (
	"fmt"
	"math"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/drivers"
)

// Mode is which controller the servo runs.
type Mode int

const (
	// ModeCartesian runs the Cartesian impedance controller (policies, teleoperation).
	ModeCartesian Mode = iota
	// ModeJoint runs the joint impedance controller (homing, joint-space targets).
	ModeJoint
)

func (m Mode) String() string {
	if m == ModeJoint {
		return "joint"
	}
	return "cartesian"
}

// ServoConfig configures a Servo; zero values take each part's defaults.
type ServoConfig struct {
	Cartesian control.CartesianConfig
	Joint     control.JointConfig
	Safety    control.SafetyConfig
}

// Servo turns targets into torques for one arm, every tick, allocating nothing.
// It is owned by the control loop's goroutine.
type Servo struct {
	arm    drivers.Arm
	robot  *control.Robot
	cart   *control.CartesianImpedance
	joint  *control.JointImpedance
	safety *control.Safety

	mode  Mode
	state *drivers.State
	in    control.Input
	tau   []float64
	jtgt  []float64
	ready bool

	// What the arm's robot-side controller takes (drivers.Info.Command) and the
	// commanders for the non-torque kinds.
	command drivers.CommandKind
	poser   drivers.PoseCommander
	jointer drivers.JointTargetCommander
	ik      *control.IK
	qcmd    []float64 // joint-target arms: the last joint command
	qprev   []float64 // joint-target arms: the command before the step limit
	qstep   []float64 // joint-target arms: the largest joint speed commanded (rad/s)
	lastDt  float64   // the dt of the last Compute
	// kin is scratch forward kinematics (tool pose in joint mode, poses sent to pose
	// arms, their safe stop); used only by the control loop's goroutine.
	kin *control.Kinematics
}

// NewServo checks that the arm and the robot model describe the same joints, in the same
// order, and builds the controllers and the safety layer.
func NewServo(arm drivers.Arm, robot *control.Robot, cfg ServoConfig) (*Servo, error) {
	info := arm.Info()
	names := robot.JointNames()
	if len(info.Joints) != len(names) {
		return nil, fmt.Errorf("servo: the arm has %d joints %q, the robot model %d %q", len(info.Joints), info.Joints, len(names), names)
	}
	for i := range names {
		if info.Joints[i] != names[i] {
			return nil, fmt.Errorf("servo: joint %d is %q on the arm but %q in the robot model", i, info.Joints[i], names[i])
		}
	}
	cart, err := control.NewCartesianImpedance(robot, cfg.Cartesian)
	if err != nil {
		return nil, fmt.Errorf("servo: %w", err)
	}
	joint, err := control.NewJointImpedance(robot.DoF(), cfg.Joint)
	if err != nil {
		return nil, fmt.Errorf("servo: %w", err)
	}
	safety, err := control.NewSafety(robot, cfg.Safety)
	if err != nil {
		return nil, fmt.Errorf("servo: %w", err)
	}
	st := drivers.NewState(info)
	n := robot.DoF()
	s := &Servo{
		arm: arm, robot: robot, cart: cart, joint: joint, safety: safety,
		state:   st,
		in:      control.Input{Q: st.Q, DQ: st.DQ, Coriolis: st.Coriolis, Gravity: st.Gravity},
		tau:     make([]float64, n),
		jtgt:    make([]float64, n),
		command: info.Command,
		kin:     robot.NewKinematics(),
	}
	switch info.Command {
	case drivers.CommandTorque:
	case drivers.CommandPose:
		p, ok := arm.(drivers.PoseCommander)
		if !ok {
			return nil, fmt.Errorf("servo: the arm takes pose commands but its driver (%T) has no WriteEquilibrium", arm)
		}
		s.poser = p
	case drivers.CommandJointTarget:
		j, ok := arm.(drivers.JointTargetCommander)
		if !ok {
			return nil, fmt.Errorf("servo: the arm takes joint targets but its driver (%T) has no WriteJointTarget", arm)
		}
		s.jointer = j
		s.ik = control.NewIK(robot)
		s.ik.Iterations = 3 // per tick, warm-started from the last command
		s.qcmd, s.qprev, s.qstep = make([]float64, n), make([]float64, n), make([]float64, n)
		for i, jt := range robot.Joints {
			s.qstep[i] = jointStepFraction * jt.VelocityLimit
		}
	default:
		return nil, fmt.Errorf("servo: the arm takes %v commands, which robotd cannot send", info.Command)
	}
	return s, nil
}

// jointStepFraction of each joint's velocity limit bounds how fast a joint-target
// command may move (rad/s); the robot's own trajectory limits come on top.
const jointStepFraction = 0.5

// Start reads the arm and latches its current pose as the target of both controllers,
// so taking over the arm does not move it.
func (s *Servo) Start(mode Mode) error {
	if err := s.arm.ReadState(s.state); err != nil {
		return fmt.Errorf("servo: start: %w", err)
	}
	s.cart.Start(s.state.Q)
	s.joint.Start(s.state.Q)
	s.safety.Reset()
	if s.qcmd != nil {
		copy(s.qcmd, s.state.Q)
	}
	s.mode = mode
	s.ready = true
	return nil
}

// SetMode switches controllers, latching the new one on the current configuration.
func (s *Servo) SetMode(m Mode) {
	if m == s.mode {
		return
	}
	if m == ModeCartesian {
		s.cart.Start(s.state.Q)
	} else {
		s.joint.Start(s.state.Q)
	}
	s.mode = m
}

// Mode returns the active controller.
func (s *Servo) Mode() Mode { return s.mode }

// SetCartesianTarget vets the target through the safety layer and hands it to the
// Cartesian controller. It reports false when the target was rejected (the previous one
// stays).
func (s *Servo) SetCartesianTarget(p control.Pose) bool {
	p, ok := s.safety.Target(p)
	if ok {
		s.cart.SetTarget(p)
	}
	return ok
}

// SetJointTarget vets a joint target (finite, inside the limits) for the joint controller.
func (s *Servo) SetJointTarget(q []float64) bool {
	if !s.safety.JointTarget(s.jtgt, q) {
		return false
	}
	s.joint.SetTarget(s.jtgt)
	return true
}

// SetNullspaceTarget sets the joint configuration the Cartesian controller's nullspace
// pulls toward.
func (s *Servo) SetNullspaceTarget(q []float64) { s.cart.SetNullspaceTarget(q) }

// Tick runs one control period of dt seconds: read the arm, compute, bound, write.
func (s *Servo) Tick(dt float64) error {
	if !s.ready {
		return fmt.Errorf("servo: Tick before Start")
	}
	if err := s.Read(); err != nil {
		return err
	}
	s.Compute(dt)
	return s.Write()
}

// Read reads the arm's state into State(). On error (a stale state, say) the previous
// state stays.
func (s *Servo) Read() error { return s.arm.ReadState(s.state) }

// Compute runs the active controller on the last state read and bounds the result through
// the safety layer, into Torque().
func (s *Servo) Compute(dt float64) {
	s.lastDt = dt
	if s.mode == ModeCartesian {
		s.cart.Update(s.tau, &s.in, dt)
	} else {
		s.joint.Update(s.tau, &s.in, dt)
	}
	s.safety.Torque(s.tau, &s.in, dt)
}

// Write sends this tick's command to the arm, in the kind the arm takes
// (drivers.Info.Command):
//
//   - torque: Torque(), the active impedance controller's output bounded by the safety
//     layer;
//   - pose: the equilibrium the active controller pulls toward (the Cartesian one's,
//     already vetted by the safety layer, or the tool pose of the joint controller's
//     equilibrium), for the robot's own Cartesian impedance controller;
//   - joint target: the joint controller's equilibrium, or for Cartesian targets a joint
//     configuration reaching the Cartesian equilibrium (a few damped least-squares
//     iterations per tick, warm-started from the last command), clamped inside the
//     joint limits less the safety margin and rate-limited to half of each joint's
//     velocity limit.
func (s *Servo) Write() error {
	switch s.command {
	case drivers.CommandPose:
		p := s.commandPose()
		return s.poser.WriteEquilibrium(p.Pos, p.Rot)
	case drivers.CommandJointTarget:
		return s.writeJointTarget()
	}
	return s.arm.WriteTorque(s.tau)
}

// commandPose is the pose a pose-commanded arm is sent this tick.
func (s *Servo) commandPose() control.Pose {
	if s.mode == ModeCartesian {
		return s.cart.Equilibrium()
	}
	s.robot.Forward(s.kin, s.joint.Equilibrium())
	return s.kin.Pose()
}

// writeJointTarget computes and sends a joint-target arm's command.
func (s *Servo) writeJointTarget() error {
	copy(s.qprev, s.qcmd)
	if s.mode == ModeCartesian {
		s.ik.Solve(s.jtgt, s.qcmd, s.cart.Equilibrium())
	} else {
		copy(s.jtgt, s.joint.Equilibrium())
	}
	if !s.safety.JointTarget(s.jtgt, s.jtgt) {
		return s.jointer.WriteJointTarget(s.qprev) // non-finite: repeat the last command
	}
	dt := s.lastDt
	for i := range s.qcmd {
		lim := s.qstep[i] * dt
		s.qcmd[i] = s.qprev[i] + math.Max(-lim, math.Min(lim, s.jtgt[i]-s.qprev[i]))
	}
	return s.jointer.WriteJointTarget(s.qcmd)
}

// SafeStop commands one tick of the safe stop, dt seconds after the last command. With
// fresh (the state can be trusted) a torque arm gets joint damping against the measured
// velocities plus gravity when it does not compensate it, through the safety layer (walls,
// brakes, torque and torque-rate limits), so the arm comes to rest where it is. Without a
// fresh state it gets the next step of Release: nothing is computed from a state that may
// be old.
//
// Arms that take poses or joint targets have their own controllers: their safe stop is
// holding where they are, the measured tool pose (joint positions) when fresh, and
// otherwise no command at all (the robot keeps its last one).
func (s *Servo) SafeStop(fresh bool, dt float64) error {
	switch s.command {
	case drivers.CommandPose:
		if !fresh || !allFinite(s.state.Q) {
			return nil
		}
		s.robot.Forward(s.kin, s.state.Q)
		p := s.kin.Pose()
		return s.poser.WriteEquilibrium(p.Pos, p.Rot.Normalize())
	case drivers.CommandJointTarget:
		if !fresh || !allFinite(s.state.Q) || !s.safety.JointTarget(s.qcmd, s.state.Q) {
			return nil
		}
		return s.jointer.WriteJointTarget(s.qcmd)
	}
	if !fresh {
		_, err := s.Release(dt)
		return err
	}
	damping := s.joint.Config().Damping
	for i := range s.tau {
		s.tau[i] = 0
		if s.state.Gravity != nil {
			s.tau[i] = s.state.Gravity[i]
		}
		if !math.IsNaN(s.state.DQ[i]) {
			s.tau[i] -= damping[i] * s.state.DQ[i]
		}
	}
	s.safety.Torque(s.tau, &s.in, dt)
	return s.arm.WriteTorque(s.tau)
}

// Release writes one tick of the ramp to the hold command, the last command of every run
// (control.Safety.Release): gravity alone for an arm that does not compensate it, zero for
// one that does, reached at the torque-rate limit with nothing added (no wall spring, no
// damping: a robot-side effort controller keeps applying the last command after robotd
// has gone). done reports that the command written was the hold command. Pose and
// joint-target arms keep their last command, which their own controllers hold: done at
// once, nothing written.
func (s *Servo) Release(dt float64) (done bool, err error) {
	if s.command != drivers.CommandTorque {
		return true, nil
	}
	done = s.safety.Release(s.tau, &s.in, dt)
	return done, s.arm.WriteTorque(s.tau)
}

// Tool is the tool pose at the last Compute (or Start) in Cartesian mode, and at the
// last state read in joint mode.
func (s *Servo) Tool() control.Pose {
	if s.mode == ModeCartesian {
		return s.cart.Tool()
	}
	s.robot.Forward(s.kin, s.state.Q)
	return s.kin.Pose()
}

// State is the arm state read in the last tick (owned by the servo; read between ticks).
func (s *Servo) State() *drivers.State { return s.state }

// Torque is the command written in the last tick (owned by the servo).
func (s *Servo) Torque() []float64 { return s.tau }

// Cartesian exposes the Cartesian controller (tool pose, errors, equilibrium).
func (s *Servo) Cartesian() *control.CartesianImpedance { return s.cart }

// Safety exposes the safety layer's counters and configuration.
func (s *Servo) Safety() *control.Safety { return s.safety }

// Robot is the kinematic model the servo uses.
func (s *Servo) Robot() *control.Robot { return s.robot }

func allFinite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// Command is what the arm takes (drivers.Info.Command).
func (s *Servo) Command() drivers.CommandKind { return s.command }
