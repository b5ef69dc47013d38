package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/clock"
	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/telemetry"
)

// State is the daemon's state machine:
//
//	idle -> homing -> running -> stopping -> idle
//	any  -> faulted (safe stop)
type State int32

const (
	Idle State = iota
	Homing
	Running
	Stopping
	Faulted
)

var stateNames = [...]string{"idle", "homing", "running", "stopping", "faulted"}

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("state(%d)", int32(s))
	}
	return stateNames[s]
}

// Config configures a Daemon. Zero fields take the defaults documented on each.
type Config struct {
	// Period is the control period. Default 1 ms.
	Period time.Duration
	// Lockstep runs the loop as fast as the machine allows, advancing Ports.Step by one
	// period per tick (the embedded simulator); the control clock is then simulated time
	// and policy inference is modelled as taking Policy.LockstepLatency. Otherwise the
	// loop is paced by CLOCK_MONOTONIC (realtime).
	Lockstep bool
	// Servo configures the controllers and the safety layer.
	Servo ServoConfig
	// Home is the joint configuration reached (joint impedance) before running; nil holds
	// the configuration at start.
	Home []float64
	// HomeTolerance (rad, max over joints). Default 0.02.
	HomeTolerance float64
	// HomeTimeout faults the run when homing has not converged. Default 10 s.
	HomeTimeout time.Duration
	// StartTimeout bounds the wait for a fresh joint state before the arm is taken over
	// (the arm's ReadState succeeds: a driver reports a state older than its stale limit
	// as an error). robotd run sets it to the ROS arm's connect_timeout. Default 10 s.
	StartTimeout time.Duration
	// StopRamp is how long the pose is held after a stop request before the release.
	// Default 500 ms.
	StopRamp time.Duration
	// BrakeTimeout bounds a safe stop's braking (joint damping from fresh states, or the
	// ramp to the hold command while none arrive) before the release. Default 1 s.
	BrakeTimeout time.Duration
	// FlushTimeout bounds the wait, after the run, for the arm's driver to confirm it sent
	// the last command (drivers with a Flush method: ROS). Default 1 s.
	FlushTimeout time.Duration
	// StateStale: no new joint state for this long (control clock) is a fault: the arm
	// is put in its safe stop. Default 100 ms: against a rospy publisher at 1 kHz on a
	// loaded 2-core machine the publisher itself pauses up to ~30 ms, and 5 ms and 20 ms
	// tripped in most runs; drivers/ros's own receive path delivers p99.9 within 1-5 ms
	// (BENCHMARKS.md, "ROS joint state receive latency"), and ten 30 s runs beside a busy
	// process saw at most 29 ms without a new state; but a full robotd run (policy,
	// 640x480 camera) against the independent rospy arm saw 51 ms once in about 33 runs
	// with the arm's own publisher never pausing over 7.4 ms, so 50 ms is not enough
	// margin here. A publisher that stops is caught within the limit plus a tick
	// (drivers/ros TestStaleOnFrozenPublisher).
	StateStale time.Duration
	// RTPriority is the SCHED_FIFO priority asked for in realtime mode (0: none).
	RTPriority int
	// Duration ends the run (gracefully) after this much control-clock time; 0: never.
	Duration time.Duration
	// Logger receives transitions and faults (logged off the loop). Default slog.Default().
	Logger *slog.Logger
	// Metrics is where the daemon's metrics are registered. Default: a new registry.
	Metrics *telemetry.Registry
	// Clock is the time of the daemon's waits and measurements: the wait for a fresh
	// state at start (StartTimeout, retried every 500 us), the default control clock
	// (Ports.Clock) and the policy's inference time. The realtime loop's pacing is not on
	// it: it sleeps to CLOCK_MONOTONIC deadlines (clock_nanosleep), and its lateness and
	// tick work times are measured there. Default clock.Real.
	Clock clock.Clock
}

// WithDefaults returns the config with its zero fields filled (launch shows a launch
// file's effective values with them).
func (c Config) WithDefaults() Config {
	c.defaults()
	return c
}

