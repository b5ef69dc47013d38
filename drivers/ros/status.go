package ros

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/diagnostic_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/geometry_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/clock"
)

// StatusConfig configures a StatusPublisher. Zero fields take the documented defaults.
type StatusConfig struct {
	// MasterAddress is the ROS master. Default as ArmConfig's.
	MasterAddress string
	// Node is the publisher's own node name. Default "robotd_status" (a node of its
	// own, so that it can run beside an Arm named "robotd").
	Node string
	// Namespace holds robotd's own topics: <Namespace>/setpoint and <Namespace>/mode.
	// Default "/robotd".
	Namespace string
	// DiagnosticsTopic is where diagnostic_msgs/DiagnosticArray goes. Default
	// "/diagnostics", the topic diagnostic_aggregator and rqt_robot_monitor read.
	DiagnosticsTopic string
	// FrameID is the setpoint's header frame_id. Default "base" (control's base frame).
	FrameID string
	// Name and HardwareID fill the DiagnosticStatus. Name defaults to "robotd".
	Name, HardwareID string
	// SetpointPeriod is how often the newest setpoint is published (only when a new one
	// was set since the last publication). Mode changes are published on the same
	// ticks. Default 10 ms (100 Hz).
	SetpointPeriod time.Duration
	// DiagnosticsPeriod is how often the newest diagnostics snapshot is published
	// (again, when no new one was set). Default 1 s (the ROS diagnostics convention).
	DiagnosticsPeriod time.Duration
	// MaxKeyValues is the capacity of a diagnostics snapshot; SetDiagnostics keeps the
	// first MaxKeyValues pairs and counts the call in StatusStats.Truncated. Default 32.
	MaxKeyValues int
	// Backoff as in ArmConfig.
	Backoff time.Duration
	// MasterCheck as in ArmConfig: how often the publisher checks that the master still
	// knows it, and advertises its topics again after a master restart (default 250 ms;
	// negative: no check).
	MasterCheck time.Duration
	// Clock as in ArmConfig: the publication periods, the backoff and the master checks.
	// Default clock.Real.
	Clock clock.Clock
}

// WithDefaults returns the config with its zero fields filled.
func (c StatusConfig) WithDefaults() StatusConfig {
	a := ArmConfig{MasterAddress: c.MasterAddress, Backoff: c.Backoff, MasterCheck: c.MasterCheck, Clock: c.Clock}.WithDefaults()
	c.MasterAddress, c.Backoff, c.MasterCheck, c.Clock = a.MasterAddress, a.Backoff, a.MasterCheck, a.Clock
	if c.Node == "" {
		c.Node = "robotd_status"
	}
	if c.Namespace == "" {
		c.Namespace = "/robotd"
	}
	if c.DiagnosticsTopic == "" {
		c.DiagnosticsTopic = "/diagnostics"
	}
	if c.FrameID == "" {
		c.FrameID = "base"
	}
	if c.Name == "" {
		c.Name = "robotd"
	}
	if c.SetpointPeriod == 0 {
		c.SetpointPeriod = 10 * time.Millisecond
	}
	if c.DiagnosticsPeriod == 0 {
		c.DiagnosticsPeriod = time.Second
	}
	if c.MaxKeyValues == 0 {
		c.MaxKeyValues = 32
	}
	return c
}

// Validate checks the config after defaults.
func (c StatusConfig) Validate() error {
	if c.SetpointPeriod < 0 || c.DiagnosticsPeriod < 0 || c.Backoff < 0 {
		return fmt.Errorf("ros: status config: SetpointPeriod %v, DiagnosticsPeriod %v and Backoff %v must be positive",
			c.SetpointPeriod, c.DiagnosticsPeriod, c.Backoff)
	}
	if c.MaxKeyValues < 0 {
		return fmt.Errorf("ros: status config: MaxKeyValues %d must be positive", c.MaxKeyValues)
	}
	for _, name := range []string{c.Namespace, c.DiagnosticsTopic} {
		if strings.ContainsAny(name, " \t") {
			return fmt.Errorf("ros: status config: %q is not a ROS name", name)
		}
	}
	return nil
}

// SetpointTopic is where the geometry_msgs/PoseStamped setpoint goes.
func (c StatusConfig) SetpointTopic() string {
	return "/" + strings.Trim(c.Namespace, "/") + "/setpoint"
}

// ModeTopic is where the std_msgs/String mode goes (latched).
func (c StatusConfig) ModeTopic() string { return "/" + strings.Trim(c.Namespace, "/") + "/mode" }

// Level is a diagnostics level, as diagnostic_msgs/DiagnosticStatus has it.
type Level int8

const (
	LevelOK    Level = Level(diagnostic_msgs.DiagnosticStatus_OK)
	LevelWarn  Level = Level(diagnostic_msgs.DiagnosticStatus_WARN)
	LevelError Level = Level(diagnostic_msgs.DiagnosticStatus_ERROR)
	LevelStale Level = Level(diagnostic_msgs.DiagnosticStatus_STALE)
)

