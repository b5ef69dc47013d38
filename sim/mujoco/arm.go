package mujoco

import (
	"fmt"
	"math"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/sim"
)

// Arm is the simulated arm of a Scene behind the drivers ports: it reports joint state
// with Coriolis and gravity torques (the simulator does not compensate gravity), takes
// joint torques through the scene's motor actuators, and drives the gripper.
//
// It runs in lockstep: time advances only through Tick, which integrates exactly the
// physics steps of one control period. Between ticks the state is fixed, so a control
// loop on the same goroutine is deterministic. Arm is not safe for concurrent use; a
// renderer of the same Sim must not run during Tick.
type Arm struct {
	sim   *Sim
	scene sim.Scene
	info  drivers.Info

	qadr, dadr []int // per arm joint: qpos and dof address
	act        []int // per arm joint: its motor actuator
	gripper    int   // gripper actuator, -1 if none
	fingers    [2]int
	gripLo     float64 // gripper actuator ctrlrange (one finger's travel, m)
	gripHi     float64
	tool       int // tool site

	gravity []float64 // g(q) for all dofs, refreshed after every step
	steps   uint64
}

// NewArm loads the scene's model and returns its arm in the scene's keyframe.
func NewArm(scene sim.Scene) (*Arm, error) {
	scene = scene.WithDefaults()
	if err := scene.CheckModel(); err != nil {
		return nil, err
	}
	s, err := Load(scene.Model)
	if err != nil {
		return nil, err
	}
	a, err := newArm(s, scene)
	if err != nil {
		s.Close()
		return nil, err
	}
	return a, nil
}

func newArm(s *Sim, scene sim.Scene) (*Arm, error) {
	n := len(scene.Joints)
	a := &Arm{
		sim: s, scene: scene,
		info:    drivers.Info{Joints: append([]string(nil), scene.Joints...)},
		qadr:    make([]int, n),
		dadr:    make([]int, n),
		act:     make([]int, n),
		gripper: -1,
		gravity: make([]float64, s.NV()),
	}
	for i, name := range scene.Joints {
		j, err := s.ID(ObjJoint, name)
		if err != nil {
			return nil, fmt.Errorf("sim: %s: arm joint: %w", scene.Model, err)
		}
		a.qadr[i], a.dadr[i] = s.JointQposAdr(j), s.JointDofAdr(j)
		if a.act[i], err = s.ID(ObjActuator, name); err != nil {
			return nil, fmt.Errorf("sim: %s: arm joint %q needs a motor actuator of the same name: %w", scene.Model, name, err)
		}
	}
	var err error
	if a.tool, err = s.ID(ObjSite, scene.Tool); err != nil {
		return nil, fmt.Errorf("sim: %s: tool: %w", scene.Model, err)
	}
	if scene.Gripper != "none" {
		g, err := s.ID(ObjActuator, scene.Gripper)
		if err != nil {
			return nil, fmt.Errorf("sim: %s: gripper: %w", scene.Model, err)
		}
		a.gripper = g
		a.gripLo, a.gripHi, _ = s.ActuatorCtrlRange(g)
		for i, f := range scene.Fingers {
			j, err := s.ID(ObjJoint, f)
			if err != nil {
				return nil, fmt.Errorf("sim: %s: gripper finger: %w", scene.Model, err)
			}
			a.fingers[i] = s.JointQposAdr(j)
		}
	}
	if err := a.Reset(); err != nil {
		return nil, err
	}
	return a, nil
}

// Sim returns the underlying simulation (for cameras, object poses and tests).
func (a *Arm) Sim() *Sim { return a.sim }

// Scene returns the scene the arm was built from, defaults filled.
func (a *Arm) Scene() sim.Scene { return a.scene }

// Close releases the simulation.
func (a *Arm) Close() { a.sim.Close() }

// Info implements drivers.Arm.
func (a *Arm) Info() drivers.Info { return a.info }

// Reset puts the whole scene back to its keyframe with zero torques.
func (a *Arm) Reset() error {
	if err := a.sim.ResetKeyframe(a.scene.Keyframe); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	ctrl := a.sim.Ctrl()
	if a.gripper >= 0 {
		// Hold the gripper where the keyframe put it.
		ctrl[a.gripper] = a.sim.Qpos()[a.fingers[0]]
	}
	a.steps = 0
	return a.refresh()
}

