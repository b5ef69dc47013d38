package rosbridge

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/control_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/geometry_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/rosgraph_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/trajectory_msgs"
	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/sim/mujoco"
)

// ServerConfig configures a Server. Zero fields take the documented defaults.
type ServerConfig struct {
	// MasterAddress is the ROS master. Default as ros.ArmConfig's.
	MasterAddress string
	// Node is the server's node name. Default "robotd_sim".
	Node string
	// StateTopic is where sensor_msgs/JointState goes. Default "/joint_states".
	StateTopic string
	// Command is the command convention served, as ros.ArmConfig.Command. Default "effort".
	Command string
	// Controller names the robot-side controller, as ros.ArmConfig.Controller (same defaults).
	Controller string
	// Cartesian configures the robot-side Cartesian impedance controller of "pose" mode
	// (control's defaults are those of franka_ros' cartesian_impedance_example_controller).
	Cartesian control.CartesianConfig
	// Joint configures the joint impedance that follows the trajectory in "trajectory"
	// mode. Default: control's gains, and FilterRate 1 (no filter: the trajectory is
	// already interpolated).
	Joint control.JointConfig
	// Gripper serves the scene's gripper. Fingers default to the scene's finger joints.
	Gripper ros.GripperConfig
	// Clock publishes rosgraph_msgs/Clock on /clock after every step (lockstep mode, for
	// peers running with /use_sim_time).
	Clock bool
	// Epoch is the ROS time of simulation time zero. Default 1 s after the Unix epoch,
	// so that no stamp is ROS's "unset" zero.
	Epoch time.Time
	// Backoff as in ros.ArmConfig.
	Backoff time.Duration
	// MasterCheck as in ros.ArmConfig (default 250 ms; negative: none).
	MasterCheck time.Duration
	// PublishAsync hands the messages Step publishes to a goroutine of the server's own
	// instead of goroslib's Publisher.Write, which waits until the topic's goroutine takes
	// the message: a real-time stepping thread (robotd sim's) then never waits for a
	// goroutine of normal priority (measured: steps held up to 122 ms behind loaded cores).
	// Messages that goroutine is more than asyncQueue behind on are dropped and counted
	// (ServerStats.Dropped), as ros_control's RealtimePublisher skips them.
	PublishAsync bool
}

// asyncQueue is how many messages PublishAsync queues before it drops.
const asyncQueue = 64

// asyncMsg is a message queued by PublishAsync.
type asyncMsg struct {
	pub *goroslib.Publisher
	msg any
}

// WithDefaults returns the config with its zero fields filled.
func (c ServerConfig) WithDefaults() ServerConfig {
	a := ros.ArmConfig{MasterAddress: c.MasterAddress, Controller: c.Controller, StateTopic: c.StateTopic, Backoff: c.Backoff,
		Command: c.Command, MasterCheck: c.MasterCheck}.WithDefaults()
	c.MasterAddress, c.Controller, c.StateTopic, c.Backoff = a.MasterAddress, a.Controller, a.StateTopic, a.Backoff
	c.Command, c.MasterCheck = a.Command, a.MasterCheck
	if c.Node == "" {
		c.Node = ros.DefaultSimNode
	}
	if c.Epoch.IsZero() {
		c.Epoch = time.Unix(1, 0)
	}
	if c.Joint.FilterRate == 0 {
		c.Joint.FilterRate = 1
	}
	c.Gripper = c.Gripper.WithDefaults()
	return c
}

// CommandReject is why the Server dropped a command message.
type CommandReject int

const (
	CommandRejectSize       CommandReject = iota // wrong number of values
	CommandRejectNonFinite                       // NaN or Inf
	CommandRejectJointNames                      // unknown, missing or repeated joint names
	CommandRejectQuaternion                      // orientation not a unit quaternion
	CommandRejectTime                            // no points, or times not increasing from >= 0
	numCommandRejects
)

var commandRejectNames = [numCommandRejects]string{"array size", "non-finite value", "joint names", "non-unit quaternion", "point times"}

