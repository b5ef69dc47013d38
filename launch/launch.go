// Package launch owns robotd's launch files: the YAML that says which arm, cameras, policy,
// gains, limits and watchdogs a `robotd run` (or `robotd sim`) uses. It composes the
// packages' own Config types: arm.ros is drivers/ros.ArmConfig (its gripper
// ros.GripperConfig), safety is control.SafetyConfig, the control section's gains are
// control.CartesianConfig, policy.executor is policy/chunk.Config; each of them carries
// its yaml keys, its defaults (WithDefaults) and its ranges (Validate) next to its fields,
// and launch writes none of them again. The rest (the driver and mode, cameras, watchdogs,
// telemetry, the sim server and the task) are launch's own sections, whose defaults come
// from the packages that use them where those have one (daemon.Config,
// perception.DefaultMaxAge, ...).
//
// Launch adds what only the file knows. Decoding is strict: an unknown key is an error
// naming the file and line, and so is a YAML syntax error (at the problem's line), a list
// of the wrong length for a fixed-size value, and an explicit 0 where a default would
// silently replace it (control.rate_hz: 0 is refused, not run at 1000 Hz). Validate names
// the offending key with its line, whichever package's check found it. Every path in a
// file (arm.model, policy.bundle, policy.library, a video camera's device) is relative to
// the file's directory, and what is looked for by default (the reference model, ONNX
// Runtime) is searched from the file's directory too, then the working and the
// executable's directories: a launch file means the same from any working directory.
//
// A ROS arm's joint names need not be the robot model's: arm.ros.joint_map maps each of
// the robot's joints (franka_ros' panda_joint1 ...) to the model joint it is (joint1 ...);
// File.ROSJoints checks the map against the model before anything connects.
//
// Every file shipped in launch/ is loaded by this package's tests.
package launch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/policy/chunk"
	"github.com/robotd/robotd/policy/steer"
)

// Modes of the control loop's clock.
const (
	// ModeLockstep steps the embedded simulator with the control clock, as fast as the
	// machine allows; policy inference is modelled with Policy.LockstepLatency, so a run
	// is reproducible.
	ModeLockstep = "lockstep"
	// ModeRealtime paces the control loop with the wall clock (ROS arms, or the embedded
	// simulator when a person watches).
	ModeRealtime = "realtime"
)

// Arm drivers.
const (
	DriverSim = "sim" // the embedded MuJoCo arm
	DriverROS = "ros" // a ros_control arm over ROS1 topics
)

// Command conventions of a ROS arm (arm.ros.command): drivers/ros's.
const (
	ROSCommandEffort     = ros.CommandEffort
	ROSCommandPose       = ros.CommandPose
	ROSCommandTrajectory = ros.CommandTrajectory
)

// Camera sources.
const (
	SourceSim   = "sim"   // a camera of the embedded MuJoCo scene
	SourceROS   = "ros"   // sensor_msgs/Image or CompressedImage topic
	SourceV4L2  = "v4l2"  // a V4L2 device through OpenCV
	SourceVideo = "video" // a video file through OpenCV (replays at its own rate)
)

// Policy action and state spaces: what the policy's action and observation.state values
// mean.
const (
	// SpaceEEPose is the tool pose in the arm's base frame: x y z (m), then a rotation
	// vector rx ry rz (rad, axis times angle), then the gripper opening (m) when the
	// feature has 7 values.
	SpaceEEPose = "ee_pose"
	// SpaceEEPose6D is the tool pose as x y z (m) and the first two columns of its
	// rotation matrix (r00 r10 r20 r01 r11 r21: the continuous 6D rotation of
	// diffusion_policy's rotation_6d), then the gripper opening (m) when the feature has 10
	// values. Use it for policies trained on a downward tool, whose rotation vector sits
	// at angle pi and flips sign.
	SpaceEEPose6D = "ee_pose_6d"
	// SpaceJoints is the joint positions (rad) in the arm's joint order, then the gripper
	// opening (m) when the feature has one more value than the arm has joints.
	SpaceJoints = "joint_position"
)