// SetJointPositions moves the arm's joints to q with zero velocity (a reset to an
// arbitrary configuration, for tests and episode starts).
func (a *Arm) SetJointPositions(q []float64) error {
	if len(q) != len(a.qadr) {
		return fmt.Errorf("sim: %d joint positions for %d joints", len(q), len(a.qadr))
	}
	qpos, qvel := a.sim.Qpos(), a.sim.Qvel()
	for i, v := range q {
		qpos[a.qadr[i]] = v
		qvel[a.dadr[i]] = 0
	}
	if err := a.sim.Forward(); err != nil {
		return err
	}
	return a.refresh()
}

// refresh recomputes what ReadState reports that MuJoCo does not keep split: gravity.
func (a *Arm) refresh() error { return a.sim.GravityForce(a.gravity) }

// ReadState implements drivers.Arm. It allocates nothing.
func (a *Arm) ReadState(st *drivers.State) error {
	if err := st.CheckShape(a.info); err != nil {
		return err
	}
	qpos, qvel := a.sim.Qpos(), a.sim.Qvel()
	bias, act := a.sim.QfrcBias(), a.sim.QfrcActuator()
	for i := range a.qadr {
		d := a.dadr[i]
		st.Q[i], st.DQ[i], st.Tau[i] = qpos[a.qadr[i]], qvel[d], act[d]
		st.Gravity[i] = a.gravity[d]
		st.Coriolis[i] = bias[d] - a.gravity[d]
	}
	st.Time = a.Now()
	st.Seq = a.steps
	return nil
}

// WriteTorque implements drivers.Arm: the torques go to the joints' motors, which also
// clamp them to their ctrlrange.
func (a *Arm) WriteTorque(tau []float64) error {
	if err := drivers.CheckTorque(tau, len(a.act)); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	ctrl := a.sim.Ctrl()
	for i, u := range a.act {
		ctrl[u] = tau[i]
	}
	return nil
}

// SetGripperWidth implements drivers.Gripper: width is the opening between the fingers,
// clamped to what the fingers can travel.
func (a *Arm) SetGripperWidth(width float64) error {
	if a.gripper < 0 {
		return fmt.Errorf("sim: %w: the scene has no gripper", drivers.ErrBadCommand)
	}
	if math.IsNaN(width) || math.IsInf(width, 0) {
		return fmt.Errorf("sim: %w: gripper width %v", drivers.ErrBadCommand, width)
	}
	a.sim.Ctrl()[a.gripper] = math.Max(a.gripLo, math.Min(a.gripHi, width/2))
	return nil
}

// GripperWidth implements drivers.Gripper.
func (a *Arm) GripperWidth() float64 {
	if a.gripper < 0 {
		return 0
	}
	q := a.sim.Qpos()
	return q[a.fingers[0]] + q[a.fingers[1]]
}

// ToolPose is the tool site's pose in the world frame as MuJoCo computed it (ground truth
// for tests and reports; controllers use their own kinematics).
func (a *Arm) ToolPose() (mgl64.Vec3, mgl64.Quat) {
	p, m := a.sim.SitePose(a.tool)
	// MuJoCo's matrices are row-major, mathgl's column-major.
	rot := mgl64.Mat3{m[0], m[3], m[6], m[1], m[4], m[7], m[2], m[5], m[8]}
	return mgl64.Vec3(p), mgl64.Mat4ToQuat(rot.Mat4()).Normalize()
}

// Now is the simulation clock.
func (a *Arm) Now() time.Duration {
	return time.Duration(math.Round(a.sim.Time() * 1e9))
}

// Timestep is the physics step.
func (a *Arm) Timestep() time.Duration {
	return time.Duration(math.Round(a.sim.Timestep() * 1e9))
}

// Tick advances the physics by one control period d with the last commands applied: the
// whole number of physics steps nearest to d (at least one). It returns how many steps
// it took. The state read afterwards is that at the end of the period.
func (a *Arm) Tick(d time.Duration) (int, error) {
	n := int(math.Round(float64(d) / float64(a.Timestep())))
	if n < 1 {
		n = 1
	}
	// mj_step split in two so the state between ticks is fully computed (poses, bias
	// forces) for the controller to read: step2 integrates the commands applied to the
	// previous step1's state, step1 evaluates the new state. One cgo call per tick.
	if err := a.sim.Advance(n, a.gravity); err != nil {
		return 0, err
	}
	a.steps += uint64(n)
	return n, nil
}