// The defaults of PolicyPorts' watchdogs and lockstep latency (documented on its fields).
const (
	DefaultMaxSkew         = 50 * time.Millisecond
	DefaultLockstepLatency = 20 * time.Millisecond
	DefaultMaxFailures     = 3
	DefaultChunkTimeout    = 5 * time.Second
)

func (c *Config) defaults() {
	if c.Period == 0 {
		c.Period = time.Millisecond
	}
	if c.HomeTolerance == 0 {
		c.HomeTolerance = 0.02
	}
	if c.HomeTimeout == 0 {
		c.HomeTimeout = 10 * time.Second
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 10 * time.Second
	}
	if c.StopRamp == 0 {
		c.StopRamp = 500 * time.Millisecond
	}
	if c.BrakeTimeout == 0 {
		c.BrakeTimeout = time.Second
	}
	if c.FlushTimeout == 0 {
		c.FlushTimeout = time.Second
	}
	if c.StateStale == 0 {
		c.StateStale = drivers.DefaultStateStale
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = telemetry.NewRegistry()
	}
	if c.Clock == nil {
		c.Clock = clock.Real
	}
}

// Ports are what the daemon drives. It never knows whether the arm is simulated.
type Ports struct {
	Arm   drivers.Arm
	Robot *control.Robot
	// ArmName names the arm in errors (e.g. "arm.ros on /joint_states"). Default "the arm".
	ArmName string
	// Clock is the control clock: simulated time for the embedded simulator, a monotonic
	// clock otherwise. Default: the time on Config.Clock since New.
	Clock func() time.Duration
	// Step advances the embedded simulator by d after each tick's command (and renders
	// the cameras that are due). nil for arms that move on their own.
	Step func(d time.Duration) error
	// Policy, when set, runs a policy; without it the arm holds its pose after homing.
	Policy *PolicyPorts
	// Source, when set (and Policy is not), drives the arm while running: a scripted
	// expert or a teleoperation device.
	Source Source
	// EndWhen, when set, is asked at every running tick whether the run (an episode)
	// is over, e.g. the task succeeded; it must not block or allocate.
	EndWhen func(now time.Duration) bool
	// Recorder, when set, receives the arm's state and action at its period while
	// running (robotd record).
	Recorder Recorder
	// Status, when set, receives the setpoint and the state machine's mode (ROS topics).
	Status StatusSink
	// Observer, when set, watches every tick, transition, chunk and steering step (the
	// live view and the MCAP log: package viz).
	Observer Observer
}

// StatusSink publishes the daemon's state outside the process. Its methods are called from
// the control loop: they must not block or allocate.
type StatusSink interface {
	SetSetpoint(pos mgl64.Vec3, rot mgl64.Quat, t time.Duration)
	SetMode(mode string)
}

// Fault is why a run ended in the safe stop (or, for start_stale, before the arm was
// taken over). docs/daemon.md has the table of faults: what robotd does for each.
type Fault struct {
	// Kind is one of state_stale, start_stale, home_timeout, panic, stop_now,
	// step_error, policy, release (the arm's driver did not confirm the last command).
	Kind string
	Err  error
}

func (f *Fault) Error() string { return "daemon: fault: " + f.Kind + ": " + f.Err.Error() }
func (f *Fault) Unwrap() error { return f.Err }

// event is a state transition or a note reported by the loops and logged by another
// goroutine (logEvents), since logging allocates and may block.
type event struct {
	at       time.Duration // control-clock time
	from, to State         // a transition (note false), logged with why
	why      string        // the transition's reason, or the note's message
	note     bool          // a note: why at level, with args
	level    slog.Level
	args     []any // the note's attributes, as slog key-value pairs
}

