package task_test

import (
	"flag"
	"math"
	"testing"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/sim/task"
)

const tick = time.Millisecond

// actEvery is the expert's period: 20 Hz, a policy's rate.
const actEvery = 50 * time.Millisecond

// stiffness is launch/sim.yaml's: the controller robotd run drives the simulated arm with.
var stiffness = [6]float64{200, 200, 200, 30, 30, 30}

var rotStiffness = flag.Float64("task.rotstiffness", 30, "rotational stiffness (Nm/rad) of the controller in the closed-loop tests")

// rig is the task on a simulated arm under daemon.Servo (safety + Cartesian impedance), in
// lockstep at 1 kHz, as reach_test.go in package daemon runs it.
type rig struct {
	task   *task.Task
	arm    *mujoco.Arm
	servo  *daemon.Servo
	expert *task.Expert

	prev     control.Pose // the expert's last target
	havePrev bool
}

func newRig(t testing.TB) *rig {
	t.Helper()
	tk := newTask(t)
	scene := tk.Arm().Scene()
	robot, err := control.ParseMJCF(scene.Model, scene.Tool)
	if err != nil {
		t.Fatal(err)
	}
	k := stiffness
	k[3], k[4], k[5] = *rotStiffness, *rotStiffness, *rotStiffness
	servo, err := daemon.NewServo(tk.Arm(), robot, daemon.ServoConfig{Cartesian: control.CartesianConfig{Stiffness: k}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tk.ExpertConfig()
	if err != nil {
		t.Fatal(err)
	}
	ex, err := task.NewExpert(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{task: tk, arm: tk.Arm(), servo: servo, expert: ex}
}

// begin resets the task from seed and hands the arm to the servo and the expert, as the
// daemon does after homing: the servo latches the current pose (and joint posture, for
// its nullspace).
func (r *rig) begin(t testing.TB, seed int64) {
	t.Helper()
	if _, err := r.task.Reset(seed); err != nil {
		t.Fatal(err)
	}
	if err := r.servo.Start(daemon.ModeCartesian); err != nil {
		t.Fatal(err)
	}
	r.expert.Reset()
	r.havePrev = false
}

// tick runs one control period: servo (read, impedance, safety, write), then physics.
func (r *rig) tick(t testing.TB) {
	if err := r.servo.Tick(tick.Seconds()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.arm.Tick(tick); err != nil {
		t.Fatal(err)
	}
}

// step runs one tick, asking the expert first when its period is due: its target goes
// through the servo's safety layer to the impedance controller, its gripper command to
// the arm's SetGripperWidth. It checks that consecutive targets respect the expert's
// speed and turn-rate bounds.
func (r *rig) step(t testing.TB, seed int64) {
	if now := r.arm.Now(); now%actEvery == 0 {
		target, width := r.expert.Act(now, r.task.Privileged())
		if r.havePrev {
			c, dt := r.expert.Config(), actEvery.Seconds()
			if d := target.Pos.Sub(r.prev.Pos).Len(); d > c.MaxSpeed*dt+1e-9 {
				t.Fatalf("seed %d at %v: the target jumped %.1f mm in one period (max %.1f)", seed, now, 1e3*d, 1e3*c.MaxSpeed*dt)
			}
			if a := control.OrientationError(target.Rot, r.prev.Rot); a > c.MaxTurnRate*dt+1e-6 {
				t.Fatalf("seed %d at %v: the target turned %.3f rad in one period (max %.3f)", seed, now, a, c.MaxTurnRate*dt)
			}
		}
		r.prev, r.havePrev = target, true
		if !r.servo.SetCartesianTarget(target) {
			t.Fatalf("seed %d: target %v rejected", seed, target)
		}
		if err := r.arm.SetGripperWidth(width); err != nil {
			t.Fatal(err)
		}
	}
	r.tick(t)
}

// outcome is one expert episode.
type outcome struct {
	seed     int64
	ep       *task.Episode
	attempts int
	phase    task.Phase
	safety   control.SafetyCounters
}

// episode resets the task from seed and runs the expert closed loop until the episode is
// done, evaluating the task after every tick.
func (r *rig) episode(t testing.TB, seed int64) outcome {
	t.Helper()
	r.begin(t, seed)
	ep := r.task.NewEpisode(r.arm.Now())
	for !ep.Done {
		r.step(t, seed)
		ep.Update(r.arm.Now(), r.task.Evaluate())
	}
	if w := r.arm.Sim().Warnings(); w.Total() != 0 {
		t.Errorf("seed %d: MuJoCo warnings %+v", seed, w)
	}
	return outcome{seed: seed, ep: ep, attempts: r.expert.Attempts(), phase: r.expert.Phase(), safety: r.servo.Safety().Counters}
}

var episodes = flag.Int("task.episodes", 0, "run TestExpertSuccessRate over this many seeds (default: a short run)")

// TestExpertSuccessRate: the scripted expert, closed loop through the servo in lockstep,
// succeeds on every one of a few seeds (the default, kept short for go test) or on at least
// 95 % of -task.episodes seeds.
func TestExpertSuccessRate(t *testing.T) {
	n, want := 5, 1.0
	if *episodes > 0 {
		n, want = *episodes, 0.95
	}
	r := newRig(t)
	ok, retried := 0, 0
	var tts, total, slowest time.Duration
	fastest := time.Duration(1 << 62)
	for seed := int64(1); seed <= int64(n); seed++ {
		o := r.episode(t, seed)
		if o.attempts > 1 {
			retried++
		}
		if o.ep.Success {
			ok++
			tts += o.ep.TimeToSuccess
			slowest, fastest = max(slowest, o.ep.TimeToSuccess), min(fastest, o.ep.TimeToSuccess)
		} else {
			t.Logf("seed %d failed: phase %v after %d attempts, max lift %.3f m, place error %.3f m",
				seed, o.phase, o.attempts, o.ep.MaxLift, o.ep.PlaceError)
		}
		if c := o.safety; c.NonFinite != 0 || c.TargetsRejected != 0 {
			t.Errorf("seed %d: safety counters %+v", seed, c)
		}
		total += o.ep.Duration
		if testing.Verbose() {
			t.Logf("seed %d: success %v in %v (%d attempts), max lift %.3f m, place error %.1f mm",
				seed, o.ep.Success, o.ep.TimeToSuccess, o.attempts, o.ep.MaxLift, 1e3*o.ep.PlaceError)
		}
	}
	rate := float64(ok) / float64(n)
	mean := time.Duration(0)
	if ok > 0 {
		mean = tts / time.Duration(ok)
	}
	t.Logf("expert: %d / %d seeds succeeded (%.1f %%), time to success mean %v (%v .. %v), %d needed more than one attempt, %v simulated",
		ok, n, 100*rate, mean.Round(time.Millisecond), fastest, slowest, retried, total.Round(time.Millisecond))
	if rate < want {
		t.Errorf("success rate %.3f, want >= %.2f", rate, want)
	}
}

// TestExpertRecoversALostCube: the cube is taken out of the hand while carried (put back
// on the table at another start); the expert notices, goes back for it and still succeeds.
// At each grasp the fingers are across two faces: the tool's yaw matches the cube's modulo
// a quarter turn.
func TestExpertRecoversALostCube(t *testing.T) {
	r := newRig(t)
	const seed = 11
	r.begin(t, seed)
	s := r.arm.Sim()
	cube := mustID(t, s, mujoco.ObjJoint, "cube")
	ep := r.task.NewEpisode(0)
	moved, last := false, r.expert.Phase()
	for !ep.Done {
		r.step(t, seed)
		ep.Update(r.arm.Now(), r.task.Evaluate())
		p := r.expert.Phase()
		if p == task.Close && last != task.Close {
			obs := r.task.Privileged()
			if d := quarterTurn(yaw(obs.Cube.Rot) - yaw(obs.Tool.Rot)); math.Abs(d) > 0.05 {
				t.Errorf("attempt %d: the fingers are %.3f rad off the cube's faces", r.expert.Attempts(), d)
			}
		}
		if p == task.Carry && !moved {
			start := r.task.Config().Sample(99, 0.025)
			q := mgl64.QuatRotate(start.Yaw, mgl64.Vec3{0, 0, 1})
			if err := s.SetFreeJointPose(cube, start.Cube, [4]float64{q.W, q.V[0], q.V[1], q.V[2]}); err != nil {
				t.Fatal(err)
			}
			moved = true
		}
		last = p
	}
	if !moved || !ep.Success || r.expert.Attempts() != 2 {
		t.Errorf("moved %v, success %v after %d attempts (%v); want success at the second attempt", moved, ep.Success, r.expert.Attempts(), ep.TimeToSuccess)
	}
	t.Logf("success after %d attempts in %v", r.expert.Attempts(), ep.TimeToSuccess)
}

// yaw is the rotation about the vertical of q's x axis.
func yaw(q mgl64.Quat) float64 {
	x := q.Rotate(mgl64.Vec3{1, 0, 0})
	return math.Atan2(x[1], x[0])
}

// quarterTurn wraps a into [-pi/4, pi/4).
func quarterTurn(a float64) float64 {
	return a - math.Pi/2*math.Floor(a/(math.Pi/2)+0.5)
}
