package ros

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/clock"
	"github.com/robotd/robotd/drivers"
)

// ArmConfig configures an Arm. Zero fields take the documented defaults. It is also the
// arm.ros section of a launch file: the yaml tags are the section's keys, and the fields
// tagged "-" are set by the program (robotd run: from the robot model and the watchdog
// and control sections). The gripper is the section's gripper key (absent: none), which
// launch decodes into a *GripperConfig and copies here.
type ArmConfig struct {
	// MasterAddress is the ROS master, as host:port or http://host:port/.
	// Default: $ROS_MASTER_URI, else 127.0.0.1:11311.
	MasterAddress string `yaml:"master"`
	// Node is this node's name. Default "robotd".
	Node string `yaml:"node"`
	// Joints are the arm's joints in the order of every joint vector. Required.
	Joints []string `yaml:"joints"`
	// IgnoreJoints are other joints the state topic may carry (gripper fingers): they
	// are skipped rather than rejected as unknown.
	IgnoreJoints []string `yaml:"ignore_joints"`
	// StateTopic is the sensor_msgs/JointState topic. Default "/joint_states".
	StateTopic string `yaml:"state_topic"`
	// Command is the command convention (see the package doc): CommandEffort (default),
	// CommandPose or CommandTrajectory.
	Command string `yaml:"command"`
	// Controller is the robot-side controller the commands go to: with "effort" a
	// ros_control JointGroupEffortController (topic /<Controller>/command), with "pose" a
	// Cartesian impedance controller (/<Controller>/equilibrium_pose), with "trajectory" a
	// joint_trajectory_controller (/<Controller>/command). Default "effort_controller",
	// "cartesian_impedance_example_controller" or "position_joint_trajectory_controller"
	// (franka_ros' names).
	Controller string `yaml:"controller"`
	// FrameID is the header frame_id of pose commands: the robot's base frame. Default
	// "panda_link0".
	FrameID string `yaml:"frame_id"`
	// Lookahead is time_from_start of the one point of each trajectory command. The
	// header stamp is zero, which joint_trajectory_controller reads as "starts when
	// received"; it then bridges from its current desired state to the point over the
	// lookahead. A point at time_from_start 0 would lie in the past by then and be
	// dropped ("Dropping all 1 trajectory point(s)"), so the lookahead must be > 0; about
	// two command periods keeps the motion continuous when a command is late. Default 2 ms;
	// (0, 1 s].
	Lookahead time.Duration `yaml:"lookahead"`
	// Gripper configures the optional gripper; zero means none.
	Gripper GripperConfig `yaml:"-"`
	// MasterCheck is how often the Arm asks the master whether it still knows this node;
	// after a master restart the node's topics are registered again (see masterWatch).
	// Negative: no check. Default 250 ms.
	MasterCheck time.Duration `yaml:"-"`
	// StaleLimit is how old the newest accepted JointState may be, on Clock, before
	// ReadState reports ErrStale. Clock's time even under /use_sim_time: a publisher that
	// vanished also stops /clock, and the watchdog must still fire. Default
	// drivers.DefaultStateStale, the daemon's state_stale default too (robotd run passes
	// its state_stale).
	StaleLimit time.Duration `yaml:"-"`
	// Backoff is the first wait between attempts to reach the master at start; it
	// doubles up to 2 s. Attempts go on until the context given to Dial ends.
	// Default 100 ms.
	Backoff time.Duration `yaml:"-"`
	// Logger receives the once-per-kind reports of rejected messages. Default slog.Default().
	Logger *slog.Logger `yaml:"-"`
	// Queue, when > 0, serves a robot-paced loop that answers every state the robot
	// sends (see NextState): the accepted states are also queued in order, up to Queue
	// of them, for NextState, and commands are published in order, up to Queue of them
	// waiting, instead of the newest replacing any not yet sent. A full queue drops the
	// newest value, counted in ArmStats (QueueDrops, CommandDrops) and logged once.
	// ReadState still returns the newest state. Default 0: latest values only, what a
	// clock-paced loop wants (an older state or an unsent older command is obsolete).
	Queue int `yaml:"-"`
	// EstimateVelocity: a JointState without a velocity array gets velocities estimated
	// from its positions and header stamps (a backward difference through a first-order
	// low-pass at VelocityCutoff; see DefaultVelocityCutoff), instead of being refused.
	// Without it such a message is rejected (RejectNoVelocity): robotd damps the arm with
	// the measured velocities and never reads a missing array as zero; WaitState and
	// ReadState then return a *RefusedError naming the topic and the missing field. The
	// first message (and the first after a stamp that went back) primes the difference
	// and is not taken. Measured velocities, when a message has them, are used as they are.
	EstimateVelocity bool `yaml:"estimate_velocity"`
	// VelocityCutoff is the estimator's low-pass cutoff (Hz). Default DefaultVelocityCutoff.
	VelocityCutoff float64 `yaml:"-"`
	// Lower and Upper are the joints' position limits (rad), in the order of Joints, from
	// the robot model (±Inf for an unlimited joint); empty: no check. A JointState with a
	// position beyond a limit by more than LimitMargin is rejected (RejectLimit): such a
	// state comes from another robot or a broken driver, not from this arm.
	Lower, Upper []float64 `yaml:"-"`
	// LimitMargin is how far beyond Lower/Upper a reported position may be (rad): a real
	// Franka reports positions slightly past q_min/q_max (its soft limits sit inside the
	// hard stops, and the reported position overshoots them by encoder ticks to
	// hundredths of a radian when the arm is pushed into a limit). Default 0.05 rad.
	LimitMargin float64 `yaml:"-"`
	// RTPriority is the SCHED_FIFO priority of the threads that receive joint states (one
	// per publisher connection; see stateSub). 0: normal scheduling (the default); robotd
	// run passes control.rt_priority, the control loop's.
	RTPriority int `yaml:"-"`
	// Clock is the time of the receipt stamps and the stale limit, of NextState's wait
	// and of the master's backoff and checks. Default clock.Real.
	Clock clock.Clock `yaml:"-"`

	trace *stateTrace // set by BenchmarkStateLatency (latency_test.go)
}