// Daemon runs the control loop and, with a policy, the policy loop.
type Daemon struct {
	cfg   Config
	ports Ports
	servo *Servo
	log   *slog.Logger
	m     *metrics

	state    atomic.Int32
	running  atomic.Bool
	stopReq  atomic.Int32 // 0 none, 1 graceful, 2 immediate (safe stop)
	stopWhy  atomic.Pointer[string]
	faultReq atomic.Pointer[Fault] // a fault raised outside the control loop (a panic)
	braking  *Fault                // the fault whose safe stop is braking the arm (control loop)
	settling bool                  // a graceful stop's braking after the hold (control loop)
	// The release ending every run that commanded the arm (control loop): the run's
	// result, and how many ticks the hold command has been written.
	releasing bool
	endErr    error
	held      int
	faultAt   time.Duration // when the safe stop began, after the run's start
	events    chan event
	gripper   drivers.Gripper
	homePose  control.Pose // the tool pose at Config.Home
	pol       *policyLoop
	rec       *recordTap
	labeler   Labeler // ports.Source as a Labeler (nil: record the target in force)
	gripCmd   float64 // the last gripper opening commanded (NaN: none)
	start     time.Duration
	lastSeq   uint64
	lastNew   time.Duration // control-clock time of the newest new state
	phaseAt   time.Duration // when the current state began
	summary   Summary
	obsTick   TickRecord // handed to Ports.Observer (control loop)
}