// KeyValue is one diagnostics value (loop jitter, deadline misses, inference latency,
// watchdog trips...). Put the unit in the key ("loop_jitter_p99_us"): the value is sent
// as text (strconv 'g' format, shortest exact), formatted off the control loop.
type KeyValue struct {
	Key   string
	Value float64
}

// StatusStats counts what a StatusPublisher sent.
type StatusStats struct {
	Setpoints   uint64 // PoseStamped messages published
	Modes       uint64 // mode changes published
	Diagnostics uint64 // DiagnosticArray messages published
	Truncated   uint64 // SetDiagnostics calls with more than MaxKeyValues pairs
	// Reregistrations counts registrations with a restarted master (StatusConfig.MasterCheck).
	Reregistrations uint64
}

type setpoint struct {
	pos  mgl64.Vec3
	quat mgl64.Quat
	t    time.Duration
}

type modeValue struct{ mode string }

type diagSnapshot struct {
	level   Level
	message string
	kv      []KeyValue // len = the snapshot's size, cap = MaxKeyValues
}

// StatusPublisher publishes robotd's own state on ROS topics, off the control loop:
//
//   - <Namespace>/setpoint (geometry_msgs/PoseStamped): the Cartesian setpoint the
//     controller is tracking, T_base_ee in FrameID, at most once per SetpointPeriod;
//   - <Namespace>/mode (std_msgs/String, latched: a late subscriber gets the current mode);
//   - DiagnosticsTopic (diagnostic_msgs/DiagnosticArray): one DiagnosticStatus with the
//     newest snapshot's level, message and key/values, once per DiagnosticsPeriod.
//
// The Set methods hand values over through latest-value mailboxes: they never block
// and allocate nothing, and only the newest value of each kind is published. Each Set
// method is for one goroutine at a time (SetSetpoint for the control loop; SetMode and
// SetDiagnostics may be called from other goroutines, one each). Publishing happens on
// the StatusPublisher's own goroutine, which runs until Close.
//
// After a master restart the three topics are advertised again (within
// StatusConfig.MasterCheck of the master's return), so subscribers that start afterwards
// find them, and the latched mode reaches them; subscribers connected before stay
// connected (see masterWatch).
type StatusPublisher struct {
	cfg   StatusConfig
	node  *goroslib.Node
	sp    *goroslib.Publisher
	mode  *goroslib.Publisher
	diag  *goroslib.Publisher
	watch *masterWatch

	setpoints *triple[*setpoint]
	modes     *triple[*modeValue]
	diags     *triple[*diagSnapshot]
	lastMode  string // producer side of SetMode: unchanged modes are not re-sent
	haveDiag  bool   // publisher side: a snapshot has been taken

	nSetpoints, nModes, nDiags, nTruncated atomic.Uint64

	cancel context.CancelFunc
	done   chan struct{}
}

// NewStatusPublisher connects to the master (retrying with backoff until ctx ends) with
// a node of its own, advertises the three topics and starts publishing.
func NewStatusPublisher(ctx context.Context, cfg StatusConfig) (*StatusPublisher, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &StatusPublisher{
		cfg:       cfg,
		setpoints: newTriple(func() *setpoint { return &setpoint{} }),
		modes:     newTriple(func() *modeValue { return &modeValue{} }),
		diags: newTriple(func() *diagSnapshot {
			return &diagSnapshot{kv: make([]KeyValue, 0, cfg.MaxKeyValues)}
		}),
		done: make(chan struct{}),
	}
	node, err := connect(ctx, cfg.Clock, cfg.MasterAddress, cfg.Node, cfg.Backoff)
	if err != nil {
		return nil, err
	}
	p.node = node
	for _, a := range []struct {
		pub   **goroslib.Publisher
		topic string
		msg   any
		latch bool
	}{
		{&p.sp, cfg.SetpointTopic(), &geometry_msgs.PoseStamped{}, false},
		{&p.mode, cfg.ModeTopic(), &std_msgs.String{}, true},
		{&p.diag, cfg.DiagnosticsTopic, &diagnostic_msgs.DiagnosticArray{}, false},
	} {
		*a.pub, err = goroslib.NewPublisher(goroslib.PublisherConf{Node: node, Topic: a.topic, Msg: a.msg, Latch: a.latch})
		if err != nil {
			p.closePublishers()
			return nil, fmt.Errorf("ros: status: advertise %s: %w", a.topic, err)
		}
	}
	if p.watch, err = watchMaster(node, cfg.Clock, cfg.MasterAddress, cfg.Node, cfg.MasterCheck, nil); err != nil {
		p.closePublishers()
		return nil, fmt.Errorf("ros: status: %w", err)
	}
	var rctx context.Context
	rctx, p.cancel = context.WithCancel(context.Background())
	go p.run(rctx)
	return p, nil
}

// Close stops publishing and leaves the ROS graph. Values set but not yet published
// are dropped.
func (p *StatusPublisher) Close() {
	p.watch.stop()
	p.cancel()
	<-p.done
	p.closePublishers()
}

