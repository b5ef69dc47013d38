package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/trace"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/perception/cv"
	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/chunk"
	"github.com/robotd/robotd/policy/onnx"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/telemetry"
)

// exitFault is the exit status of a run that ended in the safe stop.
const exitFault = 3

// defaultLaunch is the launch file `robotd run` uses without --launch.
const defaultLaunch = "launch/sim.yaml"

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	path := fs.String("launch", defaultLaunch, "launch file (launch/*.yaml; keys documented in launch/launch.go)")
	duration := fs.Duration("duration", -1, "override the launch file's duration (0: until stopped)")
	listen := fs.String("listen", "", "override telemetry.listen (host:port, :0, or off; no host means 127.0.0.1, 0.0.0.0:PORT every interface)")
	summaryJSON := fs.String("summary-json", "", "also write the exit summary as JSON to this file")
	traceFile := fs.String("trace", "", "write a Go execution trace of the run to this file (go tool trace; for latency hunts)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *traceFile != "" {
		tf, err := os.Create(*traceFile)
		if err != nil {
			return fmt.Errorf("--trace: %w", err)
		}
		defer tf.Close()
		if err := trace.Start(tf); err != nil {
			return fmt.Errorf("--trace: %w", err)
		}
		defer trace.Stop()
	}
	f, err := launch.Load(*path)
	if err != nil {
		return err
	}
	if *duration >= 0 {
		f.Duration = *duration
	}
	if *listen != "" {
		f.Telemetry.Listen = *listen
	}
	return runLaunch(ctx, f, *summaryJSON, stdout, stderr)
}

