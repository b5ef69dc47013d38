// Package demo is the reaching demo behind robotd demo: scripted Cartesian waypoints
// (around the table, a turn of the hand, then picking up the cube) held one after the
// other by the Cartesian impedance controller (daemon.Servo) on the embedded MuJoCo
// simulator, in lockstep at 1 kHz. Run drives the arm and measures each leg (settling
// time, final error), the servo's tick time, torque and joint-limit extremes and the
// safety counters; it optionally renders the scene camera to scene.mp4
// (system.SceneVideo). The Result writes the summary, a CSV trace and the reach plot
// (internal/plot). The command only parses flags and prints around it.
package demo

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/go-gl/mathgl/mgl64"
	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/system"
)

// Waypoint is one Cartesian target of the demo, held for Config.Hold.
type Waypoint struct {
	Name    string
	Pos     mgl64.Vec3 // tool position in the base frame (m)
	Yaw     float64    // rotation of the hand about the vertical (rad), pointing down
	Gripper float64    // finger opening (m)
	// Loaded marks targets where the hand touches or carries the cube: an impedance
	// controller settles off them by design (the cube's weight over the stiffness).
	Loaded bool
}

// Waypoints is the demo's script: it reaches around the table, turns the hand, then
// picks up the cube of the reference scene.
var Waypoints = []Waypoint{
	{Name: "left", Pos: mgl64.Vec3{0.45, 0.20, 0.35}, Gripper: 0.08},
	{Name: "right", Pos: mgl64.Vec3{0.45, -0.20, 0.35}, Gripper: 0.08},
	{Name: "turn 45 deg", Pos: mgl64.Vec3{0.50, 0, 0.20}, Yaw: math.Pi / 4, Gripper: 0.08},
	{Name: "above cube", Pos: mgl64.Vec3{0.50, 0, 0.20}, Gripper: 0.08},
	{Name: "down to cube", Pos: mgl64.Vec3{0.50, 0, 0.03}, Gripper: 0.08},
	{Name: "grasp", Pos: mgl64.Vec3{0.50, 0, 0.03}, Gripper: 0, Loaded: true},
	{Name: "lift", Pos: mgl64.Vec3{0.50, 0, 0.25}, Gripper: 0, Loaded: true},
}

// Config is one run of the demo. The command's flags fill it (robotd demo --help gives
// their defaults: hold 4 s, 30 fps, 200 N/m, 30 Nm/rad); Run does not fill defaults.
type Config struct {
	Out      string        // directory for scene.mp4 and scene.png; created by Run
	Model    string        // MJCF scene; "" is the reference scene, sim/models/scene.xml
	Hold     time.Duration // simulated time at each waypoint (at least 100 ms)
	Video    bool          // render the scene camera to Out/scene.mp4 (needs ffmpeg)
	VideoFPS int           // video frame rate, frames per second of simulated time
	// Stiffness (N/m) and RotStiffness (Nm/rad) of the Cartesian controller; damping is
	// critical for unit mass, 2 sqrt(K), as in franka_ros.
	Stiffness, RotStiffness float64
	// Progress receives a line per waypoint and the reason when no video can be made;
	// nil discards them.
	Progress io.Writer
}

// dt is the control period and simulator step: lockstep at 1 kHz.
const dt = time.Millisecond

// Run drives the simulated arm through Waypoints, holding each for cfg.Hold, and
// returns what it measured. With cfg.Video it writes Out/scene.mp4 and Out/scene.png
// (the last frame); a video that cannot start (no ffmpeg) is reported on Progress and
// skipped, not an error. Cancelling ctx stops it between waypoints with an error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	rig, err := newRig(cfg)
	if err != nil {
		return nil, err
	}
	defer rig.Close()
	res := &Result{Config: cfg, MinLimitMargin: math.Inf(1)}
	if cfg.Video {
		if rig.video, err = system.NewSceneVideo(rig.s, "scene", filepath.Join(cfg.Out, "scene.mp4"), cfg.VideoFPS); err != nil {
			fmt.Fprintf(cfg.Progress, "no video: %v\n", err)
			rig.video = nil
		} else {
			res.Video = rig.video.Path()
		}
	}
	rig.ticks = make([]time.Duration, 0, int(cfg.Hold/dt)*len(Waypoints))
	start := time.Now()
	for li, wp := range Waypoints {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("interrupted at %q: %w", wp.Name, err)
		}
		fmt.Fprintf(cfg.Progress, "[%d/%d] %-13s target %v\n", li+1, len(Waypoints), wp.Name, wp.Pos)
		leg, err := rig.leg(wp, int(cfg.Hold/dt), res)
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
		res.Frames = rig.video.Frames()
		if err := rig.video.Close(); err != nil {
			return nil, err
		}
		if err := rig.video.SavePNG(filepath.Join(cfg.Out, "scene.png")); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// rig is the demo's arm: the simulated scene, its robot model and the servo that runs
