package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/system"
	"github.com/robotd/robotd/telemetry"
)

// simCmd serves the MuJoCo scene over ROS as a ros_control robot would (the launch file's
// sim_server section): joint_states at rate_hz, an effort command subscription, camera
// image and camera_info topics; /clock in lockstep mode. robotd run in ROS mode then drives
// it with no code path that knows it is a simulation.
func simCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	path := fs.String("launch", "launch/sim_ros.yaml", "launch file with a sim_server section")
	duration := fs.Duration("duration", 0, "stop after this much simulated time (0: until SIGINT/SIGTERM)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	f, err := launch.Load(*path)
	if err != nil {
		return err
	}
	ss := f.SimServer
	if ss == nil {
		return fmt.Errorf("%s: no sim_server section: nothing to serve", f.Path())
	}
	scene := sim.Scene{Model: f.Arm.Model, Tool: f.Arm.Tool}.WithDefaults()
	arm, err := mujoco.NewArm(scene)
	if err != nil {
		return err
	}
	defer arm.Close()
	// Stamps: in lockstep (/clock) simulated time from 1 s; otherwise the wall clock at
	// start plus simulated time, which the real-time stepping keeps next to the wall clock,
	// as a real robot's stamps are.
	var epoch time.Time
	if !ss.Lockstep {
		epoch = time.Now()
	}
	srv, err := ros.NewSimServer(ctx, arm, ros.SimServerConfig{
		MasterAddress: ss.Master, Node: ss.Node, StateTopic: ss.StateTopic, Command: ss.Command, Controller: ss.Controller,
		Gripper: system.ROSGripper(ss.Gripper), Clock: ss.Lockstep, Epoch: epoch, PublishAsync: true,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	var tk *simTask
	if f.Task != nil {
		if tk, err = newSimTask(ctx, f, arm, ss.Master, epoch); err != nil {
			return err
		}
		defer tk.Close()
	}
	var mirror *mujoco.Mirror
	if len(ss.Cameras) > 0 {
		c0 := ss.Cameras[0]
		cfg := ros.SimCamerasConfig{MasterAddress: ss.Master, Node: ss.Node + "_cameras", Epoch: epoch,
			Width: c0.Width, Height: c0.Height, Period: time.Duration(float64(time.Second) / c0.RateHz)}
		for _, c := range ss.Cameras {
			if c.Width != c0.Width || c.Height != c0.Height || c.RateHz != c0.RateHz {
				return fmt.Errorf("%s: sim_server.cameras: %s is %dx%d at %v Hz, %s %dx%d at %v Hz: served cameras share one size and rate",
					f.Path(), c.Name, c.Width, c.Height, c.RateHz, c0.Name, c0.Width, c0.Height, c0.RateHz)
			}
			cfg.Cameras = append(cfg.Cameras, ros.SimCameraConfig{Camera: c.SimCamera, Name: c.Name, Namespace: ss.CameraPrefix + "/" + c.Name})
		}
		// Images render from a mirror of the scene on their own goroutine, so the
		// joint states keep their rate while OSMesa draws (milliseconds per image).
		// llvmpipe rasterises in the rendering thread: for images this small (the
		// policy's size) its helper threads only add hand-offs between threads that
		// each wait for a core (with this and the realtime class below: render p50 3.8
		// against 5.2 ms, p99 6 against 46 ms on the loaded machine). $LP_NUM_THREADS,
		// when set, wins.
		if os.Getenv("LP_NUM_THREADS") == "" && c0.Width*c0.Height <= 320*240 {
			os.Setenv("LP_NUM_THREADS", "0")
		}
		renderSim, err := mujoco.Load(scene.Model)
		if err != nil {
			return err
		}
		defer renderSim.Close()
		cams, err := ros.NewSimCameras(ctx, renderSim, cfg)
		if err != nil {
			return err
		}
		defer cams.Close()
		mirror = mujoco.NewMirror(arm.Sim(), renderSim, []*mujoco.Feed{{Every: cfg.Period}})
		mirror.Render = func() error { _, err := cams.Publish(); return err }
		mctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = mirror.Run(mctx) }()
		defer func() { stop(); <-done }()
	}
	period := time.Duration(float64(time.Second) / ss.RateHz)
	served := ros.ArmConfig{MasterAddress: ss.Master, Command: ss.Command, Controller: ss.Controller}.WithDefaults()
	fmt.Fprintf(stdout, "robotd sim: serving %s on %s (%s, %s commands on %s, gripper %v, %d camera(s)), %v period, master %s\n",
		scene.Model, ss.StateTopic, ss.Node, ss.Command, served.CommandTopic(), ss.Gripper != nil, len(ss.Cameras), period, served.MasterAddress)
	if tk != nil {
		fmt.Fprintf(stdout, "robotd sim: task on %s/reset, %s/status (%v Hz), %s/debug/*; episode 1 from seed %d\n",
			f.Task.Namespace, f.Task.Namespace, f.Task.RateHz, f.Task.Namespace, f.Task.Seed)
	}
	// The served robot keeps its rate as a real robot's controller does: the stepping
	// loop runs on a locked thread at SCHED_FIFO (below robotd run's 80, when permitted),
	// paced by clock_nanosleep; more Ps than cores so the publishing goroutines get one.
	// On a loaded machine a Go-timer loop left gaps of 30-400 ms in the joint states.
	runtime.GOMAXPROCS(max(8, 4*runtime.NumCPU()))
	// Few collections: each stops the world, the stepping thread included, and on loaded
	// cores a stop waits for every thread to reach a safe point (stalls of 20-170 ms were
	// measured). The live heap is ~1-2 MiB and the server allocates ~3 MiB/s (a message per
	// step): with the default GOGC that was a collection every 0.5 s; now one about every
	// minute. $GOGC / $GOMEMLIMIT, when set, win.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(-1)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(simHeapLimit)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if refused := simRealtime(simRTPriority); refused != "" {
		fmt.Fprintf(stderr, "robotd sim: realtime setup refused (%s); stepping with normal scheduling\n", refused)
	}
	next := time.Now()
	if !ss.Lockstep {
		// Setup took a while since the epoch: bring simulated time level with the wall
		// clock (the arm is at rest), so stamps read as a real robot's would.
		lag := time.Since(epoch).Truncate(period)
		if err := srv.Step(lag); err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		next = epoch.Add(lag)
	}
	lastReport := next
	var pace simPacing
	defer func() {
		st := srv.Stats()
		fmt.Fprintf(stdout, "robotd sim: stopped at t=%v: %d commands received, %d rejected, %d gripper commands, %d states dropped (publisher behind)\n",
			arm.Now().Round(time.Millisecond), st.Received, srv.Rejected(), st.GripperReceived, st.Dropped)
		fmt.Fprintf(stdout, "robotd sim: %d steps, %d of them catching up %d periods after stalls (longest %v), %d stalls over %v skipped (the physics stood still)\n",
			pace.steps, pace.catchUps, pace.caughtUp, pace.longest.Round(time.Microsecond), pace.skipped, simFarBehind)
		fmt.Fprintf(stdout, "robotd sim: wake lateness %s; step work (physics, task, publish) %s\n", pace.late.Snapshot(), pace.work.Snapshot())
		if mirror != nil {
			fmt.Fprintf(stdout, "robotd sim: cameras: %s\n", mirror.Report())
		}
		if tk != nil {
			ts := tk.srv.Stats()
			fmt.Fprintf(stdout, "robotd sim: task: %d episodes, %d resets requested (%d repeats ignored), last seed %d\n",
				tk.episode, ts.Requests, ts.Duplicates, tk.seed)
		}
	}()
	for {
		if ctx.Err() != nil {
			return nil
		}
		sleepUntilWall(next.Add(period))
		t0 := time.Now()
		pace.late.Record(t0.Sub(next.Add(period)))
		d, skip := pace.due(&next, period)
		if skip > 0 {
			// The physics stood still through the stall; its clock does not lag the
			// wall clock for it (camera and state stamps stay current).
			arm.Sim().SetTime(arm.Sim().Time() + skip.Seconds())
		}
		if err := srv.Step(d); err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		if tk != nil {
			if err := tk.step(); err != nil {
				return fmt.Errorf("sim: task: %w", err)
			}
		}
		if mirror != nil {
			mirror.Offer(arm.Now())
		}
		pace.work.Record(time.Since(t0))
		if *duration > 0 && arm.Now() >= *duration {
			return nil
		}
		if time.Since(lastReport) > 5*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(stdout, "robotd sim: t=%v, %d commands received, %d rejected\n", arm.Now().Round(time.Millisecond), srv.Received(), srv.Rejected())
		}
	}
}

