package rosbridge

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/robotd/robotd/internal/rt"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/telemetry"
)

// Config is `robotd sim`'s: the scene served, how, and for how long.
type Config struct {
	// Scene is the MJCF model and tool served (sim.Scene's defaults fill it).
	Scene sim.Scene
	// Server configures the served arm. Run sets its Clock (Lockstep), Epoch and
	// PublishAsync (the stepping thread never waits for a publisher).
	Server ServerConfig
	// Lockstep publishes /clock after every step and stamps with simulated time from
	// ServerConfig's default epoch (1 s); otherwise stamps are the wall clock at start plus
	// simulated time, which the real-time stepping keeps level with the wall clock, as a
	// real robot's stamps are.
	Lockstep bool
	// Period is the stepping period: one physics step and one JointState per period.
	// Required.
	Period time.Duration
	// Cameras are the scene's cameras served over ROS (none when Cameras.Cameras is
	// empty). MasterAddress and Epoch are the Server's.
	Cameras CamerasConfig
	// Task serves the pick-and-place task beside the arm (nil: none).
	Task *TaskConfig
	// Duration stops Run after this much simulated time (0: until its context ends).
	Duration time.Duration
	// Stdout takes the progress lines ("robotd sim: t=..." every 5 s of wall time) and
	// Stderr the warnings (real-time setup refused). Default io.Discard.
	Stdout, Stderr io.Writer
}

// Bridge is `robotd sim`: the lockstep arm served over ROS (Server), its cameras rendered
// from a mirror of the scene on their own goroutine (Cameras, mujoco.Mirror), the task
// (TaskConfig), and Run's real-time stepping loop.
type Bridge struct {
	cfg     Config
	epoch   time.Time
	arm     *mujoco.Arm
	srv     *Server
	task    *taskServer
	mirror  *mujoco.Mirror
	closers []func() // in the order they run: the reverse of construction
}

