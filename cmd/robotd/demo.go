package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-gl/mathgl/mgl64"
	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/episode"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
)

// waypoint is one Cartesian target of the demo, held for a while.
type waypoint struct {
	Name    string
	Pos     mgl64.Vec3
	Yaw     float64 // rotation of the hand about the vertical (rad), pointing down
	Gripper float64 // finger opening (m)
	// Loaded marks targets where the hand touches or carries the cube: an impedance
	// controller settles off them by design (the cube's weight over the stiffness).
	Loaded bool
}

// demoWaypoints reaches around the table, turns the hand, then picks up the cube.
var demoWaypoints = []waypoint{
	{Name: "left", Pos: mgl64.Vec3{0.45, 0.20, 0.35}, Gripper: 0.08},
	{Name: "right", Pos: mgl64.Vec3{0.45, -0.20, 0.35}, Gripper: 0.08},
	{Name: "turn 45 deg", Pos: mgl64.Vec3{0.50, 0, 0.20}, Yaw: math.Pi / 4, Gripper: 0.08},
	{Name: "above cube", Pos: mgl64.Vec3{0.50, 0, 0.20}, Gripper: 0.08},
	{Name: "down to cube", Pos: mgl64.Vec3{0.50, 0, 0.03}, Gripper: 0.08},
	{Name: "grasp", Pos: mgl64.Vec3{0.50, 0, 0.03}, Gripper: 0, Loaded: true},
	{Name: "lift", Pos: mgl64.Vec3{0.50, 0, 0.25}, Gripper: 0, Loaded: true},
}

type demoConfig struct {
	Out      string
	Model    string
	Hold     time.Duration // time at each waypoint
	Video    bool
	VideoFPS int
	// Stiffness (N/m) and RotStiffness (Nm/rad) of the Cartesian controller; damping is
	// critical for unit mass, 2 sqrt(K), as in franka_ros.
	Stiffness, RotStiffness float64
	Progress                io.Writer
}

// sample is one row of the trace, every 10 ms of simulated time.
type sample struct {
	T              float64
	Tool, Target   mgl64.Vec3
	PosErr, RotErr float64 // tool vs target (m, rad)
	MaxTorqueRatio float64 // max over joints of |tau| / limit
	CubeZ          float64
}

// legResult is the outcome at one waypoint.
type legResult struct {
	waypoint
	SettledAfter   time.Duration // -1: not within 2 mm / 0.01 rad by the end of the hold
	PosErr, RotErr float64       // at the end of the hold
}

type demoResult struct {
	Legs                   []legResult
	Trace                  []sample
	Ticks                  int
	SimTime, Wall          time.Duration
	TickP50, TickP99, TMax time.Duration
	Safety                 control.SafetyCounters
	MinLimitMargin         float64 // closest any joint came to a position limit (rad)
	MaxTorqueRatio         float64
	CubeLifted             float64 // cube height at the end (m)
	Video                  string
	Frames                 int
}

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := demoConfig{Progress: stdout}
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
	res, err := runDemo(ctx, cfg)
	if err != nil {
		return err
	}
	summary := res.summary(cfg)
	fmt.Fprint(stdout, "\n"+summary)
	if err := os.WriteFile(filepath.Join(cfg.Out, "summary.txt"), []byte(summary), 0o644); err != nil {
		return err
	}
	if err := writeTrace(filepath.Join(cfg.Out, "trace.csv"), res.Trace); err != nil {
		return err
	}
	if err := plotDemo(filepath.Join(cfg.Out, "reach.png"), res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", strings.Join(res.outputs(cfg.Out), ", "))
	return nil
}

// demoRig is the demo's arm: the simulated scene, its robot model and the servo that
// runs the Cartesian impedance controller on it.
type demoRig struct {
	arm     *mujoco.Arm
	s       *mujoco.Sim
	robot   *control.Robot
	servo   *daemon.Servo
	ik      *control.IK
	posture []float64
	home    control.Pose
	cube    int // the cube body, -1 when the scene has none
	video   *videoWriter
	ticks   []time.Duration // servo tick durations
}

