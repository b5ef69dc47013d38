package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/robotd/robotd/demo"
)

// demoCmd is robotd demo: the reaching demo (package demo) with its flags; it prints
// the progress and the summary and writes the files into --out.
func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := demo.Config{Progress: stdout}
	fs.StringVar(&cfg.Out, "out", "out/demo", "directory for reach.png, scene.mp4, trace.csv and summary.txt")
	fs.StringVar(&cfg.Model, "model", "", "MJCF scene (default: the reference scene, sim/models/scene.xml)")
	fs.DurationVar(&cfg.Hold, "hold", 4*time.Second, "simulated time at each target")
	fs.BoolVar(&cfg.Video, "video", true, "render the scene camera to scene.mp4 (needs ffmpeg)")
	fs.IntVar(&cfg.VideoFPS, "fps", 30, "video frame rate")
	fs.Float64Var(&cfg.Stiffness, "stiffness", 200, "translational stiffness (N/m)")
	fs.Float64Var(&cfg.RotStiffness, "rot-stiffness", 30, "rotational stiffness (Nm/rad); franka_ros' default is 10, its upper bound 30")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "robotd demo: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if cfg.Hold < 100*time.Millisecond {
		return fmt.Errorf("--hold %v: want at least 100ms", cfg.Hold)
	}
	if cfg.VideoFPS < 1 || cfg.VideoFPS > 120 {
		return fmt.Errorf("--fps %d: want 1..120", cfg.VideoFPS)
	}
	res, err := demo.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, "\n"+res.Summary())
	if err := res.WriteFiles(cfg.Out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", strings.Join(res.Outputs(cfg.Out), ", "))
	return nil
}
