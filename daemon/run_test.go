package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/robotd/robotd/clock"
	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/perception/cv"
	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/onnx"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/telemetry"
)

// simRig is the embedded simulator wired as robotd run wires it for launch/test_fixture_sim.yaml.
type simRig struct {
	arm   *mujoco.Arm
	robot *control.Robot
	cam   *perception.Latest
	pre   *cv.Pipeline
	step  func(time.Duration) error
	home  []float64
}

func newSimRig(t testing.TB) *simRig {
	t.Helper()
	scene := sim.Scene{}.WithDefaults()
	arm, err := mujoco.NewArm(scene)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(arm.Close)
	robot, err := control.ParseMJCF(scene.Model, scene.Tool)
	if err != nil {
		t.Fatal(err)
	}
	r := &simRig{arm: arm, robot: robot}
	st := drivers.NewState(arm.Info())
	if err := arm.ReadState(st); err != nil {
		t.Fatal(err)
	}
	r.home = st.Q
	ren, err := mujoco.NewRenderer(arm.Sim(), 96, 96)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ren.Close)
	c, err := mujoco.NewCamera(ren, mujoco.CameraConfig{Camera: "wrist"})
	if err != nil {
		t.Fatal(err)
	}
	if r.cam, err = perception.NewLatest(c, perception.Freshness{}, arm.Now); err != nil {
		t.Fatal(err)
	}
	if r.pre, err = cv.NewPipeline(perception.PipelineConfig{Resize: &perception.ResizeConfig{Width: 48, Height: 48}}, 96, 96, perception.RGB8, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.pre.Close() })
	var next time.Duration
	r.step = func(d time.Duration) error {
		if _, err := arm.Tick(d); err != nil {
			return err
		}
		if now := arm.Now(); now >= next {
			next += 33333 * time.Microsecond
			return r.cam.Step(context.Background())
		}
		return nil
	}
	return r
}

func (r *simRig) policyPorts(t testing.TB, pre Preprocessor) *PolicyPorts {
	t.Helper()
	pol, err := policy.Load(filepath.Join("..", "policy", "testdata", "unet"), onnx.Opener(onnx.Options{}), policy.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pol.Close() })
	if pre == nil {
		pre = r.pre
	}
	return &PolicyPorts{Policy: pol, Action: SpaceEEPose, State: SpaceJoints,
		Cameras: []*perception.Latest{r.cam}, Preprocess: []Preprocessor{pre}}
}