func (r CommandReject) String() string { return commandRejectNames[r] }

// ServerStats counts the commands a Server received.
type ServerStats struct {
	Received        uint64                    // commands taken
	Rejected        [numCommandRejects]uint64 // dropped, by kind
	Reregistrations uint64                    // registrations with a restarted master
	GripperReceived uint64                    // gripper width commands and action goals taken
	Dropped         uint64                    // messages PublishAsync dropped (its goroutine was behind)
}

// Server serves a lockstep MuJoCo arm on ROS topics as a ros_control robot would: it
// publishes the arm's joint states, executes the commands received, serves the gripper
// and (optionally) publishes /clock.
//
// Commands, by ServerConfig.Command:
//   - "effort": the torques received on /<controller>/command (Float64MultiArray), to
//     which the server adds the arm's own gravity and Coriolis torques, like a Franka (a
//     JointState carries no model terms, so robot-side compensation is assumed).
//   - "pose": a Cartesian impedance controller (control.CartesianImpedance on the
//     scene's robot model, with gravity added) pulls the tool toward the PoseStamped
//     received on /<controller>/equilibrium_pose, like franka_ros'
//     cartesian_impedance_example_controller; the frame_id is not checked.
//   - "trajectory": a joint impedance follows the JointTrajectory received on
//     /<controller>/command, interpolated linearly from the desired positions in force
//     when it arrives through its points. A zero header stamp starts it on receipt (as
//     joint_trajectory_controller does); a stamp is read on the sim's ROS clock.
//
// The last command stays in force until the next one arrives. Malformed commands are
// counted by kind (Stats) and dropped.
//
// Time advances only through Step; the owner of the Server (a test, or a real-time
// loop in a command) decides when. Step is not for concurrent use.
type Server struct {
	cfg   ServerConfig
	kind  drivers.CommandKind
	arm   *mujoco.Arm
	joint map[string]int
	node  *goroslib.Node
	pub   *goroslib.Publisher
	clk   *goroslib.Publisher
	sub   *goroslib.Subscriber
	grip  *gripperServer
	watch *ros.MasterWatch

	mu       sync.Mutex // guards the commands against the callbacks
	cmd      []float64
	eqPos    mgl64.Vec3
	eqRot    mgl64.Quat
	eqFresh  bool
	traj     trajectory
	received atomic.Uint64
	rejects  [numCommandRejects]atomic.Uint64
	now      atomic.Int64 // sim time after the last step, for the callbacks

	cart   *control.CartesianImpedance
	jimp   *control.JointImpedance
	in     control.Input
	qdes   []float64
	st     *drivers.State
	tau    []float64
	seq    uint32
	gseq   uint32
	fnames []string

	async     chan asyncMsg // PublishAsync's queue (nil: publish in Step)
	asyncDone chan struct{}
	dropped   atomic.Uint64
}

