package launch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	}
	f, err := Load("sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f.Mode != ModeLockstep || f.Arm.Driver != DriverSim || f.Duration != 10*time.Second {
		t.Errorf("sim.yaml: mode %s driver %s duration %v", f.Mode, f.Arm.Driver, f.Duration)
	}
	if f.Control.Period() != time.Millisecond || f.Watchdog.StateStale != 5*time.Millisecond {
		t.Errorf("sim.yaml defaults: period %v, state_stale %v", f.Control.Period(), f.Watchdog.StateStale)
	}
	r, err := Load("ros.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != ModeRealtime || r.Cameras[0].Source != SourceROS || !*r.Telemetry.ROSStatus {
		t.Errorf("ros.yaml: mode %s camera source %s ros_status %v", r.Mode, r.Cameras[0].Source, *r.Telemetry.ROSStatus)
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
		{"stiffness too high", "control:\n  stiffness: [200, 200, 9000, 30, 30, 30]\n", `control.stiffness.2: 9000: want 0..3000 N/m`},
		{"stiffness negative", "control:\n  stiffness: [200, 200, 200, -1, 30, 30]\n", `control.stiffness.3: -1: want 0..300 Nm/rad`},
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
		{"gripper without command", "arm:\n  driver: ros\n  ros:\n    gripper:\n      fingers: [l, r]\n", `bad.yaml:4: arm.ros.gripper.command: "": want one of width, action`},
		{"gripper one finger", "arm:\n  driver: ros\n  ros:\n    gripper:\n      command: width\n      fingers: [l]\n", `bad.yaml:6: arm.ros.gripper.fingers: ["l"]: want the two finger joints' names`},
		{"gripper effort", "arm:\n  driver: ros\n  ros:\n    gripper:\n      command: action\n      fingers: [l, r]\n      max_effort: -5\n", `bad.yaml:7: arm.ros.gripper.max_effort: -5: want (0, 1000] N`},
		{"gripper state", "arm:\n  driver: ros\n  ros:\n    gripper:\n      command: width\n      state: force\n", `bad.yaml:6: arm.ros.gripper.state: "force": want one of joints, width`},
		{"gripper finger ignored", "arm:\n  driver: ros\n  ros:\n    ignore_joints: [l, r]\n    gripper:\n      command: width\n      state_topic: /joint_states\n      fingers: [l, r]\n",
			`bad.yaml:4: arm.ros.ignore_joints: "l" is a gripper finger read from /joint_states: do not ignore it`},
		{"gripper unknown key", "arm:\n  driver: ros\n  ros:\n    gripper:\n      command: width\n      widht: 0.05\n", `bad.yaml:6: unknown key "widht" (in a gripper section)`},
		{"sim_server command", "sim_server:\n  command: torque\n", `bad.yaml:2: sim_server.command: "torque": want one of effort, pose, trajectory`},
		{"sim_server gripper", "sim_server:\n  gripper:\n    command: width\n    max_width: 3\n", `bad.yaml:4: sim_server.gripper.max_width: 3: want (0, 1] m`},
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
	if g := s.Gripper; g.State != "joints" || len(g.Fingers) != 0 || g.CommandTopic != "/gripper/command" {
		t.Errorf("sim_server gripper %+v: want joints state, the scene's fingers, /gripper/command", g)
	}
}