// WithDefaults returns the config with its zero fields filled.
func (c ArmConfig) WithDefaults() ArmConfig {
	if c.MasterAddress == "" {
		c.MasterAddress = os.Getenv("ROS_MASTER_URI")
	}
	if c.MasterAddress == "" {
		c.MasterAddress = "127.0.0.1:11311"
	}
	c.MasterAddress = strings.TrimSuffix(strings.TrimPrefix(c.MasterAddress, "http://"), "/")
	if c.Node == "" {
		c.Node = "robotd"
	}
	if c.StateTopic == "" {
		c.StateTopic = "/joint_states"
	}
	if c.Command == "" {
		c.Command = CommandEffort
	}
	if c.Controller == "" {
		c.Controller = DefaultController(c.Command)
	}
	if c.FrameID == "" {
		c.FrameID = "panda_link0"
	}
	if c.Lookahead == 0 {
		c.Lookahead = 2 * time.Millisecond
	}
	if c.MasterCheck == 0 {
		c.MasterCheck = 250 * time.Millisecond
	}
	c.Gripper = c.Gripper.WithDefaults()
	if c.StaleLimit == 0 {
		c.StaleLimit = drivers.DefaultStateStale
	}
	if c.Backoff == 0 {
		c.Backoff = 100 * time.Millisecond
	}
	if c.VelocityCutoff == 0 {
		c.VelocityCutoff = DefaultVelocityCutoff
	}
	if c.LimitMargin == 0 {
		c.LimitMargin = 0.05
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = clock.Real
	}
	return c
}

// Validate checks the config after defaults: CheckSettings, then what the program sets
// (the joints, their limits, the queue).
func (c ArmConfig) Validate() error {
	if err := c.CheckSettings(); err != nil {
		return fmt.Errorf("ros: arm config: %w", err)
	}
	if len(c.Joints) == 0 {
		return errors.New("ros: arm config: Joints is empty, want the arm's joint names in order")
	}
	seen := map[string]bool{}
	for _, j := range append(slices.Clone(c.Joints), c.IgnoreJoints...) {
		if j == "" || seen[j] {
			return fmt.Errorf("ros: arm config: joint name %q empty or repeated in Joints/IgnoreJoints", j)
		}
		seen[j] = true
	}
	if len(c.Lower) != len(c.Upper) || (len(c.Lower) != 0 && len(c.Lower) != len(c.Joints)) {
		return fmt.Errorf("ros: arm config: %d lower and %d upper limits for %d joints, want one of each per joint (or none)", len(c.Lower), len(c.Upper), len(c.Joints))
	}
	for i := range c.Lower {
		if !(c.Lower[i] <= c.Upper[i]) {
			return fmt.Errorf("ros: arm config: joint %q limits [%v, %v]: want lower <= upper", c.Joints[i], c.Lower[i], c.Upper[i])
		}
	}
	if !(c.LimitMargin >= 0) || !(c.VelocityCutoff > 0) || math.IsInf(c.VelocityCutoff, 0) {
		return fmt.Errorf("ros: arm config: LimitMargin %v must be >= 0 and VelocityCutoff %v Hz > 0", c.LimitMargin, c.VelocityCutoff)
	}
	if c.RTPriority < 0 || c.RTPriority > 99 {
		return fmt.Errorf("ros: arm config: RTPriority %d, want 0 (normal scheduling) or 1..99", c.RTPriority)
	}
	if c.Queue < 0 {
		return fmt.Errorf("ros: arm config: Queue %d must be >= 0", c.Queue)
	}
	if c.StaleLimit < 0 || c.Backoff < 0 {
		return fmt.Errorf("ros: arm config: StaleLimit %v and Backoff %v must be positive", c.StaleLimit, c.Backoff)
	}
	if c.Gripper.Enabled() {
		if err := c.Gripper.checkFingers(); err != nil {
			return fmt.Errorf("ros: arm config: %w", err)
		}
	}
	return nil
}