// simMaxCatchUp bounds one step's catch-up after a stall of the stepping thread (the
// physics runs that many 1 ms steps with the last command held, as a robot's does while
// its state publisher stalls); a longer stall is caught up over the next steps.
const simMaxCatchUp = 20

// simFarBehind is a stall the simulation does not catch up: the physics stands still
// through it and the simulation clock jumps over it. Catching up runs the physics with the
// last command held, as a robot does while its controller stalls; after a whole-machine
// freeze of 0.9 s (measured with other jobs holding both cores) that replayed 0.9 s of a
// held torque and a joint reached 47 rad/s. Letting the clock lag instead made every later
// camera frame look 100 ms old to robotd eval (policy paused until its chunk timeout).
const simFarBehind = 100 * time.Millisecond

// simPacing keeps robotd sim's simulation clock level with the wall clock: each step
// advances by the whole time due since the previous one (in periods), so that a stall of
// the stepping thread on a loaded machine does not leave the served robot's stamps (and
// its cameras') behind the wall clock for the rest of the run, as dropping the missed
// periods did. One JointState goes out per step.
type simPacing struct {
	steps, catchUps, caughtUp, skipped uint64
	longest                            time.Duration
	late, work                         telemetry.Quantiles
}

// due returns how far to step after waking for the period after *next, and how much of a
// long stall to skip (advance the clock without physics), and advances *next.
func (p *simPacing) due(next *time.Time, period time.Duration) (step, skip time.Duration) {
	behind := time.Since(*next)
	if behind > simFarBehind {
		p.skipped++
		skip = (behind - period).Truncate(period)
		*next = next.Add(skip)
		behind = period
	}
	n := min(max(1, int(behind/period)), simMaxCatchUp)
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

// simHeapLimit is robotd sim's Go heap soft limit: the collector runs when the heap
// reaches it (GOGC off).
const simHeapLimit = 256 << 20

// simRTPriority is the stepping thread's SCHED_FIFO priority: below robotd run's control
// loop (80 by default), which must win when both share a machine.
const simRTPriority = 70

// simRealtime sets up the calling (locked) thread for the stepping loop: timer slack 1 ns
// and SCHED_FIFO at prio. It returns what was refused ("" when all was granted).
func simRealtime(prio int) string {
	var refused []string
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0); err != nil {
		refused = append(refused, "timer slack: "+err.Error())
	}
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(prio)}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		refused = append(refused, fmt.Sprintf("SCHED_FIFO %d: %v", prio, err))
	}
	// The other threads (the cameras' renderer, goroslib's publishers) are the robot's
	// and its cameras' own electronics: SCHED_RR at the lowest realtime priority, below
	// the stepping thread and robotd run's loop, above every normal thread. At nice -10
	// behind cores loaded by other jobs they still waited up to 240 ms for a core (renders
	// p99 46 ms, 165 joint states dropped in a minute); at SCHED_RR 1 renders took p99 6 ms
	// and none was dropped. They use about a third of a core. Refused: nice -10.
	if err := rrOtherThreads(simOtherRR); err != nil {
		refused = append(refused, fmt.Sprintf("SCHED_RR %d for the other threads: %v", simOtherRR, err))
		if err := reniceOtherThreads(simOtherNice); err != nil {
			refused = append(refused, fmt.Sprintf("nice %d for the other threads: %v", simOtherNice, err))
		}
	}
	return strings.Join(refused, "; ")
}