// New checks the ports against each other and builds the servo and the policy loop.
func New(cfg Config, p Ports) (*Daemon, error) {
	cfg.defaults()
	if p.Arm == nil || p.Robot == nil {
		return nil, errors.New("daemon: an arm and its robot model are required")
	}
	if cfg.Lockstep && p.Step == nil {
		return nil, errors.New("daemon: lockstep needs a simulator to step (Ports.Step)")
	}
	if cfg.StateStale < cfg.Period {
		return nil, fmt.Errorf("daemon: state_stale %v is shorter than the control period %v", cfg.StateStale, cfg.Period)
	}
	if cfg.Home != nil && len(cfg.Home) != p.Robot.DoF() {
		return nil, fmt.Errorf("daemon: home has %d joint values, the arm has %d joints", len(cfg.Home), p.Robot.DoF())
	}
	servo, err := NewServo(p.Arm, p.Robot, cfg.Servo)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	if cfg.Home != nil && !servo.safety.JointTarget(make([]float64, len(cfg.Home)), cfg.Home) {
		return nil, fmt.Errorf("daemon: home %v is outside the joint limits (or not finite)", cfg.Home)
	}
	if p.Clock == nil {
		clk := cfg.Clock
		t0 := clk.Now()
		p.Clock = func() time.Duration { return clk.Since(t0) }
	}
	if p.ArmName == "" {
		p.ArmName = "the arm"
	}
	if p.Policy != nil && p.Source != nil {
		return nil, errors.New("daemon: both a policy and a scripted source: choose one")
	}
	d := &Daemon{cfg: cfg, ports: p, servo: servo, log: cfg.Logger, events: make(chan event, 64), gripCmd: math.NaN()}
	if p.Recorder != nil {
		if p.Recorder.Period() <= 0 {
			return nil, fmt.Errorf("daemon: recorder period %v", p.Recorder.Period())
		}
		d.rec = newRecordTap(p.Recorder, p.Robot.DoF())
	}
	if p.Policy == nil {
		d.labeler, _ = p.Source.(Labeler)
	}
	d.m = newMetrics(cfg.Metrics, cfg.Period)
	d.gripper, _ = drivers.GripperOf(p.Arm)
	if cfg.Home != nil {
		kin := p.Robot.NewKinematics()
		p.Robot.Forward(kin, cfg.Home)
		d.homePose = kin.Pose()
	}
	if p.Policy != nil {
		if d.pol, err = newPolicyLoop(d, *p.Policy); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// State is the state machine's current state (any goroutine).
func (d *Daemon) State() State { return State(d.state.Load()) }

// Ready reports whether the policy (or the hold) is running: /readyz.
func (d *Daemon) Ready() (bool, string) {
	s := d.State()
	return s == Running, s.String()
}

// Stop asks the loop to ramp to a hold and end (graceful: Run returns nil). With immediate
// it commands the safe stop at once instead (Run returns a stop_now fault). Graceful
// requests never escalate by themselves: a caller that wants "a second SIGINT stops at
// once" passes immediate for the second one.
func (d *Daemon) Stop(reason string, immediate bool) {
	if immediate {
		d.stopWhy.Store(&reason)
		d.stopReq.Store(2)
		return
	}
	d.stopWhy.CompareAndSwap(nil, &reason) // the first reason is the one reported
	d.stopReq.CompareAndSwap(0, 1)
}

// raise reports a fault from another goroutine; the control loop commands the safe stop
// at its next tick and ends the run with it.
func (d *Daemon) raise(f *Fault) { d.faultReq.CompareAndSwap(nil, f) }

// Metrics is the registry the daemon's metrics live in.
func (d *Daemon) Metrics() *telemetry.Registry { return d.cfg.Metrics }

// Servo exposes the servo (tests read the tool pose between runs).
func (d *Daemon) Servo() *Servo { return d.servo }

// Run runs the loops until the run ends: Duration elapsed or a stop request (nil), ctx
// cancelled (treated as a graceful stop request), or a fault (a *Fault, after the safe
// stop). A panic in any loop commands the safe stop and is returned as a fault.
//
// Run may be called again after it returned (one call per episode): each run starts
// from idle with no stop request pending; metrics and the summary's counters carry over.
func (d *Daemon) Run(ctx context.Context) (err error) {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("daemon: Run while already running")
	}
	defer d.running.Store(false)
	d.stopReq.Store(0)
	d.stopWhy.Store(nil)
	d.faultReq.Store(nil)
	d.braking, d.settling, d.releasing, d.endErr, d.held, d.faultAt = nil, false, false, nil, 0, 0
	d.state.Store(int32(Idle))
	if d.pol != nil {
		d.pol.reset()
	}
	var wg sync.WaitGroup
	logCtx, stopLog := context.WithCancel(context.Background())
	wg.Add(1)
	go func() { defer wg.Done(); d.logEvents(logCtx) }()
	defer func() {
		stopLog()
		wg.Wait()
	}()

	polCtx, stopPol := context.WithCancel(ctx)
	defer stopPol()
	if d.pol != nil {
		wg.Add(1)
		go func() { defer wg.Done(); d.pol.run(polCtx) }()
	}
	stopOnCtx := context.AfterFunc(ctx, func() { d.Stop("context cancelled", false) })
	defer stopOnCtx()

	ctl := make(chan error, 1)
	go func() { ctl <- d.controlLoop() }()
	err = <-ctl
	stopPol()
	if ferr := d.flush(); ferr != nil && err == nil {
		err = ferr
	}
	d.summary.Fault = nil
	if f := (*Fault)(nil); errors.As(err, &f) {
		d.summary.Fault = &FaultReport{Kind: f.Kind, Message: f.Err.Error(), At: d.faultAt.Seconds()}
	}
	return err
}

// controlLoop runs on its own locked OS thread until the run ends.
func (d *Daemon) controlLoop() (err error) {
	if !d.cfg.Lockstep {
		rt := setupRealtime(d.cfg.RTPriority)
		defer runtime.UnlockOSThread()
		if rt.Refused != "" {
			d.log.Warn("control loop: realtime setup partly refused; running with normal scheduling", "refused", rt.Refused,
				"sched_fifo", rt.FIFO, "mlockall", rt.MemLocked, "timer_slack_1ns", rt.Slack)
		} else {
			d.log.Info("control loop: realtime", "sched_fifo", rt.FIFO, "mlockall", rt.MemLocked, "other_threads_nice", rt.Nice)
		}
		d.summary.RT = rt
	}
	if done, err := d.startServo(); done {
		d.finishSummary()
		return err
	}
	if d.cfg.Home != nil {
		d.servo.SetJointTarget(d.cfg.Home)
	}
	d.start = d.ports.Clock()
	d.lastNew, d.lastSeq = d.start, d.servo.State().Seq
	d.transition(Homing, "start")

	period := d.cfg.Period
	dt := period.Seconds()
	// The realtime pacing, its lateness and the tick's work time are on CLOCK_MONOTONIC,
	// the clock clock_nanosleep sleeps to (rt.go), not on Config.Clock: they measure the
	// OS thread's schedule, which no other clock can stand in for.
	next := monoNow()
	var prevWake time.Duration
	for {
		// Wait for the tick.
		var late time.Duration
		if !d.cfg.Lockstep {
			next += period
			sleepUntil(next)
			wake := monoNow()
			late = wake - next
			if prevWake != 0 {
				d.m.period(wake - prevWake)
			}
			prevWake = wake
			if late > period {
				// Far behind (the process was stopped, or starved): skip the missed
				// deadlines instead of running a burst of late ticks.
				next = wake
			}
		}
		t0 := monoNow()
		now := d.ports.Clock()

		if done, err := d.safeTick(now, dt); done {
			d.finishSummary()
			return err
		}
		if d.ports.Step != nil {
			if err := d.ports.Step(period); err != nil {
				// The simulator cannot go on: one step of the release is all that can
				// still be commanded.
				d.safeStop(false)
				d.transition(Faulted, "simulator step failed")
				d.finishSummary()
				return &Fault{Kind: "step_error", Err: err}
			}
		}
		if d.ports.Observer != nil {
			d.observe(now)
		}
		d.m.tick(late, monoNow()-t0, d.cfg.Lockstep)
	}
}

// startServo takes over the arm from a fresh joint state. Under load the newest state can
// be hundreds of milliseconds old when the run starts (measured 69-420 ms over ROS):
// starting from it would home from an old pose, or trip the state watchdog at once. So
// Servo.Start (whose read fails while the arm's newest state is older than the driver's
// stale limit, or none has arrived) is retried every 500 us (on Config.Clock) until it
// succeeds or Config.StartTimeout passes: then the run ends with a start_stale fault,
// nothing commanded. A stop request during the wait ends the run there (graceful: nil).
// done says the run is over.
func (d *Daemon) startServo() (done bool, err error) {
	clk := d.cfg.Clock
	t0 := clk.Now()
	deadline := t0 + d.cfg.StartTimeout
	tries := 0
	for {
		err := d.servo.Start(ModeJoint)
		tries++
		if err == nil {
			if tries > 1 {
				d.log.Info("control loop: waited for a fresh joint state", "arm", d.ports.ArmName,
					"waited", clk.Since(t0).Round(time.Microsecond), "reads", tries)
			}
			return false, nil
		}
		if f := d.faultReq.Load(); f != nil {
			return true, f
		}
		switch d.stopReq.Load() {
		case 2:
			d.transition(Faulted, "immediate stop before start: "+*d.stopWhy.Load())
			return true, &Fault{Kind: "stop_now", Err: errors.New(*d.stopWhy.Load())}
		case 1:
			d.log.Info("control loop: stop requested while waiting for a fresh joint state", "why", *d.stopWhy.Load())
			return true, nil
		}
		if clk.Now() >= deadline {
			d.transition(Faulted, "no fresh joint state")
			return true, &Fault{Kind: "start_stale", Err: fmt.Errorf("%s: no joint state fresher than %v within %v (%d reads): %w",
				d.ports.ArmName, d.cfg.StateStale, d.cfg.StartTimeout, tries, err)}
		}
		clk.Sleep(startRetry)
	}
}

// startRetry is startServo's wait between reads.
const startRetry = 500 * time.Microsecond

// safeTick is tick with a panic turned into a fault, which then ends the run as any
// other does: braking (damping) while the state is fresh, then the release. A panic while
// braking goes straight to the release; one during the release ends the run at once,
// after one more try of a release step.
func (d *Daemon) safeTick(now time.Duration, dt float64) (done bool, err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		f := &Fault{Kind: "panic", Err: fmt.Errorf("control loop: %v\n%s", r, debug.Stack())}
		if d.endErr != nil || d.braking != nil {
			f = &Fault{Kind: "panic", Err: fmt.Errorf("%w; then, while stopping: %v", d.faultOf(), r)}
		}
		d.transition(Faulted, "panic in the control loop")
		switch {
		case d.releasing:
			d.releasing = false
			func() {
				defer func() { _ = recover() }()
				_, _ = d.servo.Release(dt)
			}()
			done, err = true, f
		case d.braking != nil || d.settling:
			d.braking, d.settling = nil, false
			done, err = d.beginRelease(f)
		default:
			done, err = d.beginBrake(f, "panic in the control loop", true)
		}
	}()
	return d.tick(now, dt)
}

