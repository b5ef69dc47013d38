package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/policy/chunk"
	"github.com/robotd/robotd/sim"
)

// Every file shipped in launch/ loads and validates.
func TestShippedFilesLoad(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d launch files, want at least sim, sim_realtime, ros, sim_ros", len(files))
	}
	for _, name := range files {
		f, err := Load(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if f.Name != strings.TrimSuffix(name, ".yaml") {
			t.Errorf("%s: name %q", name, f.Name)
		}
		if f.Policy != nil && !filepath.IsAbs(f.Policy.Bundle) {
			t.Errorf("%s: policy bundle %q not resolved against the file's directory", name, f.Policy.Bundle)
		}
		// A ROS arm's joint names fit the file's model (as wire checks before connecting).
		if f.Arm.Driver == DriverROS {
			robot, err := control.ParseMJCF(f.Arm.Model, f.Arm.Tool)
			if err != nil {
				t.Errorf("%s: model: %v", name, err)
			} else if _, err := f.ROSJoints(robot.JointNames()); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	f, err := Load("test_fixture_sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f.Mode != ModeLockstep || f.Arm.Driver != DriverSim || f.Duration != 10*time.Second {
		t.Errorf("test_fixture_sim.yaml: mode %s driver %s duration %v", f.Mode, f.Arm.Driver, f.Duration)
	}
	if f.Control.Period() != time.Millisecond || f.Watchdog.StateStale != 100*time.Millisecond {
		t.Errorf("test_fixture_sim.yaml defaults: period %v, state_stale %v", f.Control.Period(), f.Watchdog.StateStale)
	}
	r, err := Load("ros.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != ModeRealtime || r.Cameras[0].Source != SourceROS || !*r.Telemetry.ROSStatus {
		t.Errorf("ros.yaml: mode %s camera source %s ros_status %v", r.Mode, r.Cameras[0].Source, *r.Telemetry.ROSStatus)
	}
	// ros.yaml maps franka_ros' joint names onto the reference model's, in its order.
	robot, err := control.ParseMJCF(r.Arm.Model, r.Arm.Tool)
	if err != nil {
		t.Fatalf("ros.yaml: model %s: %v", r.Arm.Model, err)
	}
	joints, err := r.ROSJoints(robot.JointNames())
	want := []string{"panda_joint1", "panda_joint2", "panda_joint3", "panda_joint4", "panda_joint5", "panda_joint6", "panda_joint7"}
	if err != nil || !slices.Equal(joints, want) {
		t.Errorf("ros.yaml: ROSJoints(%q) = %q, %v; want %q", robot.JointNames(), joints, err, want)
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestErrorsNameFileLineAndKey(t *testing.T) {
	bundle, _ := filepath.Abs("../policy/testdata/unet")
	cases := []struct {
		name, body, want string
	}{
		{"unknown top key", "name: x\nmodee: realtime\n", `bad.yaml:2: unknown key "modee" (in the top level)`},
		{"unknown nested key", "arm:\n  driver: sim\ncontrol:\n  rate: 500\n", `bad.yaml:4: unknown key "rate" (in control)`},
		{"unknown executor key", "policy:\n  bundle: " + bundle + "\n  executor:\n    strategyy: async\n", `bad.yaml:4: unknown key "strategyy" (in policy.executor)`},
		{"bad duration", "watchdog:\n  state_stale: soon\n", `bad.yaml:2:`},
		{"rate out of range", "control:\n  rate_hz: 50000\n", `bad.yaml:2: control.rate_hz: 50000: want 100..4000`},
		{"stiffness too high", "control:\n  stiffness: [200, 200, 9000, 30, 30, 30]\n", `control.stiffness.2: 9000: want (0, 3000] N/m`},
		{"stiffness negative", "control:\n  stiffness: [200, 200, 200, -1, 30, 30]\n", `control.stiffness.3: -1: want (0, 300] Nm/rad`},
		{"stiffness count", "control:\n  stiffness: [200, 200]\n", `bad.yaml:2: control.stiffness: 2 values: want 6`},
		{"unknown driver", "arm:\n  driver: ur5\n", `bad.yaml:2: arm.driver: "ur5": want one of sim, ros`},
		{"lockstep ros", "mode: lockstep\narm:\n  driver: ros\n", `bad.yaml:1: mode: lockstep needs the embedded simulator`},
		{"missing bundle", "policy:\n  bundle: nowhere\n", `policy.bundle:`},
		{"missing model", "arm:\n  model: nowhere.xml\n", `bad.yaml:2: arm.model:`},
		{"ros camera without topic", "arm:\n  driver: ros\ncameras:\n  - name: wrist\n", `bad.yaml:4: cameras.0.topic: required for a ros camera`},
		{"sim camera on ros", "arm:\n  driver: ros\ncameras:\n  - name: wrist\n    source: sim\n", `cameras.0.source: sim cameras need the sim driver`},
		{"duplicate camera", "cameras:\n  - name: a\n  - name: a\n", `cameras.1.name: "a" used twice`},
		{"camera noise negative", "cameras:\n  - name: a\n    noise: -2\n", `cameras.0.noise: -2: want 0..128`},
		{"noise on a ros camera", "arm:\n  driver: ros\ncameras:\n  - name: a\n    topic: /a\n    noise: 3\n", `cameras.0.noise: only sim cameras take added noise`},
		{"stale too short", "control:\n  rate_hz: 500\nwatchdog:\n  state_stale: 1ms\n", `watchdog.state_stale: 1ms: shorter than the control period 2ms`},
		{"workspace inverted", "safety:\n  workspace: {min: [0.5, 0, 0], max: [0.2, 1, 1]}\n", `safety.workspace: min [0.5 0 0] and max [0.2 1 1]`},
		{"log format", "telemetry:\n  log_format: xml\n", `telemetry.log_format: "xml": want one of text, json`},
		{"ros status on sim", "telemetry:\n  ros_status: true\n", `telemetry.ros_status: needs the ros driver`},
		{"ros command", "arm:\n  driver: ros\n  ros:\n    command: velocity\n", `bad.yaml:4: arm.ros.command: "velocity": want one of effort, pose, trajectory`},
		{"ros lookahead negative", "arm:\n  driver: ros\n  ros:\n    command: trajectory\n    lookahead: -1ms\n", `bad.yaml:5: arm.ros.lookahead: -1ms: want (0, 1s]`},
		{"ros lookahead long", "arm:\n  driver: ros\n  ros:\n    lookahead: 2s\n", `bad.yaml:4: arm.ros.lookahead: 2s: want (0, 1s]`},
		{"ros frame_id", "arm:\n  driver: ros\n  ros:\n    command: pose\n    frame_id: base link\n", `bad.yaml:5: arm.ros.frame_id: "base link": not a frame name`},
		{"gripper same fingers", "arm:\n  driver: ros\n  ros:\n    gripper:\n      command: width\n      fingers: [l, l]\n", `bad.yaml:6: arm.ros.gripper.fingers: ["l" "l"]: want the two finger joints' names`},
		{"gripper empty", "arm:\n  driver: ros\n  ros:\n    gripper: {}\n", `bad.yaml:4: arm.ros.gripper.command: "": want one of width, action`},
		{"gripper without command", "arm:\n  driver: ros\n  ros:\n    gripper:\n      fingers: [l, r]\n", `bad.yaml:4: arm.ros.gripper.command: "": want one of width, action`},
		{"gripper one finger", "arm:\n  driver: ros\n  ros:\n    gripper:\n      command: width\n      fingers: [l]\n", `bad.yaml:6: arm.ros.gripper.fingers: 1 value: want 2`},
		{"gripper effort", "arm:\n  driver: ros\n  ros:\n    gripper:\n      command: action\n      fingers: [l, r]\n      max_effort: -5\n", `bad.yaml:7: arm.ros.gripper.max_effort: -5: want (0, 1000] N`},
		{"gripper state", "arm:\n  driver: ros\n  ros:\n    gripper:\n      command: width\n      state: force\n", `bad.yaml:6: arm.ros.gripper.state: "force": want one of joints, width`},
		{"gripper finger ignored", "arm:\n  driver: ros\n  ros:\n    ignore_joints: [l, r]\n    gripper:\n      command: width\n      state_topic: /joint_states\n      fingers: [l, r]\n",
			`bad.yaml:4: arm.ros.ignore_joints: "l" is a gripper finger read from /joint_states: do not ignore it`},
		{"gripper unknown key", "arm:\n  driver: ros\n  ros:\n    gripper:\n      command: width\n      widht: 0.05\n", `bad.yaml:6: unknown key "widht" (in a gripper section)`},
		{"unknown arm.ros key", "arm:\n  driver: ros\n  ros:\n    masterr: x\n", `bad.yaml:4: unknown key "masterr" (in arm.ros)`},
		{"driver field that is not a key", "arm:\n  driver: ros\n  ros:\n    stale_limit: 5ms\n", `bad.yaml:4: unknown key "stale_limit" (in arm.ros)`},
		{"ros node", "arm:\n  driver: ros\n  ros:\n    node: my node\n", `bad.yaml:4: arm.ros.node: "my node": not a ROS name`},
		{"workspace corner", "safety:\n  workspace:\n    min: [0, 0]\n    max: [1, 1, 1]\n", `bad.yaml:3: safety.workspace.min: 2 values: want 3`},
		{"unknown workspace key", "safety:\n  workspace: {low: [0, 0, 0]}\n", `bad.yaml:2: unknown key "low" (in safety.workspace)`},
		{"position margin", "safety:\n  position_margin: 0.5\n", `bad.yaml:2: safety.position_margin: 0.5: want (0, 0.5) rad`},
		{"max torque rate", "control:\n  max_torque_rate: 20000\n", `bad.yaml:2: control.max_torque_rate: 20000: want (0, 10000] Nm/s`},
		{"nullspace stiffness", "control:\n  nullspace_stiffness: 101\n", `bad.yaml:2: control.nullspace_stiffness: 101: want 0..100 Nm/rad`},
		{"executor strategy", "policy:\n  bundle: " + bundle + "\n  executor:\n    strategy: greedy\n", `bad.yaml:4: policy.executor.strategy: "greedy": must be receding, ensemble, async or inpaint`},
		{"executor blend", "policy:\n  bundle: " + bundle + "\n  executor:\n    blend: mix\n", `bad.yaml:4: policy.executor.blend: "mix": must be latest, average or weighted`},
		{"executor steps", "policy:\n  bundle: " + bundle + "\n  executor:\n    n_action_steps: -2\n", `bad.yaml:4: policy.executor.n_action_steps: -2: must not be negative`},
		{"unknown steering key", "policy:\n  bundle: " + bundle + "\n  steering:\n    sample: 4\n", `bad.yaml:4: unknown key "sample" (in policy.steering)`},
		{"unknown scorer key", "policy:\n  bundle: " + bundle + "\n  steering:\n    coherence: {weight: 1, betta: 0.9}\n", `unknown key "betta" (in policy.steering.coherence)`},
		{"steering samples", "policy:\n  bundle: " + bundle + "\n  steering:\n    samples: -4\n", `bad.yaml:4: policy.steering.samples: -4, want 1..256`},
		{"steering value without bundle", "policy:\n  bundle: " + bundle + "\n  steering:\n    value: {weight: 1}\n", `policy.steering.value.bundle: required with value.weight`},
		{"steering residual rate", "policy:\n  bundle: " + bundle + "\n  steering:\n    residual:\n      bundle: " + bundle + "\n      rate: tick\n", `policy.steering.residual.rate: unknown "tick"`},
		{"steering bundle missing", "policy:\n  bundle: " + bundle + "\n  steering:\n    contrast:\n      weight: 1\n      bundle: nowhere\n", `policy.steering.contrast.bundle:`},
		{"sim_server controller", "sim_server:\n  controller: my controller\n", `bad.yaml:2: sim_server.controller: "my controller": not a ROS name`},
		{"sim_server command", "sim_server:\n  command: torque\n", `bad.yaml:2: sim_server.command: "torque": want one of effort, pose, trajectory`},
		{"sim_server gripper", "sim_server:\n  gripper:\n    command: width\n    max_width: 3\n", `bad.yaml:4: sim_server.gripper.max_width: 3: want (0, 1] m`},
		{"joint_map and joints", "arm:\n  driver: ros\n  ros:\n    joint_map: {a1: joint1}\n    joints: [joint1]\n", `bad.yaml:5: arm.ros.joints: give the robot's joints in arm.ros.joint_map`},
		{"joint_map model joint twice", "arm:\n  driver: ros\n  ros:\n    joint_map:\n      a1: joint1\n      a2: joint1\n", `bad.yaml:6: arm.ros.joint_map.a2: model joint "joint1" is already "a1"'s: map each model joint exactly once`},
		{"joint_map robot joint twice", "arm:\n  driver: ros\n  ros:\n    joint_map:\n      a1: joint1\n      a1: joint2\n", `bad.yaml:6:`},
		{"joint_map ignored joint", "arm:\n  driver: ros\n  ros:\n    ignore_joints: [f1]\n    joint_map:\n      f1: joint1\n", `bad.yaml:6: arm.ros.joint_map.f1: "f1" is also in arm.ros.ignore_joints`},
		{"joint_map empty name", "arm:\n  driver: ros\n  ros:\n    joint_map:\n      a1: \"\"\n", `bad.yaml:5: arm.ros.joint_map.a1: "a1": "": want a robot joint name`},
		{"joint_map empty", "arm:\n  driver: ros\n  ros:\n    joint_map: {}\n", `bad.yaml:4: arm.ros.joint_map: empty`},
		{"joint_map a list", "arm:\n  driver: ros\n  ros:\n    joint_map: [a1, joint1]\n", `bad.yaml:4:`},
		{"joints twice", "arm:\n  driver: ros\n  ros:\n    joints: [a, b, a]\n", `bad.yaml:4: arm.ros.joints.2: "a": empty or named twice`},
		{"listen", "telemetry:\n  listen: localhost\n", `bad.yaml:2: telemetry.listen: "localhost": want host:port, :port or off`},
		{"empty", "", `empty launch file`},
		{"not yaml", "a: [1, 2\n", `bad.yaml`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeFile(t, c.body))
			if err == nil {
				t.Fatalf("loaded; want an error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, c.want)
			}
		})
	}
}

func TestValidationErrorIsTyped(t *testing.T) {
	_, err := Load(writeFile(t, "control:\n  rate_hz: 10\n"))
	var le *Error
	if !errors.As(err, &le) || le.Key != "control.rate_hz" || le.Line != 2 {
		t.Fatalf("error %#v: want *launch.Error for control.rate_hz at line 2", err)
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"))
	if err == nil || !strings.Contains(err.Error(), "none.yaml") {
		t.Fatalf("error %v: want one naming the file", err)
	}
}

func TestRelativePathsFollowTheFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bundle"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "run.yaml")
	if err := os.WriteFile(p, []byte("policy:\n  bundle: bundle\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if f.Policy.Bundle != filepath.Join(dir, "bundle") {
		t.Fatalf("bundle %q, want %q", f.Policy.Bundle, filepath.Join(dir, "bundle"))
	}
}

// The arm.ros command and gripper settings take their defaults by convention.
func TestROSArmDefaults(t *testing.T) {
	cases := []struct {
		body                                   string
		command, controller, frame             string
		lookahead                              time.Duration
		gripperCommandTopic, gripperStateTopic string
	}{
		{"arm:\n  driver: ros\n", "effort", "effort_controller", "panda_link0", 2 * time.Millisecond, "", ""},
		{"arm:\n  driver: ros\n  ros:\n    command: pose\n    frame_id: base\n", "pose", "cartesian_impedance_example_controller", "base", 2 * time.Millisecond, "", ""},
		{"arm:\n  driver: ros\n  ros:\n    command: trajectory\n    lookahead: 5ms\n    gripper:\n      command: action\n      fingers: [l, r]\n",
			"trajectory", "position_joint_trajectory_controller", "panda_link0", 5 * time.Millisecond, "/franka_gripper/gripper_action", "/franka_gripper/joint_states"},
		{"arm:\n  driver: ros\n  ros:\n    gripper:\n      command: width\n      state: width\n", "effort", "effort_controller", "panda_link0", 2 * time.Millisecond, "/gripper/command", "/gripper/width"},
	}
	for i, c := range cases {
		f, err := Load(writeFile(t, c.body))
		if err != nil {
			t.Errorf("case %d: %v", i, err)
			continue
		}
		r := f.Arm.ROS
		if r.ConnectTimeout != 10*time.Second || r.CompensatesGravity == nil || !*r.CompensatesGravity || r.Node != "robotd" || r.StateTopic != "/joint_states" {
			t.Errorf("case %d: connect_timeout %v, compensates_gravity %v, node %q, state_topic %q: want the defaults", i, r.ConnectTimeout, r.CompensatesGravity, r.Node, r.StateTopic)
		}
		if r.Command != c.command || r.Controller != c.controller || r.FrameID != c.frame || r.Lookahead != c.lookahead {
			t.Errorf("case %d: command %s controller %s frame %s lookahead %v; want %s %s %s %v", i, r.Command, r.Controller, r.FrameID, r.Lookahead,
				c.command, c.controller, c.frame, c.lookahead)
		}
		if g := r.Gripper; (g == nil) != (c.gripperCommandTopic == "") {
			t.Errorf("case %d: gripper %+v", i, g)
		} else if g != nil && (g.CommandTopic != c.gripperCommandTopic || g.StateTopic != c.gripperStateTopic || g.MaxWidth != 0.08 || g.MaxEffort != 20 || g.ActionPosition != "finger") {
			t.Errorf("case %d: gripper %+v, want topics %s %s and the default width, effort, action position", i, g, c.gripperCommandTopic, c.gripperStateTopic)
		}
	}
}

func TestSimServerDefaults(t *testing.T) {
	f, err := Load(writeFile(t, "sim_server:\n  command: pose\n  gripper:\n    command: width\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := f.SimServer
	if s.Command != "pose" || s.Controller != "cartesian_impedance_example_controller" {
		t.Errorf("sim_server command %s controller %s", s.Command, s.Controller)
	}
	if g := s.Gripper; g.State != "joints" || g.Fingers != [2]string{} || g.CommandTopic != "/gripper/command" {
		t.Errorf("sim_server gripper %+v: want joints state, the scene's fingers, /gripper/command", g)
	}
}

// ROSJoints checks arm.ros.joint_map (or joints) against the model's joints and returns
// the robot's names in the model's order; errors name the key and its line.
func TestROSJoints(t *testing.T) {
	model := []string{"joint1", "joint2", "joint3"}
	cases := []struct {
		name, ros string
		want      []string
		err       string
	}{
		{"no names", "", model, ""},
		{"the model's names", "    joints: [joint1, joint2, joint3]\n", model, ""},
		{"map in another order", "    joint_map:\n      b3: joint3\n      b1: joint1\n      b2: joint2\n", []string{"b1", "b2", "b3"}, ""},
		{"map to an unknown joint", "    joint_map:\n      b1: joint1\n      b2: joint2\n      b3: joint9\n",
			nil, `bad.yaml:7: arm.ros.joint_map.b3: "joint9" is not a joint of the robot model`},
		{"a model joint unmapped", "    joint_map:\n      b1: joint1\n      b3: joint3\n",
			nil, `bad.yaml:4: arm.ros.joint_map: model joints joint2 not mapped: map every joint of`},
		{"robot names without a map", "    joints: [b1, b2, b3]\n",
			nil, `bad.yaml:4: arm.ros.joints.0: "b1", but the model's joint 0 is "joint1": when the robot's joint names are not the model's, map them in arm.ros.joint_map (b1: joint1, ...)`},
		{"another order without a map", "    joints: [joint1, joint3, joint2]\n", nil, `bad.yaml:4: arm.ros.joints.1: "joint3", but the model's joint 1 is "joint2"`},
		{"too few joints", "    joints: [joint1]\n", nil, `bad.yaml:4: arm.ros.joints: 1 joints, the robot model`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Load(writeFile(t, "arm:\n  driver: ros\n  ros:\n"+c.ros))
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.ROSJoints(model)
			if c.err != "" {
				var le *Error
				if err == nil || !strings.Contains(err.Error(), c.err) || !errors.As(err, &le) {
					t.Fatalf("ROSJoints = %q, %v; want a *launch.Error containing %q", got, err, c.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("ROSJoints = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// pathKeys are the launch keys that hold a path; resolve makes each relative one
// relative to the launch file. TestPathKeysResolved fails when a new path-like key is
// added without being resolved.
// sim_server.cameras are sim cameras only (Validate refuses another source): their
// device is never read.
var pathKeys = []string{"arm.model", "policy.bundle", "policy.library", "cameras.device", "sim_server.cameras.device",
	"policy.steering.contrast.bundle", "policy.steering.value.bundle", "policy.steering.noise.bundle", "policy.steering.residual.bundle"}

// Every path-like key of a launch file is in pathKeys (and so resolved against the file).
func TestPathKeysResolved(t *testing.T) {
	var found []string
	var walk func(typ reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct {
			return
		}
		for i := range typ.NumField() {
			fld := typ.Field(i)
			key, opts, _ := strings.Cut(fld.Tag.Get("yaml"), ",")
			if strings.Contains(opts, "inline") { // a package's Config: its keys are this section's
				walk(fld.Type, prefix)
				continue
			}
			if key == "" || key == "-" {
				continue
			}
			if prefix != "" {
				key = prefix + "." + key
			}
			if fld.Type.Kind() == reflect.String && regexpPathLike(key) {
				found = append(found, key)
			}
			walk(fld.Type, key)
		}
	}
	walk(reflect.TypeOf(File{}), "")
	for _, k := range found {
		if !slices.Contains(pathKeys, k) {
			t.Errorf("launch key %s looks like a path: resolve it against the launch file (File.resolve) and add it to pathKeys", k)
		}
	}
}

func regexpPathLike(key string) bool {
	last := key[strings.LastIndexByte(key, '.')+1:]
	for _, w := range []string{"model", "bundle", "library", "device", "file", "path", "dir", "calib"} {
		if strings.Contains(last, w) {
			return true
		}
	}
	return false
}

// Every path in a launch file resolves against the file, not the working directory: the
// file is loaded from another working directory, by an absolute and a relative path.
func TestPathsResolveFromAnotherWorkingDirectory(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"launch", "bundle", "models", "lib", "videos", "weak", "value", "noise", "residual"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"models/arm.xml", "lib/libonnxruntime.so", "videos/wrist.mp4"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	body := `arm:
  model: ../models/arm.xml
cameras:
  - name: wrist
    source: video
    device: ../videos/wrist.mp4
policy:
  bundle: ../bundle
  library: ../lib/libonnxruntime.so
  steering:
    contrast: {weight: 1, bundle: ../weak}
    value: {weight: 1, bundle: ../value}
    noise: {bundle: ../noise}
    residual: {bundle: ../residual}
`
	file := filepath.Join(root, "launch", "run.yaml")
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "work")
	if err := os.Mkdir(elsewhere, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(elsewhere)
	rel, err := filepath.Rel(elsewhere, file)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{file, rel} {
		f, err := Load(path)
		if err != nil {
			t.Fatalf("Load(%s) from %s: %v", path, elsewhere, err)
		}
		for key, got := range map[string]string{
			"arm.model":                       f.Arm.Model,
			"policy.bundle":                   f.Policy.Bundle,
			"policy.library":                  f.Policy.Library,
			"cameras.device":                  f.Cameras[0].Device,
			"policy.steering.contrast.bundle": f.Policy.Steering.Contrast.Bundle,
			"policy.steering.value.bundle":    f.Policy.Steering.Value.Bundle,
			"policy.steering.noise.bundle":    f.Policy.Steering.Noise.Bundle,
			"policy.steering.residual.bundle": f.Policy.Steering.Residual.Bundle,
		} {
			want := map[string]string{
				"arm.model": "models/arm.xml", "policy.bundle": "bundle",
				"policy.library": "lib/libonnxruntime.so", "cameras.device": "videos/wrist.mp4",
				"policy.steering.contrast.bundle": "weak", "policy.steering.value.bundle": "value",
				"policy.steering.noise.bundle": "noise", "policy.steering.residual.bundle": "residual",
			}[key]
			if got != filepath.Join(root, want) {
				t.Errorf("Load(%s): %s = %q, want %q", path, key, got, filepath.Join(root, want))
			}
		}
		if f.Dir() != filepath.Join(root, "launch") {
			t.Errorf("Load(%s): Dir() = %q", path, f.Dir())
		}
	}
}

// Without arm.model, the reference model is searched from the launch file's directory
// first: a launch file beside a models tree finds it from any working directory; with
// none anywhere the error names arm.model and every place looked.
func TestDefaultModelFollowsTheFile(t *testing.T) {
	t.Setenv(sim.ModelsEnv, "")
	root := t.TempDir()
	for _, d := range []string{"launch", "sim/models"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	scene := filepath.Join(root, "sim", "models", "scene.xml")
	if err := os.WriteFile(scene, []byte("<mujoco/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "launch", "run.yaml")
	if err := os.WriteFile(file, []byte("name: run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	f, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if f.Arm.Model != scene {
		t.Errorf("arm.model = %q, want %q (found from the launch file)", f.Arm.Model, scene)
	}
	lonely := filepath.Join(t.TempDir(), "run.yaml")
	if err := os.WriteFile(lonely, []byte("name: run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(lonely)
	if err == nil {
		t.Fatal("Load found a model where there is none")
	}
	for _, want := range []string{"arm.model: not given", filepath.Dir(lonely), elsewhere, "$" + sim.ModelsEnv} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not name %s", err, want)
		}
	}
}

// A YAML syntax error names the problem's line. yaml.v3 prints its parser's (not its
// scanner's) lines 0-based: the line before the real one, or before the start of the
// block the problem is in. For an unclosed [ or { the line is where it opens.
func TestSyntaxErrorLine(t *testing.T) {
	cases := []struct {
		name, body string
		yamlLine   int // what yaml.v3 says
		line       int // the real line
	}{
		{"key outdented", "arm:\n  driver: sim\n  tool: tcp\n model: x.xml\n", 3, 4},
		{"list item after a mapping", "name: x\nmode: realtime\n- a\n", 2, 3},
		{"unclosed flow list", "name: x\ncontrol:\n  stiffness: [200, 200\nwatchdog: {}\n", 2, 3},
		{"key deeper in the file", "name: x\narm:\n  driver: sim\ncontrol:\n  rate_hz: 500\n  home: [0, 0]\n    - 1\n", 4, 7},
		// Scanner errors were right already.
		{"mapping in a plain value", "name: x\nmode: a: b\n", 2, 2},
		{"tab indentation", "name: x\n\tmode: realtime\n", 2, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n yaml.Node
			raw := yaml.Unmarshal([]byte(c.body), &n)
			if raw == nil || !strings.Contains(raw.Error(), fmt.Sprintf("line %d:", c.yamlLine)) {
				t.Fatalf("yaml.v3 says %v; the case expects line %d", raw, c.yamlLine)
			}
			_, err := Load(writeFile(t, c.body))
			want := fmt.Sprintf("bad.yaml:%d: YAML syntax: ", c.line)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v\nwant it to contain %q", err, want)
			}
		})
	}
}

// A zero that a default would silently replace, where zero is out of the key's range, is
// refused at its line (control.rate_hz: 0 used to run at 1000 Hz). Zeros that mean
// something (duration: 0s runs until stopped) still load.
func TestZeroIsNotSilentlyTheDefault(t *testing.T) {
	refused := []struct{ body, want string }{
		{"control:\n  rate_hz: 0\n", `bad.yaml:2: control.rate_hz: 0: must be > 0 (leave the key out for the default)`},
		{"control:\n  rate_hz: 0.0\n", `bad.yaml:2: control.rate_hz: 0.0: must be > 0`},
		{"control:\n  stiffness: [200, 200, 200, 0, 30, 30]\n", `bad.yaml:2: control.stiffness.3: 0: must be > 0`},
		{"control:\n  filter_rate: 0\n", `bad.yaml:2: control.filter_rate: 0: must be > 0`},
		{"control:\n  max_torque_rate: 0\n", `bad.yaml:2: control.max_torque_rate: 0: must be > 0`},
		{"control:\n  home_timeout: 0s\n", `bad.yaml:2: control.home_timeout: 0s: must be > 0`},
		{"safety:\n  velocity_soft: 0\n", `bad.yaml:2: safety.velocity_soft: 0: must be > 0`},
		{"watchdog:\n  state_stale: 0ms\n", `bad.yaml:2: watchdog.state_stale: 0ms: must be > 0`},
		{"watchdog:\n  camera_frozen: 0s\n", `bad.yaml:2: watchdog.camera_frozen: 0s: must be > 0`},
		{"arm:\n  driver: ros\n  ros:\n    lookahead: 0s\n", `bad.yaml:4: arm.ros.lookahead: 0s: must be > 0`},
		{"arm:\n  driver: ros\n  ros:\n    connect_timeout: 0s\n", `bad.yaml:4: arm.ros.connect_timeout: 0s: must be > 0`},
		{"arm:\n  driver: ros\n  ros:\n    gripper:\n      command: width\n      fingers: [l, r]\n      max_width: 0\n", `bad.yaml:7: arm.ros.gripper.max_width: 0: must be > 0`},
		{"cameras:\n  - name: a\n  - name: b\n    rate_hz: 0\n", `bad.yaml:4: cameras.1.rate_hz: 0: must be > 0`},
		{"cameras:\n  - name: a\n    width: 0\n    height: 0\n", `bad.yaml:3: cameras.0.width: 0: must be > 0`},
		{"sim_server:\n  rate_hz: 0\n", `bad.yaml:2: sim_server.rate_hz: 0: must be > 0`},
		{"task:\n  rate_hz: 0\n", `bad.yaml:2: task.rate_hz: 0: must be > 0`},
	}
	for _, c := range refused {
		_, err := Load(writeFile(t, c.body))
		var le *Error
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.As(err, &le) {
			t.Errorf("%q: error %v\nwant an *Error containing %q", c.body, err, c.want)
		}
	}
	f, err := Load(writeFile(t, "duration: 0s\ncontrol:\n  rt_priority: 0\nwatchdog:\n  policy_failures: 0\n  chunk_timeout: 0s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Duration != 0 || *f.Control.RTPriority != 0 {
		t.Errorf("duration %v, rt_priority %d: want the zeros given", f.Duration, *f.Control.RTPriority)
	}
}

// The sections that are a package's Config take that package's defaults: launch writes
// none of them again (issue 17: arm.ros, the gripper, the gains, safety and the daemon's
// durations had a second copy here that could drift).
func TestDefaultsAreThePackages(t *testing.T) {
	bundle, _ := filepath.Abs("../policy/testdata/unet")
	f, err := Load(writeFile(t, "arm:\n  driver: ros\n  ros:\n    gripper:\n      command: action\n      fingers: [l, r]\npolicy:\n  bundle: "+bundle+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := f.Arm.ROS
	want := ros.ArmConfig{}.WithDefaults()
	if r.MasterAddress != want.MasterAddress || r.Node != want.Node || r.StateTopic != want.StateTopic || r.Command != want.Command ||
		r.Controller != want.Controller || r.FrameID != want.FrameID || r.Lookahead != want.Lookahead {
		t.Errorf("arm.ros %+v\nwant drivers/ros's defaults %+v", r.ArmConfig, want)
	}
	if g := (ros.GripperConfig{Command: ros.GripperAction, Fingers: [2]string{"l", "r"}}).WithDefaults(); *r.Gripper != g {
		t.Errorf("arm.ros.gripper %+v, want drivers/ros's defaults %+v", *r.Gripper, g)
	}
	d := daemon.Config{}.WithDefaults()
	c := f.Control
	if c.Period() != d.Period || c.HomeTolerance != d.HomeTolerance || c.HomeTimeout != d.HomeTimeout || c.StopRamp != d.StopRamp || f.Watchdog.StateStale != d.StateStale {
		t.Errorf("control %+v, watchdog %+v: want daemon.Config's defaults %+v", c, f.Watchdog, d)
	}
	k := control.CartesianConfig{}.WithDefaults()
	if c.NullspaceStiffness != k.NullspaceStiffness || c.MaxTorqueRate != k.MaxTorqueRate || c.FilterRate != k.FilterRate ||
		[3]float64(c.Stiffness[:3]) != [3]float64(k.Stiffness[:3]) || c.Stiffness[3] != rotStiffness {
		t.Errorf("control gains %+v, want control's defaults %+v (rotational stiffness %v)", c.CartesianConfig, k, rotStiffness)
	}
	if s := (control.SafetyConfig{}).WithDefaults(); f.Safety != s {
		t.Errorf("safety %+v, want control's defaults %+v", f.Safety, s)
	}
	if f.Policy.LockstepLatency != daemon.DefaultLockstepLatency || f.Watchdog.MaxSkew != daemon.DefaultMaxSkew {
		t.Errorf("lockstep_latency %v, max_skew %v: want the daemon's defaults", f.Policy.LockstepLatency, f.Watchdog.MaxSkew)
	}
	if !reflect.DeepEqual(f.Policy.Executor, chunk.Config{}) {
		t.Errorf("policy.executor %+v: want it empty (the daemon picks by the bundle)", f.Policy.Executor)
	}
}