// NewServer connects to the master (retrying until ctx ends) and serves arm, which
// it then owns until Close (Close does not close arm).
func NewServer(ctx context.Context, arm *mujoco.Arm, cfg ServerConfig) (*Server, error) {
	cfg = cfg.WithDefaults()
	kind, ok := ros.CommandKindOf(cfg.Command)
	if !ok {
		return nil, fmt.Errorf("rosbridge: Command %q, want %q, %q or %q", cfg.Command, ros.CommandEffort, ros.CommandPose, ros.CommandTrajectory)
	}
	if cfg.Gripper.Fingers == [2]string{} {
		cfg.Gripper.Fingers = arm.Scene().Fingers
	}
	if err := cfg.Gripper.Validate(); err != nil {
		return nil, fmt.Errorf("rosbridge: %w", err)
	}
	info := arm.Info()
	n := len(info.Joints)
	s := &Server{
		cfg: cfg, kind: kind, arm: arm, joint: map[string]int{},
		cmd: make([]float64, n), st: drivers.NewState(info), tau: make([]float64, n), qdes: make([]float64, n),
	}
	for i, j := range info.Joints {
		s.joint[j] = i
	}
	s.in = control.Input{Q: s.st.Q, DQ: s.st.DQ, Coriolis: s.st.Coriolis, Gravity: s.st.Gravity}
	if err := arm.ReadState(s.st); err != nil {
		return nil, err
	}
	copy(s.qdes, s.st.Q)
	if err := s.controllers(); err != nil {
		return nil, err
	}
	node, err := ros.Connect(ctx, cfg.MasterAddress, cfg.Node, cfg.Backoff)
	if err != nil {
		return nil, err
	}
	s.node = node
	fail := func(err error) (*Server, error) { s.Close(); return nil, err }
	if s.pub, err = goroslib.NewPublisher(goroslib.PublisherConf{Node: node, Topic: cfg.StateTopic, Msg: &sensor_msgs.JointState{}}); err != nil {
		return fail(fmt.Errorf("rosbridge: advertise %s: %w", cfg.StateTopic, err))
	}
	if cfg.Clock {
		if s.clk, err = goroslib.NewPublisher(goroslib.PublisherConf{Node: node, Topic: "/clock", Msg: &rosgraph_msgs.Clock{}}); err != nil {
			return fail(fmt.Errorf("rosbridge: advertise /clock: %w", err))
		}
	}
	acfg := ros.ArmConfig{Controller: cfg.Controller, Command: cfg.Command}
	topic := acfg.CommandTopic()
	var cb any = s.onCommand
	switch s.kind {
	case drivers.CommandPose:
		cb = s.onPose
	case drivers.CommandJointTarget:
		cb = s.onTrajectory
	}
	if s.sub, err = goroslib.NewSubscriber(goroslib.SubscriberConf{Node: node, Topic: topic, Callback: cb}); err != nil {
		return fail(fmt.Errorf("rosbridge: subscribe %s: %w", topic, err))
	}
	if err := s.serveGripper(); err != nil {
		return fail(err)
	}
	if s.watch, err = ros.WatchMaster(node, cfg.MasterAddress, cfg.Node, cfg.MasterCheck, slog.Default()); err != nil {
		return fail(err)
	}
	if cfg.PublishAsync {
		s.async, s.asyncDone = make(chan asyncMsg, asyncQueue), make(chan struct{})
		go func() {
			defer close(s.asyncDone)
			for m := range s.async {
				m.pub.Write(m.msg)
			}
		}()
	}
	return s, nil
}

// write publishes m on p: at once, or through PublishAsync's goroutine.
func (s *Server) write(p *goroslib.Publisher, m any) {
	if s.async == nil {
		p.Write(m)
		return
	}
	select {
	case s.async <- asyncMsg{p, m}:
	default:
		s.dropped.Add(1)
	}
}

// controllers builds the robot-side controller of pose and trajectory modes.
func (s *Server) controllers() error {
	switch s.kind {
	case drivers.CommandPose:
		scene := s.arm.Scene()
		robot, err := control.ParseMJCF(scene.Model, scene.Tool)
		if err != nil {
			return fmt.Errorf("rosbridge: robot model: %w", err)
		}
		if !slices.Equal(robot.JointNames(), s.arm.Info().Joints) {
			return fmt.Errorf("rosbridge: robot model joints %q, arm joints %q", robot.JointNames(), s.arm.Info().Joints)
		}
		if s.cart, err = control.NewCartesianImpedance(robot, s.cfg.Cartesian); err != nil {
			return fmt.Errorf("rosbridge: %w", err)
		}
		s.cart.Start(s.st.Q)
		p := s.cart.Target()
		s.eqPos, s.eqRot = p.Pos, p.Rot
	case drivers.CommandJointTarget:
		var err error
		if s.jimp, err = control.NewJointImpedance(len(s.qdes), s.cfg.Joint); err != nil {
			return fmt.Errorf("rosbridge: %w", err)
		}
		s.jimp.Start(s.st.Q)
	}
	return nil
}

