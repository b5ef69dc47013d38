package daemon_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/sim/mujoco"
)

// robotSide is the MuJoCo arm with a robot-side controller in front of it, as a real
// Franka (Cartesian impedance on the robot, taking equilibrium poses) or a
// position-controlled arm (taking joint targets) has: robotd must send that kind of
// command and no torques. The robot-side controllers are control's own laws with gravity
// added, run on the simulator's state at each physics step.
type robotSide struct {
	*mujoco.Arm
	kind  drivers.CommandKind
	cart  *control.CartesianImpedance
	joint *control.JointImpedance
	st    *drivers.State
	in    control.Input
	tau   []float64

	ik             *control.IK
	qns            []float64
	poses, targets int       // commands received
	lastQ          []float64 // the last joint target received
	lastPose       control.Pose
}

func newRobotSide(t testing.TB, kind drivers.CommandKind) (*robotSide, *control.Robot) {
	t.Helper()
	arm, robot := daemon.SceneArm(t)
	r := &robotSide{Arm: arm, kind: kind, st: drivers.NewState(arm.Info()), tau: make([]float64, robot.DoF()),
		ik: control.NewIK(robot), qns: make([]float64, robot.DoF())}
	r.in = control.Input{Q: r.st.Q, DQ: r.st.DQ, Coriolis: r.st.Coriolis, Gravity: r.st.Gravity}
	var err error
	if r.cart, err = control.NewCartesianImpedance(robot, control.CartesianConfig{}); err != nil {
		t.Fatal(err)
	}
	if r.joint, err = control.NewJointImpedance(robot.DoF(), control.JointConfig{FilterRate: 1}); err != nil {
		t.Fatal(err)
	}
	if err := arm.ReadState(r.st); err != nil {
		t.Fatal(err)
	}
	r.cart.Start(r.st.Q)
	r.joint.Start(r.st.Q)
	return r, robot
}

func (r *robotSide) Info() drivers.Info {
	info := r.Arm.Info()
	info.Command = r.kind
	return info
}

func (r *robotSide) WriteTorque([]float64) error {
	return drivers.CommandKindError("robotside", r.kind, drivers.CommandTorque)
}

func (r *robotSide) WriteEquilibrium(pos mgl64.Vec3, rot mgl64.Quat) error {
	if r.kind != drivers.CommandPose {
		return drivers.CommandKindError("robotside", r.kind, drivers.CommandPose)
	}
	if err := drivers.CheckPose(pos, rot); err != nil {
		return err
	}
	r.lastPose = control.Pose{Pos: pos, Rot: rot}
	r.cart.SetTarget(r.lastPose)
	if r.poses%50 == 0 {
		// A nullspace posture that reaches the pose, as a well-tuned robot-side
		// controller has: without it, the orientation settles tens of mrad off.
		r.ik.Solve(r.qns, r.st.Q, r.lastPose)
		r.cart.SetNullspaceTarget(r.qns)
	}
	r.poses++
	return nil
}

func (r *robotSide) WriteJointTarget(q []float64) error {
	if r.kind != drivers.CommandJointTarget {
		return drivers.CommandKindError("robotside", r.kind, drivers.CommandJointTarget)
	}
	if err := drivers.CheckJointTarget(q, len(r.tau)); err != nil {
		return err
	}
	r.joint.SetTarget(q)
	r.lastQ = append(r.lastQ[:0], q...)
	r.targets++
	return nil
}

// step runs the robot-side controller for one physics step of d.
func (r *robotSide) step(d time.Duration) error {
	if err := r.Arm.ReadState(r.st); err != nil {
		return err
	}
	if r.kind == drivers.CommandPose {
		r.cart.Update(r.tau, &r.in, d.Seconds())
	} else {
		r.joint.Update(r.tau, &r.in, d.Seconds())
	}
	if err := r.Arm.WriteTorque(r.tau); err != nil {
		return err
	}
	_, err := r.Arm.Tick(d)
	return err
}

