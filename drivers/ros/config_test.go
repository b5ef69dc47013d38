package ros_test

import (
	"errors"
	"testing"
	"time"

	"github.com/robotd/robotd/drivers/ros"
)

// CheckSettings names the launch-file key of a bad value (launch adds arm.ros and the
// line); Validate, which Dial runs, includes it.
func TestArmConfigCheckSettingsNamesTheKey(t *testing.T) {
	gripper := ros.GripperConfig{Command: ros.GripperWidth, Fingers: [2]string{"l", "r"}}
	cases := []struct {
		name string
		edit func(*ros.ArmConfig)
		key  string
	}{
		{"command", func(c *ros.ArmConfig) { c.Command = "velocity" }, "command"},
		{"controller", func(c *ros.ArmConfig) { c.Controller = "my controller" }, "controller"},
		{"frame", func(c *ros.ArmConfig) { c.FrameID = "base link" }, "frame_id"},
		{"lookahead zero", func(c *ros.ArmConfig) { c.Lookahead = -time.Millisecond }, "lookahead"},
		{"lookahead long", func(c *ros.ArmConfig) { c.Lookahead = 2 * time.Second }, "lookahead"},
		{"joints twice", func(c *ros.ArmConfig) { c.Joints = []string{"a", "b", "a"} }, "joints.2"},
		{"gripper width", func(c *ros.ArmConfig) { c.Gripper = gripper; c.Gripper.MaxWidth = 2 }, "gripper.max_width"},
		{"gripper effort", func(c *ros.ArmConfig) { c.Gripper = gripper; c.Gripper.MaxEffort = 1e4 }, "gripper.max_effort"},
		{"gripper topic", func(c *ros.ArmConfig) { c.Gripper = gripper; c.Gripper.StateTopic = "a b" }, "gripper.state_topic"},
		{"gripper fingers", func(c *ros.ArmConfig) { c.Gripper = gripper; c.Gripper.Fingers = [2]string{"l", ""} }, "gripper.fingers"},
		{"finger ignored", func(c *ros.ArmConfig) {
			c.Gripper = gripper
			c.Gripper.StateTopic = "/joint_states"
			c.IgnoreJoints = []string{"r"}
		}, "ignore_joints"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ros.ArmConfig{Joints: []string{"a", "b"}}
			c.edit(&cfg)
			cfg = cfg.WithDefaults()
			err := cfg.CheckSettings()
			var ce *ros.ConfigError
			if !errors.As(err, &ce) || ce.Key != c.key {
				t.Fatalf("CheckSettings() = %v, want a *ros.ConfigError for %s", err, c.key)
			}
			if err := cfg.Validate(); !errors.As(err, &ce) || ce.Key != c.key {
				t.Fatalf("Validate() = %v, want the same *ros.ConfigError", err)
			}
		})
	}
	ok := ros.ArmConfig{Joints: []string{"a", "b"}, Gripper: gripper}.WithDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	// The Arm needs the fingers; a gripper config alone (the simulator's) does not.
	noFingers := ros.GripperConfig{Command: ros.GripperAction}.WithDefaults()
	if err := noFingers.Validate(); err != nil {
		t.Errorf("gripper without fingers: %v", err)
	}
	if err := (ros.ArmConfig{Joints: []string{"a"}, Gripper: noFingers}).WithDefaults().Validate(); err == nil {
		t.Error("an arm's gripper without fingers accepted")
	}
}

// Each command convention has its robot-side controller by default (franka_ros' names).
func TestDefaultController(t *testing.T) {
	for cmd, want := range map[string]string{
		ros.CommandEffort:     "effort_controller",
		ros.CommandPose:       "cartesian_impedance_example_controller",
		ros.CommandTrajectory: "position_joint_trajectory_controller",
		"velocity":            "",
	} {
		if got := ros.DefaultController(cmd); got != want {
			t.Errorf("DefaultController(%q) = %q, want %q", cmd, got, want)
		}
		if cmd != "velocity" {
			if got := (ros.ArmConfig{Command: cmd}).WithDefaults().Controller; got != want {
				t.Errorf("ArmConfig{Command: %q}.WithDefaults().Controller = %q, want %q", cmd, got, want)
			}
		}
	}
}
