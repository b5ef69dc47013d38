package daemon_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/sim/mujoco"
)

// loggingArm records every command's motion part (the torque less gravity, which MuJoCo
// computes for the state the command was written at) and can withhold new states for a
// while (a delayed publisher: ReadState fails and leaves the state as it was).
type loggingArm struct {
	*mujoco.Arm
	st          *drivers.State
	motion      [][]float64
	raw         [][]float64   // the commands as written
	gapFrom     time.Duration // states withheld in [gapFrom, gapTo) of simulated time
	gapTo       time.Duration
	readsDuring int
}

func newLoggingArm(a *mujoco.Arm) *loggingArm {
	return &loggingArm{Arm: a, st: drivers.NewState(a.Info())}
}

func (a *loggingArm) ReadState(st *drivers.State) error {
	if now := a.Now(); now >= a.gapFrom && now < a.gapTo {
		a.readsDuring++
		return errors.New("no new state (test gap)")
	}
	return a.Arm.ReadState(st)
}

func (a *loggingArm) WriteTorque(tau []float64) error {
	if err := a.Arm.ReadState(a.st); err != nil {
		return err
	}
	m := slices.Clone(tau)
	for i := range m {
		m[i] -= a.st.Gravity[i]
	}
	a.motion = append(a.motion, m)
	a.raw = append(a.raw, slices.Clone(tau))
	return a.Arm.WriteTorque(tau)
}

// panicSource drives the tool like lineSource and panics at its time.
type panicSource struct {
	lineSource
	at time.Duration
}

func (s *panicSource) Act(now time.Duration, st *drivers.State, tool control.Pose) (control.Pose, float64, bool) {
	if s.begun && now-s.t0 >= s.at {
		panic("source blew up")
	}
	return s.lineSource.Act(now, st, tool)
}