// File is a launch file. Each section that configures one package is that package's own
// Config type (arm.ros: drivers/ros.ArmConfig, its gripper: ros.GripperConfig, safety:
// control.SafetyConfig, the control section's gains: control.CartesianConfig,
// policy.executor: policy/chunk.Config), whose yaml tags are the keys and whose
// WithDefaults and Validate are the defaults and ranges; the other sections are launch's.
type File struct {
	// Name labels the run in logs and metrics. Default: the file's base name.
	Name string `yaml:"name"`
	// Mode is lockstep or realtime. Default lockstep for the sim driver, realtime for ros.
	Mode string `yaml:"mode"`
	// Duration stops the run after this much control-clock time (simulated time in
	// lockstep); 0 runs until stopped.
	Duration time.Duration `yaml:"duration"`

	Arm     Arm     `yaml:"arm"`
	Control Control `yaml:"control"`
	// Safety bounds targets and torques (control.SafetyConfig: workspace,
	// position_margin, velocity_soft; the torque-rate limit is control.max_torque_rate).
	Safety    control.SafetyConfig `yaml:"safety"`
	Watchdog  Watchdog             `yaml:"watchdog"`
	Cameras   []Camera             `yaml:"cameras"`
	Policy    *Policy              `yaml:"policy"`
	Telemetry Telemetry            `yaml:"telemetry"`
	// SimServer configures `robotd sim`: the simulator served over ROS.
	SimServer *SimServer `yaml:"sim_server"`
	// Task is the pick-and-place task over ROS (docs/task.md, "The task over ROS"):
	// `robotd sim` serves it next to the scene, `robotd eval` with the ros driver takes
	// its episodes from it.
	Task *Task `yaml:"task"`

	path     string
	lines    map[string]int // key path -> line, for Validate's errors
	modelErr error          // why the default arm.model was not found
}

// Arm selects and configures the arm driver.
type Arm struct {
	// Driver is sim or ros. Default sim.
	Driver string `yaml:"driver"`
	// Model is the MJCF scene of the sim driver and the kinematic model robotd's
	// controller uses for any driver. Default: the reference scene sim/models/scene.xml,
	// found walking up from the launch file's directory, then the working directory,
	// then the executable's ($ROBOTD_MODELS overrides; sim.FindModels).
	Model string `yaml:"model"`
	// Tool is the MJCF site of the end effector. Default "tcp".
	Tool string `yaml:"tool"`
	// ROS configures the ros driver.
	ROS ROSArm `yaml:"ros"`
}

// ROSArm is the arm.ros section: the driver's own drivers/ros.ArmConfig (master, node,
// joints, ignore_joints, state_topic, command, controller, frame_id, lookahead,
// estimate_velocity: their defaults and ranges are documented there), and what robotd
// run does around the driver. Its joints are the robot's names in the robot model's
// order, default the model's (File.ROSJoints).
type ROSArm struct {
	ros.ArmConfig `yaml:",inline"`
	// JointMap maps each of the robot's joint names (as its sensor_msgs/JointState and
	// command topics name them) to the robot model's joint it is, when the two differ:
	// {panda_joint1: joint1, panda_joint2: joint2, ...}. Every model joint must be mapped
	// exactly once (File.ROSJoints checks it against the model before connecting).
	// Absent: the robot's joints have the model's names, and arm.ros.joints, when given,
	// must be the model's names in its order.
	JointMap map[string]string `yaml:"joint_map"`
	// Gripper configures the arm's gripper over ROS (drivers/ros.GripperConfig: command
	// is required, fingers too when the state is read from finger joints); absent: none.
	Gripper *ROSGripper `yaml:"gripper"`
	// CompensatesGravity says the robot adds gravity itself (a Franka does). Default true.
	CompensatesGravity *bool `yaml:"compensates_gravity"`
	// ConnectTimeout bounds the wait for the master and the first joint state before
	// anything moves. Default daemon.Config.StartTimeout's (10s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
}

// ROSGripper is a gripper section (arm.ros.gripper, sim_server.gripper).
type ROSGripper = ros.GripperConfig

