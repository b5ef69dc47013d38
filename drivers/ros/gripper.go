package ros

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/control_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/robotd/robotd/drivers"
)

// The gripper conventions of GripperConfig.
const (
	// GripperWidth commands: the opening (m) as std_msgs/Float64 on CommandTopic.
	// GripperWidth state: the opening as std_msgs/Float64 on StateTopic.
	GripperWidth = "width"
	// GripperAction commands: a control_msgs/GripperCommand action goal at the action
	// namespace CommandTopic (franka_gripper's gripper_action).
	GripperAction = "action"
	// GripperJoints state: the two finger joints of a sensor_msgs/JointState on
	// StateTopic; the opening is the sum of their positions (Franka's fingers each
	// travel 0-4 cm).
	GripperJoints = "joints"
)

// GripperConfig configures the gripper of an Arm and of a sim/rosbridge Server. The zero value
// means no gripper. It is also a launch file's arm.ros.gripper and sim_server.gripper
// sections (the yaml tags are the keys).
type GripperConfig struct {
	// Command is how widths are commanded: "" (no gripper), GripperWidth or
	// GripperAction.
	Command string `yaml:"command"`
	// CommandTopic is the Float64 topic (width) or the action namespace (action).
	// Default "/gripper/command" or "/franka_gripper/gripper_action".
	CommandTopic string `yaml:"command_topic"`
	// ActionPosition says what the action goal's command.position is: "finger" (one
	// finger's travel, width/2: franka_gripper's gripper_action doubles it) or "width".
	// Default "finger".
	ActionPosition string `yaml:"action_position"`
	// MaxEffort is the action goal's command.max_effort (N). Default 20; (0, 1000].
	MaxEffort float64 `yaml:"max_effort"`
	// State is where the opening is read: GripperJoints (default) or GripperWidth.
	State string `yaml:"state"`
	// StateTopic is the JointState or Float64 topic. Default "/franka_gripper/joint_states"
	// or "/gripper/width". It may be the arm's own joint state topic (fingers and arm
	// joints in one message).
	StateTopic string `yaml:"state_topic"`
	// Fingers are the two finger joints (State "joints"). Required for the Arm; the
	// sim/rosbridge Server defaults to the scene's finger joints.
	Fingers [2]string `yaml:"fingers"`
	// MaxWidth (m) bounds commanded widths to [0, MaxWidth]. Default 0.08; (0, 1].
	MaxWidth float64 `yaml:"max_width"`
}

// Enabled reports whether a gripper is configured.
func (c GripperConfig) Enabled() bool { return c.Command != "" }

// WithDefaults returns the config with its zero fields filled (unchanged when disabled).
func (c GripperConfig) WithDefaults() GripperConfig {
	if !c.Enabled() {
		return c
	}
	if c.CommandTopic == "" {
		c.CommandTopic = "/gripper/command"
		if c.Command == GripperAction {
			c.CommandTopic = "/franka_gripper/gripper_action"
		}
	}
	if c.ActionPosition == "" {
		c.ActionPosition = "finger"
	}
	if c.MaxEffort == 0 {
		c.MaxEffort = 20
	}
	if c.State == "" {
		c.State = GripperJoints
	}
	if c.StateTopic == "" {
		c.StateTopic = "/franka_gripper/joint_states"
		if c.State == GripperWidth {
			c.StateTopic = "/gripper/width"
		}
	}
	if c.MaxWidth == 0 {
		c.MaxWidth = 0.08
	}
	return c
}

// Validate checks the config after defaults. The error is a *ConfigError naming the key.
// The finger names are checked when given (an Arm's Validate requires them;
// sim/rosbridge's Server defaults them to the scene's).
func (c GripperConfig) Validate() error {
	if !c.Enabled() {
		return nil
	}
	switch {
	case c.Command != GripperWidth && c.Command != GripperAction:
		return configErrorf("command", "%q: want one of %s, %s", c.Command, GripperWidth, GripperAction)
	case !isROSName(c.CommandTopic):
		return configErrorf("command_topic", "%q: not a ROS name", c.CommandTopic)
	case c.ActionPosition != "finger" && c.ActionPosition != "width":
		return configErrorf("action_position", "%q: want one of finger, width", c.ActionPosition)
	case !(c.MaxEffort > 0 && c.MaxEffort <= 1000):
		return configErrorf("max_effort", "%v: want (0, 1000] N", c.MaxEffort)
	case c.State != GripperJoints && c.State != GripperWidth:
		return configErrorf("state", "%q: want one of %s, %s", c.State, GripperJoints, GripperWidth)
	case !isROSName(c.StateTopic):
		return configErrorf("state_topic", "%q: not a ROS name", c.StateTopic)
	case !(c.MaxWidth > 0 && c.MaxWidth <= 1):
		return configErrorf("max_width", "%v: want (0, 1] m", c.MaxWidth)
	}
	if c.Fingers != [2]string{} {
		return c.checkFingers()
	}
	return nil
}

