package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
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
	cfg := ros.ArmConfig{
		MasterAddress: r.Master, Node: r.Node, Joints: joints, IgnoreJoints: r.IgnoreJoints,
		StateTopic: r.StateTopic, Command: r.Command, Controller: r.Controller, FrameID: r.FrameID,
		Lookahead: r.Lookahead, Gripper: rosGripper(r.Gripper), StaleLimit: f.Watchdog.StateStale,
		Logger: log,
	}.WithDefaults()
	arm, err := ros.Dial(cctx, cfg)
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
	w.ports.ArmName = fmt.Sprintf("arm.ros (%s from master %s)", cfg.StateTopic, cfg.MasterAddress)
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
	w.stoppers = append(w.stoppers, func(stop func(string, bool)) { relay.attach(stop) })
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

// rosStopRelay hands the stop topics' requests (ros.StopListener) to the daemon's Stop,
// which exists only after the wiring (wiring.stoppers attaches it); requests that come
// earlier wait for it.
type rosStopRelay struct {
	log *slog.Logger

	mu      sync.Mutex
	stop    ros.StopFunc // the daemon's Stop, once attached
	pending []stopRequest
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
	if r.stop != nil {
		r.stop(reason, immediate)
		return
	}
	r.pending = append(r.pending, stopRequest{reason, immediate})
}