// CheckSettings checks, after defaults, the fields a launch file's arm.ros section sets
// (those with a yaml key, and the gripper). The error is a *ConfigError naming the key.
func (c ArmConfig) CheckSettings() error {
	if _, ok := commandKinds[c.Command]; !ok {
		return configErrorf("command", "%q: want one of %s, %s, %s", c.Command, CommandEffort, CommandPose, CommandTrajectory)
	}
	for _, n := range []struct{ key, val string }{{"controller", c.Controller}, {"state_topic", c.StateTopic}, {"node", c.Node}} {
		if !isROSName(n.val) {
			return configErrorf(n.key, "%q: not a ROS name", n.val)
		}
	}
	if !isROSName(c.FrameID) {
		return configErrorf("frame_id", "%q: not a frame name", c.FrameID)
	}
	if c.Lookahead <= 0 || c.Lookahead > time.Second {
		return configErrorf("lookahead", "%v: want (0, 1s] (a trajectory point at time_from_start 0 is dropped by joint_trajectory_controller)", c.Lookahead)
	}
	seen := map[string]bool{}
	for i, j := range c.Joints {
		if !isROSName(j) || seen[j] {
			return configErrorf(fmt.Sprintf("joints.%d", i), "%q: empty or named twice", j)
		}
		seen[j] = true
	}
	if !c.Gripper.Enabled() {
		return nil
	}
	if err := c.Gripper.Validate(); err != nil {
		return prefixConfigError("gripper", err)
	}
	if c.Gripper.State == GripperJoints && c.Gripper.StateTopic == c.StateTopic {
		for _, f := range c.Gripper.Fingers {
			if slices.Contains(c.IgnoreJoints, f) {
				return configErrorf("ignore_joints", "%q is a gripper finger read from %s: do not ignore it", f, c.StateTopic)
			}
		}
	}
	return prefixConfigError("gripper", c.Gripper.checkFingers())
}

// CommandTopic is the topic the commands go to: /<Controller>/equilibrium_pose in pose
// mode, /<Controller>/command otherwise.
func (c ArmConfig) CommandTopic() string {
	leaf := "/command"
	if c.Command == CommandPose {
		leaf = "/equilibrium_pose"
	}
	return "/" + strings.Trim(c.Controller, "/") + leaf
}

// ErrStale is wrapped by ReadState's error when the newest joint state is older than the
// stale limit, or none has arrived yet.
var ErrStale = errors.New("joint state is stale")

// StaleError is the typed error for a stale state.
type StaleError struct {
	// Age of the newest accepted state; negative when none has arrived.
	Age, Limit time.Duration
}

func (e *StaleError) Error() string {
	if e.Age < 0 {
		return fmt.Sprintf("ros: %v: no JointState received yet", ErrStale)
	}
	return fmt.Sprintf("ros: %v: newest JointState is %v old, limit %v", ErrStale, e.Age, e.Limit)
}

// Unwrap makes errors.Is(err, ErrStale) true.
func (e *StaleError) Unwrap() error { return ErrStale }

// ErrRefused is wrapped by the error of WaitState and ReadState when the arm's joint
// states cannot be used at all (no velocity array; see ArmConfig.EstimateVelocity).
var ErrRefused = errors.New("joint states refused")

// RefusedError says why the arm's joint states were refused; its message names the
// topic and what was missing, e.g. "/joint_states: JointState has no velocity array (3
// names, 0 velocities): ...".
type RefusedError struct{ msg string }

func (e *RefusedError) Error() string { return e.msg }

// Unwrap makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// Reject is why a JointState message was dropped.
type Reject int

const (
	RejectUnknownJoint   Reject = iota // a name that is neither an arm joint nor ignored
	RejectMissingJoint                 // an arm joint absent from the message
	RejectDuplicateJoint               // a name twice in one message
	RejectSize                         // position/velocity/effort length does not match the names
	RejectNonFinite                    // NaN or Inf in a value of an arm joint
	RejectNoVelocity                   // no velocity array, and ArmConfig.EstimateVelocity is off
	RejectLimit                        // a position beyond the model's limits by more than ArmConfig.LimitMargin
	RejectPublisher                    // from a publisher other than the one whose states were taken first
	RejectStamp                        // estimating velocities: a header stamp not after the previous one
	numRejects
)

var rejectNames = [numRejects]string{"unknown joint", "missing joint", "duplicate joint", "array size", "non-finite value",
	"no velocity", "beyond joint limit", "second publisher", "stamp not increasing"}

func (r Reject) String() string { return rejectNames[r] }

// ArmStats counts what the Arm received and sent.
type ArmStats struct {
	Accepted  uint64             // JointState messages taken
	Rejected  [numRejects]uint64 // dropped, by Reject
	Written   uint64             // commands accepted by WriteTorque
	Published uint64             // commands handed to the publisher (newer ones replace older unsent ones)
	// Reregistrations counts registrations with a restarted master (see ArmConfig.MasterCheck).
	Reregistrations uint64
	// SeqGaps counts JointState messages lost on the way: the header seq numbers skipped
	// between consecutive messages (seq 7 after seq 4 counts 2). Messages with seq 0 (a
	// publisher that does not number its messages) are not counted.
	SeqGaps uint64
	// SeqRestarts counts messages whose seq is not above the previous one: a publisher
	// that restarted (or a second publisher on the topic, whose numbers interleave).
	SeqRestarts uint64
	// QueueDrops counts accepted states NextState will not see because its queue
	// (ArmConfig.Queue) was full; CommandDrops counts commands refused for the same
	// reason on the way out. Both stay 0 without a queue.
	QueueDrops, CommandDrops uint64
	// LateCommands counts the hand-offs to the publisher that came more than
	// LateCommand after the oldest command waiting for them was written, and
	// MaxCommandDelay is the longest such wait: the time the robot went on applying an
	// older command while the control loop had newer ones.
	LateCommands    uint64
	MaxCommandDelay time.Duration
}