// faultOf is the fault the run is ending with (braking or releasing), or nil.
func (d *Daemon) faultOf() error {
	if d.braking != nil {
		return d.braking
	}
	return d.endErr
}

// tick runs one control period at control-clock time now. done ends the loop.
func (d *Daemon) tick(now time.Duration, dt float64) (done bool, err error) {
	if d.releasing {
		return d.releaseTick(dt)
	}
	if d.braking != nil || d.settling {
		return d.brake(now)
	}
	if f := d.faultReq.Load(); f != nil {
		return d.beginBrake(f, f.Kind, true)
	}
	switch d.stopReq.Load() {
	case 2:
		return d.beginBrake(&Fault{Kind: "stop_now", Err: errors.New(*d.stopWhy.Load())}, "immediate stop: "+*d.stopWhy.Load(), true)
	case 1:
		if s := d.State(); s != Stopping && s != Idle {
			d.beginStop(now, *d.stopWhy.Load())
		}
	}
	if d.cfg.Duration > 0 && now-d.start >= d.cfg.Duration && d.State() != Stopping {
		d.beginStop(now, "duration reached")
	}

	// Watchdog: joint state.
	st := d.servo.State()
	if err := d.servo.Read(); err != nil {
		d.m.armReadErrors.Inc()
	}
	if st.Seq != d.lastSeq {
		d.lastSeq, d.lastNew = st.Seq, now
		d.m.speed(st.DQ)
	} else if now-d.lastNew > d.cfg.StateStale {
		d.m.watchdog(wdState)
		// Braking goes on with the states that still come (a delayed publisher); while
		// none does, the command ramps to the hold command.
		return d.beginBrake(&Fault{Kind: "state_stale", Err: fmt.Errorf("no new joint state for %v (limit %v)", now-d.lastNew, d.cfg.StateStale)},
			"joint state stale", false)
	}

	switch d.State() {
	case Homing:
		if d.homed() {
			d.servo.SetMode(ModeCartesian)
			d.servo.SetCartesianTarget(d.servo.Tool())
			d.servo.SetNullspaceTarget(st.Q)
			d.transition(Running, "home reached")
			d.phaseAt = now
			if d.pol != nil {
				d.pol.begin(now)
			}
			if d.rec != nil {
				d.rec.begin(now)
			}
		} else if now-d.phaseAt > d.cfg.HomeTimeout {
			return d.beginBrake(&Fault{Kind: "home_timeout", Err: fmt.Errorf("home not reached within %v (tolerance %v rad)", d.cfg.HomeTimeout, d.cfg.HomeTolerance)}, "homing timed out", true)
		}
	case Running:
		if d.pol != nil {
			if err := d.pol.control(now); err != nil {
				return d.beginBrake(&Fault{Kind: "policy", Err: err}, "policy failed", true)
			}
		} else if d.ports.Source != nil {
			tgt, w, done := d.ports.Source.Act(now, st, d.servo.Tool())
			d.servo.SetCartesianTarget(tgt)
			d.setGripper(w)
			if done {
				d.beginStop(now, "source done")
			}
		}
		if d.rec != nil && d.State() == Running {
			d.recordTick(now)
		}
		if d.ports.EndWhen != nil && d.State() == Running && d.ports.EndWhen(now) {
			d.beginStop(now, "episode over")
		}
	case Stopping:
		if now-d.phaseAt >= d.cfg.StopRamp {
			// The hold may leave the arm settling: it is braked (damping, as in a safe
			// stop) until still before the release, else an effort controller that
			// repeats the hold command would let it coast (an independent arm measured
			// 0.013-0.024 rad/s after robotd exited).
			if d.still() {
				d.transition(Idle, "stopped")
				return d.beginRelease(nil)
			}
			d.settling, d.phaseAt = true, now
			return d.brake(now)
		}
	}

	d.servo.Compute(dt)
	d.write()
	if d.ports.Status != nil {
		tgt := d.servo.cart.Target()
		d.ports.Status.SetSetpoint(tgt.Pos, tgt.Rot, now)
	}
	return false, nil
}