// New builds the arm of cfg.Scene, connects the Server, the Cameras and the task to the
// master (retrying until ctx ends) and starts the cameras' render goroutine. Close
// releases it all; on an error New has released what it built.
func New(ctx context.Context, cfg Config) (*Bridge, error) {
	if cfg.Period <= 0 {
		return nil, fmt.Errorf("rosbridge: Period %v: want > 0", cfg.Period)
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	cfg.Scene = cfg.Scene.WithDefaults()
	b := &Bridge{cfg: cfg}
	if err := b.start(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// start builds what New returns, recording each part's release in b.closers.
func (b *Bridge) start(ctx context.Context) error {
	var err error
	if b.arm, err = mujoco.NewArm(b.cfg.Scene); err != nil {
		return err
	}
	b.closers = append(b.closers, b.arm.Close)
	// Stamps: in lockstep (/clock) simulated time from 1 s; otherwise the wall clock at
	// start plus simulated time.
	if !b.cfg.Lockstep {
		b.epoch = time.Now()
	}
	scfg := b.cfg.Server
	scfg.Clock, scfg.Epoch, scfg.PublishAsync = b.cfg.Lockstep, b.epoch, true
	if b.srv, err = NewServer(ctx, b.arm, scfg); err != nil {
		return err
	}
	b.closers = append(b.closers, b.srv.Close)
	master, node := b.srv.cfg.MasterAddress, b.srv.cfg.Node
	if b.cfg.Task != nil {
		tc := *b.cfg.Task
		if tc.Node == "" {
			tc.Node = node + "_task"
		}
		if b.task, err = newTaskServer(ctx, b.arm, master, b.epoch, tc); err != nil {
			return err
		}
		b.closers = append(b.closers, b.task.Close)
	}
	if len(b.cfg.Cameras.Cameras) > 0 {
		return b.startCameras(ctx, master, node)
	}
	return nil
}

// startCameras serves the cameras from a mirror of the scene rendered on a goroutine of
// its own, so the joint states keep their rate while OSMesa draws (milliseconds per image).
func (b *Bridge) startCameras(ctx context.Context, master, node string) error {
	cc := b.cfg.Cameras
	cc.MasterAddress, cc.Epoch = master, b.epoch
	if cc.Node == "" {
		cc.Node = node + "_cameras"
	}
	cc = cc.WithDefaults()
	// llvmpipe rasterises in the rendering thread: for images this small (the policy's
	// size) its helper threads only add hand-offs between threads that each wait for a core
	// (with this and the realtime class of Run: render p50 3.8 against 5.2 ms, p99 6 against
	// 46 ms on the loaded machine). $LP_NUM_THREADS, when set, wins.
	if os.Getenv("LP_NUM_THREADS") == "" && cc.Width*cc.Height <= 320*240 {
		os.Setenv("LP_NUM_THREADS", "0")
	}
	renderSim, err := mujoco.Load(b.cfg.Scene.Model)
	if err != nil {
		return err
	}
	b.closers = append(b.closers, renderSim.Close)
	cams, err := NewCameras(ctx, renderSim, cc)
	if err != nil {
		return err
	}
	b.closers = append(b.closers, cams.Close)
	b.mirror = mujoco.NewMirror(b.arm.Sim(), renderSim, []*mujoco.Feed{{Every: cc.Period}})
	b.mirror.Render = func() error { _, err := cams.Publish(); return err }
	mctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = b.mirror.Run(mctx) }()
	b.closers = append(b.closers, func() { stop(); <-done })
	return nil
}

// Close stops the render goroutine and leaves the ROS graph: cameras, task, then the
// server, then frees the scenes.
func (b *Bridge) Close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
	b.closers = nil
}

// Report is what a Run did, for its exit lines.
type Report struct {
	// SimTime is the simulation time at the end.
	SimTime time.Duration
	// Server is the served arm's command counters; Rejected their total.
	Server   ServerStats
	Rejected uint64
	// Pacing is the stepping loop's figures.
	Pacing PacingReport
	// Cameras is the render goroutine's figures ("" without cameras).
	Cameras string
	// Task is the task's counters (nil without a task).
	Task *TaskReport
	// RTRefused says what real-time setup was refused ("" when all was granted).
	RTRefused string
}

// PacingReport is the stepping loop's figures (see pacing).
type PacingReport struct {
	Steps     uint64        // steps taken (one JointState each)
	CatchUps  uint64        // steps that ran more than one period after a stall
	CaughtUp  uint64        // extra periods those steps ran
	Longest   time.Duration // the longest stall caught up
	Skipped   uint64        // stalls over FarBehind skipped (the physics stood still)
	Late      telemetry.Snapshot
	Work      telemetry.Snapshot // step work: physics, task, publish
	FarBehind time.Duration
}

// TaskReport is the task's counters.
type TaskReport struct {
	Episodes, Requests, Duplicates uint64 // episodes started; reset requests taken and ignored as repeats
	LastSeed                       int64
}

// Run steps and publishes in real time until ctx ends or cfg.Duration of simulated time has
// passed (both return nil), or a step fails. The served robot keeps its rate as a real
// robot's controller does: the stepping loop runs on a thread of its own at SCHED_FIFO
// (RTPriority, below robotd run's 80, when permitted), paced by clock_nanosleep; more Ps
// than cores so the publishing goroutines get one. On a loaded machine a Go-timer loop
// left gaps of 30-400 ms in the joint states. The stepping thread ends with Run (its
// goroutine exits locked), and the Go runtime's settings are restored; the other threads
// keep their real-time class. The Report is filled on every return.
func (b *Bridge) Run(ctx context.Context) (Report, error) {
	// The live heap is ~1-2 MiB and the server allocates ~3 MiB/s (a message per step):
	// with the default GOGC that was a collection every 0.5 s, each a stall of 20-170 ms
	// for the stepping thread on loaded cores; with HeapLimit, one about every minute.
	defer rt.TuneRuntime(HeapLimit)()
	type result struct {
		rep Report
		err error
	}
	done := make(chan result)
	go func() {
		rt.LockThread() // never unlocked: the thread ends with the goroutine, SCHED_FIFO with it
		rep, err := b.loop(ctx)
		done <- result{rep, err}
	}()
	r := <-done
	return r.rep, r.err
}

// loop is Run's stepping loop, on its locked thread.
func (b *Bridge) loop(ctx context.Context) (rep Report, err error) {
	if rep.RTRefused = setupRealtime(RTPriority); rep.RTRefused != "" {
		fmt.Fprintf(b.cfg.Stderr, "robotd sim: realtime setup refused (%s); stepping with normal scheduling\n", rep.RTRefused)
	}
	var pace pacing
	defer func() { b.report(&rep, &pace) }()
	period := b.cfg.Period
	next := time.Now()
	if !b.cfg.Lockstep {
		// Setup took a while since the epoch: bring simulated time level with the wall
		// clock (the arm is at rest), so stamps read as a real robot's would.
		lag := time.Since(b.epoch).Truncate(period)
		if err := b.srv.Step(lag); err != nil {
			return rep, fmt.Errorf("sim: %w", err)
		}
		next = b.epoch.Add(lag)
	}
	lastReport := next
	for ctx.Err() == nil {
		rt.SleepUntilWall(next.Add(period))
		t0 := time.Now()
		pace.late.Record(t0.Sub(next.Add(period)))
		if err := b.step(&pace, &next, period); err != nil {
			return rep, err
		}
		pace.work.Record(time.Since(t0))
		if b.cfg.Duration > 0 && b.arm.Now() >= b.cfg.Duration {
			return rep, nil
		}
		if time.Since(lastReport) > 5*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(b.cfg.Stdout, "robotd sim: t=%v, %d commands received, %d rejected\n",
				b.arm.Now().Round(time.Millisecond), b.srv.Received(), b.srv.Rejected())
		}
	}
	return rep, nil
}