// Control is the control section: the loop's rate, the Cartesian impedance gains
// (control.CartesianConfig: stiffness, nullspace_stiffness, max_torque_rate,
// filter_rate; max_torque_rate also bounds the joint controller and the safety layer)
// and the homing and stopping of daemon.Config.
type Control struct {
	// RateHz is the control loop's rate. Default: daemon.Config's period (1 ms: 1000 Hz);
	// 100..4000.
	RateHz float64 `yaml:"rate_hz"`
	// The gains. Defaults as control.CartesianConfig's, but for the rotational stiffness:
	// rotStiffness. Ranges as there; max_torque_rate at most 10000 Nm/s here.
	control.CartesianConfig `yaml:",inline"`
	// Home is the joint configuration the arm is brought to (joint impedance) before the
	// policy runs. Default: the model's "home" keyframe when the sim driver is used,
	// otherwise the arm's configuration at start (no homing motion).
	Home []float64 `yaml:"home"`
	// HomeTolerance (rad, max over joints) ends homing. Default daemon.Config's; (0, 0.5].
	HomeTolerance float64 `yaml:"home_tolerance"`
	// HomeTimeout faults the run when homing has not converged. Default daemon.Config's.
	HomeTimeout time.Duration `yaml:"home_timeout"`
	// StopRamp is how long the arm is held at its pose after a stop request before the
	// run ends. Default daemon.Config's; 0..10s (0 takes the default).
	StopRamp time.Duration `yaml:"stop_ramp"`
	// RTPriority asks for SCHED_FIFO at this priority (1..99) and locked memory in
	// realtime mode; 0 disables. Default 80. Refusals (no privilege) are logged, not fatal.
	RTPriority *int `yaml:"rt_priority"`
}

// rotStiffness (Nm/rad) is robotd run's default rotational stiffness: stiffer than
// franka_ros' example controller (control.CartesianConfig's default) and at its
// dynamic-reconfigure bound, so that policies' orientation targets are tracked.
const rotStiffness = 30

// Watchdog is the watchdog section.
type Watchdog struct {
	// StateStale: a joint state older than this (control clock) puts the arm in its safe
	// stop and faults the run. Default daemon.Config.StateStale's (it says why); [1ms, 1s].
	StateStale time.Duration `yaml:"state_stale"`
	// CameraStale: a camera frame older than this pauses the policy (the arm holds its
	// pose). Default perception.DefaultMaxAge.
	CameraStale time.Duration `yaml:"camera_stale"`
	// CameraFrozen: identical frames for this long count as a frozen camera. Default
	// perception.DefaultFrozenAfter; "off" disables (rendered cameras of a still scene
	// repeat themselves exactly).
	CameraFrozen Switchable `yaml:"camera_frozen"`
	// MaxSkew is the largest spread of capture times within one observation. Default
	// daemon.DefaultMaxSkew.
	MaxSkew time.Duration `yaml:"max_skew"`
	// PolicyFailures consecutive failed policy steps (an error, or a chunk the executor
	// refuses as non-finite or malformed) end the run with the policy fault. 0: the
	// daemon's default, daemon.DefaultMaxFailures; [1, 1000].
	PolicyFailures int `yaml:"policy_failures"`
	// ChunkTimeout: no valid chunk for this long while running (paused for stale cameras
	// included) ends the run with the policy fault. 0: the daemon's default,
	// daemon.DefaultChunkTimeout; at most 10m.
	ChunkTimeout time.Duration `yaml:"chunk_timeout"`
}