func newDemoRig(cfg demoConfig) (*demoRig, error) {
	scene := sim.Scene{Model: cfg.Model}.WithDefaults()
	arm, err := mujoco.NewArm(scene)
	if err != nil {
		return nil, err
	}
	rig := &demoRig{arm: arm, s: arm.Sim()}
	fail := func(err error) (*demoRig, error) { arm.Close(); return nil, err }
	if rig.robot, err = control.ParseMJCF(scene.Model, scene.Tool); err != nil {
		return fail(err)
	}
	k, kr := cfg.Stiffness, cfg.RotStiffness
	if rig.servo, err = daemon.NewServo(arm, rig.robot, daemon.ServoConfig{Cartesian: control.CartesianConfig{Stiffness: [6]float64{k, k, k, kr, kr, kr}}}); err != nil {
		return fail(err)
	}
	rig.cube, _ = rig.s.ID(mujoco.ObjBody, "cube") // optional: -1 when the scene has none
	if err := rig.servo.Start(daemon.ModeCartesian); err != nil {
		return fail(err)
	}
	rig.home = rig.servo.Cartesian().Tool()
	rig.ik = control.NewIK(rig.robot)
	rig.posture = make([]float64, rig.robot.DoF())
	return rig, nil
}

func (rig *demoRig) Close() {
	if rig.video != nil {
		rig.video.Close()
	}
	rig.arm.Close()
}

