package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/rosbridge"
	"github.com/robotd/robotd/system"
)

// simCmd serves the MuJoCo scene over ROS as a ros_control robot would (the launch file's
// sim_server section): joint_states at rate_hz, an effort command subscription, camera
// image and camera_info topics; /clock in lockstep mode; the task section's topics. robotd
// run in ROS mode then drives it with no code path that knows it is a simulation. The
// serving and its real-time loop are sim/rosbridge's; this maps the launch file onto its
// Config and prints.
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
	cfg, err := simConfig(f)
	if err != nil {
		return err
	}
	cfg.Duration, cfg.Stdout, cfg.Stderr = *duration, stdout, stderr
	b, err := rosbridge.New(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Path(), err)
	}
	defer b.Close()
	ss := f.SimServer
	served := ros.ArmConfig{MasterAddress: ss.Master, Command: ss.Command, Controller: ss.Controller}.WithDefaults()
	fmt.Fprintf(stdout, "robotd sim: serving %s on %s (%s, %s commands on %s, gripper %v, %d camera(s)), %v period, master %s\n",
		cfg.Scene.Model, ss.StateTopic, ss.Node, ss.Command, served.CommandTopic(), ss.Gripper != nil, len(ss.Cameras), cfg.Period, served.MasterAddress)
	if t := f.Task; t != nil {
		fmt.Fprintf(stdout, "robotd sim: task on %s/reset, %s/status (%v Hz), %s/debug/*; episode 1 from seed %d\n",
			t.Namespace, t.Namespace, t.RateHz, t.Namespace, t.Seed)
	}
	rep, err := b.Run(ctx)
	printSimReport(stdout, rep)
	return err
}

// simConfig maps the launch file's sim_server (and task) sections onto rosbridge's Config.
func simConfig(f *launch.File) (rosbridge.Config, error) {
	ss := f.SimServer
	if ss == nil {
		return rosbridge.Config{}, fmt.Errorf("%s: no sim_server section: nothing to serve", f.Path())
	}
	cfg := rosbridge.Config{
		Scene: sim.Scene{Model: f.Arm.Model, Tool: f.Arm.Tool}.WithDefaults(),
		Server: rosbridge.ServerConfig{MasterAddress: ss.Master, Node: ss.Node, StateTopic: ss.StateTopic, Command: ss.Command,
			Controller: ss.Controller, Gripper: system.ROSGripper(ss.Gripper)},
		Lockstep: ss.Lockstep,
		Period:   time.Duration(float64(time.Second) / ss.RateHz),
	}
	if t := f.Task; t != nil {
		cfg.Task = &rosbridge.TaskConfig{Node: ss.Node + "_task", Namespace: t.Namespace, RateHz: t.RateHz, Seed: t.Seed}
	}
	if len(ss.Cameras) == 0 {
		return cfg, nil
	}
	c0 := ss.Cameras[0]
	cfg.Cameras = rosbridge.CamerasConfig{Node: ss.Node + "_cameras", Width: c0.Width, Height: c0.Height,
		Period: time.Duration(float64(time.Second) / c0.RateHz)}
	for _, c := range ss.Cameras {
		if c.Width != c0.Width || c.Height != c0.Height || c.RateHz != c0.RateHz {
			return cfg, fmt.Errorf("%s: sim_server.cameras: %s is %dx%d at %v Hz, %s %dx%d at %v Hz: served cameras share one size and rate",
				f.Path(), c.Name, c.Width, c.Height, c.RateHz, c0.Name, c0.Width, c0.Height, c0.RateHz)
		}
		cfg.Cameras.Cameras = append(cfg.Cameras.Cameras, rosbridge.CameraConfig{Camera: c.SimCamera, Name: c.Name, Namespace: ss.CameraPrefix + "/" + c.Name})
	}
	return cfg, nil
}

// printSimReport prints robotd sim's exit lines.
func printSimReport(w io.Writer, rep rosbridge.Report) {
	st, p := rep.Server, rep.Pacing
	fmt.Fprintf(w, "robotd sim: stopped at t=%v: %d commands received, %d rejected, %d gripper commands, %d states dropped (publisher behind)\n",
		rep.SimTime.Round(time.Millisecond), st.Received, rep.Rejected, st.GripperReceived, st.Dropped)
	fmt.Fprintf(w, "robotd sim: %d steps, %d of them catching up %d periods after stalls (longest %v), %d stalls over %v skipped (the physics stood still)\n",
		p.Steps, p.CatchUps, p.CaughtUp, p.Longest.Round(time.Microsecond), p.Skipped, p.FarBehind)
	fmt.Fprintf(w, "robotd sim: wake lateness %s; step work (physics, task, publish) %s\n", p.Late, p.Work)
	if rep.Cameras != "" {
		fmt.Fprintf(w, "robotd sim: cameras: %s\n", rep.Cameras)
	}
	if t := rep.Task; t != nil {
		fmt.Fprintf(w, "robotd sim: task: %d episodes, %d resets requested (%d repeats ignored), last seed %d\n",
			t.Episodes, t.Requests, t.Duplicates, t.LastSeed)
	}
}