// Camera is one entry of the cameras list.
type Camera struct {
	// Name is the camera's name; a policy image feature observation.images.<name> takes
	// its frames. Required.
	Name string `yaml:"name"`
	// Source is sim, ros, v4l2 or video. Default sim for the sim driver, ros otherwise.
	Source string `yaml:"source"`
	// SimCamera is the MJCF camera (sim). Default: Name.
	SimCamera string `yaml:"sim_camera"`
	// Topic is the sensor_msgs/Image or CompressedImage topic (ros); a topic ending in
	// /compressed is read as CompressedImage.
	Topic string `yaml:"topic"`
	// Device is the V4L2 device path (v4l2) or the video file (video).
	Device string `yaml:"device"`
	// Width and Height of the captured frames (sim renders at this size). Default 640x480.
	Width  int `yaml:"width"`
	Height int `yaml:"height"`
	// RateHz is the capture rate (sim renders at it). Default 30.
	RateHz float64 `yaml:"rate_hz"`
	// Noise is the standard deviation of Gaussian noise added to each colour value of a
	// sim camera's images, in 8-bit levels (robustness tests: sensor noise). Default 0.
	Noise float64 `yaml:"noise"`
	// Pipeline turns frames into the policy's image tensor; its output size must match
	// the policy feature. Default: resize to the feature's size.
	Pipeline *perception.PipelineConfig `yaml:"pipeline"`
}

// Policy is the policy section; without it the arm is held at home.
type Policy struct {
	// Bundle is the policy bundle directory (docs/policy-bundle.md). Required.
	Bundle string `yaml:"bundle"`
	// Action and State say what the action and observation.state features mean:
	// ee_pose, ee_pose_6d or joint_position. Defaults: ee_pose and joint_position.
	Action string `yaml:"action"`
	State  string `yaml:"state"`
	// Executor configures chunk execution (docs/policy-bundle.md, Executors): strategy,
	// n_action_steps, ensemble_k, blend, blend_window, interp as policy/chunk.Config has
	// them. Default strategy: inpaint for diffusion and flow policies, ensemble for
	// chunked ones; default n_action_steps: the bundle's.
	Executor chunk.Config `yaml:"executor"`
	// Threads are ONNX Runtime's intra-op threads; 1..64. Default: policy/onnx's
	// (Options.Threads 0: one thread), left 0 here.
	Threads int `yaml:"threads"`
	// Seed seeds the diffusion noise. Default 0.
	Seed uint64 `yaml:"seed"`
	// LockstepLatency is the inference latency modelled in lockstep mode: a chunk
	// computed from an observation at t reaches the executor at t + LockstepLatency of
	// simulated time. Default daemon.DefaultLockstepLatency (20ms); 0..5s (0 takes the
	// default).
	LockstepLatency time.Duration `yaml:"lockstep_latency"`
	// Library is the ONNX Runtime shared library. Default: $ROBOTD_ONNXRUNTIME, then the
	// copy scripts/setup.sh fetched into the repository's .cache/onnxruntime, found walking
	// up from the launch file's directory, the working directory and the executable's
	// (policy/onnx.Library).
	Library string `yaml:"library"`
	// Steering is the test-time steering stage between the policy and the executor
	// (docs/steering.md): samples, the scorers (coherence, contrast, past, value), select,
	// noise, residual and guidance, as policy/steer.Config has them; bundle paths are
	// relative to the launch file. Absent: the policy's one sample is executed as it is
	// (robotd eval --steer off drops the section).
	Steering *steer.Config `yaml:"steering"`
}