func runDemo(ctx context.Context, cfg demoConfig) (*demoResult, error) {
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	rig, err := newDemoRig(cfg)
	if err != nil {
		return nil, err
	}
	defer rig.Close()
	res := &demoResult{MinLimitMargin: math.Inf(1)}
	if cfg.Video {
		if rig.video, err = newVideoWriter(rig.s, "scene", filepath.Join(cfg.Out, "scene.mp4"), cfg.VideoFPS); err != nil {
			fmt.Fprintf(cfg.Progress, "no video: %v\n", err)
			rig.video = nil
		} else {
			res.Video = rig.video.path
		}
	}
	const dt = time.Millisecond
	rig.ticks = make([]time.Duration, 0, int(cfg.Hold/dt)*len(demoWaypoints))
	start := time.Now()
	for li, wp := range demoWaypoints {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("interrupted at %q: %w", wp.Name, err)
		}
		fmt.Fprintf(cfg.Progress, "[%d/%d] %-13s target %v\n", li+1, len(demoWaypoints), wp.Name, wp.Pos)
		leg, err := rig.leg(wp, int(cfg.Hold/dt), dt, res)
		if err != nil {
			return nil, err
		}
		res.Legs = append(res.Legs, leg)
	}
	res.Wall = time.Since(start)
	res.SimTime = time.Duration(res.Ticks) * dt
	res.Safety = rig.servo.Safety().Counters
	if rig.cube >= 0 {
		cp, _ := rig.s.BodyPose(rig.cube)
		res.CubeLifted = cp[2]
	}
	slices.Sort(rig.ticks)
	res.TickP50 = rig.ticks[len(rig.ticks)/2]
	res.TickP99 = rig.ticks[len(rig.ticks)*99/100]
	res.TMax = rig.ticks[len(rig.ticks)-1]
	if rig.video != nil {
		res.Frames = rig.video.frames
		if err := rig.video.Close(); err != nil {
			return nil, err
		}
		if err := rig.video.savePNG(filepath.Join(cfg.Out, "scene.png")); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// leg holds the waypoint for ticks control periods of dt, tracing into res.
func (rig *demoRig) leg(wp waypoint, ticks int, dt time.Duration, res *demoResult) (legResult, error) {
	down := mgl64.QuatRotate(wp.Yaw, mgl64.Vec3{0, 0, 1}).Mul(rig.home.Rot)
	target := control.Pose{Pos: wp.Pos, Rot: down}
	if !rig.servo.SetCartesianTarget(target) {
		return legResult{}, fmt.Errorf("waypoint %q rejected by the safety layer", wp.Name)
	}
	// A posture that reaches the target, from the current configuration, so the
	// nullspace does not pull the tool off it.
	if _, _, ok := rig.ik.Solve(rig.posture, rig.servo.State().Q, target); ok {
		rig.servo.SetNullspaceTarget(rig.posture)
	}
	if err := rig.arm.SetGripperWidth(wp.Gripper); err != nil {
		return legResult{}, err
	}
	leg := legResult{waypoint: wp, SettledAfter: -1}
	for i := 0; i < ticks; i++ {
		t0 := time.Now()
		if err := rig.servo.Tick(dt.Seconds()); err != nil {
			return leg, err
		}
		rig.ticks = append(rig.ticks, time.Since(t0))
		if _, err := rig.arm.Tick(dt); err != nil {
			return leg, err
		}
		res.Ticks++
		tool, rot := rig.arm.ToolPose()
		leg.PosErr = tool.Sub(target.Pos).Len()
		leg.RotErr = control.OrientationError(rot, target.Rot)
		if leg.PosErr > 2e-3 || leg.RotErr > 0.01 {
			leg.SettledAfter = -1
		} else if leg.SettledAfter < 0 {
			leg.SettledAfter = time.Duration(i+1) * dt
		}
		ratio := rig.observe(res)
		if res.Ticks%10 == 0 {
			smp := sample{T: rig.s.Time(), Tool: tool, Target: target.Pos, PosErr: leg.PosErr, RotErr: leg.RotErr, MaxTorqueRatio: ratio}
			if rig.cube >= 0 {
				cp, _ := rig.s.BodyPose(rig.cube)
				smp.CubeZ = cp[2]
			}
			res.Trace = append(res.Trace, smp)
		}
		if rig.video != nil {
			if err := rig.video.maybeFrame(rig.s.Time()); err != nil {
				return leg, err
			}
		}
	}
	return leg, nil
}

// observe updates the torque and joint-limit extremes and returns this tick's largest
// torque over its limit.
func (rig *demoRig) observe(res *demoResult) float64 {
	st := rig.servo.State()
	ratio := 0.0
	for j, jt := range rig.robot.Joints {
		ratio = math.Max(ratio, math.Abs(rig.servo.Torque()[j])/jt.TorqueLimit)
		res.MinLimitMargin = math.Min(res.MinLimitMargin, math.Min(st.Q[j]-jt.Lower, jt.Upper-st.Q[j]))
	}
	res.MaxTorqueRatio = math.Max(res.MaxTorqueRatio, ratio)
	return ratio
}

func (r *demoResult) summary(cfg demoConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "robotd demo: Cartesian impedance reaching in lockstep MuJoCo at 1 kHz (K %g N/m, %g Nm/rad)\n", cfg.Stiffness, cfg.RotStiffness)
	fmt.Fprintf(&b, "%-14s %10s %10s %10s\n", "target", "settled", "pos err", "rot err")
	reached := 0
	free := 0
	for _, l := range r.Legs {
		settled := "no"
		if l.SettledAfter >= 0 {
			settled = fmt.Sprintf("%.2f s", l.SettledAfter.Seconds())
		}
		note := ""
		if l.Loaded {
			note = "  (holding the cube: compliance, not an error)"
		} else {
			free++
			if l.SettledAfter >= 0 {
				reached++
			}
		}
		fmt.Fprintf(&b, "%-14s %10s %7.2f mm %6.4f rad%s\n", l.Name, settled, l.PosErr*1e3, l.RotErr, note)
	}
	fmt.Fprintf(&b, "free-space targets reached within 2 mm / 0.01 rad: %d of %d\n", reached, free)
	if r.CubeLifted > 0 {
		fmt.Fprintf(&b, "cube height at the end: %.3f m (%s)\n", r.CubeLifted, map[bool]string{true: "lifted", false: "not lifted"}[r.CubeLifted > 0.1])
	}
	fmt.Fprintf(&b, "ticks %d, simulated %.1f s in %.2f s wall (%.1fx real time)\n",
		r.Ticks, r.SimTime.Seconds(), r.Wall.Seconds(), r.SimTime.Seconds()/r.Wall.Seconds())
	fmt.Fprintf(&b, "servo tick (read, control, safety, write): p50 %.1f us, p99 %.1f us, max %.1f us\n",
		us(r.TickP50), us(r.TickP99), us(r.TMax))
	fmt.Fprintf(&b, "closest joint-limit approach %.3f rad; peak torque %.0f %% of limit\n", r.MinLimitMargin, 100*r.MaxTorqueRatio)
	c := r.Safety
	fmt.Fprintf(&b, "safety: %d targets rejected, %d clamped, %d non-finite, %d wall ticks, %d brake ticks, %d torque clamps\n",
		c.TargetsRejected, c.TargetsClamped, c.NonFinite, c.PositionWall, c.VelocityBrake, c.TorqueClamped)
	if r.Video != "" {
		fmt.Fprintf(&b, "video: %d frames at %d fps\n", r.Frames, cfg.VideoFPS)
	}
	return b.String()
}

