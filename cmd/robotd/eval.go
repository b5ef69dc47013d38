package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/robotd/robotd/eval"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/system"
)

const evalUsage = `robotd eval --launch FILE [--bundle DIR] [--episodes N] [--seed S] [flags]

Closed-loop evaluation on the simulated pick-and-place task (docs/task.md): N episodes,
episode i starting from the cube pose of seed S+i, each run through the whole daemon path
a real arm uses (cameras, perception pipeline, policy, chunk executor, safety, impedance
controller). Reports the success rate with its 95 % Wilson interval, time to success,
inference latency and executor statistics; writes eval.json, a video of the scene camera
for the first --videos episodes and a plot (tool against target for the first episode,
inference latency) into --out.

Where the episodes come from follows the launch file's arm driver:
  sim  the embedded simulator in lockstep (reproducible; inference latency modelled),
       e.g. launch/pickplace_diffusion.yaml;
  ros  in real time over ROS against a task served by robotd sim (or a workcell that
       follows docs/task.md's task topics), reset over ROS between episodes, e.g.
       launch/pickplace_ros.yaml next to robotd sim --launch launch/pickplace_ros.yaml.
       eval.json then adds a "ros" section (state age at read, stale trips, control
       jitter, reset times); no videos.

Robustness: --latency sets the inference latency modelled in lockstep (the chunk computed
from an observation at t reaches the executor at t + latency), --executor swaps the chunk
executor, --camera-noise adds Gaussian pixel noise to every camera. --min-success makes
the command fail (exit 1) below a success rate: CI's gate.
`

// evalFlags are robotd eval's flags.
type evalFlags struct {
	path, out  string
	over       eval.Overrides
	opts       eval.Options
	minSuccess float64
	scale      evalScale // --shard (evalscale.go)
	mcap       string    // --mcap: a directory of one MCAP log per episode (evalmcap.go)
}

// parse reads and checks the flags.
func (c *evalFlags) parse(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), evalUsage, "\nFlags:\n"); fs.PrintDefaults() }
	fs.StringVar(&c.path, "launch", "launch/pickplace_diffusion.yaml", "launch file (pick-and-place scene with a policy section)")
	fs.StringVar(&c.over.Bundle, "bundle", "", "policy bundle (default: the launch file's)")
	fs.IntVar(&c.opts.Episodes, "episodes", 20, "episodes to run")
	fs.Int64Var(&c.opts.Seed, "seed", 0, "episode i starts from the cube pose of seed+i")
	fs.StringVar(&c.out, "out", "out/eval", "directory for eval.json, videos and the plot")
	fs.IntVar(&c.opts.Videos, "videos", 2, "record the scene camera of the first N episodes")
	fs.StringVar(&c.mcap, "mcap", "", "log each episode to DIR/episode_NNN.mcap (docs/live.md)")
	fs.DurationVar(&c.over.Latency, "latency", 0, "modelled inference latency in lockstep (0: the launch file's policy.lockstep_latency)")
	fs.StringVar(&c.over.Executor, "executor", "", "chunk executor: receding, ensemble, async or inpaint (default: the launch file's)")
	fs.Float64Var(&c.over.CameraNoise, "camera-noise", 0, "Gaussian noise added to every camera, in 8-bit levels")
	fs.Var(steerFlag{&c.over.SteerOff}, "steer", "on: the launch file's policy.steering; off: the same launch file without it (A/B on the same seeds)")
	fs.Float64Var(&c.minSuccess, "min-success", 0, "fail (exit 1) when the success rate is below this (0..1)")
	c.scale.register(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	c.opts.Dir, c.opts.CameraNoise = c.out, c.over.CameraNoise
	switch {
	case c.opts.Episodes < 1:
		return fmt.Errorf("eval: --episodes %d: want at least 1", c.opts.Episodes)
	case c.opts.Videos < 0:
		return fmt.Errorf("eval: --videos %d: want 0 or more", c.opts.Videos)
	case c.minSuccess < 0 || c.minSuccess > 1:
		return fmt.Errorf("eval: --min-success %v: want 0..1", c.minSuccess)
	case c.over.Latency < 0:
		return fmt.Errorf("eval: --latency %v: want >= 0", c.over.Latency)
	}
	return nil
}

// load reads the launch file with the flags' overrides and checks that it can be
// evaluated: a lockstep simulator, or a ROS arm with a task section.
func (c *evalFlags) load() (*launch.File, error) {
	f, err := eval.Load(c.path, c.over)
	if err != nil {
		return nil, err
	}
	overROS := f.Arm.Driver == launch.DriverROS
	switch {
	case overROS && f.Task == nil:
		return nil, fmt.Errorf("eval: %s drives a ROS arm but has no task section: over ROS the episodes come from the task's topics (see launch/pickplace_ros.yaml)", f.Path())
	case overROS && c.over.Latency > 0:
		return nil, fmt.Errorf("eval: --latency models inference latency in lockstep; over ROS (%s) the latency is real", f.Path())
	case !overROS && f.Mode != launch.ModeLockstep:
		return nil, fmt.Errorf("eval: %s runs the embedded simulator in %s mode; evaluation runs it in lockstep (reproducible, simulated latency), or in real time over ROS (launch/pickplace_ros.yaml)", f.Path(), f.Mode)
	}
	return f, nil
}

func evalCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if ok, err := evalSubcommand(ctx, args, stdout, stderr); ok { // merge, compare, sweep (evalscale.go)
		return err
	}
	var c evalFlags
	if err := c.parse(args, stderr); err != nil {
		return err
	}
	f, err := c.load()
	if err != nil {
		return err
	}
	if c.scale.shard != "" {
		return evalShardCmd(ctx, &c, f, stdout, stderr)
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	s, _, err := wireLogged(ctx, f, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer s.Close()
	if s.SimArm != nil {
		c.opts.NewVideo = func(path string) (eval.Video, error) {
			return sceneVideo(s, path)
		}
	}
	c.opts.OnEpisode = func(p eval.Progress) { printProgress(stdout, p, c.opts.Episodes) }
	var logs *episodeLogs
	if c.mcap != "" || f.Telemetry.Foxglove != "" {
		hub, err := s.Viz(system.VizOptions{})
		if err != nil {
			return err
		}
		if c.mcap != "" {
			logs = &episodeLogs{hub: hub, dir: c.mcap}
			c.opts.OnEpisode = func(p eval.Progress) {
				printProgress(stdout, p, c.opts.Episodes)
				if err := logs.close(); err != nil {
					fmt.Fprintln(stderr, err)
				} else if p.Index+1 < c.opts.Episodes {
					if err := logs.open(p.Index + 1); err != nil {
						fmt.Fprintln(stderr, err)
					}
				}
			}
		}
	}
	ev, err := eval.New(ctx, s, c.opts)
	if err != nil {
		return err
	}
	defer ev.Close()
	if logs != nil {
		if err := logs.open(0); err != nil {
			return err
		}
		defer func() {
			if err := logs.close(); err != nil {
				fmt.Fprintln(stderr, err)
			}
		}()
	}
	h := ev.Header()
	fmt.Fprintf(stdout, "evaluating %s on %d pick-and-place episode(s) from seed %d (executor %s, latency %s, camera noise %g)\n",
		h.Bundle, c.opts.Episodes, h.Seed, h.Executor, h.Latency, h.CameraNoise)
	rep, err := ev.Run(ctx)
	if errors.Is(err, eval.ErrInterrupted) {
		return exitError{code: system.ExitInterrupted, err: err}
	} else if err != nil {
		return faultExit(err)
	}
	rep.Write(stdout)
	if logs != nil {
		fmt.Fprintln(stdout, logs.hub.Summary())
	}
	files, err := ev.WriteFiles(c.out, rep)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote        %s\n", strings.Join(files, ", "))
	return evalExit(stdout, rep, c.minSuccess)
}

// sceneVideo is eval's video of an episode: the scene camera of s's simulator at 30 fps.
func sceneVideo(s *system.System, path string) (eval.Video, error) {
	v, err := system.NewSceneVideo(s.SimArm.Sim(), "scene", path, 30)
	if err != nil {
		return nil, err // not a nil *SceneVideo in a non-nil eval.Video
	}
	return v, nil
}

// printProgress prints an episode's line with the success rate so far.
func printProgress(w io.Writer, p eval.Progress, episodes int) {
	r := p.Episode
	if r.Fault == "policy" {
		fmt.Fprintf(w, "episode %d: %v\n", p.Index+1, p.Fault)
	}
	line := fmt.Sprintf("episode %d/%d (seed %d): ", p.Index+1, episodes, r.Seed)
	switch {
	case r.Fault != "":
		line += "ended by a " + r.Fault + " fault (counted as failed)"
	case r.Success:
		line += fmt.Sprintf("success after %.1f s", r.TimeToSuccess)
	default:
		line += fmt.Sprintf("failed after %.1f s (max lift %.0f mm, place error %.0f mm)", r.Duration, r.MaxLift*1e3, r.PlaceError*1e3)
	}
	fmt.Fprintf(w, "%s | %d/%d so far (%.0f %%), %v elapsed\n", line, p.Successes, p.Done,
		100*float64(p.Successes)/float64(p.Done), p.Elapsed.Round(time.Second))
}

// evalExit is the evaluation's exit: 130 when interrupted, 3 when the policy faulted, 1
// below --min-success.
func evalExit(w io.Writer, r *eval.Report, minSuccess float64) error {
	if r.Faulted > 0 {
		fmt.Fprintf(w, "faults       %d episode(s) ended by a fault (%d policy; counted as failed; see per_episode in eval.json)\n", r.Faulted, r.PolicyFaults)
	}
	switch {
	case r.Interrupted:
		return exitError{code: system.ExitInterrupted, err: fmt.Errorf("eval: interrupted after %d episode(s)", r.Episodes)}
	case r.PolicyFaults > 0:
		return exitError{code: system.ExitFault, err: fmt.Errorf("eval: %d of %d episode(s) ended by the policy fault (see eval.json)", r.PolicyFaults, r.Episodes)}
	case r.SuccessRate < minSuccess:
		return fmt.Errorf("eval: success rate %.1f %% is below --min-success %.1f %%", 100*r.SuccessRate, 100*minSuccess)
	}
	return nil
}
