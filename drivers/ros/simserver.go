package ros

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/rosgraph_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/sim/mujoco"
)

// SimServerConfig configures a SimServer. Zero fields take the documented defaults.
type SimServerConfig struct {
	// MasterAddress is the ROS master. Default as ArmConfig's.
	MasterAddress string
	// Node is the server's node name. Default "robotd_sim".
	Node string
	// StateTopic is where sensor_msgs/JointState goes. Default "/joint_states".
	StateTopic string
	// Controller names the effort controller: commands arrive on /<Controller>/command.
	// Default "effort_controller".
	Controller string
	// Clock publishes rosgraph_msgs/Clock on /clock after every step (lockstep mode, for
	// peers running with /use_sim_time).
	Clock bool
	// Epoch is the ROS time of simulation time zero. Default 1 s after the Unix epoch,
	// so that no stamp is ROS's "unset" zero.
	Epoch time.Time
	// Backoff as in ArmConfig.
	Backoff time.Duration
}

// WithDefaults returns the config with its zero fields filled.
func (c SimServerConfig) WithDefaults() SimServerConfig {
	a := ArmConfig{MasterAddress: c.MasterAddress, Controller: c.Controller, StateTopic: c.StateTopic, Backoff: c.Backoff}.WithDefaults()
	c.MasterAddress, c.Controller, c.StateTopic, c.Backoff = a.MasterAddress, a.Controller, a.StateTopic, a.Backoff
	if c.Node == "" {
		c.Node = "robotd_sim"
	}
	if c.Epoch.IsZero() {
		c.Epoch = time.Unix(1, 0)
	}
	return c
}

// SimServer serves a lockstep MuJoCo arm on ROS topics as a ros_control robot with a
// JointGroupEffortController would: it publishes the arm's joint states, executes the
// torques received on the command topic, and (optionally) publishes /clock.
//
// Like a Franka, it compensates the arm's own gravity and Coriolis torques on the robot
// side: commanded torques are added to them, since a JointState carries no model terms.
// The last command stays applied until the next one arrives.
//
// Time advances only through Step; the owner of the SimServer (a test, or a real-time
// loop in a command) decides when. Step is not for concurrent use.
type SimServer struct {
	cfg  SimServerConfig
	arm  *mujoco.Arm
	node *goroslib.Node
	pub  *goroslib.Publisher
	clk  *goroslib.Publisher
	sub  *goroslib.Subscriber

	mu       sync.Mutex // guards cmd against the command callback
	cmd      []float64
	received atomic.Uint64
	rejected atomic.Uint64

	st  *drivers.State
	tau []float64
	seq uint32
}

// NewSimServer connects to the master (retrying until ctx ends) and serves arm, which
// it then owns until Close (Close does not close arm).
func NewSimServer(ctx context.Context, arm *mujoco.Arm, cfg SimServerConfig) (*SimServer, error) {
	cfg = cfg.WithDefaults()
	n := len(arm.Info().Joints)
	s := &SimServer{cfg: cfg, arm: arm, cmd: make([]float64, n), st: drivers.NewState(arm.Info()), tau: make([]float64, n)}
	node, err := connect(ctx, cfg.MasterAddress, cfg.Node, cfg.Backoff)
	if err != nil {
		return nil, err
	}
	s.node = node
	fail := func(err error) (*SimServer, error) { s.Close(); return nil, err }
	if s.pub, err = goroslib.NewPublisher(goroslib.PublisherConf{Node: node, Topic: cfg.StateTopic, Msg: &sensor_msgs.JointState{}}); err != nil {
		return fail(fmt.Errorf("ros: sim: advertise %s: %w", cfg.StateTopic, err))
	}
	if cfg.Clock {
		if s.clk, err = goroslib.NewPublisher(goroslib.PublisherConf{Node: node, Topic: "/clock", Msg: &rosgraph_msgs.Clock{}}); err != nil {
			return fail(fmt.Errorf("ros: sim: advertise /clock: %w", err))
		}
	}
	topic := ArmConfig{Controller: cfg.Controller}.CommandTopic()
	if s.sub, err = goroslib.NewSubscriber(goroslib.SubscriberConf{Node: node, Topic: topic, Callback: s.onCommand}); err != nil {
		return fail(fmt.Errorf("ros: sim: subscribe %s: %w", topic, err))
	}
	return s, nil
}

// Close leaves the ROS graph.
func (s *SimServer) Close() {
	if s.sub != nil {
		s.sub.Close()
	}
	if s.clk != nil {
		s.clk.Close()
	}
	if s.pub != nil {
		s.pub.Close()
	}
	s.node.Close()
}

func (s *SimServer) onCommand(m *std_msgs.Float64MultiArray) {
	if drivers.CheckTorque(m.Data, len(s.cmd)) != nil {
		s.rejected.Add(1)
		return
	}
	s.mu.Lock()
	copy(s.cmd, m.Data)
	s.mu.Unlock()
	s.received.Add(1)
}

// Received is how many valid commands arrived; Rejected how many were refused (wrong
// length, NaN or Inf).
func (s *SimServer) Received() uint64 { return s.received.Load() }

// Rejected counts refused commands.
func (s *SimServer) Rejected() uint64 { return s.rejected.Load() }

// Command returns a copy of the command in force (without compensation).
func (s *SimServer) Command() []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.cmd)
}

// Now is the ROS time of the simulation's current state (what its stamps say).
func (s *SimServer) Now() time.Time { return s.cfg.Epoch.Add(s.arm.Now()) }

// Step applies the command in force plus the arm's gravity and Coriolis torques, advances
// the simulation by d and publishes the new state (and /clock).
func (s *SimServer) Step(d time.Duration) error {
	if err := s.arm.ReadState(s.st); err != nil {
		return err
	}
	s.mu.Lock()
	for i := range s.tau {
		s.tau[i] = s.cmd[i] + s.st.Gravity[i] + s.st.Coriolis[i]
	}
	s.mu.Unlock()
	if err := s.arm.WriteTorque(s.tau); err != nil {
		return err
	}
	if _, err := s.arm.Tick(d); err != nil {
		return err
	}
	return s.Publish()
}

// Publish sends the current state (and /clock when configured) without stepping.
func (s *SimServer) Publish() error {
	if err := s.arm.ReadState(s.st); err != nil {
		return err
	}
	now := s.Now()
	if s.clk != nil {
		s.clk.Write(&rosgraph_msgs.Clock{Clock: now})
	}
	s.seq++
	s.pub.Write(&sensor_msgs.JointState{
		Header:   std_msgs.Header{Seq: s.seq, Stamp: now},
		Name:     slices.Clone(s.arm.Info().Joints),
		Position: slices.Clone(s.st.Q),
		Velocity: slices.Clone(s.st.DQ),
		Effort:   slices.Clone(s.st.Tau),
	})
	return nil
}

// Run steps and publishes every period in real time until ctx ends (the served robot of
// `robotd sim`); it returns nil on cancellation. Pacing uses a Go ticker, which can
// overshoot by up to a millisecond here: fine for a stand-in robot, not for a controller.
func (s *SimServer) Run(ctx context.Context, period time.Duration) error {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.Step(period); err != nil {
				return fmt.Errorf("ros: sim: %w", err)
			}
		}
	}
}