func (r *demoResult) outputs(dir string) []string {
	out := []string{filepath.Join(dir, "reach.png"), filepath.Join(dir, "trace.csv"), filepath.Join(dir, "summary.txt")}
	if r.Video != "" {
		out = append(out, r.Video, filepath.Join(dir, "scene.png"))
	}
	return out
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

func writeTrace(path string, trace []sample) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"t", "x", "y", "z", "target_x", "target_y", "target_z", "pos_err_m", "rot_err_rad", "max_torque_ratio", "cube_z"})
	ff := func(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
	for _, s := range trace {
		w.Write([]string{ff(s.T), ff(s.Tool[0]), ff(s.Tool[1]), ff(s.Tool[2]), ff(s.Target[0]), ff(s.Target[1]), ff(s.Target[2]),
			ff(s.PosErr), ff(s.RotErr), ff(s.MaxTorqueRatio), ff(s.CubeZ)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// videoWriter renders a camera at a fixed frame rate of simulated time into an mp4
// (episode.VideoFile: the encoder of the dataset videos, here at libx264's medium
// preset, CRF 23, a keyframe every 250 frames, for a video to watch).
type videoWriter struct {
	r      *mujoco.Renderer
	cam    int
	w, h   int
	buf    []byte
	video  *episode.VideoFile
	path   string
	period float64
	next   float64
	frames int
	closed bool
}

func newVideoWriter(s *mujoco.Sim, camera, path string, fps int) (*videoWriter, error) {
	cam, err := s.ID(mujoco.ObjCamera, camera)
	if err != nil {
		return nil, err
	}
	const w, h = 480, 360
	r, err := mujoco.NewRenderer(s, w, h)
	if err != nil {
		return nil, err
	}
	video, err := episode.CreateVideo(path, w, h, fps, episode.VideoSpec{Preset: "medium", CRF: 23, GOP: 250, Tune: "none"})
	if err != nil {
		r.Close()
		return nil, err
	}
	return &videoWriter{r: r, cam: cam, w: w, h: h, buf: make([]byte, w*h*3), video: video, path: path, period: 1 / float64(fps)}, nil
}

// maybeFrame renders and writes a frame when simulated time t reached the next frame.
func (v *videoWriter) maybeFrame(t float64) error {
	if t+1e-9 < v.next {
		return nil
	}
	v.next += v.period
	if err := v.r.RGB(v.cam, v.buf); err != nil {
		return err
	}
	if err := v.video.Write(v.buf); err != nil {
		return fmt.Errorf("video: %w", err)
	}
	v.frames++
	return nil
}

// Close finishes the video; it is safe to call twice.
func (v *videoWriter) Close() error {
	if v.closed {
		return nil
	}
	v.closed = true
	err := v.video.Close()
	v.r.Close()
	if err != nil {
		return fmt.Errorf("video: %w", err)
	}
	return nil
}

// savePNG writes the last rendered frame.
func (v *videoWriter) savePNG(path string) error {
	img := image.NewRGBA(image.Rect(0, 0, v.w, v.h))
	for i := 0; i < v.w*v.h; i++ {
		copy(img.Pix[4*i:4*i+3], v.buf[3*i:3*i+3])
		img.Pix[4*i+3] = 255
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