// runLaunch wires the launch file's components and runs the daemon until the run ends.
func runLaunch(ctx context.Context, f *launch.File, summaryJSON string, stdout, stderr io.Writer) error {
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[f.Telemetry.LogLevel]
	w, log, err := wireLogged(ctx, f, stderr, level)
	if err != nil {
		return err
	}
	defer w.close()

	reg := telemetry.NewRegistry()
	d, err := w.daemon(f, log, reg)
	if err != nil {
		return err
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if f.Telemetry.Listen != "off" {
		srv, err := telemetry.Serve(runCtx, f.Telemetry.Listen, reg, telemetry.Handlers{
			Ready: d.Ready,
			Stop:  func(reason string) { d.Stop(reason, false) },
		})
		if err != nil {
			return err
		}
		defer srv.Wait()
		log.Info("telemetry", "metrics", "http://"+srv.Addr()+"/metrics")
		if !srv.Loopback() {
			log.Warn("telemetry: listening beyond loopback: anyone who reaches this address can POST /stop (no authentication)",
				"listen", srv.Addr())
		}
	}
	defer stopOnSignals(d, nil)()
	defer w.start(runCtx)()
	defer cancel()
	log.Info("run", "launch", f.Path(), "mode", f.Mode, "arm", f.Arm.Driver, "period", f.Control.Period(), "duration", f.Duration)
	start := time.Now()
	var gc0 debug.GCStats
	debug.ReadGCStats(&gc0)
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	runErr := d.Run(ctx)
	cancel()

	s := d.Summary()
	s.Wall = time.Since(start)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.Heap, s.Mallocs = ms.HeapInuse, ms.Mallocs-ms0.Mallocs
	var gc1 debug.GCStats
	debug.ReadGCStats(&gc1)
	s.GCPauses = gcSnapshot(gc1.Pause[:min(len(gc1.Pause), int(gc1.NumGC-gc0.NumGC))])
	fmt.Fprintf(stdout, "\nrobotd run %s: %v wall\n", f.Name, s.Wall.Round(time.Millisecond))
	s.Write(stdout)
	if summaryJSON != "" {
		data, err := json.MarshalIndent(s.JSON(), "", "  ")
		if err == nil {
			err = os.WriteFile(summaryJSON, append(data, '\n'), 0o644)
		}
		if err != nil {
			return fmt.Errorf("--summary-json: %w", err)
		}
	}
	if runErr != nil {
		var fault *daemon.Fault
		if errors.As(runErr, &fault) {
			return exitError{code: exitFault, err: runErr}
		}
		return runErr
	}
	return nil
}

// daemonConfig is the daemon's configuration from a launch file and what wire built.
func daemonConfig(f *launch.File, w *wiring, log *slog.Logger, reg *telemetry.Registry) daemon.Config {
	cfg := daemon.Config{
		Period:   f.Control.Period(),
		Lockstep: f.Mode == launch.ModeLockstep,
		Servo: daemon.ServoConfig{
			Cartesian: control.CartesianConfig{
				Stiffness:          [6]float64(f.Control.Stiffness),
				NullspaceStiffness: f.Control.NullspaceStiffness,
				MaxTorqueRate:      f.Control.MaxTorqueRate,
				FilterRate:         f.Control.FilterRate,
			},
			Joint: control.JointConfig{MaxTorqueRate: f.Control.MaxTorqueRate, FilterRate: f.Control.FilterRate},
			Safety: control.SafetyConfig{PositionMargin: f.Safety.PositionMargin, VelocitySoft: f.Safety.VelocitySoft,
				MaxTorqueRate: f.Control.MaxTorqueRate},
		},
		Home:          w.home,
		HomeTolerance: f.Control.HomeTolerance,
		HomeTimeout:   f.Control.HomeTimeout,
		StopRamp:      f.Control.StopRamp,
		StateStale:    f.Watchdog.StateStale,
		RTPriority:    *f.Control.RTPriority,
		Duration:      f.Duration,
		Logger:        log,
		Metrics:       reg,
	}
	if f.Arm.Driver == launch.DriverROS {
		// The wait for a fresh joint state before the arm is taken over.
		cfg.StartTimeout = f.Arm.ROS.ConnectTimeout
	}
	if b := f.Safety.Workspace; b != nil {
		cfg.Servo.Safety.Workspace = control.Box{Min: [3]float64(b.Min), Max: [3]float64(b.Max)}
	}
	if !cfg.Lockstep {
		// More Ps than cores: a busy goroutine must not keep the control loop's thread
		// from getting a P after its wake-up (../shared/SETUP.md, "A 1 kHz loop in Go").
		runtime.GOMAXPROCS(max(8, 4*runtime.NumCPU()))
		// Few collections: each one stops the world, the control loop's thread included,
		// and on a loaded machine a stop waits for every thread to be scheduled (pauses
		// of 200-300 ms were seen beside other jobs). goroslib allocates per message: a
		// 640x480 rgb8 camera at 30 Hz alone is 27 MB/s, a collection every 2 s at GOGC
		// 400. So no proportional collection at all: the heap is collected when it
		// reaches the 1 GiB soft limit (about every 40 s with such a camera; the live
		// heap is tens of MiB). $GOGC / $GOMEMLIMIT, when set, win.
		if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(-1)
		}
		if os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(1 << 30)
		}
	}
	return cfg
}

func gcSnapshot(pauses []time.Duration) telemetry.Snapshot {
	var q telemetry.Quantiles
	for _, p := range pauses {
		q.Record(p)
	}
	return q.Snapshot()
}

// exitError carries a specific exit status.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// wiring holds what runLaunch built from a launch file.
type wiring struct {
	ports      daemon.Ports
	home       []float64
	simArm     *mujoco.Arm          // the embedded simulator's arm (sim driver only)
	simCams    []*simCamera         // its cameras (lockstep: stepped by ports.Step)
	cams       []*perception.Latest // every camera, in the launch file's order
	readers    []*perception.Latest // cameras read by their own goroutine
	background []func(context.Context)
	// stoppers are handed the daemon's Stop once it exists (stop requests from ROS).
	stoppers []func(stop func(reason string, immediate bool))
	// metrics are handed the daemon's registry once it exists (the ROS driver's counters).
	metrics []func(reg *telemetry.Registry)
	closers []func()
}

// daemon builds the daemon for the launch file on this wiring, hands its Stop to whatever
// takes stop requests (ROS stop topics) and its registry to whatever exports metrics of
// its own (the ROS driver's counters).
func (w *wiring) daemon(f *launch.File, log *slog.Logger, reg *telemetry.Registry) (*daemon.Daemon, error) {
	d, err := daemon.New(daemonConfig(f, w, log, reg), w.ports)
	if err != nil {
		return nil, err
	}
	for _, s := range w.stoppers {
		s(d.Stop)
	}
	for _, m := range w.metrics {
		m(d.Metrics())
	}
	return d, nil
}