// Telemetry is the telemetry section.
type Telemetry struct {
	// Listen is the address of /metrics, /healthz, /readyz and POST /stop. POST /stop has
	// no authentication, so an address without a host (":9102", ":0" for a free port)
	// means loopback (127.0.0.1); another interface must be named ("0.0.0.0:9102", a
	// host's address) and robotd then warns. Default 127.0.0.1:9102; "off" disables
	// the server.
	Listen string `yaml:"listen"`
	// Foxglove is the address of the live Foxglove WebSocket server (protocol
	// foxglove.websocket.v1: docs/live.md), which streams the channels of the MCAP log.
	// Loopback as Listen has it: an address without a host (":8765") means 127.0.0.1,
	// another interface must be named. Default "" (no server).
	Foxglove string `yaml:"foxglove"`
	// LogFormat is text or json. Default text.
	LogFormat string `yaml:"log_format"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `yaml:"log_level"`
	// ROSStatus publishes robotd's setpoint, mode and diagnostics on ROS topics (ros
	// driver only). Default true with the ros driver.
	ROSStatus *bool `yaml:"ros_status"`
}

// SimServer is the sim_server section: how `robotd sim` serves the scene over ROS.
type SimServer struct {
	// Master and Node as in arm.ros. Node default "robotd_sim".
	Master string `yaml:"master"`
	Node   string `yaml:"node"`
	// RateHz is the joint_states rate. Default 1000.
	RateHz float64 `yaml:"rate_hz"`
	// Lockstep publishes /clock and sets /use_sim_time. Default false.
	Lockstep bool `yaml:"lockstep"`
	// StateTopic, Command and Controller as in arm.ros (same defaults, drivers/ros
	// ArmConfig's): the command convention served, executed by a robot-side controller in
	// the simulator.
	StateTopic string `yaml:"state_topic"`
	Command    string `yaml:"command"`
	Controller string `yaml:"controller"`
	// Gripper serves the scene's gripper as arm.ros.gripper describes it (fingers default
	// to the scene's finger joints); absent: no gripper topics.
	Gripper *ROSGripper `yaml:"gripper"`
	// Cameras are served as <topic prefix>/<name>/image_raw and camera_info.
	Cameras []Camera `yaml:"cameras"`
	// CameraPrefix is the topic prefix. Default "/camera".
	CameraPrefix string `yaml:"camera_prefix"`
}

// Task is the task section: the pick-and-place task's ROS topics (drivers/ros task.go has
// the convention). robotd sim serves them when the file also has a sim_server section;
// robotd eval with the ros driver resets the task and reads its status through them.
type Task struct {
	// Namespace holds the topics: <ns>/reset, <ns>/status, <ns>/debug/cube_pose,
	// <ns>/debug/score. Default drivers/ros TaskServerConfig's, "/task".
	Namespace string `yaml:"namespace"`
	// RateHz is how often robotd sim publishes the status and the debug topics (and at
	// once after a reset and when an episode ends). Default 50.
	RateHz float64 `yaml:"rate_hz"`
	// Seed is the episode robotd sim sets up at start, before any reset request. Default 0.
	Seed int64 `yaml:"seed"`
}

// defaults fills a task section (nothing when t is nil).
func (t *Task) defaults() {
	if t == nil {
		return
	}
	if t.Namespace == "" {
		t.Namespace = ros.TaskServerConfig{}.WithDefaults().Namespace
	}
	if t.RateHz == 0 {
		t.RateHz = 50
	}
}

// unknownField matches yaml.v3's message for a key that has no field.
var (
	unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type (\S+)`)
	lineMsg      = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// Load reads, decodes strictly, fills defaults and validates a launch file.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("launch: %w", err)
	}
	return Parse(path, data)
}

// LoadWith is Load with command-line overrides: edit runs after the defaults and before
// validation, so overridden values are checked like the file's own (and a value the
// override replaces, such as a bundle that does not exist yet, is not).
func LoadWith(path string, edit func(*File)) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("launch: %w", err)
	}
	return parse(path, data, edit)
}

// Parse decodes launch-file data read from path (used for messages and relative paths).
func Parse(path string, data []byte) (*File, error) { return parse(path, data, nil) }