func (p *StatusPublisher) closePublishers() {
	closeAll(pubClose(p.diag), pubClose(p.mode), pubClose(p.sp))
	closeNode(p.node)
}

// SetSetpoint hands over the setpoint the controller tracks: the tool position (m) and
// orientation (control's convention: scalar-first, rotating ee to base) in the base
// frame, at controller time t (the drivers.State.Time domain: nanoseconds since the
// Unix epoch on the ROS clock; t = 0 stamps it with the node's clock at publication).
// It never blocks and allocates nothing.
func (p *StatusPublisher) SetSetpoint(pos mgl64.Vec3, quat mgl64.Quat, t time.Duration) {
	s := p.setpoints.Back()
	s.pos, s.quat, s.t = pos, quat, t
	p.setpoints.Publish()
}

// SetMode hands over the state machine's mode; it is published (latched) on the next
// setpoint tick when it differs from the previous one. It never blocks and allocates
// nothing (the string is shared, not copied: pass an immutable one, such as a constant).
func (p *StatusPublisher) SetMode(mode string) {
	if mode == p.lastMode {
		return
	}
	p.lastMode = mode
	p.modes.Back().mode = mode
	p.modes.Publish()
}

// SetDiagnostics hands over a diagnostics snapshot: kv is copied (keys are shared, not
// copied), so the caller keeps its slice. Pairs beyond MaxKeyValues are left out and the
// call is counted in StatusStats.Truncated. It never blocks and allocates nothing.
func (p *StatusPublisher) SetDiagnostics(level Level, message string, kv []KeyValue) {
	d := p.diags.Back()
	d.level, d.message = level, message
	if len(kv) > cap(d.kv) {
		p.nTruncated.Add(1)
		kv = kv[:cap(d.kv)]
	}
	d.kv = append(d.kv[:0], kv...)
	p.diags.Publish()
}

// Stats returns the publication counters.
func (p *StatusPublisher) Stats() StatusStats {
	return StatusStats{
		Setpoints: p.nSetpoints.Load(), Modes: p.nModes.Load(),
		Diagnostics: p.nDiags.Load(), Truncated: p.nTruncated.Load(),
		Reregistrations: p.watch.reregistrations(),
	}
}

// run owns the goroslib publishers. goroslib queues message pointers and encodes them
// later, so every publication is a fresh message, allocated here.
func (p *StatusPublisher) run(ctx context.Context) {
	defer close(p.done)
	sp := p.cfg.Clock.NewTicker(p.cfg.SetpointPeriod)
	defer sp.Stop()
	dg := p.cfg.Clock.NewTicker(p.cfg.DiagnosticsPeriod)
	defer dg.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sp.C():
			p.publishMode()
			p.publishSetpoint()
		case <-dg.C():
			p.publishDiagnostics()
		}
	}
}

func (p *StatusPublisher) publishSetpoint() {
	if !p.setpoints.Take() {
		return
	}
	s := p.setpoints.Front()
	stamp := time.Unix(0, int64(s.t))
	if s.t == 0 {
		stamp = p.node.TimeNow()
	}
	p.sp.Write(&geometry_msgs.PoseStamped{
		Header: std_msgs.Header{Stamp: stamp, FrameId: p.cfg.FrameID},
		Pose: geometry_msgs.Pose{
			Position:    geometry_msgs.Point{X: s.pos[0], Y: s.pos[1], Z: s.pos[2]},
			Orientation: geometry_msgs.Quaternion{X: s.quat.V[0], Y: s.quat.V[1], Z: s.quat.V[2], W: s.quat.W},
		},
	})
	p.nSetpoints.Add(1)
}

func (p *StatusPublisher) publishMode() {
	if !p.modes.Take() {
		return
	}
	p.mode.Write(&std_msgs.String{Data: p.modes.Front().mode})
	p.nModes.Add(1)
}

// publishDiagnostics sends the newest snapshot every period, fresh or not (ROS's
// diagnostics tools mark a status stale when it stops coming).
func (p *StatusPublisher) publishDiagnostics() {
	if p.diags.Take() {
		p.haveDiag = true
	}
	if !p.haveDiag {
		return
	}
	d := p.diags.Front()
	values := make([]diagnostic_msgs.KeyValue, len(d.kv))
	for i, kv := range d.kv {
		values[i] = diagnostic_msgs.KeyValue{Key: kv.Key, Value: strconv.FormatFloat(kv.Value, 'g', -1, 64)}
	}
	p.diag.Write(&diagnostic_msgs.DiagnosticArray{
		Header: std_msgs.Header{Stamp: p.node.TimeNow()},
		Status: []diagnostic_msgs.DiagnosticStatus{{
			Level: int8(d.level), Name: p.cfg.Name, Message: d.message, HardwareId: p.cfg.HardwareID, Values: values,
		}},
	})
	p.nDiags.Add(1)
}
