// Package system builds the running robotd system from a launch file and runs it: the
// composition root every command, the daemon's tests and the benchmarks use.
//
// New loads and checks every resource a launch file names (robot model, policy bundle on
// ONNX Runtime, camera pipelines) before it connects to anything that moves, connects the
// arm (embedded MuJoCo or ROS) last, and returns a System whose Ports a command may still
// adjust (an episode end, a recorder, a scripted source) before the daemon is built.
// Run (or Serve, for commands that run several episodes) builds the daemon, starts the
// actors (camera readers, render and metrics goroutines) in one group, and stops them;
// Close releases everything in the reverse order of acquisition, written in one place:
// System.closers.
package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/internal/rt"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/telemetry"
)

// ExitFault is the exit status of a command whose run ended in a fault (the safe stop).
const ExitFault = 3

// ExitInterrupted is the exit status of a command stopped by SIGINT before it finished.
const ExitInterrupted = 130

// IsFault reports whether err is (or wraps) a daemon fault.
func IsFault(err error) bool {
	var f *daemon.Fault
	return errors.As(err, &f)
}

// System is what New built from a launch file.
type System struct {
	File *launch.File
	Log  *slog.Logger
	// Ports is handed to the daemon by Daemon, Run and Serve; commands may set EndWhen,
	// Recorder and Source before that.
	Ports daemon.Ports
	// Home is the arm's home configuration (the launch file's, else the sim scene's
	// keyframe; nil for a ROS arm without control.home: the daemon homes to where it is).
	Home []float64
	// SimArm is the embedded simulator's arm (arm.driver: sim; nil otherwise), Feeds its
	// cameras (lockstep: rendered by Ports.Step).
	SimArm *mujoco.Arm
	Feeds  []*mujoco.Feed
	// simCams are the Feeds' cameras (their noise is reseeded per episode).
	simCams []*mujoco.Camera
	// Cameras is every camera, in the launch file's order.
	Cameras []*perception.Latest

	readers []*perception.Latest  // cameras read by their own goroutine
	actors  []actor               // background work, run in the group with the readers
	onStop  []func(stop StopFunc) // handed the daemon's Stop once it exists (ROS stop topics)
	onReg   []func(*telemetry.Registry)
	closers []func()     // released by Close, last first
	page    http.Handler // the operator page on the telemetry server (Viz)
}

// StopFunc is the daemon's Stop.
type StopFunc = func(reason string, immediate bool)

type actor struct {
	name string
	run  func(context.Context) error
}

// Logger makes the logger a launch file asks for (telemetry.log_format), writing to w at
// level.
func Logger(f *launch.File, w io.Writer, level slog.Level) (*slog.Logger, error) {
	return telemetry.NewLogger(w, f.Telemetry.LogFormat, level)
}

// LogLevel is the launch file's telemetry.log_level.
func LogLevel(f *launch.File) slog.Level {
	return map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[f.Telemetry.LogLevel]
}