// LateCommand is the wait, from a command written to its hand-off to the publisher, over
// which the hand-off counts as late (ArmStats.LateCommands) and is logged (once per Arm):
// 20 ms is a Franka's limit for missed control cycles. Late hand-offs mean the process's
// threads outside the control loop were starved of CPU (measured on 2 loaded cores: the
// publisher goroutine runnable for 380 ms while only the SCHED_FIFO threads ran); the
// robot's effort controller meanwhile applies the last command it has, open-loop.
const LateCommand = 20 * time.Millisecond

type sample struct {
	q, dq, tau []float64
	time       time.Duration // State.Time
	recv       time.Duration // receipt on ArmConfig.Clock, for staleness
	seq        uint64
}

// command is one command in the mailbox: tau holds torques or joint positions.
type command struct {
	tau []float64
	pos mgl64.Vec3
	rot mgl64.Quat
	seq uint64
}

// Arm is a drivers.Arm over ROS topics. ReadState and WriteTorque are for one goroutine
// (the control loop); they never block on the network and allocate nothing.
//
// Over ROS the arm reports CompensatesGravity = true and zero Coriolis torques: a
// JointState carries no model terms, so robot-side compensation is assumed (franka_ros'
// convention; sim/rosbridge's Server compensates both gravity and Coriolis).
type Arm struct {
	cfg     ArmConfig
	info    drivers.Info
	log     *slog.Logger
	kindErr [3]error // preallocated refusals of the command kinds the arm does not take

	node *goroslib.Node
	sub  *stateSub
	pub  *goroslib.Publisher

	// subscriber side (producer of states)
	mu      sync.Mutex // serialises callbacks across publisher connections
	index   map[string]int
	ignore  map[string]bool
	seen    []bool
	states  *triple[*sample]
	accepts atomic.Uint64
	lastT   atomic.Int64 // State.Time of the newest accepted state
	rejects [numRejects]atomic.Uint64
	logged  [numRejects]atomic.Bool
	lastSeq uint32 // header seq of the previous message (guarded by mu)
	gaps    atomic.Uint64
	resets  atomic.Uint64
	everGot bool                         // consumer side: a state has been taken
	owner   string                       // callerid of the publisher whose states are taken (guarded by mu)
	est     *velocityEstimator           // ArmConfig.EstimateVelocity; guarded by mu
	lower   []float64                    // ArmConfig.Lower - LimitMargin (nil: no check)
	upper   []float64                    // ArmConfig.Upper + LimitMargin
	refused atomic.Pointer[RefusedError] // set when states are refused (no velocity array)

	// in-order states for NextState (ArmConfig.Queue > 0; nil otherwise)
	queue    *ring[*sample]
	queued   chan struct{} // a state was queued (capacity 1)
	qdrops   atomic.Uint64
	born     time.Duration // Dial's time on ArmConfig.Clock: lastRecv's origin
	lastRecv atomic.Int64  // receipt of the newest accepted state, after born, plus 1 ns (0: none)
	timer    clock.Timer   // NextState's stale-limit wait (consumer's)

	// command side (control loop produces, publisher goroutine consumes)
	cmds      *triple[*command]
	cmdq      *ring[*command] // in place of cmds when ArmConfig.Queue > 0
	cdrops    atomic.Uint64
	backlog   int // messages sent since the command queue was last empty (publisher goroutine's)
	wake      chan struct{}
	written   atomic.Uint64
	published atomic.Uint64
	pending   atomic.Int64 // ArmConfig.Clock time (ns) + 1 of the oldest command not handed over yet; 0: none
	late      atomic.Uint64
	maxDelay  atomic.Int64
	lateSaid  atomic.Bool

	grip  *gripperClient
	watch *masterWatch
	trace *stateTrace // per-state timestamps for BenchmarkStateLatency; nil otherwise

	cancel context.CancelFunc
	done   chan struct{}
}

