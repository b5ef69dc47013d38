package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
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
		Gripper: rosGripper(ss.Gripper), Clock: ss.Lockstep, Epoch: epoch,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	var mirror *mirrorRenderer
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
		mirror = newMirrorRenderer(arm.Sim(), renderSim, []*simCamera{{every: cfg.Period}})
		mirror.render = func() error { _, err := cams.Publish(); return err }
		mctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); mirror.run(mctx) }()
		defer func() { stop(); <-done }()
	}
	period := time.Duration(float64(time.Second) / ss.RateHz)
	served := ros.ArmConfig{MasterAddress: ss.Master, Command: ss.Command, Controller: ss.Controller}.WithDefaults()
	fmt.Fprintf(stdout, "robotd sim: serving %s on %s (%s, %s commands on %s, gripper %v, %d camera(s)), %v period, master %s\n",
		scene.Model, ss.StateTopic, ss.Node, ss.Command, served.CommandTopic(), ss.Gripper != nil, len(ss.Cameras), period, served.MasterAddress)
	// The served robot keeps its rate as a real robot's controller does: the stepping
	// loop runs on a locked thread at SCHED_FIFO (below robotd run's 80, when permitted),
	// paced by clock_nanosleep; more Ps than cores so the publishing goroutines get one.
	// On a loaded machine a Go-timer loop left gaps of 30-400 ms in the joint states.
	runtime.GOMAXPROCS(max(8, 4*runtime.NumCPU()))
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
	defer func() {
		st := srv.Stats()
		fmt.Fprintf(stdout, "robotd sim: stopped at t=%v: %d commands received, %d rejected, %d gripper commands\n",
			arm.Now().Round(time.Millisecond), st.Received, srv.Rejected(), st.GripperReceived)
	}()
	for {
		next = next.Add(period)
		if ctx.Err() != nil {
			return nil
		}
		sleepUntilWall(next)
		if -time.Until(next) > 100*period {
			next = time.Now() // far behind (machine busy): no burst of catch-up steps
		}
		if err := srv.Step(period); err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		if mirror != nil {
			mirror.offer(arm.Now())
		}
		if *duration > 0 && arm.Now() >= *duration {
			return nil
		}
		if time.Since(lastReport) > 5*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(stdout, "robotd sim: t=%v, %d commands received, %d rejected\n", arm.Now().Round(time.Millisecond), srv.Received(), srv.Rejected())
		}
	}
}

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
	return strings.Join(refused, "; ")
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