// checkFingers requires the two finger joints' names when the opening is read from them.
func (c GripperConfig) checkFingers() error {
	if c.State == GripperJoints && (c.Fingers[0] == "" || c.Fingers[1] == "" || c.Fingers[0] == c.Fingers[1]) {
		return configErrorf("fingers", "%q: want the two finger joints' names", c.Fingers)
	}
	return nil
}

// positionScale is command.position per metre of opening.
func (c GripperConfig) positionScale() float64 {
	if c.ActionPosition == "width" {
		return 1
	}
	return 0.5
}

// fingerIndex is 0 or 1 for a finger joint's name, -1 otherwise.
func (c GripperConfig) fingerIndex(name string) int {
	for i, f := range c.Fingers {
		if f != "" && f == name {
			return i
		}
	}
	return -1
}

// gripperClient is the Arm's gripper: drivers.Gripper over ROS. SetGripperWidth hands
// the width to its own goroutine (publishing or sending an action goal may block);
// GripperWidth reads the newest measured opening.
type gripperClient struct {
	cfg    GripperConfig
	log    *slog.Logger
	shared bool // fingers arrive in the arm's JointState (guarded by Arm.mu)
	f      [2]float64
	seen   [2]bool

	width    atomic.Uint64 // float64 bits of the measured opening
	target   atomic.Uint64 // float64 bits of the commanded opening
	states   atomic.Uint64 // state messages taken
	rejected atomic.Uint64 // state messages dropped (missing fingers, NaN)
	sent     atomic.Uint64 // commands sent
	wake     chan struct{}

	pub *goroslib.Publisher
	sac *goroslib.SimpleActionClient
	sub *goroslib.Subscriber

	cancel context.CancelFunc
	done   chan struct{}
}

