package daemon_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/go-gl/mathgl/mgl64"
	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/sim/mujoco"
)

const tick = time.Millisecond

type rig struct {
	arm   *mujoco.Arm
	servo *daemon.Servo
	robot *control.Robot
}

func newRig(t testing.TB) *rig {
	t.Helper()
	arm, robot := daemon.SceneArm(t)
	servo, err := daemon.NewServo(arm, robot, daemon.ServoConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{arm: arm, servo: servo, robot: robot}
}

// toolPose is MuJoCo's own site pose: the test judges the controller with the
// simulator's kinematics, not with the controller's.
func (r *rig) toolPose() control.Pose {
	p, q := r.arm.ToolPose()
	return control.Pose{Pos: p, Rot: q}
}

// armTouches reports a contact that involves anything but the table, floor and cube: a
// configuration in which the arm touches the table is not a fair start.
func (r *rig) armTouches() bool {
	s := r.arm.Sim()
	for _, c := range s.Contacts(nil) {
		for _, g := range []int{c.Geom1, c.Geom2} {
			name := s.Name(mujoco.ObjGeom, g)
			if name != "table" && name != "floor" && name != "cube" {
				return true
			}
		}
	}
	return false
}

// reachable draws a joint configuration whose tool pose lies well inside the workspace,
// above the table, with the arm touching nothing. Each joint is drawn within spread of
// around (or anywhere inside its limits when around is nil), at least 0.3 rad from its
// limits. It leaves the simulated arm in that configuration.
func (r *rig) reachable(t *testing.T, rng *rand.Rand, around []float64, spread float64) ([]float64, control.Pose) {
	k := r.robot.NewKinematics()
	ws := control.DefaultWorkspace
	q := make([]float64, r.robot.DoF())
	for tries := 0; tries < 10000; tries++ {
		for i, j := range r.robot.Joints {
			lo, hi := j.Lower+0.3, j.Upper-0.3
			if around != nil {
				lo, hi = math.Max(lo, around[i]-spread), math.Min(hi, around[i]+spread)
			}
			q[i] = lo + rng.Float64()*(hi-lo)
		}
		r.robot.Forward(k, q)
		p := k.Pos
		if p[0] < ws.Min[0]+0.1 || p[0] > ws.Max[0]-0.15 || math.Abs(p[1]) > ws.Max[1]-0.15 || p[2] < 0.15 || p[2] > ws.Max[2]-0.15 {
			continue
		}
		if err := r.arm.SetJointPositions(q); err != nil {
			t.Fatal(err)
		}
		if r.armTouches() {
			continue
		}
		return append([]float64(nil), q...), k.Pose()
	}
	t.Fatal("no reachable configuration found")
	return nil, control.Pose{}
}

// run closes the loop for d, checking joint and torque limits at every tick.
func (r *rig) run(t *testing.T, d time.Duration, each func(tick int)) {
	t.Helper()
	st := r.servo.State()
	for i := 0; i < int(d/tick); i++ {
		if err := r.servo.Tick(tick.Seconds()); err != nil {
			t.Fatal(err)
		}
		for j, jt := range r.robot.Joints {
			if st.Q[j] < jt.Lower || st.Q[j] > jt.Upper {
				t.Fatalf("tick %d: joint %s at %.4f outside [%.4f, %.4f]", i, jt.Name, st.Q[j], jt.Lower, jt.Upper)
			}
			if tau := r.servo.Torque()[j]; math.Abs(tau) > jt.TorqueLimit+1e-12 {
				t.Fatalf("tick %d: joint %s torque %.3f above its limit %.1f", i, jt.Name, tau, jt.TorqueLimit)
			}
		}
		if _, err := r.arm.Tick(tick); err != nil {
			t.Fatal(err)
		}
		if each != nil {
			each(i)
		}
	}
}

// TestReachRandomTargets: from 20 random reachable start/target pairs, the tool settles
// within 2 mm and 0.01 rad of the target, no joint limit is violated and no torque
// exceeds its limit. A pair is a random start configuration and a target pose reached
// by moving every joint up to 0.6 rad from it (so the target is in the start's inverse
// kinematics branch, as a manipulation motion is): 10-50 cm and up to about a radian.
func TestReachRandomTargets(t *testing.T) {
	r := newRig(t)
	rng := rand.New(rand.NewPCG(2026, 11))
	worstPos, worstRot, worstSettle := 0.0, 0.0, time.Duration(0)
	maxDist, maxAngle := 0.0, 0.0
	for pair := 0; pair < 20; pair++ {
		qStart, from := r.reachable(t, rng, nil, 0)
		qTarget, target := r.reachable(t, rng, qStart, 0.6)
		if err := r.arm.SetJointPositions(qStart); err != nil {
			t.Fatal(err)
		}
		maxDist = math.Max(maxDist, from.Pos.Sub(target.Pos).Len())
		maxAngle = math.Max(maxAngle, control.OrientationError(from.Rot, target.Rot))
		if err := r.servo.Start(daemon.ModeCartesian); err != nil {
			t.Fatal(err)
		}
		// The target's configuration is the nullspace posture, as when replaying a
		// recorded pose with its joint state (see the note on nullspace leakage in
		// control.CartesianImpedance).
		r.servo.SetNullspaceTarget(qTarget)
		if !r.servo.SetCartesianTarget(target) {
			t.Fatalf("pair %d: target %v rejected", pair, target)
		}
		settled := time.Duration(-1)
		var posErr, rotErr float64
		r.run(t, 10*time.Second, func(i int) {
			p := r.toolPose()
			posErr = p.Pos.Sub(target.Pos).Len()
			rotErr = control.OrientationError(p.Rot, target.Rot)
			if posErr <= 2e-3 && rotErr <= 0.01 {
				if settled < 0 {
					settled = time.Duration(i+1) * tick
				}
			} else {
				settled = -1
			}
		})
		if settled < 0 {
			t.Errorf("pair %d: did not settle: final error %.2f mm, %.4f rad (start %v, target %v)",
				pair, posErr*1e3, rotErr, qStart, target)
			continue
		}
		worstPos, worstRot = math.Max(worstPos, posErr), math.Max(worstRot, rotErr)
		if settled > worstSettle {
			worstSettle = settled
		}
	}
	t.Logf("20 pairs, moves up to %.0f mm and %.2f rad", maxDist*1e3, maxAngle)
	t.Logf("20 pairs: worst final error %.3f mm, %.5f rad; slowest settling %v", worstPos*1e3, worstRot, worstSettle)
	if c := r.servo.Safety().Counters; c.NonFinite != 0 {
		t.Errorf("safety saw non-finite values: %+v", c)
	}
}

// TestStepResponseDoesNotOvershoot: a 10 cm step target along each axis from the ready
// pose is reached without oscillation: overshoot below 10 % of the step.
func TestStepResponseDoesNotOvershoot(t *testing.T) {
	for axis, name := range []string{"x", "y", "z"} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			if err := r.servo.Start(daemon.ModeCartesian); err != nil {
				t.Fatal(err)
			}
			start := r.toolPose()
			step := mgl64.Vec3{}
			step[axis] = 0.1
			if axis == 2 {
				step[axis] = -0.1
			}
			target := control.Pose{Pos: start.Pos.Add(step), Rot: start.Rot}
			r.servo.SetCartesianTarget(target)
			dir := step.Normalize()
			peak := 0.0
			r.run(t, 4*time.Second, func(int) {
				peak = math.Max(peak, r.toolPose().Pos.Sub(start.Pos).Dot(dir))
			})
			final := r.toolPose().Pos.Sub(target.Pos).Len()
			overshoot := (peak - 0.1) / 0.1
			t.Logf("step %s: peak %.2f mm past the start, overshoot %.2f %%, final error %.3f mm", name, peak*1e3, 100*overshoot, final*1e3)
			if overshoot >= 0.10 {
				t.Errorf("overshoot %.1f %% of the step, want < 10 %%", 100*overshoot)
			}
			if final > 2e-3 {
				t.Errorf("final error %.2f mm", final*1e3)
			}
		})
	}
}

