// Package launch owns robotd's launch files: the YAML that says which arm, cameras, policy,
// gains, limits and watchdogs a `robotd run` (or `robotd sim`) uses. Decoding is strict:
// an unknown key is an error naming the file and line. Defaults live here, next to each
// field's doc comment; Validate checks ranges and names the offending key (with its line
// when the value came from a file). Every path in a file (arm.model, policy.bundle,
// policy.library, a video camera's device) is relative to the file's directory, and what
// is looked for by default (the reference model, ONNX Runtime) is searched from the
// file's directory too, then the working and the executable's directories: a launch file
// means the same from any working directory.
//
// A ROS arm's joint names need not be the robot model's: arm.ros.joint_map maps each of
// the robot's joints (franka_ros' panda_joint1 ...) to the model joint it is (joint1 ...);
// File.ROSJoints checks the map against the model before anything connects.
//
// The files shipped in launch/ (sim.yaml, sim_realtime.yaml, ros.yaml, sim_ros.yaml) are
// loaded by this package's tests.
package launch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/sim"
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

// Command conventions of a ROS arm (arm.ros.command).
const (
	ROSCommandEffort     = "effort"
	ROSCommandPose       = "pose"
	ROSCommandTrajectory = "trajectory"
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

// File is a launch file.
type File struct {
	// Name labels the run in logs and metrics. Default: the file's base name.
	Name string `yaml:"name"`
	// Mode is lockstep or realtime. Default lockstep for the sim driver, realtime for ros.
	Mode string `yaml:"mode"`
	// Duration stops the run after this much control-clock time (simulated time in
	// lockstep); 0 runs until stopped.
	Duration time.Duration `yaml:"duration"`

	Arm       Arm       `yaml:"arm"`
	Control   Control   `yaml:"control"`
	Safety    Safety    `yaml:"safety"`
	Watchdog  Watchdog  `yaml:"watchdog"`
	Cameras   []Camera  `yaml:"cameras"`
	Policy    *Policy   `yaml:"policy"`
	Telemetry Telemetry `yaml:"telemetry"`
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

// ROSArm is the arm.ros section.
type ROSArm struct {
	// Master is the ROS master as host:port or http://host:port/. Default:
	// $ROS_MASTER_URI, else 127.0.0.1:11311.
	Master string `yaml:"master"`
	// Node is robotd's node name. Default "robotd".
	Node string `yaml:"node"`
	// JointMap maps each of the robot's joint names (as its sensor_msgs/JointState and
	// command topics name them) to the robot model's joint it is, when the two differ:
	// {panda_joint1: joint1, panda_joint2: joint2, ...}. Every model joint must be mapped
	// exactly once (File.ROSJoints checks it against the model before connecting).
	// Absent: the robot's joints have the model's names.
	JointMap map[string]string `yaml:"joint_map"`
	// Joints are the arm's joints in the robot model's order when the robot uses the
	// model's names (no joint_map; they must then be the model's names in its order).
	// Default: the model's, or the joint_map's keys in the model's order.
	Joints []string `yaml:"joints"`
	// IgnoreJoints are other joints the state topic carries (gripper fingers).
	IgnoreJoints []string `yaml:"ignore_joints"`
	// StateTopic is the sensor_msgs/JointState topic. Default "/joint_states".
	StateTopic string `yaml:"state_topic"`
	// Command is the command convention (drivers/ros): effort (joint torques as
	// std_msgs/Float64MultiArray to a JointGroupEffortController on
	// /<controller>/command), pose (the equilibrium pose as geometry_msgs/PoseStamped to a
	// robot-side Cartesian impedance controller on /<controller>/equilibrium_pose,
	// franka_ros' convention) or trajectory (joint positions as a one-point
	// trajectory_msgs/JointTrajectory to a joint_trajectory_controller on
	// /<controller>/command). Default effort.
	Command string `yaml:"command"`
	// Controller is the robot-side controller taking the commands. Default, by command:
	// "effort_controller", "cartesian_impedance_example_controller",
	// "position_joint_trajectory_controller" (franka_ros' names).
	Controller string `yaml:"controller"`
	// FrameID is the header frame_id of pose commands: the robot's base frame. Default
	// "panda_link0".
	FrameID string `yaml:"frame_id"`
	// Lookahead is the time_from_start of each trajectory command's point: the robot's
	// controller moves from its current desired position to the point over it. About two
	// control periods keeps the motion continuous when a command is late. Default 2ms;
	// (0, 1s].
	Lookahead time.Duration `yaml:"lookahead"`
	// Gripper configures the arm's gripper over ROS; absent: none.
	Gripper *ROSGripper `yaml:"gripper"`
	// CompensatesGravity says the robot adds gravity itself (a Franka does). Default true.
	CompensatesGravity *bool `yaml:"compensates_gravity"`
	// ConnectTimeout bounds the wait for the master and the first joint state before
	// anything moves. Default 10s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// EstimateVelocity: joint states without a velocity array (sensor_msgs/JointState
	// allows it) get velocities estimated from their positions and header stamps (a
	// backward difference through a 50 Hz first-order low-pass; drivers/ros
	// ArmConfig.EstimateVelocity). Default false: such states are refused when robotd
	// connects, with an error naming the topic and the missing field; never read as zero.
	EstimateVelocity bool `yaml:"estimate_velocity"`
}

// ROSGripper is the arm.ros.gripper section.
type ROSGripper struct {
	// Command is how widths are sent: width (std_msgs/Float64 on command_topic) or action
	// (control_msgs/GripperCommand goals to the action server at command_topic,
	// franka_gripper's gripper_action). Required.
	Command string `yaml:"command"`
	// CommandTopic is the Float64 topic or the action namespace. Default, by command:
	// "/gripper/command" or "/franka_gripper/gripper_action".
	CommandTopic string `yaml:"command_topic"`
	// ActionPosition is what an action goal's command.position means: finger (one
	// finger's travel, half the width: franka_gripper doubles it) or width. Default finger.
	ActionPosition string `yaml:"action_position"`
	// MaxEffort is the action goal's command.max_effort (N). Default 20; (0, 1000].
	MaxEffort float64 `yaml:"max_effort"`
	// State is where the opening is read: joints (two finger joints of a
	// sensor_msgs/JointState, summed) or width (std_msgs/Float64). Default joints.
	State string `yaml:"state"`
	// StateTopic is the JointState or Float64 topic; it may be arm.ros.state_topic
	// (fingers and arm joints in one message). Default, by state:
	// "/franka_gripper/joint_states" or "/gripper/width".
	StateTopic string `yaml:"state_topic"`
	// Fingers are the two finger joints (state joints). Required then.
	Fingers []string `yaml:"fingers"`
	// MaxWidth (m) bounds commanded widths to [0, max_width]. Default 0.08; (0, 1].
	MaxWidth float64 `yaml:"max_width"`
}

// defaults fills a gripper section (nothing when g is nil).
func (g *ROSGripper) defaults() {
	if g == nil {
		return
	}
	if g.CommandTopic == "" {
		g.CommandTopic = "/gripper/command"
		if g.Command == "action" {
			g.CommandTopic = "/franka_gripper/gripper_action"
		}
	}
	if g.ActionPosition == "" {
		g.ActionPosition = "finger"
	}
	if g.MaxEffort == 0 {
		g.MaxEffort = 20
	}
	if g.State == "" {
		g.State = "joints"
	}
	if g.StateTopic == "" {
		g.StateTopic = "/franka_gripper/joint_states"
		if g.State == "width" {
			g.StateTopic = "/gripper/width"
		}
	}
	if g.MaxWidth == 0 {
		g.MaxWidth = 0.08
	}
}

// defaultController is each command convention's robot-side controller (franka_ros' names).
var defaultController = map[string]string{
	ROSCommandEffort:     "effort_controller",
	ROSCommandPose:       "cartesian_impedance_example_controller",
	ROSCommandTrajectory: "position_joint_trajectory_controller",
}

// Control is the control section.
type Control struct {
	// RateHz is the control loop's rate. Default 1000; 100..4000.
	RateHz float64 `yaml:"rate_hz"`
	// Stiffness of the Cartesian impedance controller: x y z (N/m) rx ry rz (Nm/rad).
	// Default 200 200 200 30 30 30. Each in [0, 3000] N/m and [0, 300] Nm/rad (franka_ros'
	// dynamic-reconfigure bounds are 400 and 30; the arm's own limits are higher).
	Stiffness []float64 `yaml:"stiffness"`
	// NullspaceStiffness (Nm/rad). Default 0.5; [0, 100].
	NullspaceStiffness float64 `yaml:"nullspace_stiffness"`
	// MaxTorqueRate (Nm/s) bounds how fast commanded torques change: the controllers'
	// output and, in the safety layer, every command (walls, brakes, safe stop, the
	// release to the hold command). Default 1000 (1 Nm per 1 ms tick); (0, 10000].
	MaxTorqueRate float64 `yaml:"max_torque_rate"`
	// FilterRate is the target filter per millisecond. Default 0.005; (0, 1].
	FilterRate float64 `yaml:"filter_rate"`
	// Home is the joint configuration the arm is brought to (joint impedance) before the
	// policy runs. Default: the model's "home" keyframe when the sim driver is used,
	// otherwise the arm's configuration at start (no homing motion).
	Home []float64 `yaml:"home"`
	// HomeTolerance (rad, max over joints) ends homing. Default 0.02.
	HomeTolerance float64 `yaml:"home_tolerance"`
	// HomeTimeout faults the run when homing has not converged. Default 10s.
	HomeTimeout time.Duration `yaml:"home_timeout"`
	// StopRamp is how long the arm is held at its pose after a stop request before the
	// run ends. Default 500ms.
	StopRamp time.Duration `yaml:"stop_ramp"`
	// Realtime asks for SCHED_FIFO at this priority (1..99) and locked memory; 0 disables.
	// Default 80. Refusals (no privilege) are logged, not fatal.
	RTPriority *int `yaml:"rt_priority"`
}

// Safety is the safety section.
type Safety struct {
	// Workspace bounds every Cartesian target: min and max corners (m, base frame).
	// Default: control.DefaultWorkspace.
	Workspace *Box `yaml:"workspace"`
	// PositionMargin (rad) of the joint-limit walls. Default 0.1; (0, 0.5].
	PositionMargin float64 `yaml:"position_margin"`
	// VelocitySoft is the fraction of the velocity limit where braking starts. Default
	// 0.85; (0, 1).
	VelocitySoft float64 `yaml:"velocity_soft"`
}

// Box is an axis-aligned box.
type Box struct {
	Min []float64 `yaml:"min"`
	Max []float64 `yaml:"max"`
}

// Watchdog is the watchdog section.
type Watchdog struct {
	// StateStale: a joint state older than this (control clock) puts the arm in its safe
	// stop and faults the run. Default 100ms (daemon.Config.StateStale says why); [1ms, 1s].
	StateStale time.Duration `yaml:"state_stale"`
	// CameraStale: a camera frame older than this pauses the policy (the arm holds its
	// pose). Default 100ms.
	CameraStale time.Duration `yaml:"camera_stale"`
	// CameraFrozen: identical frames for this long count as a frozen camera. Default
	// 500ms; "off" disables (rendered cameras of a still scene repeat themselves exactly).
	CameraFrozen Switchable `yaml:"camera_frozen"`
	// MaxSkew is the largest spread of capture times within one observation. Default 50ms.
	MaxSkew time.Duration `yaml:"max_skew"`
	// PolicyFailures consecutive failed policy steps (an error, or a chunk the executor
	// refuses as non-finite or malformed) end the run with the policy fault. 0: the
	// daemon's default, 3 (daemon.PolicyPorts.MaxFailures); [1, 1000].
	PolicyFailures int `yaml:"policy_failures"`
	// ChunkTimeout: no valid chunk for this long while running (paused for stale cameras
	// included) ends the run with the policy fault. 0: the daemon's default, 5s
	// (daemon.PolicyPorts.ChunkTimeout); at most 10m.
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
	// Executor configures chunk execution (docs/policy-bundle.md, Executors).
	Executor Executor `yaml:"executor"`
	// Threads are ONNX Runtime's intra-op threads. Default 1.
	Threads int `yaml:"threads"`
	// Seed seeds the diffusion noise. Default 0.
	Seed uint64 `yaml:"seed"`
	// LockstepLatency is the inference latency modelled in lockstep mode: a chunk
	// computed from an observation at t reaches the executor at t + LockstepLatency of
	// simulated time. Default 20ms.
	LockstepLatency time.Duration `yaml:"lockstep_latency"`
	// Library is the ONNX Runtime shared library. Default: $ROBOTD_ONNXRUNTIME, then the
	// copy scripts/setup.sh fetched into the repository's .cache/onnxruntime, found walking
	// up from the launch file's directory, the working directory and the executable's
	// (policy/onnx.Library).
	Library string `yaml:"library"`
}

// Executor is the policy.executor section.
type Executor struct {
	// Strategy is receding, ensemble, async or inpaint. Default: inpaint for diffusion
	// and flow policies, ensemble for chunked ones.
	Strategy string `yaml:"strategy"`
	// NActionSteps is how many actions run before the next chunk is wanted. Default: the
	// bundle's n_action_steps.
	NActionSteps int `yaml:"n_action_steps"`
	// EnsembleK, Blend, BlendWindow and Interp as in policy/chunk.Config.
	EnsembleK   float64       `yaml:"ensemble_k"`
	Blend       string        `yaml:"blend"`
	BlendWindow time.Duration `yaml:"blend_window"`
	Interp      string        `yaml:"interp"`
}

// Telemetry is the telemetry section.
type Telemetry struct {
	// Listen is the address of /metrics, /healthz, /readyz and POST /stop. POST /stop has
	// no authentication, so an address without a host (":9102", ":0" for a free port)
	// means loopback (127.0.0.1); another interface must be named ("0.0.0.0:9102", a
	// host's address) and robotd then warns. Default 127.0.0.1:9102; "off" disables
	// the server.
	Listen string `yaml:"listen"`
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
	// StateTopic, Command and Controller as in arm.ros (same defaults): the command
	// convention served, executed by a robot-side controller in the simulator.
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
	// <ns>/debug/score. Default "/task".
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
		t.Namespace = "/task"
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
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty launch file", path)
	}
	f := &File{path: path, lines: map[string]int{}}
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

// sectionName turns launch.ROSArm into a readable section name.
func sectionName(goType string) string {
	names := map[string]string{
		"launch.File": "the top level", "launch.Arm": "arm", "launch.ROSArm": "arm.ros", "launch.ROSGripper": "a gripper section",
		"launch.Control": "control", "launch.Safety": "safety", "launch.Box": "a box",
		"launch.Watchdog": "watchdog", "launch.Camera": "a camera", "launch.Policy": "policy",
		"launch.Executor": "policy.executor", "launch.Telemetry": "telemetry",
		"launch.SimServer": "sim_server", "launch.Task": "task", "perception.PipelineConfig": "a camera pipeline",
		"perception.CropConfig": "pipeline.crop", "perception.ResizeConfig": "pipeline.resize",
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
	}
	for i := range f.Cameras {
		if f.Cameras[i].Source == SourceVideo {
			abs(&f.Cameras[i].Device)
		}
	}
}

// Default fills a File built in code (Load does it for files); the default model is
// searched from the working and executable directories.
func (f *File) Default() { f.defaults(f.Name, "") }

// defaults fills the zero fields; dir is the launch file's directory ("" for a File
// built in code).
func (f *File) defaults(base, dir string) {
	if f.Name == "" {
		f.Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if f.Arm.Driver == "" {
		f.Arm.Driver = DriverSim
	}
	if f.Arm.Model == "" {
		var starts []string
		if dir != "" {
			starts = append(starts, dir)
		}
		f.Arm.Model, f.modelErr = sim.FindReferenceModel(starts...)
	}
	if f.Mode == "" {
		f.Mode = ModeLockstep
		if f.Arm.Driver == DriverROS {
			f.Mode = ModeRealtime
		}
	}
	if f.Arm.Tool == "" {
		f.Arm.Tool = "tcp"
	}
	r := &f.Arm.ROS
	if r.Node == "" {
		r.Node = "robotd"
	}
	if r.StateTopic == "" {
		r.StateTopic = "/joint_states"
	}
	if r.Command == "" {
		r.Command = ROSCommandEffort
	}
	if r.Controller == "" {
		r.Controller = defaultController[r.Command]
	}
	if r.FrameID == "" {
		r.FrameID = "panda_link0"
	}
	if r.Lookahead == 0 {
		r.Lookahead = 2 * time.Millisecond
	}
	r.Gripper.defaults()
	if r.CompensatesGravity == nil {
		t := true
		r.CompensatesGravity = &t
	}
	if r.ConnectTimeout == 0 {
		r.ConnectTimeout = 10 * time.Second
	}
	c := &f.Control
	if c.RateHz == 0 {
		c.RateHz = 1000
	}
	if c.Stiffness == nil {
		c.Stiffness = []float64{200, 200, 200, 30, 30, 30}
	}
	if c.NullspaceStiffness == 0 {
		c.NullspaceStiffness = 0.5
	}
	if c.MaxTorqueRate == 0 {
		c.MaxTorqueRate = 1000
	}
	if c.FilterRate == 0 {
		c.FilterRate = 0.005
	}
	if c.HomeTolerance == 0 {
		c.HomeTolerance = 0.02
	}
	if c.HomeTimeout == 0 {
		c.HomeTimeout = 10 * time.Second
	}
	if c.StopRamp == 0 {
		c.StopRamp = 500 * time.Millisecond
	}
	if c.RTPriority == nil {
		p := 80
		c.RTPriority = &p
	}
	s := &f.Safety
	if s.PositionMargin == 0 {
		s.PositionMargin = 0.1
	}
	if s.VelocitySoft == 0 {
		s.VelocitySoft = 0.85
	}
	w := &f.Watchdog
	if w.StateStale == 0 {
		w.StateStale = 100 * time.Millisecond
	}
	if w.CameraStale == 0 {
		w.CameraStale = 100 * time.Millisecond
	}
	if w.CameraFrozen == 0 {
		w.CameraFrozen = Switchable(500 * time.Millisecond)
	}
	if w.MaxSkew == 0 {
		w.MaxSkew = 50 * time.Millisecond
	}
	for i := range f.Cameras {
		f.Cameras[i].defaults(f.Arm.Driver)
	}
	if p := f.Policy; p != nil {
		if p.Action == "" {
			p.Action = SpaceEEPose
		}
		if p.State == "" {
			p.State = SpaceJoints
		}
		if p.Threads == 0 {
			p.Threads = 1
		}
		if p.LockstepLatency == 0 {
			p.LockstepLatency = 20 * time.Millisecond
		}
	}
	t := &f.Telemetry
	if t.Listen == "" {
		t.Listen = "127.0.0.1:9102"
	}
	if t.LogFormat == "" {
		t.LogFormat = "text"
	}
	if t.LogLevel == "" {
		t.LogLevel = "info"
	}
	if t.ROSStatus == nil {
		on := f.Arm.Driver == DriverROS
		t.ROSStatus = &on
	}
	if s := f.SimServer; s != nil {
		if s.Node == "" {
			s.Node = "robotd_sim"
		}
		if s.RateHz == 0 {
			s.RateHz = 1000
		}
		if s.StateTopic == "" {
			s.StateTopic = "/joint_states"
		}
		if s.Command == "" {
			s.Command = ROSCommandEffort
		}
		if s.Controller == "" {
			s.Controller = defaultController[s.Command]
		}
		s.Gripper.defaults()
		if s.CameraPrefix == "" {
			s.CameraPrefix = "/camera"
		}
		for i := range s.Cameras {
			s.Cameras[i].defaults(DriverSim)
		}
	}
	f.Task.defaults()
}

func (c *Camera) defaults(driver string) {
	if c.Source == "" {
		c.Source = SourceSim
		if driver == DriverROS {
			c.Source = SourceROS
		}
	}
	if c.SimCamera == "" {
		c.SimCamera = c.Name
	}
	if c.Width == 0 && c.Height == 0 {
		c.Width, c.Height = 640, 480
	}
	if c.RateHz == 0 {
		c.RateHz = 30
	}
}

// Period is the control loop's period.
func (c *Control) Period() time.Duration {
	return time.Duration(math.Round(float64(time.Second) / c.RateHz))
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

// Error is a validation error: the key path, its line in the file when known, and why.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if loc != "" {
		loc += ": "
	}
	return loc + e.Key + ": " + e.Msg
}

// Validate checks every value's range and the combinations (a sim camera needs the sim
// driver, ...). The first problem is returned as an *Error.
func (f *File) Validate() error {
	v := validator{f: f}
	v.oneOf("mode", f.Mode, ModeLockstep, ModeRealtime)
	v.check("duration", f.Duration >= 0, "%v: must be >= 0", f.Duration)
	v.oneOf("arm.driver", f.Arm.Driver, DriverSim, DriverROS)
	if f.Arm.Driver == DriverROS && f.Mode == ModeLockstep {
		v.fail("mode", "lockstep needs the embedded simulator (arm.driver: sim); a ROS arm runs in realtime mode")
	}
	if f.Arm.Driver == DriverROS {
		v.rosArm(&f.Arm.ROS)
	}
	if f.modelErr != nil && f.Arm.Model == "" {
		v.fail("arm.model", "not given, and the reference model was not found: %v", f.modelErr)
	}
	if f.Arm.Model != "" {
		_, err := os.Stat(f.Arm.Model)
		v.check("arm.model", err == nil, "%v", err)
	}
	c := &f.Control
	v.check("control.rate_hz", c.RateHz >= 100 && c.RateHz <= 4000, "%v: want 100..4000", c.RateHz)
	v.check("control.stiffness", len(c.Stiffness) == 6, "%d values: want 6 (x y z rx ry rz)", len(c.Stiffness))
	for i, k := range c.Stiffness {
		limit, unit := 3000.0, "N/m"
		if i >= 3 {
			limit, unit = 300, "Nm/rad"
		}
		v.check(fmt.Sprintf("control.stiffness.%d", i), k >= 0 && k <= limit, "%v: want 0..%v %s", k, limit, unit)
	}
	v.check("control.nullspace_stiffness", c.NullspaceStiffness >= 0 && c.NullspaceStiffness <= 100, "%v: want 0..100 Nm/rad", c.NullspaceStiffness)
	v.check("control.max_torque_rate", c.MaxTorqueRate > 0 && c.MaxTorqueRate <= 10000, "%v: want (0, 10000] Nm/s", c.MaxTorqueRate)
	v.check("control.filter_rate", c.FilterRate > 0 && c.FilterRate <= 1, "%v: want (0, 1]", c.FilterRate)
	for i, q := range c.Home {
		v.check(fmt.Sprintf("control.home.%d", i), !math.IsNaN(q) && !math.IsInf(q, 0), "%v: not a number", q)
	}
	v.check("control.home_tolerance", c.HomeTolerance > 0 && c.HomeTolerance <= 0.5, "%v: want (0, 0.5] rad", c.HomeTolerance)
	v.check("control.home_timeout", c.HomeTimeout > 0, "%v: must be > 0", c.HomeTimeout)
	v.check("control.stop_ramp", c.StopRamp >= 0 && c.StopRamp <= 10*time.Second, "%v: want 0..10s", c.StopRamp)
	v.check("control.rt_priority", *c.RTPriority >= 0 && *c.RTPriority <= 99, "%d: want 0 (off) or 1..99", *c.RTPriority)
	s := &f.Safety
	if b := s.Workspace; b != nil {
		ok := len(b.Min) == 3 && len(b.Max) == 3
		v.check("safety.workspace", ok, "min and max need 3 values each (x y z, m)")
		if ok {
			for i := range 3 {
				v.check("safety.workspace", b.Min[i] < b.Max[i] && !math.IsNaN(b.Min[i]) && !math.IsInf(b.Max[i]-b.Min[i], 0),
					"min %v and max %v: want finite values with min < max on each axis", b.Min, b.Max)
			}
		}
	}
	v.check("safety.position_margin", s.PositionMargin > 0 && s.PositionMargin <= 0.5, "%v: want (0, 0.5] rad", s.PositionMargin)
	v.check("safety.velocity_soft", s.VelocitySoft > 0 && s.VelocitySoft < 1, "%v: want (0, 1)", s.VelocitySoft)
	w := &f.Watchdog
	v.check("watchdog.state_stale", w.StateStale >= time.Millisecond && w.StateStale <= time.Second, "%v: want 1ms..1s", w.StateStale)
	v.check("watchdog.state_stale", w.StateStale >= c.Period(), "%v: shorter than the control period %v", w.StateStale, c.Period())
	v.check("watchdog.camera_stale", w.CameraStale > 0, "%v: must be > 0", w.CameraStale)
	v.check("watchdog.policy_failures", w.PolicyFailures >= 0 && w.PolicyFailures <= 1000, "%d: want 1..1000 (0: default 3)", w.PolicyFailures)
	v.check("watchdog.chunk_timeout", w.ChunkTimeout >= 0 && w.ChunkTimeout <= 10*time.Minute, "%v: want > 0 and at most 10m (0: default 5s)", w.ChunkTimeout)
	v.check("watchdog.camera_frozen", w.CameraFrozen > 0 || w.CameraFrozen == -1, "%v: must be > 0, or off", time.Duration(w.CameraFrozen))
	v.check("watchdog.max_skew", w.MaxSkew >= 0, "%v: must be >= 0", w.MaxSkew)
	names := map[string]bool{}
	for i := range f.Cameras {
		v.camera(fmt.Sprintf("cameras.%d", i), &f.Cameras[i], f.Arm.Driver)
		v.check(fmt.Sprintf("cameras.%d.name", i), !names[f.Cameras[i].Name], "%q used twice", f.Cameras[i].Name)
		names[f.Cameras[i].Name] = true
	}
	if p := f.Policy; p != nil {
		v.check("policy.bundle", p.Bundle != "", "required (a policy bundle directory)")
		if p.Bundle != "" {
			st, err := os.Stat(p.Bundle)
			v.check("policy.bundle", err == nil && st.IsDir(), "%s: not a directory (%v)", p.Bundle, err)
		}
		v.oneOf("policy.action", p.Action, SpaceEEPose, SpaceEEPose6D, SpaceJoints)
		v.oneOf("policy.state", p.State, SpaceEEPose, SpaceEEPose6D, SpaceJoints)
		v.check("policy.threads", p.Threads >= 1 && p.Threads <= 64, "%d: want 1..64", p.Threads)
		v.check("policy.lockstep_latency", p.LockstepLatency >= 0 && p.LockstepLatency <= 5*time.Second, "%v: want 0..5s", p.LockstepLatency)
		if p.Executor.Strategy != "" {
			v.oneOf("policy.executor.strategy", p.Executor.Strategy, "receding", "ensemble", "async", "inpaint")
		}
		v.check("policy.executor.n_action_steps", p.Executor.NActionSteps >= 0, "%d: must be >= 0 (0: the bundle's)", p.Executor.NActionSteps)
		if p.Library != "" {
			_, err := os.Stat(p.Library)
			v.check("policy.library", err == nil, "%v", err)
		}
	}
	t := &f.Telemetry
	v.oneOf("telemetry.log_format", t.LogFormat, "text", "json")
	v.oneOf("telemetry.log_level", t.LogLevel, "debug", "info", "warn", "error")
	if t.Listen != "off" {
		_, port, err := splitHostPort(t.Listen)
		v.check("telemetry.listen", err == nil && port >= 0 && port < 65536, "%q: want host:port, :port or off", t.Listen)
	}
	if *t.ROSStatus && f.Arm.Driver != DriverROS {
		v.fail("telemetry.ros_status", "needs the ros driver (arm.driver: ros)")
	}
	if s := f.SimServer; s != nil {
		v.check("sim_server.rate_hz", s.RateHz >= 10 && s.RateHz <= 4000, "%v: want 10..4000", s.RateHz)
		v.oneOf("sim_server.command", s.Command, ROSCommandEffort, ROSCommandPose, ROSCommandTrajectory)
		v.check("sim_server.controller", rosName(s.Controller), "%q: not a ROS name", s.Controller)
		if s.Gripper != nil {
			v.gripper("sim_server.gripper", s.Gripper, false)
		}
		for i := range s.Cameras {
			v.camera(fmt.Sprintf("sim_server.cameras.%d", i), &s.Cameras[i], DriverSim)
			v.check(fmt.Sprintf("sim_server.cameras.%d.source", i), s.Cameras[i].Source == SourceSim, "%q: the simulator serves sim cameras only", s.Cameras[i].Source)
		}
	}
	if t := f.Task; t != nil {
		v.check("task.namespace", rosName(t.Namespace) && strings.HasPrefix(t.Namespace, "/"), "%q: want an absolute ROS name", t.Namespace)
		v.check("task.rate_hz", t.RateHz >= 1 && t.RateHz <= 1000, "%v: want 1..1000", t.RateHz)
		v.check("task.seed", t.Seed >= 0 && t.Seed < 1<<53, "%d: want 0..2^53 (the status carries it as a float64)", t.Seed)
	}
	return v.err
}

func splitHostPort(s string) (string, int, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("no port")
	}
	p, err := strconv.Atoi(s[i+1:])
	return s[:i], p, err
}

type validator struct {
	f   *File
	err error
}

func (v *validator) fail(key, format string, args ...any) {
	if v.err != nil {
		return
	}
	line := v.f.lines[key]
	for k := key; line == 0 && strings.Contains(k, "."); {
		k = k[:strings.LastIndexByte(k, '.')]
		line = v.f.lines[k]
	}
	v.err = &Error{File: v.f.path, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (v *validator) check(key string, ok bool, format string, args ...any) {
	if !ok {
		v.fail(key, format, args...)
	}
}

func (v *validator) oneOf(key, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	v.fail(key, "%q: want one of %s", val, strings.Join(allowed, ", "))
}

// rosName reports whether s can be a ROS graph name (no blanks; more is checked by the
// master).
func rosName(s string) bool { return s != "" && !strings.ContainsAny(s, " \t\n") }

func (v *validator) rosArm(r *ROSArm) {
	v.jointMap(r)
	v.oneOf("arm.ros.command", r.Command, ROSCommandEffort, ROSCommandPose, ROSCommandTrajectory)
	v.check("arm.ros.controller", rosName(r.Controller), "%q: not a ROS name", r.Controller)
	v.check("arm.ros.state_topic", rosName(r.StateTopic), "%q: not a ROS name", r.StateTopic)
	v.check("arm.ros.frame_id", rosName(r.FrameID), "%q: not a frame name", r.FrameID)
	v.check("arm.ros.lookahead", r.Lookahead > 0 && r.Lookahead <= time.Second,
		"%v: want (0, 1s] (a trajectory point at time_from_start 0 is dropped by joint_trajectory_controller)", r.Lookahead)
	g := r.Gripper
	if g == nil {
		return
	}
	v.gripper("arm.ros.gripper", g, true)
	if g.State == "joints" && g.StateTopic == r.StateTopic {
		for _, f := range g.Fingers {
			v.check("arm.ros.ignore_joints", !slices.Contains(r.IgnoreJoints, f),
				"%q is a gripper finger read from %s: do not ignore it", f, r.StateTopic)
		}
	}
}

// gripper checks a gripper section; needFingers: state joints requires the finger names
// (the simulator knows its own).
func (v *validator) gripper(key string, g *ROSGripper, needFingers bool) {
	v.oneOf(key+".command", g.Command, "width", "action")
	v.check(key+".command_topic", rosName(g.CommandTopic), "%q: not a ROS name", g.CommandTopic)
	v.oneOf(key+".action_position", g.ActionPosition, "finger", "width")
	v.check(key+".max_effort", g.MaxEffort > 0 && g.MaxEffort <= 1000, "%v: want (0, 1000] N", g.MaxEffort)
	v.oneOf(key+".state", g.State, "joints", "width")
	v.check(key+".state_topic", rosName(g.StateTopic), "%q: not a ROS name", g.StateTopic)
	v.check(key+".max_width", g.MaxWidth > 0 && g.MaxWidth <= 1, "%v: want (0, 1] m", g.MaxWidth)
	if g.State == "joints" && (needFingers || len(g.Fingers) > 0) {
		v.check(key+".fingers", len(g.Fingers) == 2 && g.Fingers[0] != "" && g.Fingers[1] != "" && g.Fingers[0] != g.Fingers[1],
			"%q: want the two finger joints' names", g.Fingers)
	}
}

func (v *validator) camera(key string, c *Camera, driver string) {
	v.check(key+".name", c.Name != "", "required")
	v.oneOf(key+".source", c.Source, SourceSim, SourceROS, SourceV4L2, SourceVideo)
	switch c.Source {
	case SourceSim:
		v.check(key+".source", driver == DriverSim, "sim cameras need the sim driver (arm.driver: sim)")
	case SourceROS:
		v.check(key+".topic", c.Topic != "", "required for a ros camera")
	case SourceV4L2, SourceVideo:
		v.check(key+".device", c.Device != "", "required for a %s camera", c.Source)
	}
	v.check(key+".width", c.Width > 0 && c.Width <= 8192 && c.Height > 0 && c.Height <= 8192, "%dx%d: want 1..8192 each", c.Width, c.Height)
	v.check(key+".rate_hz", c.RateHz > 0 && c.RateHz <= 1000, "%v: want (0, 1000]", c.RateHz)
	v.check(key+".noise", c.Noise >= 0 && c.Noise <= 128, "%v: want 0..128 (8-bit levels)", c.Noise)
	v.check(key+".noise", c.Noise == 0 || c.Source == SourceSim, "only sim cameras take added noise")
	if c.Pipeline != nil {
		if err := c.Pipeline.Validate(c.Width, c.Height, perception.RGB8); err != nil {
			v.fail(key+".pipeline", "%v", err)
		}
	}
}

// jointMap checks what arm.ros.joint_map and arm.ros.joints say without the model (names
// given, none twice, not both keys, none ignored); ROSJoints checks them against it.
func (v *validator) jointMap(r *ROSArm) {
	if r.JointMap != nil {
		v.check("arm.ros.joints", len(r.Joints) == 0,
			"give the robot's joints in arm.ros.joint_map (robot name: model joint) or, when they have the model's names, in arm.ros.joints; not both")
		v.check("arm.ros.joint_map", len(r.JointMap) > 0, "empty: map each of the robot's joints to the model's joint it is")
		robot := v.f.jointMapKeys(r)
		modelUse := map[string]string{}
		for _, name := range robot {
			key := "arm.ros.joint_map." + name
			model := r.JointMap[name]
			v.check(key, rosName(name) && rosName(model), "%q: %q: want a robot joint name and the model joint it is", name, model)
			if prev, ok := modelUse[model]; ok {
				v.fail(key, "model joint %q is already %q's: map each model joint exactly once", model, prev)
			}
			modelUse[model] = name
			v.check(key, !slices.Contains(r.IgnoreJoints, name), "%q is also in arm.ros.ignore_joints", name)
		}
	}
	seen := map[string]bool{}
	for i, j := range r.Joints {
		v.check(fmt.Sprintf("arm.ros.joints.%d", i), rosName(j) && !seen[j], "%q: empty or named twice", j)
		seen[j] = true
	}
}

// jointMapKeys is the robot's joint names of arm.ros.joint_map in the file's order (by
// line; sorted by name for a File built in code).
func (f *File) jointMapKeys(r *ROSArm) []string {
	keys := make([]string, 0, len(r.JointMap))
	for k := range r.JointMap {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		la, lb := f.lines["arm.ros.joint_map."+a], f.lines["arm.ros.joint_map."+b]
		if la != lb {
			return la - lb
		}
		return strings.Compare(a, b)
	})
	return keys
}

// ROSJoints returns the ROS arm's joint names (as the robot's topics name them) in the
// order of model, the robot model's joint names: from arm.ros.joint_map when given (each
// model joint must be mapped exactly once, to a joint the model has), else
// arm.ros.joints (which must then be model itself), else model. A mismatch is an *Error
// naming the key and its line in the file. Call it with the model before connecting.
func (f *File) ROSJoints(model []string) ([]string, error) {
	r := &f.Arm.ROS
	v := validator{f: f}
	out := make([]string, len(model))
	switch {
	case r.JointMap != nil:
		index := map[string]int{}
		for i, m := range model {
			index[m] = i
		}
		for _, name := range f.jointMapKeys(r) {
			m := r.JointMap[name]
			i, ok := index[m]
			if !ok {
				v.fail("arm.ros.joint_map."+name, "%q is not a joint of the robot model %s (its joints: %s)", m, f.Arm.Model, strings.Join(model, ", "))
				return nil, v.err
			}
			if out[i] != "" {
				v.fail("arm.ros.joint_map."+name, "model joint %q is already %q's: map each model joint exactly once", m, out[i])
				return nil, v.err
			}
			out[i] = name
		}
		var missing []string
		for i, m := range model {
			if out[i] == "" {
				missing = append(missing, m)
			}
		}
		if len(missing) > 0 {
			v.fail("arm.ros.joint_map", "model joints %s not mapped: map every joint of %s (%s) exactly once", strings.Join(missing, ", "), f.Arm.Model, strings.Join(model, ", "))
			return nil, v.err
		}
	case len(r.Joints) > 0:
		if len(r.Joints) != len(model) {
			v.fail("arm.ros.joints", "%d joints, the robot model %s has %d (%s)", len(r.Joints), f.Arm.Model, len(model), strings.Join(model, ", "))
			return nil, v.err
		}
		for i, j := range r.Joints {
			if j != model[i] {
				v.fail(fmt.Sprintf("arm.ros.joints.%d", i), "%q, but the model's joint %d is %q: when the robot's joint names are not the model's, map them in arm.ros.joint_map (%s: %s, ...)",
					j, i, model[i], j, model[i])
				return nil, v.err
			}
		}
		copy(out, r.Joints)
	default:
		copy(out, model)
	}
	return out, nil
}
