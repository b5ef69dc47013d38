package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/perception"
)

// wireROS connects to the ROS arm (and its cameras): the master must answer and a first
// joint state arrive within arm.ros.connect_timeout, before anything moves.
func wireROS(ctx context.Context, f *launch.File, w *wiring, log *slog.Logger) error {
	r := f.Arm.ROS
	joints := r.Joints
	if len(joints) == 0 {
		joints = w.ports.Robot.JointNames()
	}
	cctx, cancel := context.WithTimeout(ctx, r.ConnectTimeout)
	defer cancel()
	arm, err := ros.Dial(cctx, ros.ArmConfig{
		MasterAddress: r.Master, Node: r.Node, Joints: joints, IgnoreJoints: r.IgnoreJoints,
		StateTopic: r.StateTopic, Command: r.Command, Controller: r.Controller, FrameID: r.FrameID,
		Lookahead: r.Lookahead, Gripper: rosGripper(r.Gripper), StaleLimit: f.Watchdog.StateStale,
		Logger: log,
	})
	if err != nil {
		return fmt.Errorf("arm.ros: %w", err)
	}
	w.closers = append(w.closers, arm.Close, func() {
		st := arm.Stats()
		var rejected uint64
		for _, n := range st.Rejected {
			rejected += n
		}
		log.Info("arm.ros: messages", "states", st.Accepted, "rejected", rejected, "seq_gaps", st.SeqGaps,
			"seq_restarts", st.SeqRestarts, "commands", st.Published, "reregistrations", st.Reregistrations)
	})
	if err := arm.WaitState(cctx, 0); err != nil {
		return fmt.Errorf("arm.ros: no joint state on %s within %v: %w", r.StateTopic, r.ConnectTimeout, err)
	}
	w.ports.Arm = arm
	// ROS time (wall clock read through the monotonic clock): the time base of the ROS
	// cameras' frames (ros.Camera.Now), so frames and states compare.
	base := time.Now()
	w.ports.Clock = func() time.Duration { return time.Duration(base.UnixNano()) + time.Since(base) }
	if f.Control.Home != nil {
		w.home = f.Control.Home
	}
	if *f.Telemetry.ROSStatus {
		st, err := ros.NewStatusPublisher(cctx, ros.StatusConfig{MasterAddress: r.Master, Node: r.Node + "_status"})
		if err != nil {
			return fmt.Errorf("telemetry.ros_status: %w", err)
		}
		w.closers = append(w.closers, st.Close)
		w.ports.Status = st
	}
	// Stop requests from ROS peers: <ns>/stop (graceful) and <ns>/stop_now (safe stop).
	relay := &rosStopRelay{log: log}
	sl, err := ros.NewStopListener(cctx, ros.StopConfig{MasterAddress: r.Master, Node: r.Node + "_stop"}, relay.request)
	if err != nil {
		return fmt.Errorf("arm.ros: stop topics: %w", err)
	}
	w.closers = append(w.closers, sl.Close)
	w.background = append(w.background, relay.arm)
	for _, c := range f.Cameras {
		if c.Source != launch.SourceROS {
			return fmt.Errorf("camera %s: source %s with the ros driver: not supported (use ros cameras)", c.Name, c.Source)
		}
		cam, err := ros.DialCamera(cctx, ros.CameraConfig{MasterAddress: r.Master, Topic: c.Topic, Name: c.Name, Logger: log})
		if err != nil {
			return fmt.Errorf("camera %s: %w", c.Name, err)
		}
		w.closers = append(w.closers, func() { cam.Close() })
		l, err := perception.NewLatest(cam, freshness(f), cam.Now)
		if err != nil {
			return err
		}
		w.readers = append(w.readers, l)
	}
	return nil
}

// rosGripper maps the launch file's arm.ros.gripper (nil: none) to the driver's config.
func rosGripper(g *launch.ROSGripper) ros.GripperConfig {
	if g == nil {
		return ros.GripperConfig{}
	}
	c := ros.GripperConfig{
		Command: g.Command, CommandTopic: g.CommandTopic, ActionPosition: g.ActionPosition, MaxEffort: g.MaxEffort,
		State: g.State, StateTopic: g.StateTopic, MaxWidth: g.MaxWidth,
	}
	copy(c.Fingers[:], g.Fingers)
	return c
}

// rosStopRelay hands the stop topics' requests (ros.StopListener) to the run.
//
// runLaunch builds the daemon after the wiring, and run.go has no hook yet that gives the
// wiring the daemon's Stop; until attach is called by one, a request takes the path of the
// signals, which runLaunch maps to the same two stops: the first SIGTERM/SIGINT ramps
// to a hold, a second one stops at once. The relay sends those signals to its own process
// only while the run's signal handler is installed (arm runs as a background function,
// which runLaunch starts after signal.Notify); requests that come earlier wait for it.
// A graceful request never escalates: the relay sends at most one signal for all of
// them, and an immediate request sends whatever brings the count to two (SIGTERM and
// SIGINT: distinct signals, so the kernel does not merge them). Known gap of this
// fallback: in the robotd binary the first signal also cancels main's context, and
// runLaunch's signal goroutine may return on that before it reads the second signal, so
// an immediate request can end as a graceful one; attach (a one-line hook in run.go)
// removes the fallback.
type rosStopRelay struct {
	log *slog.Logger

	mu      sync.Mutex
	stop    ros.StopFunc // the daemon's Stop, once attached
	armed   bool
	pending []stopRequest
	signals int
}

type stopRequest struct {
	reason    string
	immediate bool
}

// attach delivers the requests to stop (the daemon's Stop) from now on.
func (r *rosStopRelay) attach(stop ros.StopFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stop = stop
	for _, p := range r.pending {
		stop(p.reason, p.immediate)
	}
	r.pending = nil
}

// request is the StopListener's StopFunc.
func (r *rosStopRelay) request(reason string, immediate bool) {
	r.log.Warn("stop requested over ROS", "reason", reason, "immediate", immediate)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.stop != nil:
		r.stop(reason, immediate)
	case !r.armed:
		r.pending = append(r.pending, stopRequest{reason, immediate})
	default:
		r.signal(immediate)
	}
}

// arm enables the signal path while the run's signal handler is installed.
func (r *rosStopRelay) arm(ctx context.Context) {
	r.mu.Lock()
	r.armed = true
	if r.stop == nil {
		for _, p := range r.pending {
			r.signal(p.immediate)
		}
		r.pending = nil
	}
	r.mu.Unlock()
	<-ctx.Done()
	r.mu.Lock()
	r.armed = false
	r.mu.Unlock()
}

// signal sends the signals that make runLaunch stop gracefully (one) or at once (two).
func (r *rosStopRelay) signal(immediate bool) {
	want := 1
	if immediate {
		want = 2
	}
	for ; r.signals < want; r.signals++ {
		sig := syscall.SIGTERM
		if r.signals == 1 {
			sig = syscall.SIGINT
		}
		if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
			r.log.Error("stop over ROS: signal", "err", err)
		}
	}
}