func (r *simRig) daemon(t testing.TB, cfg Config, pp *PolicyPorts) *Daemon {
	t.Helper()
	cfg.Lockstep = true
	if cfg.Home == nil {
		cfg.Home = r.home
	}
	cfg.Metrics = telemetry.NewRegistry()
	d, err := New(cfg, Ports{Arm: r.arm, Robot: r.robot, Clock: r.arm.Now, Step: r.step, Policy: pp})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Without a policy the daemon homes, holds the pose for the duration, ramps down and ends
// idle with the tool where it started.
func TestHoldWithoutPolicy(t *testing.T) {
	r := newSimRig(t)
	p0, _ := r.arm.ToolPose()
	d := r.daemon(t, Config{Duration: time.Second}, nil)
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := d.Summary()
	// 1 s, 0.5 s of hold, then the release: an arm at rest under the hold is at its
	// hold command within a tick, written holdRepeat times.
	if s.Final != Idle || s.Ticks != 1500+holdRepeat-1 || s.SafeStops != 0 {
		t.Fatalf("final %v after %d ticks, %d safe stops; want idle after %d (1 s + 0.5 s ramp + the release), none", s.Final, s.Ticks, s.SafeStops, 1500+holdRepeat-1)
	}
	p1, _ := r.arm.ToolPose()
	if dist := p1.Sub(p0).Len(); dist > 1e-3 {
		t.Fatalf("tool moved %.2f mm while holding", dist*1000)
	}
}

// A policy run in lockstep is reproducible: two runs from the same state with the same
// seed end in the same joint configuration, bit for bit; chunks flow and the setpoint
// does not jump at chunk switches (inpainting).
func TestPolicyLockstepReproducible(t *testing.T) {
	run := func() ([]float64, *Summary) {
		r := newSimRig(t)
		d := r.daemon(t, Config{Duration: 3 * time.Second}, r.policyPorts(t, nil))
		if err := d.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := drivers.NewState(r.arm.Info())
		if err := r.arm.ReadState(st); err != nil {
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
	r := newSimRig(t)
	d := r.daemon(t, Config{Duration: 5 * time.Second}, r.policyPorts(t, &panicky{after: 3}))
	err := d.Run(context.Background())
	var f *Fault
	if !errors.As(err, &f) || f.Kind != "panic" {
		t.Fatalf("Run = %v, want a panic fault", err)
	}
	if s := d.Summary(); s.Final != Faulted || s.SafeStops != 1 || s.SimTime > time.Second {
		t.Fatalf("final %v, %d safe stops after %v; want faulted, 1, well before 1 s", s.Final, s.SafeStops, s.SimTime)
	}
}

// A stop request ramps to a hold; a second one stops at once (safe stop, fault).
func TestStopRequests(t *testing.T) {
	r := newSimRig(t)
	var d *Daemon
	step := r.step
	r.step = func(dt time.Duration) error {
		if r.arm.Now() == 300*time.Millisecond {
			d.Stop("test", false)
		}
		return step(dt)
	}
	d = r.daemon(t, Config{}, nil)
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// 500 ms of hold, then the release: the hold command written holdRepeat times.
	if s := d.Summary(); s.Final != Idle || s.SimTime < 800*time.Millisecond || s.SimTime > 800*time.Millisecond+brakeAndReleaseBound {
		t.Fatalf("final %v at %v; want idle 500 ms (and the release) after the request at 300 ms", s.Final, s.SimTime)
	}

	r = newSimRig(t)
	step = r.step
	r.step = func(dt time.Duration) error {
		if r.arm.Now() == 300*time.Millisecond {
			d.Stop("first", false)
			d.Stop("first again", false) // graceful requests do not escalate
		}
		if r.arm.Now() == 400*time.Millisecond {
			d.Stop("second", true)
		}
		return step(dt)
	}
	d = r.daemon(t, Config{}, nil)
	err := d.Run(context.Background())
	var f *Fault
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
	r := newSimRig(t)
	arm := &frozenArm{Arm: r.arm, after: 200 * time.Millisecond}
	d, err := New(Config{Lockstep: true, StateStale: 5 * time.Millisecond}, Ports{Arm: arm, Robot: r.robot, Clock: r.arm.Now, Step: r.step})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Run(context.Background())
	var f *Fault
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
func TestTickNoAllocs(t *testing.T) {
	r := newSimRig(t)
	d := r.daemon(t, Config{}, r.policyPorts(t, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.pol.run(ctx)
	if err := d.servo.Start(ModeJoint); err != nil {
		t.Fatal(err)
	}
	d.start = r.arm.Now()
	d.transition(Homing, "test")
	tick := func() {
		if done, err := d.tick(r.arm.Now(), 0.001); done {
			t.Fatalf("tick ended the run: %v", err)
		}
		if err := r.step(time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	for range 2000 { // warm-up: the first inferences and frames size every buffer
		tick()
	}
	if allocs := testing.AllocsPerRun(1000, tick); allocs != 0 {
		t.Fatalf("%.2f allocations per tick (policy, camera and metrics included), want 0", allocs)
	}
	if d.m.inferences.Value() < 2 {
		t.Fatalf("%d inferences during the test: the policy did not run", d.m.inferences.Value())
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
func runAdvancing(d *Daemon, clk *clock.Manual, step time.Duration) error {
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
		r := newSimRig(t)
		p0, _ := r.arm.ToolPose()
		clk := new(clock.Manual)
		arm := &lateArm{Arm: r.arm, clk: clk, freshAt: 80 * time.Millisecond}
		h := &recordHandler{}
		d, err := New(Config{Lockstep: true, Duration: 300 * time.Millisecond, Home: r.home, Metrics: telemetry.NewRegistry(), Clock: clk, Logger: slog.New(h)},
			Ports{Arm: arm, ArmName: "test arm", Robot: r.robot, Clock: r.arm.Now, Step: r.step})
		if err != nil {
			t.Fatal(err)
		}
		if err := runAdvancing(d, clk, 500*time.Microsecond); err != nil {
			t.Fatalf("Run = %v, want the run to wait for the fresh state and end normally", err)
		}
		// Reads at 0, 0.5, ..., 80 ms: the 161st is fresh.
		var waited map[string]string
		for _, rec := range h.recs {
			if rec.msg == "control loop: waited for a fresh joint state" {
				waited = rec.attrs
			}
		}
		if waited["waited"] != "80ms" || waited["reads"] != "161" {
			t.Errorf("wait logged as %v, want waited=80ms reads=161", waited)
		}
		p1, _ := r.arm.ToolPose()
		s := d.Summary()
		if arm.early != 0 || arm.writes == 0 || s.Final != Idle || s.Fault != nil {
			t.Fatalf("%d commands written while the state was stale (of %d); final %v, fault %v: want none, then a normal run", arm.early, arm.writes, s.Final, s.Fault)
		}
		if dist := p1.Sub(p0).Len(); dist > 1e-3 {
			t.Fatalf("tool moved %.2f mm: the run started from the old pose", dist*1000)
		}
	})
	t.Run("never fresh", func(t *testing.T) {
		r := newSimRig(t)
		clk := clock.NewManual(time.Hour) // any origin: the wait counts from Run's start
		arm := &lateArm{Arm: r.arm, clk: clk, freshAt: 1000 * time.Hour}
		d, err := New(Config{Lockstep: true, StartTimeout: 50 * time.Millisecond, Metrics: telemetry.NewRegistry(), Clock: clk},
			Ports{Arm: arm, ArmName: "test arm", Robot: r.robot, Clock: r.arm.Now, Step: r.step})
		if err != nil {
			t.Fatal(err)
		}
		err = runAdvancing(d, clk, 500*time.Microsecond)
		var f *Fault
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
		if arm.writes != 0 || s.SafeStops != 0 || s.Final != Faulted || s.Fault == nil || s.Fault.Kind != "start_stale" {
			t.Fatalf("%d commands, %d safe stops, final %v, summary fault %+v: want nothing commanded, faulted, start_stale", arm.writes, s.SafeStops, s.Final, s.Fault)
		}
	})
}

// A run that ends in a fault says which in its summary (the one-screen text and the JSON
// of robotd run --summary-json); a normal run says none.
func TestSummaryFault(t *testing.T) {
	r := newSimRig(t)
	arm := &frozenArm{Arm: r.arm, after: 100 * time.Millisecond}
	d, err := New(Config{Lockstep: true, Metrics: telemetry.NewRegistry()}, Ports{Arm: arm, Robot: r.robot, Clock: r.arm.Now, Step: r.step})
	if err != nil {
		t.Fatal(err)
	}
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
	d.cfg.Duration = 100 * time.Millisecond
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("", "")
}