// TestBadTargetsNeverReachTheMotors: NaN targets are rejected, out-of-workspace targets
// clamped; the arm stays within the workspace and keeps holding.
func TestBadTargetsNeverReachTheMotors(t *testing.T) {
	r := newRig(t)
	if err := r.servo.Start(daemon.ModeCartesian); err != nil {
		t.Fatal(err)
	}
	start := r.toolPose()
	if r.servo.SetCartesianTarget(control.Pose{Pos: mgl64.Vec3{math.NaN(), 0, 0}, Rot: start.Rot}) {
		t.Error("NaN target accepted")
	}
	r.run(t, 500*time.Millisecond, nil)
	if d := r.toolPose().Pos.Sub(start.Pos).Len(); d > 1e-3 {
		t.Errorf("after a NaN target the tool moved %.2f mm", d*1e3)
	}
	// A target 2 m below the table is clamped to the workspace floor.
	below := control.Pose{Pos: start.Pos.Add(mgl64.Vec3{0, 0, -2}), Rot: start.Rot}
	if !r.servo.SetCartesianTarget(below) {
		t.Fatal("out-of-workspace target rejected instead of clamped")
	}
	lowest := math.Inf(1)
	r.run(t, 3*time.Second, func(int) { lowest = math.Min(lowest, r.toolPose().Pos[2]) })
	if floor := control.DefaultWorkspace.Min[2]; lowest < floor-2e-3 {
		t.Errorf("tool went down to z = %.4f m, below the workspace floor %.3f", lowest, floor)
	}
	c := r.servo.Safety().Counters
	if c.TargetsRejected != 1 || c.TargetsClamped != 1 {
		t.Errorf("counters %+v, want 1 rejected and 1 clamped", c)
	}
}