// Dial connects to the master (retrying with backoff until ctx ends), subscribes the
// joint states and advertises the command topic. The Arm's publisher goroutine runs
// until Close.
func Dial(ctx context.Context, cfg ArmConfig) (*Arm, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := len(cfg.Joints)
	a := &Arm{
		cfg:    cfg,
		info:   drivers.Info{Joints: slices.Clone(cfg.Joints), CompensatesGravity: true, Command: commandKinds[cfg.Command]},
		log:    cfg.Logger,
		index:  map[string]int{},
		ignore: map[string]bool{},
		seen:   make([]bool, n),
		states: newTriple(func() *sample {
			return &sample{q: make([]float64, n), dq: make([]float64, n), tau: make([]float64, n)}
		}),
		cmds:  newTriple(func() *command { return &command{tau: make([]float64, n)} }),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
		born:  cfg.Clock.Now(),
		trace: cfg.trace,
	}
	if cfg.Queue > 0 {
		a.queue = newRing(cfg.Queue, func() *sample {
			return &sample{q: make([]float64, n), dq: make([]float64, n), tau: make([]float64, n)}
		})
		a.queued = make(chan struct{}, 1)
		a.timer = cfg.Clock.NewTimer(time.Hour)
		a.timer.Stop()
		a.cmdq = newRing(cfg.Queue, func() *command { return &command{tau: make([]float64, n)} })
	}
	for i, j := range cfg.Joints {
		a.index[j] = i
	}
	if cfg.EstimateVelocity {
		a.est = newVelocityEstimator(n, cfg.VelocityCutoff)
	}
	for i := range cfg.Lower {
		a.lower = append(a.lower, cfg.Lower[i]-cfg.LimitMargin)
		a.upper = append(a.upper, cfg.Upper[i]+cfg.LimitMargin)
	}
	for _, j := range cfg.IgnoreJoints {
		a.ignore[j] = true
	}
	for k := range a.kindErr {
		a.kindErr[k] = drivers.CommandKindError("ros", a.info.Command, drivers.CommandKind(k))
	}
	node, err := connect(ctx, cfg.Clock, cfg.MasterAddress, cfg.Node, cfg.Backoff)
	if err != nil {
		return nil, err
	}
	a.node = node
	fail := func(err error) (*Arm, error) {
		a.grip.close()
		if a.pub != nil {
			a.pub.Close()
		}
		if a.sub != nil {
			a.sub.close()
		}
		node.Close()
		return nil, err
	}
	if a.grip, err = newGripperClient(node, cfg, a.log); err != nil {
		return fail(err)
	}
	if a.sub, err = newStateSub(cfg.Clock, cfg.MasterAddress, cfg.Node, cfg.StateTopic, cfg.RTPriority, a.log, a.onState); err != nil {
		return fail(err)
	}
	a.pub, err = goroslib.NewPublisher(goroslib.PublisherConf{
		Node: node, Topic: cfg.CommandTopic(), Msg: commandMessage(cfg.Command),
	})
	if err != nil {
		return fail(fmt.Errorf("ros: advertise %s: %w", cfg.CommandTopic(), err))
	}
	if a.watch, err = watchMaster(node, cfg.Clock, cfg.MasterAddress, cfg.Node, cfg.MasterCheck, a.log); err != nil {
		return fail(err)
	}
	var pctx context.Context
	pctx, a.cancel = context.WithCancel(context.Background())
	go a.publish(pctx)
	return a, nil
}