func newGripperClient(node *goroslib.Node, arm ArmConfig, log *slog.Logger) (*gripperClient, error) {
	cfg := arm.Gripper
	if !cfg.Enabled() {
		return nil, nil
	}
	if cfg.State == GripperJoints && (cfg.Fingers[0] == "" || cfg.Fingers[1] == "" || cfg.Fingers[0] == cfg.Fingers[1]) {
		return nil, fmt.Errorf("ros: arm config: gripper Fingers %q: want the two finger joints' names", cfg.Fingers)
	}
	g := &gripperClient{cfg: cfg, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	var err error
	switch {
	case cfg.StateTopic == arm.StateTopic && cfg.State == GripperJoints:
		g.shared = true
	case cfg.State == GripperJoints:
		g.sub, err = goroslib.NewSubscriber(goroslib.SubscriberConf{Node: node, Topic: cfg.StateTopic, Callback: g.onJoints})
	default:
		g.sub, err = goroslib.NewSubscriber(goroslib.SubscriberConf{Node: node, Topic: cfg.StateTopic, Callback: g.onWidth})
	}
	if err != nil {
		return nil, fmt.Errorf("ros: gripper: subscribe %s: %w", cfg.StateTopic, err)
	}
	if cfg.Command == GripperWidth {
		g.pub, err = goroslib.NewPublisher(goroslib.PublisherConf{Node: node, Topic: cfg.CommandTopic, Msg: &std_msgs.Float64{}})
	} else {
		g.sac, err = goroslib.NewSimpleActionClient(goroslib.SimpleActionClientConf{
			Node: node, Name: cfg.CommandTopic, Action: &control_msgs.GripperCommandAction{},
		})
	}
	if err != nil {
		if g.sub != nil {
			g.sub.Close()
		}
		return nil, fmt.Errorf("ros: gripper: command %s: %w", cfg.CommandTopic, err)
	}
	var ctx context.Context
	ctx, g.cancel = context.WithCancel(context.Background())
	go g.run(ctx)
	return g, nil
}

func (g *gripperClient) close() {
	if g == nil {
		return
	}
	g.cancel()
	if g.sac != nil {
		g.sac.Close() // ends a WaitForServer in run
	}
	<-g.done
	if g.pub != nil {
		g.pub.Close()
	}
	if g.sub != nil {
		g.sub.Close()
	}
}

// finger takes a finger joint from the arm's JointState (shared topic); false when name
// is not a finger here.
func (g *gripperClient) finger(name string, pos float64) bool {
	if g == nil || !g.shared {
		return false
	}
	i := g.cfg.fingerIndex(name)
	if i < 0 {
		return false
	}
	g.f[i], g.seen[i] = pos, true
	return true
}

// fingersDone ends an accepted arm JointState: the fingers it carried become the width.
func (g *gripperClient) fingersDone() {
	if g == nil || !g.shared {
		return
	}
	if g.seen[0] && g.seen[1] && finite(g.f[0]+g.f[1]) {
		g.width.Store(math.Float64bits(g.f[0] + g.f[1]))
		g.states.Add(1)
	}
	g.seen = [2]bool{}
}

func (g *gripperClient) onJoints(m *sensor_msgs.JointState) {
	var f [2]float64
	var seen [2]bool
	if len(m.Position) == len(m.Name) {
		for i, name := range m.Name {
			if k := g.cfg.fingerIndex(name); k >= 0 {
				f[k], seen[k] = m.Position[i], true
			}
		}
	}
	if !seen[0] || !seen[1] || !finite(f[0]+f[1]) {
		g.reject(fmt.Sprintf("fingers %q missing or not finite in names %q positions %v", g.cfg.Fingers, m.Name, m.Position))
		return
	}
	g.width.Store(math.Float64bits(f[0] + f[1]))
	g.states.Add(1)
}

func (g *gripperClient) onWidth(m *std_msgs.Float64) {
	if !finite(m.Data) {
		g.reject(fmt.Sprintf("width %v", m.Data))
		return
	}
	g.width.Store(math.Float64bits(m.Data))
	g.states.Add(1)
}

func (g *gripperClient) reject(detail string) {
	if g.rejected.Add(1) == 1 {
		g.log.Warn("ros: dropping gripper state messages (logged once)", "topic", g.cfg.StateTopic, "first", detail)
	}
}

// SetGripperWidth implements drivers.Gripper: the width, clamped to [0, MaxWidth],
// replaces any not yet sent; it never waits for the network.
func (g *gripperClient) SetGripperWidth(width float64) error {
	if !finite(width) {
		return fmt.Errorf("ros: %w: gripper width %v", drivers.ErrBadCommand, width)
	}
	g.target.Store(math.Float64bits(math.Max(0, math.Min(g.cfg.MaxWidth, width))))
	select {
	case g.wake <- struct{}{}:
	default:
	}
	return nil
}

// GripperWidth implements drivers.Gripper: the newest measured opening (0 before any).
func (g *gripperClient) GripperWidth() float64 { return math.Float64frombits(g.width.Load()) }

func (g *gripperClient) run(ctx context.Context) {
	defer close(g.done)
	waited := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.wake:
		}
		w := math.Float64frombits(g.target.Load())
		if g.pub != nil {
			g.pub.Write(&std_msgs.Float64{Data: w})
		} else {
			if !waited {
				g.sac.WaitForServer() // a goal sent before the server listens is lost
				waited = true
				if ctx.Err() != nil {
					return
				}
			}
			err := g.sac.SendGoal(goroslib.SimpleActionClientGoalConf{Goal: &control_msgs.GripperCommandActionGoal{
				Command: control_msgs.GripperCommand{Position: g.cfg.positionScale() * w, MaxEffort: g.cfg.MaxEffort},
			}})
			if err != nil {
				g.log.Warn("ros: gripper goal not sent", "action", g.cfg.CommandTopic, "err", err)
				continue
			}
		}
		g.sent.Add(1)
	}
}

// Gripper implements drivers.GripperProvider: the arm's gripper when one is configured.
func (a *Arm) Gripper() (drivers.Gripper, bool) {
	if a.grip == nil {
		return nil, false
	}
	return a.grip, true
}

// GripperStats counts the gripper's messages: states taken and dropped, commands sent.
type GripperStats struct{ States, Rejected, Sent uint64 }

// GripperStats returns the gripper's counters (zero without a gripper).
func (a *Arm) GripperStats() GripperStats {
	if a.grip == nil {
		return GripperStats{}
	}
	return GripperStats{a.grip.states.Load(), a.grip.rejected.Load(), a.grip.sent.Load()}
}
