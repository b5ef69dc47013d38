package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/robotd/robotd/clock"
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/system"
)

// rigLaunch describes the simulator tests' rig: the embedded MuJoCo scene in lockstep,
// the wrist camera rendered at 96x96 every 1/30 s of simulated time, resized to 48x48
// for the fixture diffusion policy.
const rigLaunch = "../launch/test_daemon_rig.yaml"

// newSystem builds the system rigLaunch describes, as robotd run would, without its
// policy unless withPolicy; it logs to t and is closed when the test ends. A test may
// adjust its Ports (a wrapped arm or step, a source, a recorder) before newDaemon.
func newSystem(t testing.TB, withPolicy bool) *system.System {
	t.Helper()
	return newSystemWith(t, func(f *launch.File) {
		if !withPolicy {
			f.Policy = nil
		}
	})
}

// newSystemWith builds the system rigLaunch describes after edit changed the launch file.
func newSystemWith(t testing.TB, edit func(*launch.File)) *system.System {
	t.Helper()
	f, err := launch.LoadWith(rigLaunch, edit)
	if err != nil {
		t.Fatal(err)
	}
	s, err := system.New(context.Background(), f, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// newDaemon builds s's daemon on its Ports, with the launch file's configuration passed
// through edit (when not nil): the test's Duration, StopRamp, StateStale, ....
func newDaemon(t testing.TB, s *system.System, edit func(*daemon.Config)) *daemon.Daemon {
	t.Helper()
	d, err := s.DaemonWith(nil, edit)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Without a policy the daemon homes, holds the pose for the duration, ramps down and ends
// idle with the tool where it started.
func TestHoldWithoutPolicy(t *testing.T) {
	sys := newSystem(t, false)
	p0, _ := sys.SimArm.ToolPose()
	d := newDaemon(t, sys, func(c *daemon.Config) { c.Duration = time.Second })
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := d.Summary()
	// 1 s, 0.5 s of hold, then the release: an arm at rest under the hold is at its
	// hold command within a tick, written holdRepeat times.
	if s.Final != daemon.Idle || s.Ticks != 1500+daemon.HoldRepeat-1 || s.SafeStops != 0 {
		t.Fatalf("final %v after %d ticks, %d safe stops; want idle after %d (1 s + 0.5 s ramp + the release), none", s.Final, s.Ticks, s.SafeStops, 1500+daemon.HoldRepeat-1)
	}
	p1, _ := sys.SimArm.ToolPose()
	if dist := p1.Sub(p0).Len(); dist > 1e-3 {
		t.Fatalf("tool moved %.2f mm while holding", dist*1000)
	}
}

// A policy run in lockstep is reproducible: two runs from the same state with the same
// seed end in the same joint configuration, bit for bit; chunks flow and the setpoint
// does not jump at chunk switches (inpainting).
func TestPolicyLockstepReproducible(t *testing.T) {
	run := func() ([]float64, *daemon.Summary) {
		sys := newSystem(t, true)
		d := newDaemon(t, sys, func(c *daemon.Config) { c.Duration = 3 * time.Second })
		if err := d.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := drivers.NewState(sys.SimArm.Info())
		if err := sys.SimArm.ReadState(st); err != nil {
			t.Fatal(err)
		}
		return st.Q, d.Summary()
	}
	q1, s1 := run()
	q2, s2 := run()
	for i := range q1 {
		if q1[i] != q2[i] {
			t.Fatalf("joint %d: %v then %v: lockstep runs differ", i, q1[i], q2[i])
		}
	}
	if s1.Inference.Count < 3 || s1.Inference.Count != s2.Inference.Count {
		t.Fatalf("inferences %d and %d: want the same, at least 3 in 3 s", s1.Inference.Count, s2.Inference.Count)
	}
	if s1.MaxJump > 1e-6 {
		t.Fatalf("setpoint jumped %.3f mm at a chunk switch; inpainting should make it continuous", s1.MaxJump*1000)
	}
	if s1.Watchdogs["camera_stale"] != 0 || s1.Rejected != 0 {
		t.Fatalf("watchdogs %v, rejected chunks %d", s1.Watchdogs, s1.Rejected)
	}
}

type panicky struct{ after int }

func (p *panicky) Run(f *perception.Frame, dst []float32) error {
	if p.after--; p.after < 0 {
		panic("preprocessing blew up")
	}
	return nil
}

// A panic in the policy goroutine commands the safe stop and ends the run with a fault.
func TestPolicyPanicSafeStop(t *testing.T) {
	sys := newSystem(t, true)
	sys.Ports.Policy.Preprocess[0] = &panicky{after: 3}
	d := newDaemon(t, sys, func(c *daemon.Config) { c.Duration = 5 * time.Second })
	err := d.Run(context.Background())
	var f *daemon.Fault
	if !errors.As(err, &f) || f.Kind != "panic" {
		t.Fatalf("Run = %v, want a panic fault", err)
	}
	if s := d.Summary(); s.Final != daemon.Faulted || s.SafeStops != 1 || s.SimTime > time.Second {
		t.Fatalf("final %v, %d safe stops after %v; want faulted, 1, well before 1 s", s.Final, s.SafeStops, s.SimTime)
	}
}

// A stop request ramps to a hold; a second one stops at once (safe stop, fault).
func TestStopRequests(t *testing.T) {
	sys := newSystem(t, false)
	arm := sys.SimArm
	var d *daemon.Daemon
	step := sys.Ports.Step
	sys.Ports.Step = func(dt time.Duration) error {
		if arm.Now() == 300*time.Millisecond {
			d.Stop("test", false)
		}
		return step(dt)
	}
	d = newDaemon(t, sys, nil)
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// 500 ms of hold, then the release: the hold command written holdRepeat times.
	if s := d.Summary(); s.Final != daemon.Idle || s.SimTime < 800*time.Millisecond || s.SimTime > 800*time.Millisecond+brakeAndReleaseBound {
		t.Fatalf("final %v at %v; want idle 500 ms (and the release) after the request at 300 ms", s.Final, s.SimTime)
	}

	sys = newSystem(t, false)
	arm = sys.SimArm
	step = sys.Ports.Step
	sys.Ports.Step = func(dt time.Duration) error {
		if arm.Now() == 300*time.Millisecond {
			d.Stop("first", false)
			d.Stop("first again", false) // graceful requests do not escalate
		}
		if arm.Now() == 400*time.Millisecond {
			d.Stop("second", true)
		}
		return step(dt)
	}
	d = newDaemon(t, sys, nil)
	err := d.Run(context.Background())
	var f *daemon.Fault
	if !errors.As(err, &f) || f.Kind != "stop_now" || d.Summary().SafeStops != 1 {
		t.Fatalf("Run = %v (%d safe stops), want a stop_now fault with one safe stop", err, d.Summary().SafeStops)
	}
}

// frozenArm stops reporting new states after a while (a vanished publisher).
type frozenArm struct {
	*mujoco.Arm
	after time.Duration
	last  drivers.State
}

func (a *frozenArm) ReadState(st *drivers.State) error {
	if a.Now() < a.after {
		return a.Arm.ReadState(st)
	}
	return errors.New("no new state")
}

// A joint state that stops changing trips the watchdog after state_stale: safe stop.
func TestStateStaleSafeStop(t *testing.T) {
	sys := newSystem(t, false)
	sys.Ports.Arm = &frozenArm{Arm: sys.SimArm, after: 200 * time.Millisecond}
	d := newDaemon(t, sys, func(c *daemon.Config) { c.Home, c.StateStale = nil, 5*time.Millisecond })
	err := d.Run(context.Background())
	var f *daemon.Fault
	if !errors.As(err, &f) || f.Kind != "state_stale" {
		t.Fatalf("Run = %v, want a state_stale fault", err)
	}
	// The last new state was read at 199 ms; the watchdog fires on the first tick more
	// than 5 ms later.
	if s := d.Summary(); s.SafeStops != 1 || s.Fault == nil || s.Fault.At < 0.204 || s.Fault.At > 0.206 {
		t.Fatalf("safe stops %d, fault %+v; want 1 at 205 ms", s.SafeStops, s.Fault)
	}
	if math.IsNaN(d.Servo().Torque()[0]) {
		t.Fatal("safe stop torque is NaN")
	}
}

// In steady state a control tick, with the policy running beside it, allocates nothing.
// warmTicker builds sys's daemon, begins homing, and returns it with a tick: one control
// tick at the simulator's time, then one simulator step, then after(d, now) when set. It has
// ticked 2000 times (warm-up: the first inferences and frames size every buffer).
func warmTicker(t *testing.T, sys *system.System, after func(d *daemon.Daemon, now time.Duration)) (*daemon.Daemon, func()) {
	t.Helper()
	arm, step := sys.SimArm, sys.Ports.Step
	d := newDaemon(t, sys, nil)
	stop, err := d.BeginHoming(arm.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	tick := func() {
		now := arm.Now()
		if done, err := d.Tick(now, 0.001); done {
			t.Fatalf("tick ended the run: %v", err)
		}
		if err := step(time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if after != nil {
			after(d, now)
		}
	}
	for range 2000 {
		tick()
	}
	return d, tick
}

func TestTickNoAllocs(t *testing.T) {
	d, tick := warmTicker(t, newSystem(t, true), nil)
	if allocs := testing.AllocsPerRun(1000, tick); allocs != 0 {
		t.Fatalf("%.2f allocations per tick (policy, camera and metrics included), want 0", allocs)
	}
	if d.Inferences() < 2 {
		t.Fatalf("%d inferences during the test: the policy did not run", d.Inferences())
	}
}

// lateArm reports its states as stale (ReadState fails, as the ROS driver's does past its
// stale limit, filling in an old pose) until freshAt on clk (the daemon's Config.Clock),
// and counts the commands written.
type lateArm struct {
	*mujoco.Arm
	clk     *clock.Manual
	freshAt time.Duration
	writes  int
	early   int // commands written while the state was stale
}

func (a *lateArm) ReadState(st *drivers.State) error {
	if err := a.Arm.ReadState(st); err != nil {
		return err
	}
	if a.clk.Now() < a.freshAt {
		for i := range st.Q {
			st.Q[i] += 0.3 // an old pose
		}
		return errors.New("joint state is stale: newest state is 300ms old, limit 5ms")
	}
	return nil
}

func (a *lateArm) WriteTorque(tau []float64) error {
	a.writes++
	if a.clk.Now() < a.freshAt {
		a.early++
	}
	return a.Arm.WriteTorque(tau)
}

// runAdvancing runs d, whose Config.Clock is clk, advancing clk by step each time the
// daemon waits on it, until Run returns.
func runAdvancing(d *daemon.Daemon, clk *clock.Manual, step time.Duration) error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()); cancel() }()
	for clk.BlockUntil(ctx, 1) == nil {
		clk.Advance(step)
	}
	return <-done
}

// The arm is taken over only from a fresh joint state: the daemon waits (nothing
// commanded), reading every 500 us on its clock, while the arm reports its state stale,
// then homes and holds from where the arm is; when no fresh state comes within
// StartTimeout the run ends with a start_stale fault naming the arm and the driver's
// error (the state's age), nothing commanded. The daemon's clock is a manual one that
// moves only while the daemon waits, so the numbers of reads are exact.
func TestStartWaitsForFreshState(t *testing.T) {
	t.Run("fresh after 80ms", func(t *testing.T) {
		sys := newSystem(t, false)
		p0, _ := sys.SimArm.ToolPose()
		clk := new(clock.Manual)
		arm := &lateArm{Arm: sys.SimArm, clk: clk, freshAt: 80 * time.Millisecond}
		h := &daemon.RecordHandler{}
		sys.Ports.Arm, sys.Ports.ArmName = arm, "test arm"
		d := newDaemon(t, sys, func(c *daemon.Config) {
			c.Duration, c.Clock, c.Logger = 300*time.Millisecond, clk, slog.New(h)
		})
		if err := runAdvancing(d, clk, 500*time.Microsecond); err != nil {
			t.Fatalf("Run = %v, want the run to wait for the fresh state and end normally", err)
		}
		// Reads at 0, 0.5, ..., 80 ms: the 161st is fresh.
		waited := h.Attrs("control loop: waited for a fresh joint state")
		if waited["waited"] != "80ms" || waited["reads"] != "161" {
			t.Errorf("wait logged as %v, want waited=80ms reads=161", waited)
		}
		p1, _ := sys.SimArm.ToolPose()
		s := d.Summary()
		if arm.early != 0 || arm.writes == 0 || s.Final != daemon.Idle || s.Fault != nil {
			t.Fatalf("%d commands written while the state was stale (of %d); final %v, fault %v: want none, then a normal run", arm.early, arm.writes, s.Final, s.Fault)
		}
		if dist := p1.Sub(p0).Len(); dist > 1e-3 {
			t.Fatalf("tool moved %.2f mm: the run started from the old pose", dist*1000)
		}
	})
	t.Run("never fresh", func(t *testing.T) {
		sys := newSystem(t, false)
		clk := clock.NewManual(time.Hour) // any origin: the wait counts from Run's start
		arm := &lateArm{Arm: sys.SimArm, clk: clk, freshAt: 1000 * time.Hour}
		sys.Ports.Arm, sys.Ports.ArmName = arm, "test arm"
		d := newDaemon(t, sys, func(c *daemon.Config) {
			c.Home, c.StartTimeout, c.Clock = nil, 50*time.Millisecond, clk
		})
		err := runAdvancing(d, clk, 500*time.Microsecond)
		var f *daemon.Fault
		if !errors.As(err, &f) || f.Kind != "start_stale" {
			t.Fatalf("Run = %v, want a start_stale fault", err)
		}
		// Reads at 0, 0.5, ..., 50 ms: the 101st is at the timeout.
		for _, want := range []string{"test arm", "300ms old", "within 50ms", "(101 reads)"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("fault %q does not say %q", err, want)
			}
		}
		if took := clk.Now() - time.Hour; took != 50*time.Millisecond {
			t.Errorf("Run returned at %v on the daemon's clock, want at the 50 ms start timeout", took)
		}
		s := d.Summary()
		if arm.writes != 0 || s.SafeStops != 0 || s.Final != daemon.Faulted || s.Fault == nil || s.Fault.Kind != "start_stale" {
			t.Fatalf("%d commands, %d safe stops, final %v, summary fault %+v: want nothing commanded, faulted, start_stale", arm.writes, s.SafeStops, s.Final, s.Fault)
		}
	})
}

// A run that ends in a fault says which in its summary (the one-screen text and the JSON
// of robotd run --summary-json); a normal run says none.
func TestSummaryFault(t *testing.T) {
	sys := newSystem(t, false)
	arm := &frozenArm{Arm: sys.SimArm, after: 100 * time.Millisecond}
	sys.Ports.Arm = arm
	d := newDaemon(t, sys, func(c *daemon.Config) { c.Home = nil })
	if err := d.Run(context.Background()); err == nil {
		t.Fatal("Run = nil, want a state_stale fault")
	}
	check := func(wantKind, wantMsg string) {
		t.Helper()
		data, err := json.Marshal(d.Summary().JSON())
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Fault *struct{ Kind, Message string } `json:"fault"`
		}
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		var text strings.Builder
		d.Summary().Write(&text)
		switch {
		case wantKind == "" && got.Fault != nil:
			t.Errorf("JSON fault %+v after a normal run, want null", got.Fault)
		case wantKind == "" && strings.Contains(text.String(), "fault "):
			t.Errorf("summary names a fault after a normal run:\n%s", text.String())
		case wantKind != "" && (got.Fault == nil || got.Fault.Kind != wantKind || !strings.Contains(got.Fault.Message, wantMsg)):
			t.Errorf("JSON fault %+v, want kind %s and a message with %q\n%s", got.Fault, wantKind, wantMsg, data)
		case wantKind != "" && !regexp.MustCompile(`(?m)^fault +`+wantKind+`: .*`+regexp.QuoteMeta(wantMsg)).MatchString(text.String()):
			t.Errorf("summary lacks the fault row %s: %s:\n%s", wantKind, wantMsg, text.String())
		}
	}
	check("state_stale", "no new joint state for")

	// The next run of the same daemon ends normally: no fault reported.
	arm.after = time.Hour
	d.SetDuration(100 * time.Millisecond)
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("", "")
}