// TestServoCommandKinds: an arm that takes equilibrium poses, and one that takes joint
// targets, reach Cartesian targets 10-15 cm away within 3 mm when the servo sends them
// their kind of command, as the torque path does in-process (reach_test.go).
func TestServoCommandKinds(t *testing.T) {
	for _, kind := range []drivers.CommandKind{drivers.CommandPose, drivers.CommandJointTarget} {
		t.Run(kind.String(), func(t *testing.T) {
			arm, robot := newRobotSide(t, kind)
			servo, err := daemon.NewServo(arm, robot, daemon.ServoConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if servo.Command() != kind {
				t.Fatalf("servo sends %v, the arm takes %v", servo.Command(), kind)
			}
			if err := servo.Start(daemon.ModeCartesian); err != nil {
				t.Fatal(err)
			}
			start := servo.Tool()
			rot := mgl64.QuatRotate(0.3, mgl64.Vec3{0, 0, 1}).Mul(start.Rot)
			for _, off := range []mgl64.Vec3{{0.1, 0, -0.05}, {0, 0.12, 0.05}, {-0.05, -0.1, 0}} {
				target := control.Pose{Pos: start.Pos.Add(off), Rot: rot}
				if !servo.SetCartesianTarget(target) {
					t.Fatalf("target %v rejected", target)
				}
				// The robot-side controller's orientation settles with a time constant
				// of about 1.5 s (its own gains): give it 6 s.
				for i := 0; i < 6000; i++ {
					if err := servo.Tick(tick.Seconds()); err != nil {
						t.Fatal(err)
					}
					if kind == drivers.CommandJointTarget {
						// The command moves no joint faster than half its velocity limit.
						for j, jt := range robot.Joints {
							if math.IsNaN(arm.lastQ[j]) || arm.lastQ[j] < jt.Lower || arm.lastQ[j] > jt.Upper {
								t.Fatalf("tick %d: joint target %d = %v outside [%v, %v]", i, j, arm.lastQ[j], jt.Lower, jt.Upper)
							}
						}
					}
					if err := arm.step(tick); err != nil {
						t.Fatal(err)
					}
				}
				if kind == drivers.CommandPose {
					// What robotd sends converges to the target itself.
					if e := arm.lastPose.Pos.Sub(target.Pos).Len(); e > 1e-6 {
						t.Errorf("the equilibrium sent is %.3g m from the target", e)
					}
				}
				p, q := arm.ToolPose()
				posErr, rotErr := p.Sub(target.Pos).Len(), control.OrientationError(q, target.Rot)
				t.Logf("%v: target offset %v: error %.2f mm, %.2f mrad", kind, off, posErr*1e3, rotErr*1e3)
				if posErr > 0.003 || rotErr > 0.02 {
					t.Errorf("%v: target offset %v: error %.2f mm %.1f mrad, want within 3 mm / 20 mrad", kind, off, posErr*1e3, rotErr*1e3)
				}
			}
			if allocs := testing.AllocsPerRun(200, func() { servo.Tick(tick.Seconds()) }); allocs != 0 {
				t.Errorf("%v: %.1f allocations per tick", kind, allocs)
			}
			if kind == drivers.CommandPose && arm.poses == 0 || kind == drivers.CommandJointTarget && arm.targets == 0 {
				t.Fatalf("no %v command reached the arm", kind)
			}
		})
	}
}

// TestServoJointTargetLimits: no Cartesian target, however far, makes the joint-target
// command jump: every step is bounded by half the joint's velocity limit, and the
// command stays inside the joint limits less the safety margin.
func TestServoJointTargetLimits(t *testing.T) {
	arm, robot := newRobotSide(t, drivers.CommandJointTarget)
	servo, err := daemon.NewServo(arm, robot, daemon.ServoConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := servo.Start(daemon.ModeCartesian); err != nil {
		t.Fatal(err)
	}
	start := servo.Tool()
	servo.SetCartesianTarget(control.Pose{Pos: mgl64.Vec3{0.8, 0.5, 0.8}, Rot: mgl64.QuatRotate(math.Pi, mgl64.Vec3{1, 0, 0}).Mul(start.Rot)})
	prev := append([]float64(nil), servo.State().Q...)
	margin := servo.Safety().Config().PositionMargin
	for i := 0; i < 2000; i++ {
		if err := servo.Tick(tick.Seconds()); err != nil {
			t.Fatal(err)
		}
		for j, jt := range robot.Joints {
			q := arm.lastQ[j]
			if step := math.Abs(q - prev[j]); step > 0.5*jt.VelocityLimit*tick.Seconds()+1e-12 {
				t.Fatalf("tick %d: joint %s target stepped %.5f rad, limit %.5f", i, jt.Name, step, 0.5*jt.VelocityLimit*tick.Seconds())
			}
			if q < jt.Lower+margin-1e-12 || q > jt.Upper-margin+1e-12 {
				t.Fatalf("tick %d: joint %s target %.4f outside [%.4f, %.4f] less the margin", i, jt.Name, q, jt.Lower, jt.Upper)
			}
		}
		copy(prev, arm.lastQ)
		if err := arm.step(tick); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDaemonPoseArm: the daemon homes and holds an arm that takes equilibrium poses
// without ever sending it a torque, and its safe stop holds the measured pose.
func TestDaemonPoseArm(t *testing.T) {
	arm, robot := newRobotSide(t, drivers.CommandPose)
	st := drivers.NewState(arm.Info())
	if err := arm.ReadState(st); err != nil {
		t.Fatal(err)
	}
	home := append([]float64(nil), st.Q...)
	home[0] += 0.3
	home[3] += 0.2
	d, err := daemon.New(daemon.Config{Lockstep: true, Home: home, Duration: 4 * time.Second}, daemon.Ports{
		Arm: arm, Robot: robot, Clock: arm.Now, Step: arm.step,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := d.Summary()
	if s.Final != daemon.Idle || arm.poses < 3000 {
		t.Fatalf("final state %v, %d poses sent", s.Final, arm.poses)
	}
	want := robot.NewKinematics()
	robot.Forward(want, home)
	p, _ := arm.ToolPose()
	if e := p.Sub(want.Pos).Len(); e > 0.005 {
		t.Fatalf("tool %.1f mm from home's tool pose after the run", e*1e3)
	}

	// A torque reaching this arm would have failed the run (WriteTorque refuses), and the
	// daemon counts refusals: none.
	if s.ArmReadErrors+s.ArmWriteErrors != 0 {
		t.Fatalf("%d arm errors", s.ArmReadErrors+s.ArmWriteErrors)
	}
	if !errors.Is(arm.WriteTorque(nil), drivers.ErrCommandKind) {
		t.Fatal("robot side accepts torques")
	}
}
