package main

import (
	"context"
	"fmt"
	"log/slog"

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
	if err := arm.WaitState(cctx, r.ConnectTimeout); err != nil {
		return fmt.Errorf("arm.ros: no joint state on %s within %v: %w", r.StateTopic, r.ConnectTimeout, err)
	}
	w.ports.Arm = arm
	w.ports.Clock = perception.Monotonic
	if f.Control.Home != nil {
		w.home = f.Control.Home
	}
	for _, c := range f.Cameras {
		return fmt.Errorf("camera %s: %s cameras with the ros driver are not wired yet", c.Name, c.Source)
	}
	return nil
}