// simOtherRR is the SCHED_RR priority of robotd sim's threads other than the stepping
// one, and simOtherNice their nice value when realtime scheduling is refused.
const (
	simOtherRR   = 1
	simOtherNice = -10
)

// reniceOtherThreads sets the nice value of every thread of the process but the calling
// one (new threads inherit their creator's). daemon's realtime setup does the same for
// robotd run.
func reniceOtherThreads(nice int) error {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	self := unix.Gettid()
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil || tid == self {
			continue
		}
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && err != unix.ESRCH {
			return err
		}
	}
	return nil
}

// rrOtherThreads puts every thread of the process but the calling one under SCHED_RR at
// prio (new threads inherit it).
func rrOtherThreads(prio int) error {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	self := unix.Gettid()
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_RR, Priority: uint32(prio)}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil || tid == self {
			continue
		}
		if err := unix.SchedSetAttr(tid, &attr, 0); err != nil && err != unix.ESRCH {
			return err
		}
	}
	return nil
}

// sleepUntilWall sleeps until the wall-clock instant t with clock_nanosleep on
// CLOCK_MONOTONIC (Go's timers overshoot by up to a millisecond here), waking early when
// a signal interrupts it.
func sleepUntilWall(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	var now unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &now) != nil {
		time.Sleep(d)
		return
	}
	ts := unix.NsecToTimespec(now.Nano() + int64(d))
	unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil)
}
