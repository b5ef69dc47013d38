package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"gonum.org/v1/plot/plotter"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/system"
	"github.com/robotd/robotd/telemetry"
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

// evalEpisode is one episode's outcome.
type evalEpisode struct {
	Seed          int64   `json:"seed"`
	Success       bool    `json:"success"`
	TimeToSuccess float64 `json:"time_to_success_s,omitempty"`
	Duration      float64 `json:"duration_s"`
	MaxLift       float64 `json:"max_lift_m"`
	PlaceError    float64 `json:"place_error_m"`
	Video         string  `json:"video,omitempty"`
	// Fault is the daemon fault that ended the episode over ROS (state_stale), which
	// counts as a failure; evaluation goes on with the next episode.
	Fault string `json:"fault,omitempty"`
}

// evalReport is eval.json.
type evalReport struct {
	Launch      string        `json:"launch"`
	Bundle      string        `json:"bundle"`
	Executor    string        `json:"executor"`
	Latency     string        `json:"lockstep_latency"`
	CameraNoise float64       `json:"camera_noise"`
	Seed        int64         `json:"seed"`
	Episodes    int           `json:"episodes"`
	Successes   int           `json:"successes"`
	SuccessRate float64       `json:"success_rate"`
	Wilson95    [2]float64    `json:"wilson95"`
	TTSMean     float64       `json:"time_to_success_mean_s"`
	TTSMedian   float64       `json:"time_to_success_median_s"`
	Inference   latencyReport `json:"inference"`
	MaxJump     float64       `json:"executor_max_jump"`
	Starved     uint64        `json:"executor_starved"`
	Overruns    uint64        `json:"inference_overruns"`
	Rejected    uint64        `json:"chunks_rejected"`
	Clamps      uint64        `json:"safety_clamps"`
	SafeStops   int           `json:"safe_stops"`
	// Faulted counts the episodes ended by a fault that fails the episode and lets the
	// evaluation go on: the policy fault (the policy's steps failed, or it gave no valid
	// chunk for watchdog.chunk_timeout), and over ROS state_stale (the machine late with
	// the joint states). PolicyFaults is how many were the policy's: eval then exits 3.
	Faulted      int    `json:"episodes_faulted"`
	PolicyFaults int    `json:"episodes_policy_fault"`
	PolicyErrors uint64 `json:"policy_errors"` // failed policy steps over every episode
	// PeakSpeed is the largest |joint velocity| (rad/s) at any running tick of any episode.
	PeakSpeed  float64       `json:"peak_joint_speed_rad_s"`
	Wall       float64       `json:"wall_s"`
	ROS        *rosReport    `json:"ros,omitempty"` // evaluations over ROS only
	PerEpisode []evalEpisode `json:"per_episode"`
}

type latencyReport struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// wilson is the 95 % Wilson score interval of k successes in n trials.
func wilson(k, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	const z = 1.959963984540054
	p, fn := float64(k)/float64(n), float64(n)
	den := 1 + z*z/fn
	c := (p + z*z/(2*fn)) / den
	h := z / den * math.Sqrt(p*(1-p)/fn+z*z/(4*fn*fn))
	return max(0, c-h), min(1, c+h)
}

func evalCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), evalUsage, "\nFlags:\n"); fs.PrintDefaults() }
	path := fs.String("launch", "launch/pickplace_diffusion.yaml", "launch file (pick-and-place scene with a policy section)")
	bundle := fs.String("bundle", "", "policy bundle (default: the launch file's)")
	episodes := fs.Int("episodes", 20, "episodes to run")
	seed := fs.Int64("seed", 0, "episode i starts from the cube pose of seed+i")
	out := fs.String("out", "out/eval", "directory for eval.json, videos and the plot")
	videos := fs.Int("videos", 2, "record the scene camera of the first N episodes")
	latency := fs.Duration("latency", 0, "modelled inference latency in lockstep (0: the launch file's policy.lockstep_latency)")
	executor := fs.String("executor", "", "chunk executor: receding, ensemble, async or inpaint (default: the launch file's)")
	noise := fs.Float64("camera-noise", 0, "Gaussian noise added to every camera, in 8-bit levels")
	minSuccess := fs.Float64("min-success", 0, "fail (exit 1) when the success rate is below this (0..1)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	switch {
	case *episodes < 1:
		return fmt.Errorf("eval: --episodes %d: want at least 1", *episodes)
	case *videos < 0:
		return fmt.Errorf("eval: --videos %d: want 0 or more", *videos)
	case *minSuccess < 0 || *minSuccess > 1:
		return fmt.Errorf("eval: --min-success %v: want 0..1", *minSuccess)
	case *latency < 0:
		return fmt.Errorf("eval: --latency %v: want >= 0", *latency)
	}
	var noPolicy bool
	f, err := launch.LoadWith(*path, func(f *launch.File) {
		f.Duration = 0 // episodes end on the task's success or timeout
		if f.Policy == nil {
			noPolicy = true
			return
		}
		if *bundle != "" {
			abs, err := filepath.Abs(*bundle)
			if err != nil {
				abs = *bundle
			}
			f.Policy.Bundle = abs
		}
		if *latency > 0 {
			f.Policy.LockstepLatency = *latency
		}
		if *executor != "" {
			f.Policy.Executor.Strategy = *executor
		}
		for i := range f.Cameras {
			f.Cameras[i].Noise = max(f.Cameras[i].Noise, *noise)
		}
	})
	if err != nil {
		return err
	}
	if noPolicy {
		return fmt.Errorf("eval: %s has no policy section (robotd eval runs a policy; see launch/pickplace_diffusion.yaml)", f.Path())
	}
	overROS := f.Arm.Driver == launch.DriverROS
	switch {
	case overROS && f.Task == nil:
		return fmt.Errorf("eval: %s drives a ROS arm but has no task section: over ROS the episodes come from the task's topics (see launch/pickplace_ros.yaml)", f.Path())
	case overROS && *latency > 0:
		return fmt.Errorf("eval: --latency models inference latency in lockstep; over ROS (%s) the latency is real", f.Path())
	case !overROS && f.Mode != launch.ModeLockstep:
		return fmt.Errorf("eval: %s runs the embedded simulator in %s mode; evaluation runs it in lockstep (reproducible, simulated latency), or in real time over ROS (launch/pickplace_ros.yaml)", f.Path(), f.Mode)
	}
	if overROS {
		*videos = 0 // the scene is rendered in robotd sim
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	w, log, err := wireLogged(ctx, f, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	defer w.Close()
	var eps episodeSource
	var overROSEps *rosEpisodes
	if overROS {
		if overROSEps, err = newROSEpisodes(ctx, w, f, *seed, log); err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		eps = overROSEps
	} else {
		te, err := w.NewTaskEpisodes(false, *seed, nil) // checks for the pick-and-place scene
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		eps = &simEpisodes{TaskEpisodes: te}
	}
	probe := &evalProbe{inner: w.Ports.EndWhen, stamps: overROS}
	w.Ports.EndWhen = probe.endWhen
	tap := &evalTap{w: w}
	w.Ports.Recorder = tap
	// Ctrl-C: the episode under way is stopped and the report covers the ones before it.
	var interrupted atomic.Int32
	d, done, err := w.Serve(ctx, func() { interrupted.Add(1) })
	if err != nil {
		return err
	}
	defer done()
	probe.st = d.Servo().State() // read by the control loop only, after Run began

	rep := evalReport{Launch: f.Path(), Bundle: f.Policy.Bundle, Executor: string(w.Ports.Policy.Executor.Strategy),
		Latency: f.Policy.LockstepLatency.String(), CameraNoise: *noise, Seed: *seed}
	if rep.Executor == "" {
		rep.Executor = "default"
	}
	if overROS {
		rep.Latency = "real (over ROS)"
	}
	fmt.Fprintf(stdout, "evaluating %s on %d pick-and-place episode(s) from seed %d (executor %s, latency %s, camera noise %g)\n",
		f.Policy.Bundle, *episodes, *seed, rep.Executor, rep.Latency, *noise)
	start := time.Now()
	for i := 0; i < *episodes && interrupted.Load() == 0; i++ {
		if err := eps.begin(ctx, i); err != nil {
			return err
		}
		var video string
		if i < *videos {
			video = filepath.Join(*out, fmt.Sprintf("episode_%03d.mp4", i))
		}
		if err := tap.begin(video, i == 0); err != nil {
			return err
		}
		runErr := d.Run(ctx)
		if err := tap.end(); err != nil {
			return err
		}
		var r evalEpisode
		var fault *daemon.Fault
		ended := true
		switch {
		case runErr != nil && errors.As(runErr, &fault) && interrupted.Load() == 0 &&
			(fault.Kind == "policy" || overROS && fault.Kind == "state_stale"):
			// The policy failing, or over ROS a late joint state (the machine's, not the
			// policy's): the arm got its safe stop; the episode counts as failed and the
			// next one is reset.
			r = evalEpisode{Seed: *seed + int64(i), Fault: fault.Kind}
			rep.Faulted++
			if fault.Kind == "policy" {
				rep.PolicyFaults++
				fmt.Fprintf(stdout, "episode %d: %v\n", i+1, runErr)
			}
		case runErr != nil:
			if errors.As(runErr, &fault) {
				return exitError{code: system.ExitFault, err: fmt.Errorf("eval: episode %d (seed %d): %w", i, *seed+int64(i), runErr)}
			}
			return runErr
		default:
			if r, ended, err = eps.outcome(ctx); err != nil {
				return err
			}
		}
		if interrupted.Load() > 0 || !ended {
			break
		}
		r.Video = video
		line := fmt.Sprintf("episode %d/%d (seed %d): ", i+1, *episodes, r.Seed)
		if r.Fault != "" {
			line += "ended by a " + r.Fault + " fault (counted as failed)"
		} else if r.Success {
			rep.Successes++
			line += fmt.Sprintf("success after %.1f s", r.TimeToSuccess)
		} else {
			line += fmt.Sprintf("failed after %.1f s (max lift %.0f mm, place error %.0f mm)", r.Duration, r.MaxLift*1e3, r.PlaceError*1e3)
		}
		rep.PerEpisode = append(rep.PerEpisode, r)
		n := len(rep.PerEpisode)
		fmt.Fprintf(stdout, "%s | %d/%d so far (%.0f %%), %v elapsed\n", line, rep.Successes, n,
			100*float64(rep.Successes)/float64(n), time.Since(start).Round(time.Second))
	}
	rep.Wall = time.Since(start).Seconds()
	rep.Episodes = len(rep.PerEpisode)
	if rep.Episodes == 0 {
		return exitError{code: 130, err: errors.New("eval: interrupted before the first episode ended")}
	}
	rep.fill(d.Summary())
	rep.PeakSpeed = probe.peak
	if overROSEps != nil {
		rep.ROS = newROSReport(d.Summary(), probe, overROSEps)
	}
	if err := rep.write(stdout, *out, tap, d.Summary().Inference); err != nil {
		return err
	}
	if rep.Faulted > 0 {
		fmt.Fprintf(stdout, "faults       %d episode(s) ended by a fault (%d policy; counted as failed; see per_episode in eval.json)\n", rep.Faulted, rep.PolicyFaults)
	}
	if interrupted.Load() > 0 {
		return exitError{code: 130, err: fmt.Errorf("eval: interrupted after %d episode(s)", rep.Episodes)}
	}
	if rep.PolicyFaults > 0 {
		return exitError{code: system.ExitFault, err: fmt.Errorf("eval: %d of %d episode(s) ended by the policy fault (see eval.json)", rep.PolicyFaults, rep.Episodes)}
	}
	if rep.SuccessRate < *minSuccess {
		return fmt.Errorf("eval: success rate %.1f %% is below --min-success %.1f %%", 100*rep.SuccessRate, 100**minSuccess)
	}
	return nil
}

// fill computes the aggregates from the episodes and the daemon's summary (cumulative
// over every episode of the process).
func (r *evalReport) fill(s *daemon.Summary) {
	r.SuccessRate = float64(r.Successes) / float64(r.Episodes)
	r.Wilson95[0], r.Wilson95[1] = wilson(r.Successes, r.Episodes)
	var tts []float64
	for _, e := range r.PerEpisode {
		if e.Success {
			tts = append(tts, e.TimeToSuccess)
		}
	}
	if len(tts) > 0 {
		sort.Float64s(tts)
		var sum float64
		for _, t := range tts {
			sum += t
		}
		r.TTSMean = sum / float64(len(tts))
		r.TTSMedian = tts[len(tts)/2]
		if len(tts)%2 == 0 {
			r.TTSMedian = (tts[len(tts)/2-1] + tts[len(tts)/2]) / 2
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	r.Inference = latencyReport{Count: s.Inference.Count, P50: ms(s.Inference.Quantile(0.5)),
		P99: ms(s.Inference.Quantile(0.99)), Max: ms(s.Inference.Max)}
	r.MaxJump, r.Overruns, r.Rejected, r.SafeStops = s.MaxJump, s.Overruns, s.Rejected, s.SafeStops
	r.PolicyErrors = s.PolicyErrors
	r.Starved = s.Watchdogs["chunk_starved"]
	for _, n := range s.Safety {
		r.Clamps += n
	}
}

// write prints the one-screen report and writes eval.json and the plot.
func (r *evalReport) write(stdout io.Writer, dir string, tap *evalTap, lat telemetry.Snapshot) error {
	fmt.Fprintf(stdout, "\nsuccess      %d / %d = %.1f %% (95 %% Wilson interval %.1f .. %.1f %%)\n",
		r.Successes, r.Episodes, 100*r.SuccessRate, 100*r.Wilson95[0], 100*r.Wilson95[1])
	if r.Successes > 0 {
		fmt.Fprintf(stdout, "time to success  mean %.2f s, median %.2f s\n", r.TTSMean, r.TTSMedian)
	}
	fmt.Fprintf(stdout, "inference    %d chunks, p50 %.1f ms, p99 %.1f ms, max %.1f ms (wall clock; lockstep models %s)\n",
		r.Inference.Count, r.Inference.P50, r.Inference.P99, r.Inference.Max, r.Latency)
	fmt.Fprintf(stdout, "executor     %s: max setpoint jump %.4g, starved %d, overruns %d, chunks rejected %d\n",
		r.Executor, r.MaxJump, r.Starved, r.Overruns, r.Rejected)
	fmt.Fprintf(stdout, "safety       %d clamps, %d safe stops, peak joint speed %.2f rad/s; wall time %.0f s\n", r.Clamps, r.SafeStops, r.PeakSpeed, r.Wall)
	if x := r.ROS; x != nil {
		fmt.Fprintf(stdout, "over ROS     state age at read p50 %.2f ms, p99 %.2f ms, max %.1f ms; %d state_stale, %d camera_stale trips\n",
			x.StateAge.P50, x.StateAge.P99, x.StateAge.Max, x.StaleTrips, x.CameraStale)
		fmt.Fprintf(stdout, "control loop period jitter p50 %.3f ms, p99 %.3f ms, max %.1f ms; %d periods over 2 ms, %d deadline misses of %d ticks\n",
			x.PeriodJitter.P50, x.PeriodJitter.P99, x.PeriodJitter.Max, x.LatePeriods, x.Misses, x.Ticks)
		fmt.Fprintf(stdout, "task resets  %d, acknowledged p50 %.0f ms (max %.0f ms), new frames p50 %.0f ms later\n",
			x.Reset.Count, x.Reset.P50, x.Reset.Max, x.Frames.P50)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	jsonPath := filepath.Join(dir, "eval.json")
	if err := os.WriteFile(jsonPath, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	outputs := []string{jsonPath}
	for _, e := range r.PerEpisode {
		if e.Video != "" {
			outputs = append(outputs, e.Video)
		}
	}
	if len(tap.trace) > 1 {
		p := filepath.Join(dir, "eval.png")
		if err := tap.plot(p, r, lat); err != nil {
			return fmt.Errorf("eval: plot: %w", err)
		}
		outputs = append(outputs, p)
	}
	fmt.Fprintf(stdout, "wrote        %s\n", strings.Join(outputs, ", "))
	return nil
}

// evalTap is the daemon's Recorder during evaluation: it renders the scene camera into
// the episode's video and keeps the first episode's tool and target for the plot. It
// runs in the control loop's goroutine (lockstep), which may render the Sim.
type evalTap struct {
	w     *system.System
	video *videoWriter
	keep  bool
	trace []evalPoint
	t0    time.Duration
}

// evalTraceLen bounds the first episode's plotted trace: 2 minutes at the tap's 30 Hz
// (the task times out after 30 s).
const evalTraceLen = 30 * 120

type evalPoint struct {
	t            float64
	tool, target [3]float64
	grip, cmd    float64
}

func (e *evalTap) Period() time.Duration { return time.Second / 30 }

func (e *evalTap) begin(video string, keep bool) error {
	e.keep, e.t0 = keep, -1
	if keep && e.trace == nil {
		// Record runs in the control loop in real time: no allocation there.
		e.trace = make([]evalPoint, 0, evalTraceLen)
	}
	if video == "" {
		return nil
	}
	v, err := newVideoWriter(e.w.SimArm.Sim(), "scene", video, 30)
	if err != nil {
		return fmt.Errorf("eval: video: %w", err)
	}
	e.video = v
	return nil
}

func (e *evalTap) end() error {
	if e.video == nil {
		return nil
	}
	err := e.video.Close()
	e.video = nil
	return err
}

func (e *evalTap) Record(s *daemon.Sample) bool {
	if e.t0 < 0 {
		e.t0 = s.T
	}
	t := (s.T - e.t0).Seconds()
	if e.video != nil {
		if err := e.video.maybeFrame(t); err != nil {
			e.video.Close()
			e.video = nil
		}
	}
	if e.keep && len(e.trace) < cap(e.trace) {
		e.trace = append(e.trace, evalPoint{t: t, tool: s.Tool.Pos, target: s.Target.Pos, grip: s.Gripper, cmd: s.GripperCommand})
	}
	return true
}

// plot draws the first episode's tool against its target (x, y, z), the gripper, and the
// distribution of inference latency over every episode.
func (e *evalTap) plot(path string, r *evalReport, lat telemetry.Snapshot) error {
	var panels []panel
	for k, axis := range []string{"x", "y", "z"} {
		var tool, tgt plotter.XYs
		for _, p := range e.trace {
			tool = append(tool, plotter.XY{X: p.t, Y: p.tool[k]})
			tgt = append(tgt, plotter.XY{X: p.t, Y: p.target[k]})
		}
		panels = append(panels, panel{Title: fmt.Sprintf("episode 0 (seed %d): tool %s", r.Seed, axis), XLabel: "s", YLabel: "m",
			Lines: []series{{Name: "tool (measured)", XY: tool}, {Name: "target (policy, after safety)", XY: tgt, Dashed: true}}})
	}
	var grip, cmd plotter.XYs
	for _, p := range e.trace {
		if !math.IsNaN(p.grip) {
			grip = append(grip, plotter.XY{X: p.t, Y: p.grip})
		}
		if !math.IsNaN(p.cmd) {
			cmd = append(cmd, plotter.XY{X: p.t, Y: p.cmd})
		}
	}
	gp := panel{Title: "gripper opening", XLabel: "s", YLabel: "m"}
	if len(grip) > 1 {
		gp.Lines = append(gp.Lines, series{Name: "measured", XY: grip})
	}
	if len(cmd) > 1 {
		gp.Lines = append(gp.Lines, series{Name: "commanded", XY: cmd, Dashed: true})
	}
	if len(gp.Lines) > 0 {
		panels = append(panels, gp)
	}
	if lat.Count > 0 {
		var cdf plotter.XYs
		for q := 0.0; q <= 1.0001; q += 0.01 {
			cdf = append(cdf, plotter.XY{X: float64(lat.Quantile(min(q, 1))) / 1e6, Y: 100 * q})
		}
		panels = append(panels, panel{Title: fmt.Sprintf("inference latency, %d chunks (wall clock)", lat.Count), XLabel: "ms", YLabel: "% of chunks at or below",
			Lines: []series{{Name: "cumulative", XY: cdf}}})
	}
	return plotPanels(path, panels)
}