// serveGripper subscribes the gripper's commands and advertises its state.
func (s *Server) serveGripper() error {
	c := s.cfg.Gripper
	if !c.Enabled() {
		return nil
	}
	g := &gripperServer{cfg: c}
	sim := s.arm.Sim()
	for i, f := range c.Fingers {
		if c.State != ros.GripperJoints {
			break
		}
		j, err := sim.ID(mujoco.ObjJoint, f)
		if err != nil {
			return fmt.Errorf("rosbridge: gripper finger: %w", err)
		}
		g.fingers[i] = sim.JointQposAdr(j)
	}
	g.width.Store(math.Float64bits(s.arm.GripperWidth()))
	s.grip = g
	var err error
	if c.Command == ros.GripperWidth {
		g.sub, err = goroslib.NewSubscriber(goroslib.SubscriberConf{Node: s.node, Topic: c.CommandTopic, Callback: g.onWidth})
	} else {
		g.sas, err = goroslib.NewSimpleActionServer(goroslib.SimpleActionServerConf{
			Node: s.node, Name: c.CommandTopic, Action: &control_msgs.GripperCommandAction{}, OnExecute: g.onGoal,
		})
	}
	if err != nil {
		return fmt.Errorf("rosbridge: gripper command %s: %w", c.CommandTopic, err)
	}
	if c.State == ros.GripperJoints && c.StateTopic == s.cfg.StateTopic {
		s.fnames = c.Fingers[:]
		return nil
	}
	var msg any = &sensor_msgs.JointState{}
	if c.State == ros.GripperWidth {
		msg = &std_msgs.Float64{}
	}
	if g.pub, err = goroslib.NewPublisher(goroslib.PublisherConf{Node: s.node, Topic: c.StateTopic, Msg: msg}); err != nil {
		return fmt.Errorf("rosbridge: gripper state %s: %w", c.StateTopic, err)
	}
	return nil
}

// Close leaves the ROS graph.
func (s *Server) Close() {
	if s.async != nil {
		close(s.async)
		<-s.asyncDone
	}
	s.watch.Stop()
	closers := []func(){ros.SubscriberCloser(s.sub), ros.PublisherCloser(s.clk), ros.PublisherCloser(s.pub)}
	if g := s.grip; g != nil {
		g.closing.Store(true)
		if g.sas != nil {
			closers = append(closers, g.sas.Close)
		}
		closers = append(closers, ros.SubscriberCloser(g.sub), ros.PublisherCloser(g.pub))
	}
	ros.CloseAll(closers...) // each unregisters at the master: at once, bounded when it hangs
	if s.node != nil {
		ros.CloseNode(s.node)
	}
}

func (s *Server) reject(r CommandReject) { s.rejects[r].Add(1) }

func (s *Server) onCommand(m *std_msgs.Float64MultiArray) {
	if err := drivers.CheckTorque(m.Data, len(s.cmd)); err != nil {
		if len(m.Data) != len(s.cmd) {
			s.reject(CommandRejectSize)
		} else {
			s.reject(CommandRejectNonFinite)
		}
		return
	}
	s.mu.Lock()
	copy(s.cmd, m.Data)
	s.mu.Unlock()
	s.received.Add(1)
}

func (s *Server) onPose(m *geometry_msgs.PoseStamped) {
	pos, rot := ros.PoseFromMessage(&m.Pose)
	for _, v := range [7]float64{pos[0], pos[1], pos[2], rot.W, rot.V[0], rot.V[1], rot.V[2]} {
		if !finite(v) {
			s.reject(CommandRejectNonFinite)
			return
		}
	}
	if drivers.CheckPose(pos, rot) != nil {
		s.reject(CommandRejectQuaternion)
		return
	}
	s.mu.Lock()
	s.eqPos, s.eqRot, s.eqFresh = pos, rot, true
	s.mu.Unlock()
	s.received.Add(1)
}

