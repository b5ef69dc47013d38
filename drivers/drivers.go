// Package drivers defines the ports between robotd and an arm: the state it reports, the
// torques it takes, the optional gripper, and the conformance suite (driverstest) that
// every implementation passes unchanged: the in-process MuJoCo arm (sim/mujoco), the ROS
// driver (drivers/ros), and any future one.
//
// Ownership: the caller owns a State and the torque slice; a driver fills the State in
// ReadState and only reads the torques during WriteTorque, so nothing is allocated per
// control tick on either side.
package drivers

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Info describes an arm. It does not change while the arm is open.
type Info struct {
	// Joints names the actuated joints; every joint vector follows this order.
	Joints []string
	// CompensatesGravity is true for arms whose own controller cancels gravity (a real
	// Franka does): robotd then must not add it. The simulator does not.
	CompensatesGravity bool
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

// Gripper is the optional parallel-jaw gripper of an arm (found by type assertion).
type Gripper interface {
	// SetGripperWidth commands the opening between the fingers (m), clamped to the
	// gripper's range.
	SetGripperWidth(width float64) error
	// GripperWidth returns the measured opening (m).
	GripperWidth() float64
}

var (
	// ErrBadCommand is wrapped by errors for commands a driver refuses.
	ErrBadCommand = errors.New("bad command")
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
