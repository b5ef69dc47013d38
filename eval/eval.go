// Package eval evaluates a policy closed-loop on the pick-and-place task (docs/task.md):
// seeded episodes run through the whole daemon path a real arm uses (cameras, perception,
// policy, chunk executor, safety, impedance controller) on a system.System, in lockstep
// on the embedded simulator or in real time over ROS against a task served by robotd sim.
// It owns the episode loop, the report (eval.json, Report) with its Wilson interval, the
// scene videos and the plot (WriteFiles); it also runs a policy offline over a recorded dataset
// (Offline). robotd eval and eval-offline parse flags and print around it.
package eval

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/policy/chunk"
	"github.com/robotd/robotd/system"
)

// Options say which episodes an Evaluator runs and what it records.
type Options struct {
	// Episodes is how many episodes to run (at least 1); episode i starts from the cube
	// pose of Seed+i.
	Episodes int
	Seed     int64
	// Dir is where the videos go (episode_000.mp4, ...); the caller creates it.
	Dir string
	// Videos is how many of the first episodes get a video of the scene (lockstep only:
	// over ROS the scene is rendered by the task's side, and no video is made). NewVideo
	// makes one (nil: no videos).
	Videos   int
	NewVideo func(path string) (Video, error)
	// CameraNoise is the Gaussian pixel noise (8-bit levels) the launch file's cameras
	// were given (Overrides), for the report.
	CameraNoise float64
	// OnEpisode, when set, is told of every episode counted in the report, from the
	// goroutine that called Run (progress lines, a shard's heartbeat).
	OnEpisode func(Progress)
}

// Progress is what Options.OnEpisode is told after an episode.
type Progress struct {
	Index   int     // the episode's index (0-based; its seed is Options.Seed + Index)
	Episode Episode // its outcome
	// Fault is the fault that ended it and counts it as failed (the policy fault, or over
	// ROS state_stale); nil otherwise.
	Fault error
	// Successes and Done count the report's episodes so far; Elapsed is the wall time
	// since Run began.
	Successes, Done int
	Elapsed         time.Duration
}

// ErrInterrupted is Run's error when a stop request (SIGINT) came before the first
// episode ended: there is nothing to report.
var ErrInterrupted = errors.New("eval: interrupted before the first episode ended")

// Evaluator runs evaluation episodes on a system whose daemon it serves.
type Evaluator struct {
	opts    Options
	s       *system.System
	d       *daemon.Daemon
	done    func() error
	eps     episodeSource
	ros     *rosEpisodes // over ROS (nil in lockstep)
	probe   *probe
	tap     *tap
	rep     Report // the header, filled by New
	overROS bool

	interrupted atomic.Int32
}

// New installs the episodes (the embedded simulator's task in lockstep, or the task's ROS
// topics when the launch file's arm is a ROS arm), the probe and the video tap in s's
// Ports, then builds and serves the daemon (SIGINT stops the episode under way; Run then
// reports the episodes before it). A system without a policy is an error. Close stops
// what New started.
func New(ctx context.Context, s *system.System, o Options) (_ *Evaluator, err error) {
	f := s.File
	if f.Policy == nil || s.Ports.Policy == nil {
		return nil, fmt.Errorf("eval: %s has no policy section (robotd eval runs a policy; see launch/pickplace_diffusion.yaml)", f.Path())
	}
	e := &Evaluator{opts: o, s: s, overROS: f.Arm.Driver == launch.DriverROS}
	if e.overROS {
		e.opts.Videos = 0 // the scene is rendered in robotd sim
		if e.ros, err = newROSEpisodes(ctx, s, o.Seed); err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		e.eps = e.ros
	} else {
		te, err := s.NewTaskEpisodes(false, o.Seed, nil) // checks for the pick-and-place scene
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		e.eps = &simEpisodes{TaskEpisodes: te}
	}
	e.probe = &probe{inner: s.Ports.EndWhen, stamps: e.overROS}
	s.Ports.EndWhen = e.probe.endWhen
	e.tap = &tap{newVideo: o.NewVideo}
	s.Ports.Recorder = e.tap
	if e.d, e.done, err = s.Serve(ctx, func() { e.interrupted.Add(1) }); err != nil {
		return nil, err
	}
	e.probe.st = e.d.Servo().State() // read by the control loop only, after Run began
	e.rep = Report{Launch: f.Path(), Bundle: f.Policy.Bundle, Executor: string(s.Ports.Policy.Executor.Strategy),
		Latency: f.Policy.LockstepLatency.String(), CameraNoise: o.CameraNoise, Seed: o.Seed}
	if e.rep.Executor == "" {
		e.rep.Executor = "default"
	}
	if e.overROS {
		e.rep.Latency = "real (over ROS)"
	}
	return e, nil
}

// Header is the report's description of the evaluation (launch file, bundle, executor,
// latency, noise, seed) before any episode.
func (e *Evaluator) Header() Report { return e.rep }

// Close stops the actors New started and the signal handling; it returns an actor's
// failure.
func (e *Evaluator) Close() error { return e.done() }