func (s *Server) onTrajectory(m *trajectory_msgs.JointTrajectory) {
	n := len(s.qdes)
	order := make([]int, len(m.JointNames))
	seen := make([]bool, n)
	for i, name := range m.JointNames {
		j, ok := s.joint[name]
		if !ok || seen[j] {
			s.reject(CommandRejectJointNames)
			return
		}
		seen[j], order[i] = true, j
	}
	if len(m.JointNames) != n {
		s.reject(CommandRejectJointNames)
		return
	}
	if len(m.Points) == 0 {
		s.reject(CommandRejectTime)
		return
	}
	tr := trajectory{times: make([]time.Duration, len(m.Points)), pos: make([][]float64, len(m.Points))}
	for k, p := range m.Points {
		if len(p.Positions) != n {
			s.reject(CommandRejectSize)
			return
		}
		if p.TimeFromStart < 0 || (k > 0 && p.TimeFromStart <= tr.times[k-1]) {
			s.reject(CommandRejectTime)
			return
		}
		q := make([]float64, n)
		for i, v := range p.Positions {
			if !finite(v) {
				s.reject(CommandRejectNonFinite)
				return
			}
			q[order[i]] = v
		}
		tr.times[k], tr.pos[k] = p.TimeFromStart, q
	}
	now := time.Duration(s.now.Load())
	tr.t0 = now
	if st := m.Header.Stamp; !st.IsZero() && !st.Equal(time.Unix(0, 0)) {
		tr.t0 = st.Sub(s.cfg.Epoch)
	}
	s.mu.Lock()
	tr.start = make([]float64, n)
	copy(tr.start, s.qdes)
	s.traj.sample(tr.start, now) // from where the current trajectory is now
	s.traj = tr
	s.mu.Unlock()
	s.received.Add(1)
}

// trajectory is a received JointTrajectory in the arm's joint order.
type trajectory struct {
	t0    time.Duration // sim time at which it starts
	start []float64     // desired positions at t0
	times []time.Duration
	pos   [][]float64
}

// sample writes the desired positions at sim time now into dst: linear between the
// start and the points; the last point holds after its time. An empty trajectory leaves
// dst alone.
func (tr *trajectory) sample(dst []float64, now time.Duration) {
	if len(tr.times) == 0 {
		return
	}
	prevT, prev := tr.t0, tr.start
	for i, dt := range tr.times {
		t := tr.t0 + dt
		if now < t {
			a := 0.0
			if t > prevT {
				a = math.Max(0, float64(now-prevT)/float64(t-prevT))
			}
			for j := range dst {
				dst[j] = prev[j] + a*(tr.pos[i][j]-prev[j])
			}
			return
		}
		prevT, prev = t, tr.pos[i]
	}
	copy(dst, prev)
}

// Received is how many valid commands arrived.
func (s *Server) Received() uint64 { return s.received.Load() }

// Rejected counts refused commands of every kind.
func (s *Server) Rejected() uint64 {
	var n uint64
	for i := range s.rejects {
		n += s.rejects[i].Load()
	}
	return n
}

// Stats returns the command counters.
func (s *Server) Stats() ServerStats {
	st := ServerStats{Received: s.received.Load(), Reregistrations: s.watch.Reregistrations(), Dropped: s.dropped.Load()}
	if s.grip != nil {
		st.GripperReceived = s.grip.got.Load()
	}
	for i := range st.Rejected {
		st.Rejected[i] = s.rejects[i].Load()
	}
	return st
}

// Command returns a copy of the torque command in force (without compensation).
func (s *Server) Command() []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.cmd)
}

// Equilibrium returns the equilibrium pose last received (pose mode; before any, the
// tool pose at start).
func (s *Server) Equilibrium() (mgl64.Vec3, mgl64.Quat) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eqPos, s.eqRot
}

// JointTarget returns the last point of the trajectory in force (trajectory mode; nil
// before any).
func (s *Server) JointTarget() []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.traj.pos) == 0 {
		return nil
	}
	return slices.Clone(s.traj.pos[len(s.traj.pos)-1])
}

// Now is the ROS time of the simulation's current state (what its stamps say).
func (s *Server) Now() time.Time { return s.cfg.Epoch.Add(s.arm.Now()) }