func parse(path string, data []byte, edit func(*File)) (*File, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, syntaxError(path, data, err)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty launch file", path)
	}
	f := &File{path: path, lines: map[string]int{}}
	// Before decoding: a list of the wrong length for a fixed-size field (yaml.v3's error
	// names no line), and a zero that the defaults would silently replace.
	if err := f.checkNodes(root.Content[0]); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty launch file", path)
		}
		return nil, fmt.Errorf("%s", strictError(path, err))
	}
	collectLines(root.Content[0], "", f.lines)
	f.resolve(filepath.Dir(path))
	f.defaults(filepath.Base(path), filepath.Dir(path))
	if edit != nil {
		edit(f)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// strictError rewrites yaml.v3's unknown-field messages as file:line: unknown key.
func strictError(path string, err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Sprintf("%s: %v", path, err)
	}
	var out []string
	for _, e := range te.Errors {
		if m := unknownField.FindStringSubmatch(e); m != nil {
			out = append(out, fmt.Sprintf("%s:%s: unknown key %q (in %s)", path, m[1], m[2], sectionName(m[3])))
			continue
		}
		if m := lineMsg.FindStringSubmatch(e); m != nil {
			msg := m[2]
			if strings.Contains(msg, "time.Duration") {
				msg += " (write durations with a unit: 5ms, 1.5s, 2m)"
			}
			out = append(out, fmt.Sprintf("%s:%s: %s", path, m[1], msg))
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s", path, e))
	}
	return strings.Join(out, "\n")
}

// sectionName turns a Go type of yaml.v3's messages (launch.ROSArm) into a readable
// section name.
func sectionName(goType string) string {
	names := map[string]string{
		"launch.File": "the top level", "launch.Arm": "arm", "launch.ROSArm": "arm.ros", "ros.GripperConfig": "a gripper section",
		"launch.Control": "control", "control.SafetyConfig": "safety", "control.Box": "safety.workspace",
		"launch.Watchdog": "watchdog", "launch.Camera": "a camera", "launch.Policy": "policy",
		"chunk.Config": "policy.executor", "launch.Telemetry": "telemetry",
		"launch.SimServer": "sim_server", "launch.Task": "task", "perception.PipelineConfig": "a camera pipeline",
		"perception.CropConfig": "pipeline.crop", "perception.ResizeConfig": "pipeline.resize",
		"steer.Config": "policy.steering", "steer.CoherenceConfig": "policy.steering.coherence",
		"steer.ContrastConfig": "policy.steering.contrast", "steer.PastConfig": "policy.steering.past",
		"steer.ValueConfig": "policy.steering.value", "steer.SelectConfig": "policy.steering.select",
		"steer.NoiseConfig": "policy.steering.noise", "steer.ResidualConfig": "policy.steering.residual",
		"steer.GuidanceConfig": "policy.steering.guidance",
	}
	if n, ok := names[goType]; ok {
		return n
	}
	return goType
}

// collectLines records the line of every key path (a.b.c, list items as a.0.b).
func collectLines(n *yaml.Node, prefix string, dst map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if prefix != "" {
				k = prefix + "." + k
			}
			dst[k] = n.Content[i].Line
			collectLines(n.Content[i+1], k, dst)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			k := prefix + "." + strconv.Itoa(i)
			dst[k] = c.Line
			collectLines(c, k, dst)
		}
	}
}

// Path is the file the launch configuration was read from ("" when built in code).
func (f *File) Path() string { return f.path }

// Dir is the absolute directory of the launch file, where searches for what the file
// leaves to defaults (the model, ONNX Runtime) start; "" when built in code.
func (f *File) Dir() string {
	if f.path == "" {
		return ""
	}
	d, err := filepath.Abs(filepath.Dir(f.path))
	if err != nil {
		return filepath.Dir(f.path)
	}
	return d
}

func (f *File) resolve(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			if a, err := filepath.Abs(filepath.Join(dir, *p)); err == nil {
				*p = a
			}
		}
	}
	abs(&f.Arm.Model)
	if f.Policy != nil {
		abs(&f.Policy.Bundle)
		abs(&f.Policy.Library)
		if st := f.Policy.Steering; st != nil {
			abs(&st.Contrast.Bundle)
			abs(&st.Value.Bundle)
			abs(&st.Noise.Bundle)
			abs(&st.Residual.Bundle)
		}
	}
	for i := range f.Cameras {
		if f.Cameras[i].Source == SourceVideo {
			abs(&f.Cameras[i].Device)
		}
	}
}

// Switchable is a duration that may also be written "off" (stored as -1).
type Switchable time.Duration

// UnmarshalYAML reads a duration (5ms, 1.5s) or off.
func (d *Switchable) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == "off" {
		*d = -1
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: %q: want a duration with a unit (500ms, 2s) or off", n.Line, n.Value)
	}
	*d = Switchable(v)
	return nil
}