// Every way a run ends leaves the arm with the hold command (gravity alone for this
// simulated arm, which does not compensate it; zero for one that does) and never a
// joint-limit wall's spring: joint 7 starts 0.05 rad inside its upper limit, within the
// wall's 0.1 rad margin, where the wall pushes for the whole run. An independent
// ros_control arm found the wall's spring left on the arm after robotd exited (joint 7
// then moved 0.4-3.6 rad in 3 s; after a stale fault joint 4 kept +57 Nm against its
// stop). The tool is moving at 10 cm/s when the run ends. Checked for each ending: every
// change of command is within the torque-rate limit (1 Nm per 1 ms tick), walls, brakes
// and the release included, measured here against MuJoCo's gravity and in the summary;
// the last command is the hold command; and repeating it for 2 s, as an effort controller
// does after its commander has gone, leaves the arm still (< 0.01 rad/s, tool < 0.5 mm).
func TestEveryEndLeavesTheHoldCommand(t *testing.T) {
	cases := []struct {
		name  string
		fault string                                                     // "" for a normal end
		setup func(d *daemon.Daemon, arm *loggingArm, now time.Duration) // called each step once running
		src   daemon.Source
		ramp  time.Duration // Config.StopRamp (0: the default)
	}{
		{name: "duration", src: &lineSource{}},
		{name: "stop", src: &lineSource{}, setup: func(d *daemon.Daemon, _ *loggingArm, now time.Duration) {
			if now >= 500*time.Millisecond {
				d.Stop("test", false)
			}
		}},
		// A hold too short to stop the arm: it is braked until still, then released.
		{name: "stop with a 10 ms hold", src: &lineSource{}, ramp: 10 * time.Millisecond, setup: func(d *daemon.Daemon, _ *loggingArm, now time.Duration) {
			if now >= 500*time.Millisecond {
				d.Stop("test", false)
			}
		}},
		{name: "stop_now", fault: "stop_now", src: &lineSource{}, setup: func(d *daemon.Daemon, _ *loggingArm, now time.Duration) {
			if now >= 500*time.Millisecond {
				d.Stop("test", true)
			}
		}},
		{name: "state_stale then states again", fault: "state_stale", src: &lineSource{}, setup: func(_ *daemon.Daemon, arm *loggingArm, now time.Duration) {
			if arm.gapTo == 0 && now >= 500*time.Millisecond {
				arm.gapFrom, arm.gapTo = now, now+30*time.Millisecond
			}
		}},
		{name: "state_stale for good", fault: "state_stale", src: &lineSource{}, setup: func(_ *daemon.Daemon, arm *loggingArm, now time.Duration) {
			if arm.gapTo == 0 && now >= 500*time.Millisecond {
				arm.gapFrom, arm.gapTo = now, time.Hour
			}
		}},
		{name: "panic", fault: "panic", src: &panicSource{at: 400 * time.Millisecond}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sys := newSystem(t, false)
			q := slices.Clone(sys.Home)
			q[6] = sys.Ports.Robot.Joints[6].Upper - 0.05
			if err := sys.SimArm.SetJointPositions(q); err != nil {
				t.Fatal(err)
			}
			arm := newLoggingArm(sys.SimArm)
			var d *daemon.Daemon
			step := sys.Ports.Step
			sys.Ports.Step = func(dt time.Duration) error {
				if c.setup != nil && d.State() == daemon.Running {
					c.setup(d, arm, sys.SimArm.Now())
				}
				return step(dt)
			}
			sys.Ports.Arm, sys.Ports.Source = arm, c.src
			d = newDaemon(t, sys, func(cfg *daemon.Config) {
				cfg.Home, cfg.Duration, cfg.StateStale, cfg.StopRamp = nil, 900*time.Millisecond, 5*time.Millisecond, c.ramp
			})
			err := d.Run(context.Background())
			var f *daemon.Fault
			switch {
			case c.fault == "" && err != nil:
				t.Fatalf("Run = %v, want a normal end", err)
			case c.fault != "" && (!errors.As(err, &f) || f.Kind != c.fault):
				t.Fatalf("Run = %v, want a %s fault", err, c.fault)
			}
			s := d.Summary()
			if s.Safety["position_wall"] == 0 {
				t.Fatalf("the wall never pushed (safety %v): the test does not test the wall", s.Safety)
			}
			// Every change of command within the torque-rate limit.
			prev := make([]float64, 7)
			worst, at := 0.0, 0
			for k, m := range arm.motion {
				for i := range m {
					// MuJoCo's gravity of this tick against the daemon's, read a tick
					// earlier, differs by a little at these speeds.
					if dv := math.Abs(m[i] - prev[i]); dv > worst {
						worst, at = dv, k
					}
				}
				prev = m
			}
			peak := slices.Max(s.PeakTorqueStep)
			t.Logf("%d commands, largest change %.4f Nm (command %d), summary's %.4f Nm; peak speed %.3f rad/s; ended %v",
				len(arm.motion), worst, at, peak, s.PeakSpeed, s.SimTime)
			// MuJoCo's gravity moves with the arm; while states are withheld the
			// daemon's stays that of its last state.
			tol := 1.02
			if c.fault == "state_stale" {
				tol = 1.1
			}
			if worst > tol || peak > 1+1e-9 {
				t.Errorf("a command changed by %.4f Nm in one tick (summary %.4f): more than the 1 Nm rate limit", worst, peak)
			}
			// The last command: gravity alone (with states withheld for good, the
			// gravity of the last state the daemon read: it has no other).
			last := arm.motion[len(arm.motion)-1]
			if c.name == "state_stale for good" {
				g := d.Servo().State().Gravity
				for i, v := range arm.raw[len(arm.raw)-1] {
					if math.Abs(v-g[i]) > 1e-9 {
						t.Errorf("joint %d: the last command is %+.6f Nm, the last state's gravity %+.6f", i+1, v, g[i])
					}
				}
				if arm.readsDuring == 0 {
					t.Fatal("no read during the gap")
				}
				return
			}
			for i, m := range last {
				if math.Abs(m) > 1e-9 {
					t.Errorf("joint %d: the last command is gravity %+.6f Nm: want gravity alone", i+1, m)
				}
			}
			// The hold command is written holdRepeat times (a lost message must not
			// leave the previous one on the arm).
			for k := len(arm.motion) - daemon.HoldRepeat; k < len(arm.motion); k++ {
				for i, m := range arm.motion[k] {
					if math.Abs(m) > 1e-9 {
						t.Fatalf("command %d, %d from the end: joint %d is gravity %+.6f Nm, want the hold command %d times",
							k, len(arm.motion)-k, i+1, m, daemon.HoldRepeat)
					}
				}
			}
			// Repeat it, over gravity, for 2 s.
			st := drivers.NewState(sys.SimArm.Info())
			p0, _ := sys.SimArm.ToolPose()
			tau := make([]float64, 7)
			maxSpeed := 0.0
			for range 2000 {
				if err := sys.SimArm.ReadState(st); err != nil {
					t.Fatal(err)
				}
				for i := range tau {
					tau[i] = last[i] + st.Gravity[i] + st.Coriolis[i]
				}
				if err := sys.SimArm.WriteTorque(tau); err != nil {
					t.Fatal(err)
				}
				if _, err := sys.SimArm.Tick(time.Millisecond); err != nil {
					t.Fatal(err)
				}
				for _, v := range st.DQ {
					maxSpeed = max(maxSpeed, math.Abs(v))
				}
			}
			p1, _ := sys.SimArm.ToolPose()
			t.Logf("under the last command for 2 s: tool moved %.3f mm, joint speed up to %.4f rad/s", p1.Sub(p0).Len()*1000, maxSpeed)
			if maxSpeed > 0.01 || p1.Sub(p0).Len() > 0.5e-3 {
				t.Fatalf("after the run the arm moves (%.4f rad/s, tool %.2f mm in 2 s): not at rest", maxSpeed, p1.Sub(p0).Len()*1000)
			}
		})
	}
}