// write sends the computed torques, counting refusals.
func (d *Daemon) write() {
	if err := d.servo.Write(); err != nil {
		d.m.armWriteErrors.Inc()
	}
}

// homed reports whether the joints are at home (or there is no home) and nearly still.
func (d *Daemon) homed() bool {
	if d.cfg.Home == nil {
		return true
	}
	st := d.servo.State()
	for i := range st.Q {
		if math.Abs(st.DQ[i]) > 0.05 {
			return false
		}
	}
	if d.servo.Command() == drivers.CommandPose {
		// The robot's own Cartesian controller chooses its nullspace posture: home is
		// reached when the tool is at home's tool pose.
		tool := d.servo.Tool()
		return tool.Pos.Sub(d.homePose.Pos).Len() < homePoseTolerance &&
			control.OrientationError(tool.Rot, d.homePose.Rot) < d.cfg.HomeTolerance
	}
	for i, q := range st.Q {
		if math.Abs(q-d.cfg.Home[i]) > d.cfg.HomeTolerance {
			return false
		}
	}
	return true
}

// homePoseTolerance (m) is how close the tool of a pose-commanded arm must come to home's
// tool pose.
const homePoseTolerance = 0.005

// beginStop ramps to a hold at the current pose.
//
// The hold is in joint space: every joint is held stiffly where it is, including the
// Cartesian controller's nullspace, which would otherwise drift.
func (d *Daemon) beginStop(now time.Duration, why string) {
	d.servo.SetMode(ModeJoint)
	d.servo.SetJointTarget(d.servo.State().Q)
	if d.pol != nil {
		d.pol.pause()
	}
	d.phaseAt = now
	d.transition(Stopping, why)
}