// start runs the camera readers and the background work until ctx ends; the function it
// returns waits for them.
func (w *wiring) start(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	for _, l := range w.readers {
		wg.Add(1)
		go func() { defer wg.Done(); _ = l.Run(ctx) }()
	}
	for _, fn := range w.background {
		wg.Add(1)
		go func() { defer wg.Done(); fn(ctx) }()
	}
	return wg.Wait
}

// serve is how the episode commands (record, replay, eval) bring the daemon up: built
// from the wiring with a fresh metrics registry, SIGINT/SIGTERM mapped to its stops
// (onSignal, when set, is told of each), readers and background work started. done
// cancels them, waits for them and ends the signal handling, in that order.
func (w *wiring) serve(ctx context.Context, f *launch.File, log *slog.Logger, onSignal func()) (d *daemon.Daemon, done func(), err error) {
	if d, err = w.daemon(f, log, telemetry.NewRegistry()); err != nil {
		return nil, nil, err
	}
	stopSignals := stopOnSignals(d, onSignal)
	runCtx, cancel := context.WithCancel(ctx)
	wait := w.start(runCtx)
	return d, func() { cancel(); wait(); stopSignals() }, nil
}

// stopOnSignals maps SIGINT/SIGTERM to the daemon's stops: the first ramps to a hold and
// stops, a second one commands the safe stop at once. onSignal, when set, is told of
// each. The function it returns ends the handling; call it once the run is over, not
// when a context ends: the first SIGINT also cancels main's context, and the second must
// still be read.
func stopOnSignals(d *daemon.Daemon, onSignal func()) (stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case s := <-sigs:
				n++
				if onSignal != nil {
					onSignal()
				}
				d.Stop("signal "+s.String(), n > 1)
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(sigs); close(done) }
}

func (w *wiring) close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
}

// wireLogged makes the logger the launch file asks for (writing to stderr, at level) and
// wires the launch file's parts with it.
func wireLogged(ctx context.Context, f *launch.File, stderr io.Writer, level slog.Level) (*wiring, *slog.Logger, error) {
	log, err := telemetry.NewLogger(stderr, f.Telemetry.LogFormat, level)
	if err != nil {
		return nil, nil, err
	}
	w, err := wire(ctx, f, log)
	return w, log, err
}