// New builds the arm, the cameras and the policy a launch file describes; everything is
// checked before anything moves. Every resource is loaded and checked before robotd
// connects to a ROS arm, so that a missing file fails before robotd appears on the
// robot's ROS graph: the robot model (and the joint names' mapping onto it), the policy
// bundle on ONNX Runtime, the camera pipelines; the ROS connection comes last.
func New(ctx context.Context, f *launch.File, log *slog.Logger) (_ *System, err error) {
	s := &System{File: f, Log: log}
	defer func() {
		if err != nil {
			s.Close()
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
	if err := checkHome(f.Control.Home, robot); err != nil {
		return nil, err
	}
	s.Ports.Robot = robot
	if f.Arm.Driver == launch.DriverROS {
		joints, err := f.ROSJoints(robot.JointNames())
		if err != nil {
			return nil, err
		}
		s.Ports.Robot = robotNamed(robot, joints)
	}
	var policyCams []string
	if f.Policy != nil {
		if policyCams, err = s.wirePolicy(); err != nil {
			return nil, err
		}
	}
	switch f.Arm.Driver {
	case launch.DriverSim:
		if err := s.wireSim(scene); err != nil {
			return nil, err
		}
	case launch.DriverROS:
		if err := s.wireROS(ctx); err != nil {
			return nil, err
		}
	}
	for _, c := range s.Feeds {
		s.Cameras = append(s.Cameras, c.Latest)
	}
	s.Cameras = append(s.Cameras, s.readers...)
	if s.Ports.Policy != nil {
		if err := attachPolicyCameras(s.Ports.Policy, policyCams, s.Cameras); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// checkHome refuses a control.home outside the model's joint limits: the arm would push
// against the joint-limit walls until the home timeout.
func checkHome(home []float64, robot *control.Robot) error {
	if home == nil {
		return nil
	}
	if len(home) != len(robot.Joints) {
		return fmt.Errorf("control.home has %d values, the robot model %d joints (%v)", len(home), len(robot.Joints), robot.JointNames())
	}
	for i, j := range robot.Joints {
		if j.Limited && (home[i] < j.Lower || home[i] > j.Upper) {
			return fmt.Errorf("control.home[%d] = %g: joint %s's limits are [%g, %g]", i, home[i], j.Name, j.Lower, j.Upper)
		}
	}
	return nil
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

// Daemon builds the daemon on the system's Ports, with reg as its metrics registry (nil:
// a fresh one), and hands its Stop to whatever takes stop requests (ROS stop topics) and
// its registry to whatever exports metrics of its own (the ROS driver's counters).
func (s *System) Daemon(reg *telemetry.Registry) (*daemon.Daemon, error) {
	return s.DaemonWith(reg, nil)
}

// DaemonWith is Daemon with the daemon's configuration passed through edit (when not nil)
// before the daemon is built: for tests and benchmarks that need what a launch file does
// not express (no homing, a 5 ms state_stale, an injected clock or logger). edit sees the
// configuration Daemon would use (the launch file's values, Metrics set to reg or a fresh
// registry); whatever it leaves zero takes daemon.Config's defaults.
func (s *System) DaemonWith(reg *telemetry.Registry, edit func(*daemon.Config)) (*daemon.Daemon, error) {
	if reg == nil {
		reg = telemetry.NewRegistry()
	}
	if s.File.Mode != launch.ModeLockstep {
		// For the rest of the process (robotd runs one system). The 1 GiB heap limit: goroslib
		// allocates per message, a 640x480 rgb8 camera at 30 Hz alone 27 MB/s, so a
		// collection about every 40 s with such a camera (the live heap is tens of MiB).
		rt.TuneRuntime(1 << 30)
	}
	cfg := s.daemonConfig(reg)
	if edit != nil {
		edit(&cfg)
	}
	d, err := daemon.New(cfg, s.Ports)
	if err != nil {
		return nil, err
	}
	for _, fn := range s.onStop {
		fn(d.Stop)
	}
	for _, fn := range s.onReg {
		fn(d.Metrics())
	}
	return d, nil
}

// start runs the camera readers and the actors in a group until ctx ends or one fails;
// a failure also stops the daemon d (a run without its cameras or metrics is not the
// run the launch file asked for).
func (s *System) start(ctx context.Context, d *daemon.Daemon) *group {
	g := newGroup(ctx)
	for _, l := range s.readers {
		g.Go("camera "+l.Name(), l.Run)
	}
	for _, a := range s.actors {
		g.Go(a.name, a.run)
	}
	go func() {
		<-g.Done()
		if err := g.Err(); err != nil {
			s.Log.Error("stopping: a part of the system failed", "err", err)
			d.Stop(err.Error(), false)
		}
	}()
	return g
}

// Serve is how the episode commands (record, replay, eval) bring the daemon up: built
// with a fresh metrics registry, SIGINT/SIGTERM mapped to its stops (onSignal, when set,
// is told of each), readers and actors started. done stops the actors, waits for them
// and ends the signal handling, in that order; it returns an actor's failure.
func (s *System) Serve(ctx context.Context, onSignal func()) (d *daemon.Daemon, done func() error, err error) {
	if d, err = s.Daemon(nil); err != nil {
		return nil, nil, err
	}
	stopSignals := StopOnSignals(d, onSignal)
	g := s.start(ctx, d)
	return d, func() error { err := g.Stop(); stopSignals(); return err }, nil
}

// RunOptions is what Run adds around the daemon.
type RunOptions struct {
	// Registry is the daemon's metrics registry (nil: a fresh one).
	Registry *telemetry.Registry
	// Telemetry serves the registry, /health and POST /stop on the launch file's
	// telemetry.listen (unless "off").
	Telemetry bool
}

// Run builds the daemon, serves telemetry, maps SIGINT/SIGTERM to its stops, runs it
// until the run ends and returns its summary (with the wall time, heap and GC pauses of
// the run) and the run's error (a *daemon.Fault for a fault). The summary is nil only
// when the daemon could not be built.
func (s *System) Run(ctx context.Context, opts RunOptions) (*daemon.Summary, error) {
	reg := opts.Registry
	if reg == nil {
		reg = telemetry.NewRegistry()
	}
	d, err := s.Daemon(reg)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := s.File
	if opts.Telemetry && f.Telemetry.Listen != "off" {
		srv, err := telemetry.Serve(runCtx, f.Telemetry.Listen, reg, telemetry.Handlers{
			Ready: d.Ready,
			Stop:  func(reason string) { d.Stop(reason, false) },
			Extra: s.page,
		})
		if err != nil {
			return nil, err
		}
		defer srv.Wait()
		s.Log.Info("telemetry", "metrics", "http://"+srv.Addr()+"/metrics")
		if !srv.Loopback() {
			s.Log.Warn("telemetry: listening beyond loopback: anyone who reaches this address can POST /stop (no authentication)",
				"listen", srv.Addr())
		}
	}
	// Shutdown order: the daemon's run ends (its arm released), then the actors stop,
	// then the signal handling ends, then telemetry (the deferred srv.Wait above); Close
	// releases the resources afterwards.
	stopSignals := StopOnSignals(d, nil)
	defer stopSignals()
	g := s.start(runCtx, d)
	s.Log.Info("run", "launch", f.Path(), "mode", f.Mode, "arm", f.Arm.Driver, "period", f.Control.Period(), "duration", f.Duration)
	start := time.Now()
	var gc0 debug.GCStats
	debug.ReadGCStats(&gc0)
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	runErr := d.Run(ctx)
	actorErr := g.Stop()
	cancel()

	sum := d.Summary()
	sum.Wall = time.Since(start)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	sum.Heap, sum.Mallocs = ms.HeapInuse, ms.Mallocs-ms0.Mallocs
	var gc1 debug.GCStats
	debug.ReadGCStats(&gc1)
	sum.GCPauses = gcSnapshot(gc1.Pause[:min(len(gc1.Pause), int(gc1.NumGC-gc0.NumGC))])
	if runErr == nil && actorErr != nil {
		runErr = actorErr
	}
	return sum, runErr
}

func gcSnapshot(pauses []time.Duration) telemetry.Snapshot {
	var q telemetry.Quantiles
	for _, p := range pauses {
		q.Record(p)
	}
	return q.Snapshot()
}

// StopOnSignals maps SIGINT/SIGTERM to the daemon's stops: the first ramps to a hold and
// stops, a second one commands the safe stop at once. onSignal, when set, is told of
// each. The function it returns ends the handling; call it once the run is over, not
// when a context ends: the first SIGINT also cancels main's context, and the second must
// still be read.
func StopOnSignals(d *daemon.Daemon, onSignal func()) (stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case sig := <-sigs:
				n++
				if onSignal != nil {
					onSignal()
				}
				d.Stop("signal "+sig.String(), n > 1)
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(sigs); close(done) }
}

// Close releases what New acquired, last first. It is safe to call more than once.
func (s *System) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// addCloser registers a release for Close.
func (s *System) addCloser(fn ...func()) { s.closers = append(s.closers, fn...) }

// OnClose registers fn to run at Close, before everything New acquired is released (a
// command's own resources that use the system's, such as a task client on its ROS master).
func (s *System) OnClose(fn func()) { s.closers = append(s.closers, fn) }