// stillSpeed (rad/s, max over joints) ends a safe stop's braking: the arm is at rest.
const stillSpeed = 0.0005

// holdRepeat is how many ticks the hold command is written once the release reached it,
// so that a lost message does not leave the previous one on the arm.
const holdRepeat = 20

// beginBrake commands the safe stop for fault f: joint damping (plus gravity when the arm
// does not compensate it) when the state is fresh, else the ramp to the hold command; brake
// runs the following ticks until the arm is at rest, then the release ends the run with f.
func (d *Daemon) beginBrake(f *Fault, why string, fresh bool) (done bool, err error) {
	d.faultAt = d.ports.Clock() - d.start
	d.safeStop(fresh)
	d.transition(Faulted, why)
	d.braking = f
	return false, nil
}

// brake is a tick of a safe stop's braking (and of a graceful stop's, after the hold): damping from each fresh state (a single
// damping torque would otherwise stay on arms whose controller repeats the last command,
// ros_control's effort controllers among them, and push the arm on after robotd is gone),
// and while no fresh state arrives (the state_stale fault, a delayed or vanished
// publisher) the ramp to the hold command, nothing computed from an old state. Braking
// ends when a fresh state shows the arm still, or after Config.BrakeTimeout; the release
// follows.
func (d *Daemon) brake(now time.Duration) (done bool, err error) {
	st := d.servo.State()
	if err := d.servo.Read(); err != nil {
		d.m.armReadErrors.Inc()
	}
	if st.Seq != d.lastSeq {
		d.lastSeq, d.lastNew = st.Seq, now
		d.m.speed(st.DQ)
	}
	fresh := now-d.lastNew <= d.cfg.StateStale
	if (fresh && d.still()) || now-d.phaseAt >= d.cfg.BrakeTimeout {
		f := d.braking
		d.braking = nil
		if d.settling { // a graceful stop
			d.settling = false
			d.transition(Idle, "stopped")
			return d.beginRelease(nil)
		}
		return d.beginRelease(f)
	}
	if err := d.servo.SafeStop(fresh, d.cfg.Period.Seconds()); err != nil {
		d.m.armWriteErrors.Inc()
	}
	return false, nil
}

// still reports whether the last state read shows every joint under stillSpeed.
func (d *Daemon) still() bool {
	for _, v := range d.servo.State().DQ {
		if !(math.Abs(v) < stillSpeed) {
			return false
		}
	}
	return true
}

// beginRelease starts the release that ends every run which commanded the arm, with the
// run's result err: the command ramps at the torque-rate limit to the hold command (zero
// effort for an arm that compensates gravity, gravity torques otherwise; never a wall's
// spring or damping, which an effort controller that repeats its last command would keep
// applying to an arm no longer measured), which is then written holdRepeat times. Pose and
// joint-target arms keep their last command, which their own controllers hold.
func (d *Daemon) beginRelease(err error) (done bool, _ error) {
	d.releasing, d.endErr, d.held = true, err, 0
	return d.releaseTick(d.cfg.Period.Seconds())
}