// connect creates the node, retrying while the master does not answer: every backoff on
// clk, doubling up to 2 s.
func connect(ctx context.Context, clk clock.Clock, master, name string, backoff time.Duration) (*goroslib.Node, error) {
	conf := goroslib.NodeConf{
		MasterAddress:   master,
		Name:            name,
		LogLevel:        goroslib.LogLevelWarn,
		LogDestinations: goroslib.LogDestinationConsole,
		ReadTimeout:     nodeTimeout, // each XML-RPC call: bounds Close with a hung master (reconnect.go)
	}
	wait := backoff
	for attempt := 1; ; attempt++ {
		node, err := goroslib.NewNode(conf)
		if err == nil {
			return node, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("ros: master %s unreachable after %d attempts (is rosmaster running? check ROS_MASTER_URI): %w (%w)",
				conf.MasterAddress, attempt, err, ctx.Err())
		case <-clk.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// Close stops publishing and leaves the ROS graph. It does not command anything: the
// robot-side controller's own timeout stops the arm.
func (a *Arm) Close() {
	a.watch.stop()
	a.cancel()
	<-a.done
	a.grip.close()
	a.pub.Close()
	a.sub.close()
	closeNode(a.node)
}

// Info implements drivers.Arm.
func (a *Arm) Info() drivers.Info { return a.info }

// onState is the subscriber callback (stateSub; from is the publisher's callerid): it
// validates and maps a message into the state mailbox. m is the subscriber's, reused for
// the next message.
func (a *Arm) onState(from string, m *sensor_msgs.JointState) {
	var entry time.Duration
	if a.trace != nil {
		entry = a.cfg.Clock.Now()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.owner != "" && from != a.owner {
		a.reject(RejectPublisher, fmt.Sprintf("publisher %s on %s; the arm's states come from %s, taken first", from, a.cfg.StateTopic, a.owner))
		return
	}
	a.checkSeq(m.Header.Seq)
	nm := len(m.Name)
	switch {
	case len(m.Position) != nm,
		len(m.Velocity) != 0 && len(m.Velocity) != nm,
		len(m.Effort) != 0 && len(m.Effort) != nm:
		a.reject(RejectSize, fmt.Sprintf("%d names, %d positions, %d velocities, %d efforts (want equal, or no velocities/efforts)",
			nm, len(m.Position), len(m.Velocity), len(m.Effort)))
		return
	case len(m.Velocity) == 0 && a.est == nil:
		a.refuse(fmt.Sprintf("%s: JointState has no velocity array (%d names, 0 velocities): robotd needs measured velocities to damp the arm; "+
			"set arm.ros.estimate_velocity: true to estimate them from positions", a.cfg.StateTopic, nm))
		return
	}
	clear(a.seen)
	s := a.states.Back()
	for i, name := range m.Name {
		j, ok := a.index[name]
		if !ok {
			if a.ignore[name] {
				continue
			}
			if a.grip.finger(name, m.Position[i]) {
				continue
			}
			a.reject(RejectUnknownJoint, fmt.Sprintf("joint %q is not one of %q", name, a.cfg.Joints))
			return
		}
		if a.seen[j] {
			a.reject(RejectDuplicateJoint, fmt.Sprintf("joint %q appears twice", name))
			return
		}
		a.seen[j] = true
		s.q[j] = m.Position[i]
		s.dq[j], s.tau[j] = 0, 0
		if len(m.Velocity) != 0 {
			s.dq[j] = m.Velocity[i]
		}
		if len(m.Effort) != 0 {
			s.tau[j] = m.Effort[i]
		}
		if !finite(s.q[j]) || !finite(s.dq[j]) || !finite(s.tau[j]) {
			a.reject(RejectNonFinite, fmt.Sprintf("joint %q: position %v velocity %v effort %v", name, s.q[j], s.dq[j], s.tau[j]))
			return
		}
	}
	for j, ok := range a.seen {
		if !ok {
			a.reject(RejectMissingJoint, fmt.Sprintf("joint %q absent", a.cfg.Joints[j]))
			return
		}
	}
	for j := range a.lower {
		if q := s.q[j]; q < a.lower[j] || q > a.upper[j] {
			a.reject(RejectLimit, fmt.Sprintf("joint %q at %.4f rad from %s, limits [%.4f, %.4f] with a margin of %v rad",
				a.cfg.Joints[j], q, from, a.cfg.Lower[j], a.cfg.Upper[j], a.cfg.LimitMargin))
			return
		}
	}
	stamp := m.Header.Stamp
	if stamp.IsZero() || stamp.Equal(time.Unix(0, 0)) {
		// Unset stamp: the receipt time on the node's ROS clock (/clock under /use_sim_time).
		stamp = a.node.TimeNow()
	}
	s.time = time.Duration(stamp.UnixNano())
	if len(m.Velocity) == 0 {
		back := a.est.state != 0 && s.time < a.est.prevT
		switch a.est.update(s.time, s.q, s.dq) {
		case estNotAfter:
			a.reject(RejectStamp, fmt.Sprintf("stamp %v repeats the previous message's", stamp))
			return
		case estPrimed:
			if back {
				a.reject(RejectStamp, fmt.Sprintf("stamp %v before the previous message's %v: velocity estimate restarted",
					stamp, time.Unix(0, int64(a.est.prevT))))
			}
			return
		}
	} else if a.est != nil {
		a.est.reset() // measured velocities: an estimate later starts afresh
	}
	if a.owner == "" {
		a.owner = from
		a.log.Debug("ros: taking joint states from their first publisher; others on the topic are rejected", "topic", a.cfg.StateTopic, "publisher", from)
	}
	s.recv = a.cfg.Clock.Now()
	s.seq = a.accepts.Add(1)
	a.lastT.Store(int64(s.time))
	a.lastRecv.Store(int64(s.recv-a.born) + 1)
	if a.trace != nil {
		a.trace.accepted(s.seq, m.Header.Stamp, entry, s.recv)
	}
	if a.queue != nil {
		a.enqueue(s) // before Publish hands s to the consumer
	}
	a.states.Publish()
	if a.queue != nil {
		select {
		case a.queued <- struct{}{}:
		default:
		}
	}
	a.grip.fingersDone()
}

// refuse rejects a message that makes the arm's states unusable (RejectNoVelocity): the
// reason is kept for WaitState and ReadState, which return it while no state was taken.
func (a *Arm) refuse(why string) {
	if a.refused.Load() == nil {
		a.refused.Store(&RefusedError{msg: why})
	}
	a.reject(RejectNoVelocity, why)
}

// enqueue copies an accepted state into NextState's queue, or counts the drop.
func (a *Arm) enqueue(s *sample) {
	d, ok := a.queue.Back()
	if !ok {
		if a.qdrops.Add(1) == 1 {
			a.log.Warn("ros: NextState's queue is full, dropping states (logged once, see Stats.QueueDrops)",
				"topic", a.cfg.StateTopic, "queue", a.cfg.Queue)
		}
		return
	}
	copy(d.q, s.q)
	copy(d.dq, s.dq)
	copy(d.tau, s.tau)
	d.time, d.recv, d.seq = s.time, s.recv, s.seq
	a.queue.Push()
}

// checkSeq counts the messages missing before one numbered seq (every message received,
// valid or not, since each used a number), and restarts of the numbering. The first gap
// is logged.
func (a *Arm) checkSeq(seq uint32) {
	last := a.lastSeq
	a.lastSeq = seq
	switch {
	case seq == 0 || last == 0:
		return
	case seq <= last:
		a.resets.Add(1)
	case seq > last+1:
		if a.gaps.Add(uint64(seq-last-1)) == uint64(seq-last-1) {
			a.log.Warn("ros: JointState messages lost (header seq gap; logged once, see Stats.SeqGaps)",
				"topic", a.cfg.StateTopic, "after", last, "got", seq)
		}
	}
}

func (a *Arm) reject(r Reject, detail string) {
	a.rejects[r].Add(1)
	if !a.logged[r].Swap(true) {
		a.log.Warn("ros: dropping JointState messages (logged once per kind; see Stats)",
			"topic", a.cfg.StateTopic, "kind", r.String(), "first", detail)
	}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// ReadState implements drivers.Arm: it copies the newest accepted JointState into dst.
// When that state is older than the stale limit it still fills dst and returns a
// *StaleError (errors.Is(err, ErrStale)); before any state arrived it returns one with a
// negative Age and leaves dst alone.
func (a *Arm) ReadState(dst *drivers.State) error {
	if err := dst.CheckShape(a.info); err != nil {
		return err
	}
	if a.states.Take() {
		a.everGot = true
		if a.trace != nil {
			a.trace.taken(a.states.Front().seq, a.cfg.Clock.Now())
		}
	} else if a.trace != nil {
		a.trace.notNew(a.cfg.Clock.Now())
	}
	if !a.everGot {
		if r := a.refused.Load(); r != nil {
			return r
		}
		return &StaleError{Age: -1, Limit: a.cfg.StaleLimit}
	}
	s := a.states.Front()
	s.fill(dst)
	if age := a.cfg.Clock.Since(s.recv); age > a.cfg.StaleLimit {
		return &StaleError{Age: age, Limit: a.cfg.StaleLimit}
	}
	return nil
}

func (s *sample) fill(dst *drivers.State) {
	copy(dst.Q, s.q)
	copy(dst.DQ, s.dq)
	copy(dst.Tau, s.tau)
	clear(dst.Coriolis)
	dst.Time, dst.Seq = s.time, s.seq
}

// ErrNoQueue is returned by NextState on an Arm without a queue (ArmConfig.Queue 0).
var ErrNoQueue = errors.New("ros: NextState needs ArmConfig.Queue > 0")

// NextState is ReadState for a robot-paced loop, one that answers every state the robot
// sends rather than waking on its own clock (ArmConfig.Queue > 0): it copies the oldest
// accepted JointState it has not returned yet into dst, waiting for one when there is
// none. When none arrives within the stale limit it returns a *StaleError (its Age the
// time since the newest state, negative before any) and leaves dst alone; it returns
// ctx's error once ctx ends. Like ReadState it is for one goroutine and allocates nothing.
//
// The round trip is shortest when the goroutine calling NextState and then WriteTorque
// is not locked to an OS thread: goroslib's reader, the caller and the publisher
// goroutines then usually run one after the other on one thread, none waiting for
// another thread to be woken (measured: 10 us p50 from the state's callback to the
// command handed to goroslib, against 95 us for a locked loop polling every 50 us;
// drivers/ros BenchmarkJointStateRTT).
func (a *Arm) NextState(ctx context.Context, dst *drivers.State) error {
	if a.queue == nil {
		return ErrNoQueue
	}
	if err := dst.CheckShape(a.info); err != nil {
		return err
	}
	armed := false
	for {
		if s, ok := a.queue.Front(); ok {
			if armed {
				a.timer.Stop()
			}
			s.fill(dst)
			a.queue.Pop()
			return nil
		}
		if !armed {
			a.timer.Reset(a.cfg.StaleLimit)
			armed = true
		}
		select {
		case <-a.queued:
		case <-a.timer.C():
			age := time.Duration(-1)
			if r := a.lastRecv.Load(); r != 0 {
				age = a.cfg.Clock.Since(a.born) - time.Duration(r-1)
			}
			return &StaleError{Age: age, Limit: a.cfg.StaleLimit}
		case <-ctx.Done():
			a.timer.Stop()
			return fmt.Errorf("ros: waiting for the next JointState on %s: %w", a.cfg.StateTopic, ctx.Err())
		}
	}
}

// WriteTorque implements drivers.Arm: a valid command replaces any not yet published
// (with ArmConfig.Queue: waits behind them, or is dropped and counted when the queue is
// full) and wakes the publisher goroutine; it never waits for the network.
func (a *Arm) WriteTorque(tau []float64) error {
	if a.info.Command != drivers.CommandTorque {
		return a.kindErr[drivers.CommandTorque]
	}
	if err := drivers.CheckTorque(tau, len(a.info.Joints)); err != nil {
		return fmt.Errorf("ros: %w", err)
	}
	if c := a.slot(); c != nil {
		copy(c.tau, tau)
		a.post(c)
	}
	return nil
}

// slot is the command to fill for the publisher goroutine: the mailbox's Back, or the
// queue's next slot (nil when the queue is full: the command is dropped and counted).
func (a *Arm) slot() *command {
	if a.cmdq == nil {
		return a.cmds.Back()
	}
	c, ok := a.cmdq.Back()
	if !ok {
		if a.cdrops.Add(1) == 1 {
			a.log.Warn("ros: command queue full, dropping commands (logged once, see Stats.CommandDrops)",
				"topic", a.cfg.CommandTopic(), "queue", a.cfg.Queue)
		}
		return nil
	}
	return c
}

// post hands the filled slot to the publisher goroutine.
func (a *Arm) post(c *command) {
	a.pending.CompareAndSwap(0, int64(a.cfg.Clock.Now())+1)
	c.seq = a.written.Add(1)
	if a.cmdq != nil {
		a.cmdq.Push()
	} else {
		a.cmds.Publish()
	}
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// next is the publisher goroutine's next command to send, nil when none; after sending
// it the goroutine calls sent.
func (a *Arm) next() *command {
	if a.cmdq != nil {
		c, _ := a.cmdq.Front()
		return c
	}
	if !a.cmds.Take() {
		return nil
	}
	return a.cmds.Front()
}

// sent records c as handed to goroslib and frees its slot.
//
// With a queue, a backlog goes out one message at a time, the goroutine yielding between
// them and sleeping 1 ms every backlogPause messages: goroslib's Publisher.Write returns
// once its own goroutine has the message, which it then hands to each subscriber's writer
// goroutine through a buffer of 64 that drops silently when full, and nothing tells when a
// writer has caught up. Written without yielding, a burst of 1000 lost 224 messages
// after the 65th; with the yields and pauses, bursts up to the buffer's size arrive
// whole, and longer ones do unless a writer's thread waits milliseconds for a core (seen
// under nice 10 on 2 loaded cores). The pause is on clock.Real, not ArmConfig.Clock: it
// gives goroslib's goroutines real time to run.
func (a *Arm) sent(c *command) {
	a.published.Store(c.seq)
	if p := a.pending.Swap(0); p != 0 {
		a.delayed(a.cfg.Clock.Now() - time.Duration(p-1))
	}
	if a.cmdq == nil {
		return
	}
	a.cmdq.Pop()
	if _, more := a.cmdq.Front(); !more {
		a.backlog = 0
		return
	}
	if a.backlog++; a.backlog%backlogPause == 0 {
		clock.Real.Sleep(time.Millisecond)
	} else {
		runtime.Gosched()
	}
}

// delayed records that the oldest command waiting was handed to the publisher d after
// it was written (publisher goroutine).
func (a *Arm) delayed(d time.Duration) {
	for {
		m := a.maxDelay.Load()
		if int64(d) <= m || a.maxDelay.CompareAndSwap(m, int64(d)) {
			break
		}
	}
	if d <= LateCommand {
		return
	}
	a.late.Add(1)
	if !a.lateSaid.Swap(true) {
		a.log.Warn("ros: a command reached the publisher late: the robot applied an older command meanwhile (the process's threads outside the control loop were starved of CPU; logged once, see Stats.LateCommands)",
			"topic", a.cfg.CommandTopic(), "delay", d.Round(time.Millisecond), "limit", LateCommand)
	}
}

// backlogPause: after this many messages of a backlog without a pause, the publisher
// goroutine sleeps 1 ms (half of goroslib's per-subscriber buffer).
const backlogPause = 32

// publish owns the goroslib publisher: it sends the newest command (every queued one,
// in order, with ArmConfig.Queue) each time it wakes.
// goroslib queues the message pointer and encodes it later, so each send is a fresh
// message (allocated here, off the control loop).
func (a *Arm) publish(ctx context.Context) {
	defer close(a.done)
	if a.info.Command != drivers.CommandTorque {
		a.publishOther(ctx)
		return
	}
	n := uint32(len(a.info.Joints))
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		}
		for c := a.next(); c != nil; c = a.next() {
			a.pub.Write(&std_msgs.Float64MultiArray{
				Layout: std_msgs.MultiArrayLayout{Dim: []std_msgs.MultiArrayDimension{{Label: "joints", Size: n, Stride: n}}},
				Data:   slices.Clone(c.tau),
			})
			a.sent(c)
		}
	}
}

// Flush waits until the newest written command has been handed to goroslib (for
// lockstep tests and shutdown; never call it from the control loop).
func (a *Arm) Flush(ctx context.Context) error {
	for a.published.Load() < a.written.Load() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("ros: flush commands: %w", ctx.Err())
		case <-clock.Real.After(pollEvery):
		}
	}
	return nil
}

// pollEvery is how often Flush and WaitState look again. It is real time (clock.Real),
// not ArmConfig.Clock: they wait for goroutines (the publisher, goroslib's readers), and
// their bound is the caller's context, whose deadline is real time too.
const pollEvery = 50 * time.Microsecond

// WaitState waits until a JointState with Time >= t has been accepted (t = 0: any). While
// none has been, a refusal of the arm's states (a *RefusedError: no velocity array) ends
// the wait at once.
func (a *Arm) WaitState(ctx context.Context, t time.Duration) error {
	for a.accepts.Load() == 0 || time.Duration(a.lastT.Load()) < t {
		if r := a.refused.Load(); r != nil && a.accepts.Load() == 0 {
			return r
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ros: waiting for a JointState on %s at or after %v: %w", a.cfg.StateTopic, t, ctx.Err())
		case <-clock.Real.After(pollEvery):
		}
	}
	return nil
}

// Stats returns the message counters.
func (a *Arm) Stats() ArmStats {
	st := ArmStats{Accepted: a.accepts.Load(), Written: a.written.Load(), Published: a.published.Load(), Reregistrations: a.watch.reregistrations(),
		SeqGaps: a.gaps.Load(), SeqRestarts: a.resets.Load(), QueueDrops: a.qdrops.Load(), CommandDrops: a.cdrops.Load(),
		LateCommands: a.late.Load(), MaxCommandDelay: time.Duration(a.maxDelay.Load())}
	for i := range st.Rejected {
		st.Rejected[i] = a.rejects[i].Load()
	}
	return st
}