// TestServoTickAllocatesNothing: a whole control tick (read the arm, Cartesian impedance,
// safety, write) and the lockstep physics step allocate nothing.
func TestServoTickAllocatesNothing(t *testing.T) {
	r := newRig(t)
	if err := r.servo.Start(daemon.ModeCartesian); err != nil {
		t.Fatal(err)
	}
	p := r.toolPose()
	r.servo.SetCartesianTarget(control.Pose{Pos: p.Pos.Add(mgl64.Vec3{0.05, 0, 0}), Rot: p.Rot})
	for _, mode := range []daemon.Mode{daemon.ModeCartesian, daemon.ModeJoint} {
		r.servo.SetMode(mode)
		allocs := testing.AllocsPerRun(200, func() {
			if err := r.servo.Tick(tick.Seconds()); err != nil {
				t.Fatal(err)
			}
			if _, err := r.arm.Tick(tick); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%v mode: a servo tick plus a physics step allocates %v times", mode, allocs)
		}
	}
}

// TestJointModeHoming: the joint impedance controller brings the arm from a displaced
// configuration back to the ready pose.
func TestJointModeHoming(t *testing.T) {
	r := newRig(t)
	home := []float64{0, -math.Pi / 4, 0, -3 * math.Pi / 4, 0, math.Pi / 2, math.Pi / 4}
	start := []float64{0.5, -0.2, 0.3, -2.0, 0.4, 1.9, 0.2}
	if err := r.arm.SetJointPositions(start); err != nil {
		t.Fatal(err)
	}
	if err := r.servo.Start(daemon.ModeJoint); err != nil {
		t.Fatal(err)
	}
	if !r.servo.SetJointTarget(home) {
		t.Fatal("home rejected")
	}
	r.run(t, 3*time.Second, nil)
	worst := 0.0
	for i, q := range r.servo.State().Q {
		worst = math.Max(worst, math.Abs(q-home[i]))
	}
	if worst > 0.005 {
		t.Errorf("after 3 s of homing the worst joint is %.4f rad from home", worst)
	}
}
