package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/robotd/robotd/convert"
)

// cameraFlags collects --camera name=topic.
type cameraFlags []convert.Camera

func (c *cameraFlags) String() string { return "" }

func (c *cameraFlags) Set(v string) error {
	name, topic, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("%q: want name=topic", v)
	}
	*c = append(*c, convert.Camera{Name: name, Topic: topic})
	return nil
}

// namesFlag is a comma-separated list of names.
type namesFlag struct{ p *[]string }

func (n namesFlag) String() string { return "" }

func (n namesFlag) Set(v string) error {
	*n.p = strings.Split(v, ",")
	return nil
}

// convertCmd is robotd convert: ROS1 bags and robotd MCAP logs to a LeRobotDataset v3.0.
func convertCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `robotd convert [flags] FILE...: each ROS1 bag or robotd MCAP log becomes one episode of a
LeRobotDataset v3.0 (created, or appended to). The mapping comes from --config (YAML: fps, task,
robot_type, state {topic, field, names}, action {...}, cameras [{name, topic}]) and the flags,
which override it. For robotd's MCAP logs the defaults are /robotd/joint_states, /robotd/target_pose
and every /camera/* channel. docs/live.md has an example.

Flags:
`)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", "", "YAML topic mapping")
	out := fs.String("out", "", "dataset directory (required)")
	var cfg convert.Config
	fps := fs.Int("fps", 0, "dataset frame rate (default: the mapping's, else 30)")
	task := fs.String("task", "", "task text of every episode (default: the mapping's, else teleoperation)")
	state := fs.String("state", "", "observation.state topic (JointState, Float64MultiArray, PoseStamped)")
	stateField := fs.String("state-field", "", "JointState array for observation.state: position, velocity or effort")
	action := fs.String("action", "", "action topic")
	actionField := fs.String("action-field", "", "JointState array for action: position, velocity or effort")
	var stateNames, actionNames []string
	fs.Var(namesFlag{&stateNames}, "state-names", "comma-separated names picked (joint names) or given (unnamed arrays) for observation.state")
	fs.Var(namesFlag{&actionNames}, "action-names", "comma-separated names for action")
	var cams cameraFlags
	fs.Var(&cams, "camera", "name=topic: an image topic as observation.images.<name> (repeatable)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	if *cfgPath != "" {
		var err error
		if cfg, err = convert.LoadConfig(*cfgPath); err != nil {
			return err
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Task, *task)
	set(&cfg.State.Topic, *state)
	set(&cfg.State.Field, *stateField)
	set(&cfg.Action.Topic, *action)
	set(&cfg.Action.Field, *actionField)
	if *fps != 0 {
		cfg.FPS = *fps
	}
	if stateNames != nil {
		cfg.State.Names = stateNames
	}
	if actionNames != nil {
		cfg.Action.Names = actionNames
	}
	if cams != nil {
		cfg.Cameras = cams
	}
	res, err := convert.Convert(ctx, cfg, fs.Args(), *out)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return exitError{code: 130, err: err}
		}
		return err
	}
	fmt.Fprintf(stdout, "%s: LeRobotDataset v3.0, %d fps, state %v, action %v", res.Dir, res.Spec.FPS, res.Spec.State.Names, res.Spec.Action.Names)
	for _, c := range res.Spec.Cameras {
		fmt.Fprintf(stdout, ", %s %dx%d", c.Key, c.Width, c.Height)
	}
	fmt.Fprintln(stdout)
	for _, e := range res.Episodes {
		fmt.Fprintf(stdout, "episode %d: %s: %d frames (%v), %d messages read\n", e.Index, e.Input, e.Frames, e.Duration, e.Messages)
	}
	return nil
}