// wire builds the arm, the cameras and the policy; everything is checked before anything
// moves. Every resource is loaded and checked before robotd connects to a ROS arm, so
// that a missing file fails before robotd appears on the robot's ROS graph: the robot
// model (and the joint names' mapping onto it), the policy bundle on ONNX Runtime, the
// camera pipelines; the ROS connection comes last.
func wire(ctx context.Context, f *launch.File, log *slog.Logger) (_ *wiring, err error) {
	w := &wiring{}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	scene := sim.Scene{Model: f.Arm.Model, Tool: f.Arm.Tool}.WithDefaults()
	if err := scene.CheckModel(); err != nil {
		return nil, err
	}
	robot, err := control.ParseMJCF(scene.Model, scene.Tool)
	if err != nil {
		return nil, err
	}
	w.ports.Robot = robot
	if f.Arm.Driver == launch.DriverROS {
		joints, err := f.ROSJoints(robot.JointNames())
		if err != nil {
			return nil, err
		}
		w.ports.Robot = robotNamed(robot, joints)
	}
	var policyCams []string
	if f.Policy != nil {
		if policyCams, err = wirePolicy(f, w); err != nil {
			return nil, err
		}
	}
	var simCams []*simCamera
	switch f.Arm.Driver {
	case launch.DriverSim:
		arm, err := mujoco.NewArm(scene)
		if err != nil {
			return nil, err
		}
		w.closers = append(w.closers, arm.Close)
		w.ports.Arm = arm
		w.ports.ArmName = "arm.sim " + scene.Model
		w.simArm = arm
		w.ports.Clock = arm.Now
		if f.Control.Home != nil {
			w.home = f.Control.Home
		} else {
			// The scene's home keyframe: the arm starts there, homing is immediate.
			st := drivers.NewState(arm.Info())
			if err := arm.ReadState(st); err != nil {
				return nil, err
			}
			w.home = st.Q
		}
		// Lockstep renders from the stepping Sim between ticks (reproducible); realtime
		// renders from a mirror Sim on its own goroutine (the loop never waits for it).
		renderSim := arm.Sim()
		realtime := f.Mode == launch.ModeRealtime && len(f.Cameras) > 0
		if realtime {
			if renderSim, err = mujoco.Load(scene.Model); err != nil {
				return nil, err
			}
			w.closers = append(w.closers, renderSim.Close)
		}
		renderers := map[[2]int]*mujoco.Renderer{}
		for _, c := range f.Cameras {
			if c.Source != launch.SourceSim {
				return nil, fmt.Errorf("camera %s: source %s with the sim driver: not supported (use sim cameras)", c.Name, c.Source)
			}
			size := [2]int{c.Width, c.Height}
			r := renderers[size]
			if r == nil {
				if r, err = mujoco.NewRenderer(renderSim, c.Width, c.Height); err != nil {
					return nil, fmt.Errorf("camera %s: %w", c.Name, err)
				}
				renderers[size] = r
				w.closers = append(w.closers, r.Close)
			}
			cam, err := mujoco.NewCamera(r, mujoco.CameraConfig{Camera: c.SimCamera, Name: c.Name, Noise: c.Noise, NoiseSeed: uint64(len(simCams))})
			if err != nil {
				return nil, fmt.Errorf("camera %s: %w", c.Name, err)
			}
			l, err := perception.NewLatest(cam, freshness(f), arm.Now)
			if err != nil {
				return nil, err
			}
			simCams = append(simCams, &simCamera{latest: l, every: time.Duration(float64(time.Second) / c.RateHz)})
		}
		if realtime {
			mr := newMirrorRenderer(arm.Sim(), renderSim, simCams)
			w.background = append(w.background, mr.run)
			w.ports.Step = func(d time.Duration) error {
				if _, err := arm.Tick(d); err != nil {
					return err
				}
				mr.offer(arm.Now())
				return nil
			}
		} else {
			// Rendering belongs to the control loop, which outlives a cancelled ctx
			// (stop ramp).
			w.ports.Step = simStepper(context.Background(), arm, simCams)
		}
	case launch.DriverROS:
		if err := wireROS(ctx, f, w, log); err != nil {
			return nil, err
		}
	}
	w.simCams = simCams
	for _, c := range simCams {
		w.cams = append(w.cams, c.latest)
	}
	w.cams = append(w.cams, w.readers...)
	if w.ports.Policy != nil {
		if err := attachPolicyCameras(w.ports.Policy, policyCams, w.cams); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// robotNamed returns robot with its joints named as the arm names them (names[i] is
// model joint i, launch.File.ROSJoints): the servo's check of the arm's joints, the
// safety layer's messages and recorded datasets then use the robot's names, while the
// kinematics and the limits stay the model's. robot itself is not changed.
func robotNamed(robot *control.Robot, names []string) *control.Robot {
	if slices.Equal(robot.JointNames(), names) {
		return robot
	}
	r := *robot
	r.Joints = slices.Clone(robot.Joints)
	for i := range r.Joints {
		r.Joints[i].Name = names[i]
	}
	return &r
}

func freshness(f *launch.File) perception.Freshness {
	return perception.Freshness{MaxAge: f.Watchdog.CameraStale, FrozenAfter: time.Duration(f.Watchdog.CameraFrozen)}
}

// simCamera is a camera of the embedded simulator, rendered by the stepping goroutine
// between ticks when its period has passed in simulated time.
type simCamera struct {
	latest *perception.Latest
	every  time.Duration
	next   time.Duration
}

// due reports whether a frame is due at simulated time now and, if so, schedules the
// next one (no burst of frames after falling behind).
func (c *simCamera) due(now time.Duration) bool {
	if now < c.next {
		return false
	}
	c.next += c.every
	if c.next <= now {
		c.next = now + c.every
	}
	return true
}

// simStepper advances the simulated arm by one period and renders the cameras that are due.
func simStepper(ctx context.Context, arm *mujoco.Arm, cams []*simCamera) func(time.Duration) error {
	return func(d time.Duration) error {
		if _, err := arm.Tick(d); err != nil {
			return err
		}
		now := arm.Now()
		for _, c := range cams {
			if c.due(now) {
				if err := c.latest.Step(ctx); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// wirePolicy loads the bundle on ONNX Runtime (searched from the launch file's directory
// first, policy/onnx.Library) and builds the preprocessing of each camera the policy
// reads, before any camera or arm is connected. It returns the names of those cameras,
// in the order of w.ports.Policy.Preprocess, for attachPolicyCameras.
func wirePolicy(f *launch.File, w *wiring) (cameras []string, err error) {
	p := f.Policy
	opts := onnx.Options{Library: p.Library, Threads: p.Threads}
	if d := f.Dir(); d != "" {
		opts.Search = []string{d}
	}
	pol, err := policy.Load(p.Bundle, onnx.Opener(opts), policy.Options{Seed: p.Seed})
	if err != nil {
		return nil, err
	}
	w.closers = append(w.closers, func() { pol.Close() })
	action, err := daemon.ParseSpace(p.Action)
	if err != nil {
		return nil, fmt.Errorf("policy.action: %w", err)
	}
	state, err := daemon.ParseSpace(p.State)
	if err != nil {
		return nil, fmt.Errorf("policy.state: %w", err)
	}
	pp := &daemon.PolicyPorts{
		Policy: pol, Action: action, State: state,
		MaxSkew: f.Watchdog.MaxSkew, LockstepLatency: p.LockstepLatency,
		MaxFailures: f.Watchdog.PolicyFailures, ChunkTimeout: f.Watchdog.ChunkTimeout,
		Executor: chunk.Config{
			Strategy: chunk.Strategy(p.Executor.Strategy), NActionSteps: p.Executor.NActionSteps,
			EnsembleK: p.Executor.EnsembleK, Blend: chunk.Blend(p.Executor.Blend),
			BlendWindow: p.Executor.BlendWindow, Interp: chunk.Interp(p.Executor.Interp),
		},
	}
	for _, c := range f.Cameras {
		feat := findFeature(pol.Bundle, "observation.images."+c.Name)
		if feat == nil {
			continue
		}
		pl, err := featurePipeline(feat, c.Pipeline, c.Width, c.Height)
		if err != nil {
			return nil, fmt.Errorf("camera %s: %w", c.Name, err)
		}
		w.closers = append(w.closers, func() { pl.Close() })
		pp.Preprocess = append(pp.Preprocess, pl)
		cameras = append(cameras, c.Name)
	}
	w.ports.Policy = pp
	return cameras, nil
}

// attachPolicyCameras hands the policy the cameras wirePolicy built preprocessing for
// (names, in that order), from cams, once they exist.
func attachPolicyCameras(pp *daemon.PolicyPorts, names []string, cams []*perception.Latest) error {
	for _, name := range names {
		i := slices.IndexFunc(cams, func(l *perception.Latest) bool { return l.Name() == name })
		if i < 0 {
			return fmt.Errorf("camera %s: the policy reads it but it was not set up", name)
		}
		pp.Cameras = append(pp.Cameras, cams[i])
	}
	return nil
}

// featurePipeline builds the preprocessing from width x height RGB frames to a policy's
// image feature: the launch file's pipeline when it gives one, else a resize to the
// feature's size. The pipeline must make exactly the feature's values.
func featurePipeline(feat *policy.Feature, custom *perception.PipelineConfig, width, height int) (*cv.Pipeline, error) {
	pc := perception.PipelineConfig{}
	if custom != nil {
		pc = *custom
	} else if len(feat.Shape) == 3 {
		pc.Resize = &perception.ResizeConfig{Width: feat.Shape[2], Height: feat.Shape[1]}
	}
	pl, err := cv.NewPipeline(pc, width, height, perception.RGB8, nil)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	if pl.Len() != feat.Size {
		pl.Close()
		return nil, fmt.Errorf("the pipeline makes %d values (%v) from %dx%d frames, policy feature %s wants %v",
			pl.Len(), shapeString(pl.Shape()), width, height, feat.Name, feat.Shape)
	}
	return pl, nil
}

func findFeature(b *policy.Bundle, name string) *policy.Feature {
	for i := range b.Observations {
		if b.Observations[i].Name == name {
			return &b.Observations[i]
		}
	}
	return nil
}

func shapeString(c, h, w int) string { return fmt.Sprintf("%dx%dx%d", c, h, w) }