// step runs one wake of the loop: the physics over the time due (pacing.due), the task,
// and the cameras' snapshot when one is due.
func (b *Bridge) step(pace *pacing, next *time.Time, period time.Duration) error {
	d, skip := pace.due(next, period)
	if skip > 0 {
		// The physics stood still through the stall; its clock does not lag the wall
		// clock for it (camera and state stamps stay current).
		b.arm.Sim().SetTime(b.arm.Sim().Time() + skip.Seconds())
	}
	if err := b.srv.Step(d); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	if b.task != nil {
		if err := b.task.step(); err != nil {
			return fmt.Errorf("sim: task: %w", err)
		}
	}
	if b.mirror != nil {
		b.mirror.Offer(b.arm.Now())
	}
	return nil
}

// report fills rep with the run's figures.
func (b *Bridge) report(rep *Report, pace *pacing) {
	rep.SimTime, rep.Server, rep.Rejected = b.arm.Now(), b.srv.Stats(), b.srv.Rejected()
	rep.Pacing = PacingReport{Steps: pace.steps, CatchUps: pace.catchUps, CaughtUp: pace.caughtUp, Longest: pace.longest,
		Skipped: pace.skipped, Late: pace.late.Snapshot(), Work: pace.work.Snapshot(), FarBehind: FarBehind}
	if b.mirror != nil {
		rep.Cameras = b.mirror.Report()
	}
	if b.task != nil {
		tr := b.task.report()
		rep.Task = &tr
	}
}

// MaxCatchUp bounds one step's catch-up after a stall of the stepping thread (the physics
// runs that many periods with the last command held, as a robot's does while its state
// publisher stalls); a longer stall is caught up over the next steps.
const MaxCatchUp = 20

// FarBehind is a stall the simulation does not catch up: the physics stands still through
// it and the simulation clock jumps over it. Catching up runs the physics with the last
// command held, as a robot does while its controller stalls; after a whole-machine freeze
// of 0.9 s (measured with other jobs holding both cores) that replayed 0.9 s of a held
// torque and a joint reached 47 rad/s. Letting the clock lag instead made every later
// camera frame look 100 ms old to robotd eval (policy paused until its chunk timeout).
const FarBehind = 100 * time.Millisecond

// pacing keeps Run's simulation clock level with the wall clock: each step advances by the
// whole time due since the previous one (in periods), so that a stall of the stepping
// thread on a loaded machine does not leave the served robot's stamps (and its cameras')
// behind the wall clock for the rest of the run, as dropping the missed periods did. One
// JointState goes out per step.
type pacing struct {
	steps, catchUps, caughtUp, skipped uint64
	longest                            time.Duration
	late, work                         telemetry.Quantiles
}

// due returns how far to step after waking for the period after *next, and how much of a
// long stall to skip (advance the clock without physics), and advances *next.
func (p *pacing) due(next *time.Time, period time.Duration) (step, skip time.Duration) {
	behind := time.Since(*next)
	if behind > FarBehind {
		p.skipped++
		skip = (behind - period).Truncate(period)
		*next = next.Add(skip)
		behind = period
	}
	n := min(max(1, int(behind/period)), MaxCatchUp)
	p.steps++
	if n > 1 {
		p.catchUps++
		p.caughtUp += uint64(n - 1)
		p.longest = max(p.longest, behind)
	}
	d := time.Duration(n) * period
	*next = next.Add(d)
	return d, skip
}

// HeapLimit is Run's Go heap soft limit: the collector runs when the heap reaches it (GOGC
// off).
const HeapLimit = 256 << 20

// RTPriority is the stepping thread's SCHED_FIFO priority: below robotd run's control
// loop (80 by default), which must win when both share a machine.
const RTPriority = 70

// setupRealtime sets up the calling (locked) thread for the stepping loop: timer slack 1 ns
// and SCHED_FIFO at prio. It returns what was refused ("" when all was granted).
func setupRealtime(prio int) string {
	var refused []string
	if err := rt.SetTimerSlack(time.Nanosecond); err != nil {
		refused = append(refused, "timer slack: "+err.Error())
	}
	if err := rt.SetFIFO(prio); err != nil {
		refused = append(refused, fmt.Sprintf("SCHED_FIFO %d: %v", prio, err))
	}
	// The other threads (the cameras' renderer, goroslib's publishers) are the robot's
	// and its cameras' own electronics: SCHED_RR at the lowest realtime priority, below
	// the stepping thread and robotd run's loop, above every normal thread. At nice -10
	// behind cores loaded by other jobs they still waited up to 240 ms for a core (renders
	// p99 46 ms, 165 joint states dropped in a minute); at SCHED_RR 1 renders took p99 6 ms
	// and none was dropped. They use about a third of a core. Refused: nice -10.
	if err := rt.RoundRobinOtherThreads(otherRR); err != nil {
		refused = append(refused, fmt.Sprintf("SCHED_RR %d for the other threads: %v", otherRR, err))
		if err := rt.ReniceOtherThreads(otherNice); err != nil {
			refused = append(refused, fmt.Sprintf("nice %d for the other threads: %v", otherNice, err))
		}
	}
	return strings.Join(refused, "; ")
}

// otherRR is the SCHED_RR priority of Run's threads other than the stepping one, and
// otherNice their nice value when realtime scheduling is refused.
const (
	otherRR   = 1
	otherNice = -10
)