// the Cartesian impedance controller on it.
type rig struct {
	arm     *mujoco.Arm
	s       *mujoco.Sim
	robot   *control.Robot
	servo   *daemon.Servo
	ik      *control.IK
	posture []float64
	home    control.Pose
	cube    int // the cube body, -1 when the scene has none
	video   *system.SceneVideo
	ticks   []time.Duration // servo tick durations
}

func newRig(cfg Config) (*rig, error) {
	scene := sim.Scene{Model: cfg.Model}.WithDefaults()
	arm, err := mujoco.NewArm(scene)
	if err != nil {
		return nil, err
	}
	r := &rig{arm: arm, s: arm.Sim()}
	fail := func(err error) (*rig, error) { arm.Close(); return nil, err }
	if r.robot, err = control.ParseMJCF(scene.Model, scene.Tool); err != nil {
		return fail(err)
	}
	k, kr := cfg.Stiffness, cfg.RotStiffness
	if r.servo, err = daemon.NewServo(arm, r.robot, daemon.ServoConfig{Cartesian: control.CartesianConfig{Stiffness: [6]float64{k, k, k, kr, kr, kr}}}); err != nil {
		return fail(err)
	}
	r.cube, _ = r.s.ID(mujoco.ObjBody, "cube") // optional: -1 when the scene has none
	if err := r.servo.Start(daemon.ModeCartesian); err != nil {
		return fail(err)
	}
	r.home = r.servo.Cartesian().Tool()
	r.ik = control.NewIK(r.robot)
	r.posture = make([]float64, r.robot.DoF())
	return r, nil
}

func (rig *rig) Close() {
	if rig.video != nil {
		rig.video.Close()
	}
	rig.arm.Close()
}

// leg holds the waypoint for ticks control periods, tracing into res.
func (rig *rig) leg(wp Waypoint, ticks int, res *Result) (Leg, error) {
	down := mgl64.QuatRotate(wp.Yaw, mgl64.Vec3{0, 0, 1}).Mul(rig.home.Rot)
	target := control.Pose{Pos: wp.Pos, Rot: down}
	if !rig.servo.SetCartesianTarget(target) {
		return Leg{}, fmt.Errorf("waypoint %q rejected by the safety layer", wp.Name)
	}
	// A posture that reaches the target, from the current configuration, so the
	// nullspace does not pull the tool off it.
	if _, _, ok := rig.ik.Solve(rig.posture, rig.servo.State().Q, target); ok {
		rig.servo.SetNullspaceTarget(rig.posture)
	}
	if err := rig.arm.SetGripperWidth(wp.Gripper); err != nil {
		return Leg{}, err
	}
	leg := Leg{Waypoint: wp, SettledAfter: -1}
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
			smp := Sample{T: rig.s.Time(), Tool: tool, Target: target.Pos, PosErr: leg.PosErr, RotErr: leg.RotErr, MaxTorqueRatio: ratio}
			if rig.cube >= 0 {
				cp, _ := rig.s.BodyPose(rig.cube)
				smp.CubeZ = cp[2]
			}
			res.Trace = append(res.Trace, smp)
		}
		if rig.video != nil {
			if err := rig.video.Frame(rig.s.Time()); err != nil {
				return leg, err
			}
		}
	}
	return leg, nil
}

// observe updates the torque and joint-limit extremes and returns this tick's largest
// torque over its limit.
func (rig *rig) observe(res *Result) float64 {
	st := rig.servo.State()
	ratio := 0.0
	for j, jt := range rig.robot.Joints {
		ratio = math.Max(ratio, math.Abs(rig.servo.Torque()[j])/jt.TorqueLimit)
		res.MinLimitMargin = math.Min(res.MinLimitMargin, math.Min(st.Q[j]-jt.Lower, jt.Upper-st.Q[j]))
	}
	res.MaxTorqueRatio = math.Max(res.MaxTorqueRatio, ratio)
	return ratio
}