// Run runs the episodes and returns the report, aggregates filled. An episode ended by
// the policy fault (or over ROS by state_stale) counts as failed and the next one is
// reset; any other fault ends the evaluation with an error that wraps the
// *daemon.Fault. After a stop request the report covers the episodes before it
// (Report.Interrupted); before the first one ended Run returns ErrInterrupted.
func (e *Evaluator) Run(ctx context.Context) (*Report, error) {
	rep := e.rep
	start := time.Now()
	for i := 0; i < e.opts.Episodes && e.interrupted.Load() == 0; i++ {
		r, fault, ended, err := e.episode(ctx, i)
		if err != nil {
			return nil, err
		}
		if r.Fault != "" {
			rep.Faulted++
			if r.Fault == "policy" {
				rep.PolicyFaults++
			}
		}
		if e.interrupted.Load() > 0 || !ended {
			break
		}
		rep.add(r)
		if e.opts.OnEpisode != nil {
			e.opts.OnEpisode(Progress{Index: i, Episode: r, Fault: fault, Successes: rep.Successes, Done: len(rep.PerEpisode), Elapsed: time.Since(start)})
		}
	}
	rep.Wall = time.Since(start).Seconds()
	if len(rep.PerEpisode) == 0 {
		return nil, ErrInterrupted
	}
	sum := e.d.Summary()
	rep.fill(sum)
	rep.PeakSpeed = e.probe.peak
	if e.ros != nil {
		rep.ROS = newROSReport(sum, e.probe, e.ros)
	}
	if st := e.s.Ports.Policy.Steering; st != nil && sum.Steering != nil {
		rep.Steering = newSteering(st.Config(), sum.Steering)
	}
	rep.Interrupted = e.interrupted.Load() > 0
	return &rep, nil
}

// episode runs episode i. fault is the fault that ended it as a failed episode; ended is
// false when a stop request ended it before the task's done.
func (e *Evaluator) episode(ctx context.Context, i int) (r Episode, fault error, ended bool, err error) {
	if err := e.eps.begin(ctx, i); err != nil {
		return r, nil, false, err
	}
	var video string
	if i < e.opts.Videos {
		video = filepath.Join(e.opts.Dir, fmt.Sprintf("episode_%03d.mp4", i))
	}
	if err := e.tap.begin(video, i == 0); err != nil {
		return r, nil, false, err
	}
	runErr := e.d.Run(ctx)
	if err := e.tap.end(); err != nil {
		return r, nil, false, err
	}
	var f *daemon.Fault
	switch {
	case runErr != nil && errors.As(runErr, &f) && e.interrupted.Load() == 0 &&
		(f.Kind == "policy" || e.overROS && f.Kind == "state_stale"):
		// The policy failing, or over ROS a late joint state (the machine's, not the
		// policy's): the arm got its safe stop; the episode counts as failed and the
		// next one is reset.
		return Episode{Seed: e.opts.Seed + int64(i), Fault: f.Kind, Video: video}, runErr, true, nil
	case runErr != nil && errors.As(runErr, &f):
		return r, nil, false, fmt.Errorf("eval: episode %d (seed %d): %w", i, e.opts.Seed+int64(i), runErr)
	case runErr != nil:
		return r, nil, false, runErr
	}
	r, ended, err = e.eps.outcome(ctx)
	r.Video = video
	return r, nil, ended, err
}

// WriteFiles writes the report as eval.json and the plot as eval.png (when the first
// episode left a trace: its tool against its target, the gripper, the distribution of
// inference latency over every episode) into dir, and returns the evaluation's files:
// eval.json, the videos, eval.png.
func (e *Evaluator) WriteFiles(dir string, r *Report) ([]string, error) {
	jsonPath := filepath.Join(dir, "eval.json")
	if err := r.WriteJSON(jsonPath); err != nil {
		return nil, err
	}
	files := []string{jsonPath}
	for _, ep := range r.PerEpisode {
		if ep.Video != "" {
			files = append(files, ep.Video)
		}
	}
	if len(e.tap.trace) > 1 {
		p := filepath.Join(dir, "eval.png")
		if err := e.tap.plot(p, e.opts.Seed, e.d.Summary().Inference, steeringPanels(e.d.Summary().Steering)...); err != nil {
			return nil, fmt.Errorf("eval: plot: %w", err)
		}
		files = append(files, p)
	}
	return files, nil
}

// Overrides are what an evaluation may change in a launch file's policy and cameras.
type Overrides struct {
	Bundle      string        // the policy bundle's directory ("": the launch file's)
	Latency     time.Duration // policy.lockstep_latency (0: the launch file's)
	Executor    string        // policy.executor.strategy ("": the launch file's)
	CameraNoise float64       // every camera's noise at least this (8-bit levels)
	// SteerOff drops the launch file's policy.steering: the same launch file without
	// steering, for A/B runs on the same seeds.
	SteerOff bool
}

// Load reads the launch file at path for an evaluation: no duration (episodes end on the
// task's success or timeout) and the overrides applied. A launch file without a policy is
// an error.
func Load(path string, o Overrides) (*launch.File, error) {
	var noPolicy bool
	f, err := launch.LoadWith(path, func(f *launch.File) {
		f.Duration = 0
		if f.Policy == nil {
			noPolicy = true
			return
		}
		if o.Bundle != "" {
			abs, err := filepath.Abs(o.Bundle)
			if err != nil {
				abs = o.Bundle
			}
			f.Policy.Bundle = abs
		}
		if o.Latency > 0 {
			f.Policy.LockstepLatency = o.Latency
		}
		if o.Executor != "" {
			f.Policy.Executor.Strategy = chunk.Strategy(o.Executor)
		}
		if o.SteerOff {
			f.Policy.Steering = nil
		}
		for i := range f.Cameras {
			f.Cameras[i].Noise = max(f.Cameras[i].Noise, o.CameraNoise)
		}
	})
	if err != nil {
		return nil, err
	}
	if noPolicy {
		return nil, fmt.Errorf("eval: %s has no policy section (robotd eval runs a policy; see launch/pickplace_diffusion.yaml)", f.Path())
	}
	return f, nil
}
