package main

import (
	"context"
	"fmt"
	"log/slog"
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
		StateTopic: r.StateTopic, Controller: r.Controller, StaleLimit: f.Watchdog.StateStale,
		Logger: log,
	})
	if err != nil {
		return fmt.Errorf("arm.ros: %w", err)
	}
	w.closers = append(w.closers, arm.Close)
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