// Step runs the robot-side controller of the command mode on the current state, advances
// the simulation by d and publishes the new state (and /clock, and the gripper's).
func (s *Server) Step(d time.Duration) error {
	if err := s.arm.ReadState(s.st); err != nil {
		return err
	}
	dt := d.Seconds()
	switch s.kind {
	case drivers.CommandTorque:
		s.mu.Lock()
		for i := range s.tau {
			s.tau[i] = s.cmd[i] + s.st.Gravity[i] + s.st.Coriolis[i]
		}
		s.mu.Unlock()
	case drivers.CommandPose:
		s.mu.Lock()
		if s.eqFresh {
			s.cart.SetTarget(control.Pose{Pos: s.eqPos, Rot: s.eqRot})
			s.eqFresh = false
		}
		s.mu.Unlock()
		s.cart.Update(s.tau, &s.in, dt)
	case drivers.CommandJointTarget:
		s.mu.Lock()
		s.traj.sample(s.qdes, s.arm.Now())
		s.mu.Unlock()
		s.jimp.SetTarget(s.qdes)
		s.jimp.Update(s.tau, &s.in, dt)
	}
	if err := s.arm.WriteTorque(s.tau); err != nil {
		return err
	}
	if g := s.grip; g != nil && g.fresh.Swap(false) {
		if err := s.arm.SetGripperWidth(math.Float64frombits(g.pending.Load())); err != nil {
			return err
		}
	}
	if _, err := s.arm.Tick(d); err != nil {
		return err
	}
	s.now.Store(int64(s.arm.Now()))
	if s.grip != nil {
		s.grip.width.Store(math.Float64bits(s.arm.GripperWidth()))
	}
	return s.Publish()
}

// Publish sends the current state (and /clock when configured, and the gripper's state)
// without stepping.
func (s *Server) Publish() error {
	if err := s.arm.ReadState(s.st); err != nil {
		return err
	}
	now := s.Now()
	if s.clk != nil {
		s.write(s.clk, &rosgraph_msgs.Clock{Clock: now})
	}
	s.seq++
	js := &sensor_msgs.JointState{
		Header:   std_msgs.Header{Seq: s.seq, Stamp: now},
		Name:     slices.Clone(s.arm.Info().Joints),
		Position: slices.Clone(s.st.Q),
		Velocity: slices.Clone(s.st.DQ),
		Effort:   slices.Clone(s.st.Tau),
	}
	g := s.grip
	if g == nil {
		s.write(s.pub, js)
		return nil
	}
	var f [2]float64
	if g.cfg.State == ros.GripperJoints {
		qpos := s.arm.Sim().Qpos()
		f = [2]float64{qpos[g.fingers[0]], qpos[g.fingers[1]]}
	}
	if s.fnames != nil {
		js.Name = append(js.Name, s.fnames...)
		js.Position = append(js.Position, f[0], f[1])
		js.Velocity = append(js.Velocity, 0, 0)
		js.Effort = append(js.Effort, 0, 0)
	}
	s.write(s.pub, js)
	if g.pub == nil {
		return nil
	}
	s.gseq++
	if g.cfg.State == ros.GripperWidth {
		s.write(g.pub, &std_msgs.Float64{Data: s.arm.GripperWidth()})
	} else {
		s.write(g.pub, &sensor_msgs.JointState{
			Header:   std_msgs.Header{Seq: s.gseq, Stamp: now},
			Name:     g.cfg.Fingers[:],
			Position: f[:],
		})
	}
	return nil
}

// Run steps and publishes every period in real time until ctx ends (a stand-in robot for
// tests; robotd sim paces with Bridge.Run); it returns nil on cancellation. Pacing uses a
// Go ticker, which can overshoot by up to a millisecond here: fine for a stand-in robot,
// not for a controller.
func (s *Server) Run(ctx context.Context, period time.Duration) error {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.Step(period); err != nil {
				return fmt.Errorf("rosbridge: %w", err)
			}
		}
	}
}