// releaseTick is a tick of the release.
func (d *Daemon) releaseTick(dt float64) (done bool, err error) {
	if err := d.servo.Read(); err != nil {
		d.m.armReadErrors.Inc()
	}
	at, werr := d.servo.Release(dt)
	if werr != nil {
		d.m.armWriteErrors.Inc()
	}
	if at {
		d.held++
	}
	if d.held < holdRepeat && d.servo.Command() == drivers.CommandTorque {
		return false, nil
	}
	d.releasing = false
	return true, d.endErr
}

// safeStop commands one tick of the arm's safe stop (Servo.SafeStop) and counts it.
func (d *Daemon) safeStop(fresh bool) {
	if err := d.servo.SafeStop(fresh, d.cfg.Period.Seconds()); err != nil {
		d.m.armWriteErrors.Inc()
	}
	d.summary.SafeStops++
}

// flusher is a driver that can confirm its last command left the process (the ROS arm:
// handed to the publisher).
type flusher interface {
	Flush(ctx context.Context) error
}

// flush waits, up to Config.FlushTimeout, for the arm's driver to confirm the run's last
// command (the hold command) was sent. It fails loudly: the arm may keep an older command.
func (d *Daemon) flush() error {
	fl, ok := d.ports.Arm.(flusher)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.FlushTimeout)
	defer cancel()
	if err := fl.Flush(ctx); err != nil {
		d.log.Error("the arm's driver did not confirm the last command (the hold command) within the flush timeout: the arm may still apply an older one",
			"arm", d.ports.ArmName, "timeout", d.cfg.FlushTimeout, "err", err)
		d.summary.Unconfirmed = true
		return &Fault{Kind: "release", Err: fmt.Errorf("%s: last command not confirmed within %v: %w", d.ports.ArmName, d.cfg.FlushTimeout, err)}
	}
	return nil
}

// transition records a state change and hands it to the logger goroutine.
func (d *Daemon) transition(to State, why string) {
	from := State(d.state.Swap(int32(to)))
	if from == to {
		return
	}
	now := d.ports.Clock()
	d.phaseAt = now
	d.m.state.Set(float64(to))
	if d.ports.Status != nil {
		d.ports.Status.SetMode(to.String())
	}
	if d.ports.Observer != nil {
		d.ports.Observer.Transition(now, from, to, why)
	}
	select {
	case d.events <- event{at: now, from: from, to: to, why: why}:
	default:
	}
}

// note hands a message to the logger goroutine, logged at level with args (slog
// key-value pairs) and the control-clock time. Rare events only: it allocates.
func (d *Daemon) note(level slog.Level, msg string, args ...any) {
	select {
	case d.events <- event{at: d.ports.Clock(), note: true, why: msg, level: level, args: args}:
	default:
	}
}

// logEvents logs the loops' events until ctx ends, then those still queued.
func (d *Daemon) logEvents(ctx context.Context) {
	for {
		select {
		case e := <-d.events:
			d.logEvent(e)
		case <-ctx.Done():
			d.drainEvents()
			return
		}
	}
}

// drainEvents logs the events queued, each as logEvent does, without waiting for more.
func (d *Daemon) drainEvents() {
	for {
		select {
		case e := <-d.events:
			d.logEvent(e)
		default:
			return
		}
	}
}

// logEvent logs a note at its level with its attributes, and a transition as "state" with
// from, to and why: at Error into Faulted, at Info otherwise. Both carry t, the
// control-clock time.
func (d *Daemon) logEvent(e event) {
	t := e.at.Round(time.Microsecond)
	if e.note {
		d.log.Log(context.Background(), e.level, e.why, append(e.args, "t", t)...)
		return
	}
	lvl := slog.LevelInfo
	if e.to == Faulted {
		lvl = slog.LevelError
	}
	d.log.Log(context.Background(), lvl, "state", "from", e.from.String(), "to", e.to.String(), "why", e.why, "t", t)
}
