package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/robotd/robotd/episode"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/system"
)

const replayUsage = `robotd replay DATASET --episode N [--launch FILE] [flags]

Sends a recorded episode's actions to the arm of the launch file at the dataset's fps and
reports how closely the arm tracks the recorded states. Actions in robotd's layout (x y z
rx ry rz [gripper]) are Cartesian targets; joint-position actions (one per joint [+
gripper]) become the tool pose they reach. The arm first goes to the episode's initial
joint configuration (in the embedded simulator it is put there). On the pick-and-place
scene the cube is put at its recorded start (observation.environment_state, frame 0) too,
so the replay reproduces the episode, and the cube's course is compared with the
recorded one; a dataset without that feature replays the arm only (with a note). The
safety layer vets every recorded action as it vets a policy's.
`

func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), replayUsage, "\nFlags:\n"); fs.PrintDefaults() }
	path := fs.String("launch", "launch/pickplace.yaml", "launch file (its policy section is ignored)")
	index := fs.Int("episode", 0, "episode index")
	plotPath := fs.String("plot", "", "write a PNG of the recorded and replayed tool position")
	dir, extra, err := parseAround(fs, args, stderr)
	if err != nil {
		return err
	}
	if extra > 0 {
		return fmt.Errorf("%s: want one DATASET; %d more arguments: %q", fs.Name(), extra, fs.Args()[len(fs.Args())-extra:])
	}
	if dir == "" {
		return errors.New("replay: a DATASET directory is required (robotd replay DATASET --episode N)")
	}
	ds, err := episode.Open(dir)
	if err != nil {
		return err
	}
	data, err := ds.Episode(*index)
	if err != nil {
		return err
	}
	f, err := launch.Load(*path)
	if err != nil {
		return err
	}
	f.Policy, f.Duration = nil, 0
	s, _, err := wireLogged(ctx, f, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer s.Close()
	rp, err := s.NewReplay(ds, data)
	if err != nil {
		return err
	}
	if rp.Note != "" {
		fmt.Fprintf(stderr, "replay: %s: %s\n", dir, rp.Note)
	}
	// Ctrl-C ramps to a hold and stops; a second one: safe stop at once.
	d, done, err := s.Serve(ctx, nil)
	if err != nil {
		return err
	}
	defer done()
	fmt.Fprintf(stdout, "replaying episode %d of %s (%d frames at %d fps, %s actions) on %s\n",
		*index, dir, len(data.Action), ds.Info.FPS, rp.Layout, f.Path())
	runErr := d.Run(ctx)
	r := rp.Tracking()
	fmt.Fprintf(stdout, "tracked %d frames: joint error RMS %.4f rad, max %.4f rad; tool position error RMS %.2f mm, max %.2f mm; targets clamped %d\n",
		r.Frames, r.JointRMS, r.JointMax, r.ToolRMS*1e3, r.ToolMax*1e3, d.Summary().Safety["targets_clamped"])
	if c, ok := rp.Cube(); ok {
		fmt.Fprintln(stdout, cubeLine(c))
	}
	if *plotPath != "" {
		if err := rp.Plot(*plotPath); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "plot: %s\n", *plotPath)
	}
	return faultExit(runErr)
}

// cubeLine says how the cube's course in the replay compares with the recorded one.
func cubeLine(c system.CubeTracking) string {
	if c.Frames == 0 {
		return "cube: not tracked"
	}
	yes := map[bool]string{true: "yes", false: "no"}
	return fmt.Sprintf("cube: position error RMS %.2f mm, max %.2f mm over %d frames; at the end %.2f mm from the recorded end, in the zone %s (recorded: %s), place error %.1f mm, resting %s, task success %s",
		c.RMS*1e3, c.Max*1e3, c.Frames, c.EndError*1e3, yes[c.InZone], yes[c.RecordedInZone], c.PlaceError*1e3, yes[c.Resting], yes[c.Success])
}