// nanPre is a preprocessor whose images are NaN: the policy's every step fails.
type nanPre struct{}

func (nanPre) Run(f *perception.Frame, dst []float32) error {
	for i := range dst {
		dst[i] = float32(math.NaN())
	}
	return nil
}

// A policy whose every step fails (NaN output) ends the run with the policy fault after
// MaxFailures steps, counted in the summary (an independent tester saw such a run end
// normally, exit 0, "0 chunks").
func TestPolicyFailureIsAFault(t *testing.T) {
	sys := newSystem(t, true)
	sys.Ports.Policy.Preprocess[0] = nanPre{}
	d := newDaemon(t, sys, func(c *daemon.Config) { c.Duration = 5 * time.Second })
	err := d.Run(context.Background())
	var f *daemon.Fault
	if !errors.As(err, &f) || f.Kind != "policy" {
		t.Fatalf("Run = %v, want a policy fault", err)
	}
	s := d.Summary()
	t.Logf("fault after %v: %v; policy errors %d, chunks rejected %d", s.SimTime, err, s.PolicyErrors, s.Rejected)
	if s.PolicyErrors+s.Rejected < 3 || s.SimTime > time.Second || s.Final != daemon.Faulted {
		t.Fatalf("ended %v at %v with %d policy errors + %d rejected chunks: want a fault after 3 failures, well within 1 s",
			s.Final, s.SimTime, s.PolicyErrors, s.Rejected)
	}
}

// No valid chunk for ChunkTimeout (cameras stale the whole time here: the policy is
// paused, the arm holds) ends the run with the policy fault too.
func TestPolicyChunkTimeout(t *testing.T) {
	sys := newSystem(t, true)
	sys.Ports.Policy.ChunkTimeout = 300 * time.Millisecond
	sys.Ports.Step = func(d time.Duration) error { // the camera never renders: always stale
		_, err := sys.SimArm.Tick(d)
		return err
	}
	d := newDaemon(t, sys, func(c *daemon.Config) { c.Duration = 5 * time.Second })
	err := d.Run(context.Background())
	var f *daemon.Fault
	if !errors.As(err, &f) || f.Kind != "policy" {
		t.Fatalf("Run = %v, want a policy fault", err)
	}
	if s := d.Summary(); s.SimTime > 400*time.Millisecond+brakeAndReleaseBound || s.Watchdogs["camera_stale"] == 0 {
		t.Fatalf("fault at %v (watchdogs %v): want just after 300 ms, with the camera_stale watchdog tripped", s.SimTime, s.Watchdogs)
	}
	t.Logf("%v", err)
}

// brakeAndReleaseBound is the most a brake (arm at rest) and release add to a run here.
const brakeAndReleaseBound = 150 * time.Millisecond
