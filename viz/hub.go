package viz

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/policy/chunk"
	"github.com/robotd/robotd/policy/steer"
	"github.com/robotd/robotd/telemetry"
)

// Sink takes the Hub's encoded messages: the MCAP log, the live server, the page.
type Sink interface {
	// Write delivers one message of ch stamped t; data is the Hub's buffer, valid during
	// the call only. A live sink must not block (it drops instead). An error from the log
	// sink is reported once and the log is dropped.
	Write(ch *Channel, t time.Time, data []byte) error
}

// A Wanter is a live sink that says whether it wants a channel's messages now (a
// Foxglove client subscribed to it, the page polled lately). The Hub does not encode a
// camera frame that neither the log nor any live sink wants.
type Wanter interface {
	Wants(ch *Channel) bool
}

// Config configures a Hub. Zero fields take the defaults documented on each.
type Config struct {
	// Joints names the arm's joints, in the daemon's order (required).
	Joints []string
	// Cameras are the cameras whose frames are sent as JPEG (foxglove.CompressedImage on
	// /camera/<name>).
	Cameras []*perception.Latest
	// LiveRate (Hz) is the rate of the per-tick channels (joint states, torques, poses,
	// gripper, safety) for live sinks; the log gets every tick. Default 50.
	LiveRate float64
	// CameraRate (Hz) caps the JPEG frames per camera; frames come at the camera's own
	// rate below it. Default 30.
	CameraRate float64
	// JPEGQuality is image/jpeg's quality, 1..100. Default 80.
	JPEGQuality int
	// QueueLen is how many control ticks may wait for the encoder before ticks are dropped
	// (and counted). Default 1024 (1 s at 1 kHz).
	QueueLen int
	// Metrics is where robotd_viz_* are registered. Default: a new registry.
	Metrics *telemetry.Registry
	// Start is the wall time of control-clock time 0: messages are stamped Start + T.
	// Default: the time New was called.
	Start time.Time
	// Wait makes the observer methods wait for room instead of dropping: for simulated
	// time (lockstep), which can run ahead of the encoder and wait for it, so that the log
	// is complete. The hub must then be running (Run) while the daemon is. A realtime
	// daemon leaves it false and never blocks.
	Wait bool
}

// The queue names of robotd_viz_dropped_total.
const (
	qTick = iota
	qPlan
	qSteer
	qState
	qLog
	qCamera
	numQueues
)

var queueNames = [numQueues]string{"tick", "plan", "steer", "state", "log", "camera"}

// maxPlan bounds the poses of a plan message (longer chunks are cut).
const maxPlan = 256

type tickMsg struct {
	state         daemon.State
	at            time.Duration
	q, dq, tau    []float64
	target, tool  control.Pose
	grip, gripCmd float64
	safety        control.SafetyCounters
	watchdogs     [3]uint64
}

type planMsg struct {
	at   time.Duration
	t0   time.Duration
	path []mgl64.Vec3
}

type stateMsg struct {
	at       time.Duration
	from, to daemon.State
	why      string
}

type steerMsg struct {
	at   time.Duration
	info steer.StepInfo
}

type logMsg struct {
	t     time.Time
	level slog.Level
	msg   string
}

// Hub is the daemon.Observer of the live view and the log: see the package comment.
type Hub struct {
	cfg      Config
	channels []Channel
	camCh    []*Channel
	live     []Sink

	mu     sync.Mutex // guards the sinks' writes and logSink
	logErr error
	lg     Sink

	ticks, freeTicks chan *tickMsg
	plans, freePlans chan *planMsg
	steers           chan steerMsg
	states           chan stateMsg
	logs             chan logMsg
	syncs            chan chan struct{}
	stopped          chan struct{} // closed when Run returns: waiting observers drop from then on
	lastT            atomic.Int64  // the newest tick's control-clock time (ns)
	ticked           atomic.Bool   // a tick has come
	logFrom          time.Duration // control-clock time SetLog was called at (guarded by mu)

	// What the control loop's Tick reads to decide, without locks, whether a tick is
	// worth queueing: a log is being written, and a live sink wants the per-tick channels
	// (refreshed by Run every live period from the sinks' Wants).
	logging, liveWanted atomic.Bool
	// Owned by the control loop (Tick): the last queued tick's time and counters.
	qLast      time.Duration
	qStarted   bool
	qSafety    control.SafetyCounters
	qWatchdogs [3]uint64

	dropped  [numQueues]*telemetry.Counter
	messages *telemetry.Counter
	bytes    *telemetry.Counter
	jpegH    *telemetry.Histogram
	counts   []atomic.Uint64 // messages written to the log, by channel index

	// Owned by the encoder goroutine.
	e                    enc
	lastLive, lastSafety time.Duration
	liveStarted          bool // a tick went live (the first one does)
	safety, safetySent   control.SafetyCounters
	watchdogs            [3]uint64
	encodeTime           atomic.Int64 // total JPEG encode time (ns)
	encoded              atomic.Int64 // JPEG frames encoded
}

// New builds a Hub for cfg's joints and cameras.
func New(cfg Config) (*Hub, error) {
	if len(cfg.Joints) == 0 {
		return nil, errors.New("viz: no joint names")
	}
	if cfg.LiveRate == 0 {
		cfg.LiveRate = 50
	}
	if cfg.CameraRate == 0 {
		cfg.CameraRate = 30
	}
	if cfg.JPEGQuality == 0 {
		cfg.JPEGQuality = 80
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = 1024
	}
	if cfg.Metrics == nil {
		cfg.Metrics = telemetry.NewRegistry()
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	if cfg.LiveRate < 0 || cfg.CameraRate < 0 || cfg.JPEGQuality < 1 || cfg.JPEGQuality > 100 || cfg.QueueLen < 0 {
		return nil, fmt.Errorf("viz: live rate %v Hz, camera rate %v Hz, JPEG quality %d, queue %d: want positive rates, quality 1..100",
			cfg.LiveRate, cfg.CameraRate, cfg.JPEGQuality, cfg.QueueLen)
	}
	h := &Hub{cfg: cfg}
	h.channels = append(h.channels, fixedChannels...)
	for _, c := range cfg.Cameras {
		h.channels = append(h.channels, Channel{Topic: CameraTopic(c.Name()), Schema: "foxglove.CompressedImage", Definition: schemaCompressedImage})
	}
	for i := range h.channels {
		h.channels[i].ID = uint16(i + 1)
	}
	for i := range cfg.Cameras {
		h.camCh = append(h.camCh, &h.channels[numFixed+i])
	}
	h.counts = make([]atomic.Uint64, len(h.channels))
	n := len(cfg.Joints)
	h.ticks, h.freeTicks = make(chan *tickMsg, cfg.QueueLen), make(chan *tickMsg, cfg.QueueLen)
	for range cfg.QueueLen {
		h.freeTicks <- &tickMsg{q: make([]float64, n), dq: make([]float64, n), tau: make([]float64, n)}
	}
	const nPlans = 8
	h.plans, h.freePlans = make(chan *planMsg, nPlans), make(chan *planMsg, nPlans)
	for range nPlans {
		h.freePlans <- &planMsg{path: make([]mgl64.Vec3, 0, maxPlan)}
	}
	h.steers, h.states, h.logs = make(chan steerMsg, 32), make(chan stateMsg, 64), make(chan logMsg, 256)
	h.syncs = make(chan chan struct{})
	h.stopped = make(chan struct{})
	r := cfg.Metrics
	for k, name := range queueNames {
		h.dropped[k] = r.Counter("robotd_viz_dropped_total", "Live view and log records dropped because their queue was full (the control loop never waits).",
			telemetry.Label{Name: "queue", Value: name})
	}
	h.messages = r.Counter("robotd_viz_log_messages_total", "Messages written to the log (MCAP).")
	h.bytes = r.Counter("robotd_viz_log_message_bytes_total", "Message bytes written to the log (MCAP), before compression.")
	h.jpegH = r.Histogram("robotd_viz_jpeg_encode_seconds", "JPEG encode time per camera frame.", telemetry.ExponentialBuckets(1e-4, 2, 14))
	return h, nil
}

// Channels is the channel set, in ID order (the fixed channels, then one per camera).
func (h *Hub) Channels() []Channel { return h.channels }

// AddLive adds a live sink (call before Run). Its Write must not block.
func (h *Hub) AddLive(s Sink) {
	h.live = append(h.live, s)
	h.refreshWants()
}

// refreshWants records whether a live sink wants the per-tick channels now (a sink that
// is no Wanter wants everything).
func (h *Hub) refreshWants() {
	wanted := false
	for i := range h.channels {
		if ch := &h.channels[i]; ch.Live && h.liveWants(ch) {
			wanted = true
			break
		}
	}
	h.liveWanted.Store(wanted)
}

// liveWants reports whether a live sink wants ch's messages now.
func (h *Hub) liveWants(ch *Channel) bool {
	for _, s := range h.live {
		if w, ok := s.(Wanter); !ok || w.Wants(ch) {
			return true
		}
	}
	return false
}

// SetLog makes s the log sink (nil: none) and returns the previous one. Call Sync first
// so that what is queued goes to the previous one (robotd eval: one file per episode).
func (h *Hub) SetLog(s Sink) Sink {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.lg
	h.lg, h.logErr = s, nil
	h.logFrom = time.Duration(h.lastT.Load())
	h.logging.Store(s != nil)
	return old
}

// LogErr is the log sink's write error, if one failed (it is then no longer written).
func (h *Hub) LogErr() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logErr
}

// Counts is how many messages each channel wrote to the log so far (by topic).
func (h *Hub) Counts() map[string]uint64 {
	m := map[string]uint64{}
	for i := range h.channels {
		m[h.channels[i].Topic] = h.counts[i].Load()
	}
	return m
}

// Dropped is how many records each queue dropped so far (by queue name).
func (h *Hub) Dropped() map[string]uint64 {
	m := map[string]uint64{}
	for k, name := range queueNames {
		m[name] = h.dropped[k].Value()
	}
	return m
}

// JPEGCost is the mean JPEG encode time per frame so far, and the frames encoded.
func (h *Hub) JPEGCost() (mean time.Duration, frames int64) {
	n := h.encoded.Load()
	if n == 0 {
		return 0, 0
	}
	return time.Duration(h.encodeTime.Load() / n), n
}

// Summary is the one line printed at exit: messages logged and records dropped.
func (h *Hub) Summary() string {
	var drops uint64
	for _, c := range h.dropped {
		drops += c.Value()
	}
	mean, frames := h.JPEGCost()
	return fmt.Sprintf("viz: %d messages logged (%d bytes before compression), %d records dropped %v, %d JPEG frames (%v each)",
		h.messages.Value(), h.bytes.Value(), drops, h.Dropped(), frames, mean.Round(time.Microsecond))
}

// Tick implements daemon.Observer (control loop: copies into a free buffer or drops).
//
// A tick is queued only when something will use it: every tick while a log is written;
// otherwise one per live period while a live sink wants the per-tick channels (a
// subscribed Foxglove client, a polled page), and the ticks that change the watchdog
// counters, or the safety counters (one per live period, every one while faulted). A
// hub nobody watches or records thus costs the loop a few loads per tick and its
// encoder no wake-up at all.
func (h *Hub) Tick(t *daemon.TickRecord) {
	h.lastT.Store(int64(t.T))
	if !h.ticked.Load() {
		h.ticked.Store(true)
	}
	due := !h.qStarted || t.T-h.qLast >= h.livePeriod() || t.T < h.qLast
	safety := t.Safety != h.qSafety
	if !h.logging.Load() && !(due && (h.liveWanted.Load() || safety)) && t.Watchdogs == h.qWatchdogs &&
		!(safety && t.State == daemon.Faulted) {
		return
	}
	var m *tickMsg
	if h.cfg.Wait {
		select {
		case m = <-h.freeTicks:
		case <-h.stopped: // the hub is gone (the system is stopping): never wait for it
			h.dropped[qTick].Inc()
			return
		}
	} else {
		select {
		case m = <-h.freeTicks:
		default:
			h.dropped[qTick].Inc()
			return
		}
	}
	m.at, m.state = t.T, t.State
	copy(m.q, t.Q)
	copy(m.dq, t.DQ)
	copy(m.tau, t.Tau)
	m.target, m.tool = t.Target, t.Tool
	m.grip, m.gripCmd = t.Gripper, t.GripperCommand
	m.safety, m.watchdogs = t.Safety, t.Watchdogs
	if due {
		h.qLast, h.qStarted = t.T, true
	}
	h.qSafety, h.qWatchdogs = t.Safety, t.Watchdogs
	h.ticks <- m // never blocks: the channel holds every buffer
}

// livePeriod is the period of the per-tick channels' live messages.
func (h *Hub) livePeriod() time.Duration { return time.Duration(float64(time.Second) / h.cfg.LiveRate) }

// Transition implements daemon.Observer.
func (h *Hub) Transition(at time.Duration, from, to daemon.State, why string) {
	if h.cfg.Wait {
		select {
		case h.states <- stateMsg{at: at, from: from, to: to, why: why}:
		case <-h.stopped:
			h.dropped[qState].Inc()
		}
		return
	}
	select {
	case h.states <- stateMsg{at: at, from: from, to: to, why: why}:
	default:
		h.dropped[qState].Inc()
	}
}

// Plan implements daemon.Observer.
func (h *Hub) Plan(at time.Duration, c *chunk.Chunk, path []mgl64.Vec3) {
	var m *planMsg
	if h.cfg.Wait {
		select {
		case m = <-h.freePlans:
		case <-h.stopped:
			h.dropped[qPlan].Inc()
			return
		}
	} else {
		select {
		case m = <-h.freePlans:
		default:
			h.dropped[qPlan].Inc()
			return
		}
	}
	m.at, m.t0 = at, c.T0
	m.path = append(m.path[:0], path[:min(len(path), maxPlan)]...)
	h.plans <- m
}

// Steer implements daemon.Observer.
func (h *Hub) Steer(at time.Duration, info *steer.StepInfo) {
	if h.cfg.Wait {
		select {
		case h.steers <- steerMsg{at: at, info: *info}:
		case <-h.stopped:
			h.dropped[qSteer].Inc()
		}
		return
	}
	select {
	case h.steers <- steerMsg{at: at, info: *info}:
	default:
		h.dropped[qSteer].Inc()
	}
}

var _ daemon.Observer = (*Hub)(nil)

// Run encodes and fans out until ctx ends, then encodes what is still queued; it also
// runs the camera poller. It returns nil. A Hub runs once: after Run has returned, the
// observer methods drop even with Config.Wait.
func (h *Hub) Run(ctx context.Context) error {
	defer close(h.stopped) // Run runs once
	var wg sync.WaitGroup
	if len(h.cfg.Cameras) > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); h.cameras(ctx) }()
	}
	defer wg.Wait()
	wants := time.NewTicker(h.livePeriod())
	defer wants.Stop()
	for {
		select {
		case <-wants.C:
			h.refreshWants()
		case m := <-h.ticks:
			h.tick(m)
		case m := <-h.plans:
			h.plan(m)
		case m := <-h.steers:
			h.steer(&m)
		case m := <-h.states:
			h.state(&m)
		case m := <-h.logs:
			h.log(&m)
		case done := <-h.syncs:
			h.drain()
			close(done)
		case <-ctx.Done():
			h.drain()
			return nil
		}
	}
}

// Sync waits until every record queued before the call has been written to the sinks
// (or ctx ends): call it after a run ends, before SetLog or closing the log.
func (h *Hub) Sync(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case h.syncs <- done:
	case <-h.stopped: // Run drained everything before it returned
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drain encodes everything queued now, without waiting for more.
func (h *Hub) drain() {
	for {
		select {
		case m := <-h.ticks:
			h.tick(m)
		case m := <-h.plans:
			h.plan(m)
		case m := <-h.steers:
			h.steer(&m)
		case m := <-h.states:
			h.state(&m)
		case m := <-h.logs:
			h.log(&m)
		default:
			return
		}
	}
}

func (h *Hub) wall(at time.Duration) time.Time { return h.cfg.Start.Add(at) }

// emit writes the message in h.e.b on channel index ci to the log and, when live, to the
// live sinks.
func (h *Hub) emit(ci int, t time.Time, data []byte, live bool) {
	h.emitSince(ci, t, data, live, -1)
}

// emitSince is emit for a message of control-clock time at, which the log takes only
// when at is not before the log's start (a camera frame captured before SetLog switched
// the file belongs to the previous one); at < 0: always.
func (h *Hub) emitSince(ci int, t time.Time, data []byte, live bool, at time.Duration) {
	ch := &h.channels[ci]
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lg != nil && h.logErr == nil && (at < 0 || at > h.logFrom || h.logFrom == 0) {
		if err := h.lg.Write(ch, t, data); err != nil {
			h.logErr = fmt.Errorf("viz: log %s: %w", ch.Topic, err)
			h.logging.Store(false)
		} else {
			h.counts[ci].Add(1)
			h.messages.Inc()
			h.bytes.Add(uint64(len(data)))
		}
	}
	if live {
		for _, s := range h.live {
			s.Write(ch, t, data)
		}
	}
}

// tick encodes one control tick's channels.
func (h *Hub) tick(m *tickMsg) {
	defer func() { h.freeTicks <- m }()
	live := !h.liveStarted || m.at-h.lastLive >= h.livePeriod() || m.at < h.lastLive
	if live {
		h.lastLive, h.liveStarted = m.at, true
	}
	h.mu.Lock()
	logging := h.lg != nil && h.logErr == nil
	h.mu.Unlock()
	if !live && !logging {
		return // nothing wants this tick: no encoding
	}
	t := h.wall(m.at)
	e := &h.e
	e.stamp(t)
	e.raw(`,"name":`)
	e.strs(h.cfg.Joints)
	e.raw(`,"position":`)
	e.nums(m.q)
	e.raw(`,"velocity":`)
	e.nums(m.dq)
	e.raw(`,"effort":`)
	e.nums(m.tau)
	e.raw(`}`)
	h.emit(chJoint, t, e.b, live)

	e.stamp(t)
	e.raw(`,"name":`)
	e.strs(h.cfg.Joints)
	e.raw(`,"effort":`)
	e.nums(m.tau)
	e.raw(`}`)
	h.emit(chTorque, t, e.b, live)

	for _, p := range [2]struct {
		ci   int
		pose control.Pose
	}{{chTool, m.tool}, {chTarget, m.target}} {
		e.stamp(t)
		e.raw(`,"frame_id":"` + BaseFrame + `","pose":`)
		e.pose(p.pose.Pos, p.pose.Rot)
		e.raw(`}`)
		h.emit(p.ci, t, e.b, live)
	}

	if !math.IsNaN(m.grip) || !math.IsNaN(m.gripCmd) {
		e.stamp(t)
		e.raw(`,"width":`)
		e.num(m.grip)
		e.raw(`,"command":`)
		e.num(m.gripCmd)
		e.raw(`}`)
		h.emit(chGripper, t, e.b, live)
	}

	if m.safety != h.safetySent && (live || m.state == daemon.Faulted) {
		h.safetySent = m.safety
		s := &m.safety
		e.stamp(t)
		for _, f := range [...]struct {
			k string
			v uint64
		}{{"targets_rejected", s.TargetsRejected}, {"targets_clamped", s.TargetsClamped}, {"non_finite", s.NonFinite},
			{"position_wall", s.PositionWall}, {"velocity_brake", s.VelocityBrake}, {"torque_clamped", s.TorqueClamped}, {"rate_limited", s.RateLimited}} {
			e.raw(`,"` + f.k + `":`)
			e.uint(f.v)
		}
		e.raw(`}`)
		h.emit(chSafety, t, e.b, true)
	}

	if m.watchdogs != h.watchdogs {
		h.watchdogs = m.watchdogs
		names := daemon.WatchdogNames()
		e.stamp(t)
		for k, v := range m.watchdogs {
			e.raw(`,"` + names[k] + `":`)
			e.uint(v)
		}
		e.raw(`}`)
		h.emit(chWatchdog, t, e.b, true)
	}
}

func (h *Hub) plan(m *planMsg) {
	defer func() { h.freePlans <- m }()
	t := h.wall(m.at)
	e := &h.e
	e.stamp(t)
	e.raw(`,"frame_id":"` + BaseFrame + `","poses":[`)
	for i, p := range m.path {
		if i > 0 {
			e.raw(",")
		}
		e.pose(p, mgl64.QuatIdent())
	}
	e.raw(`]}`)
	h.emit(chPlan, t, e.b, true)
}

func (h *Hub) steer(m *steerMsg) {
	t := h.wall(m.at)
	e := &h.e
	e.stamp(t)
	e.raw(`,"n":`)
	e.uint(uint64(m.info.N))
	e.raw(`,"valid":`)
	e.uint(uint64(m.info.Valid))
	e.raw(`,"chosen":`)
	e.uint(uint64(m.info.Chosen))
	e.raw(`,"spread":`)
	e.num(m.info.Spread)
	e.raw(`,"infer_s":`)
	e.num(m.info.Infer.Seconds())
	e.raw(`,"total_s":`)
	e.num(m.info.Total.Seconds())
	e.raw(`}`)
	h.emit(chSteering, t, e.b, true)
}

func (h *Hub) state(m *stateMsg) {
	t := h.wall(m.at)
	e := &h.e
	e.stamp(t)
	e.raw(`,"from":`)
	e.str(m.from.String())
	e.raw(`,"to":`)
	e.str(m.to.String())
	e.raw(`,"why":`)
	e.str(m.why)
	e.raw(`}`)
	h.emit(chState, t, e.b, true)
}

func (h *Hub) log(m *logMsg) {
	e := &h.e
	e.stamp(m.t)
	lvl := uint64(2)
	switch {
	case m.level >= slog.LevelError:
		lvl = 4
	case m.level >= slog.LevelWarn:
		lvl = 3
	case m.level < slog.LevelInfo:
		lvl = 1
	}
	e.raw(`,"level":`)
	e.uint(lvl)
	e.raw(`,"message":`)
	e.str(m.msg)
	e.raw(`,"name":"robotd","file":"","line":0}`)
	h.emit(chLog, m.t, e.b, true)
}

// cameras polls the cameras for new frames (every 5 ms) and sends each new one, at most
// CameraRate per second per camera, as JPEG.
func (h *Hub) cameras(ctx context.Context) {
	type cam struct {
		l       *perception.Latest
		f       perception.Frame
		seq     uint64
		last    time.Duration
		rgba    *image.RGBA
		buf     bytes.Buffer
		e       enc
		started bool
	}
	cams := make([]*cam, len(h.cfg.Cameras))
	for i, l := range h.cfg.Cameras {
		cams[i] = &cam{l: l}
	}
	minGap := time.Duration(float64(time.Second) / h.cfg.CameraRate)
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		now := time.Duration(h.lastT.Load())
		for i, c := range cams {
			if err := c.l.Get(now, &c.f); err != nil || c.f.Seq == c.seq {
				continue
			}
			c.seq = c.f.Seq
			if !h.wants(h.camCh[i]) {
				continue
			}
			// 10% slack: frames stamped on a 1 ms control clock come 33 or 34 ms apart at 30 Hz.
			if c.started && c.f.Time-c.last < minGap*9/10 && c.f.Time >= c.last {
				continue
			}
			c.started, c.last = true, c.f.Time
			t0 := time.Now()
			if err := encodeJPEG(&c.buf, &c.f, &c.rgba, h.cfg.JPEGQuality); err != nil {
				h.dropped[qCamera].Inc()
				continue
			}
			dt := time.Since(t0)
			h.jpegH.Observe(dt.Seconds())
			h.encodeTime.Add(int64(dt))
			h.encoded.Add(1)
			t := h.wall(c.f.Time)
			c.e.stamp(t)
			c.e.raw(`,"frame_id":`)
			c.e.str(c.l.Name())
			c.e.raw(`,"format":"jpeg","data":`)
			c.e.base64(c.buf.Bytes())
			c.e.raw(`}`)
			h.emitSince(int(h.camCh[i].ID-1), t, c.e.b, true, c.f.Time)
		}
	}
}

// wants reports whether the log or a live sink wants ch's messages now.
func (h *Hub) wants(ch *Channel) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lg != nil && h.logErr == nil {
		return true
	}
	return h.liveWants(ch)
}

// encodeJPEG compresses an rgb8, bgr8 or mono8 frame into buf, reusing *rgba.
func encodeJPEG(buf *bytes.Buffer, f *perception.Frame, rgba **image.RGBA, quality int) error {
	buf.Reset()
	opts := &jpeg.Options{Quality: quality}
	if f.Format == perception.Mono8 {
		g := &image.Gray{Pix: f.Data, Stride: f.Width, Rect: image.Rect(0, 0, f.Width, f.Height)}
		return jpeg.Encode(buf, g, opts)
	}
	if f.Format != perception.RGB8 && f.Format != perception.BGR8 {
		return fmt.Errorf("viz: camera %s: %s frames are not sent as JPEG", f.Camera, f.Format)
	}
	im := *rgba
	if im == nil || im.Rect.Dx() != f.Width || im.Rect.Dy() != f.Height {
		im = image.NewRGBA(image.Rect(0, 0, f.Width, f.Height))
		*rgba = im
	}
	r, b := 0, 2
	if f.Format == perception.BGR8 {
		r, b = 2, 0
	}
	src, dst := f.Data, im.Pix
	for i, j := 0, 0; i+2 < len(src); i, j = i+3, j+4 {
		dst[j], dst[j+1], dst[j+2], dst[j+3] = src[i+r], src[i+1], src[i+b], 255
	}
	return jpeg.Encode(buf, im, opts)
}

// LogHandler returns a slog.Handler that passes every record to next and also sends its
// message (with its attributes as key=value) on /robotd/log, dropping (and counting) when
// the queue is full.
func (h *Hub) LogHandler(next slog.Handler) slog.Handler { return &logHandler{h: h, next: next} }

type logHandler struct {
	h     *Hub
	next  slog.Handler
	attrs string
}

func (l *logHandler) Enabled(ctx context.Context, lvl slog.Level) bool {
	return l.next.Enabled(ctx, lvl)
}

func (l *logHandler) Handle(ctx context.Context, r slog.Record) error {
	msg := r.Message + l.attrs
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.String()
		return true
	})
	// Stamped on the control clock as the other channels are (in lockstep it runs ahead of
	// the wall clock): at the newest tick, or at the record's time before the first.
	t := r.Time
	if l.h.ticked.Load() {
		t = l.h.wall(time.Duration(l.h.lastT.Load()))
	} else if t.IsZero() {
		t = time.Now()
	}
	select {
	case l.h.logs <- logMsg{t: t, level: r.Level, msg: msg}:
	default:
		l.h.dropped[qLog].Inc()
	}
	return l.next.Handle(ctx, r)
}

func (l *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	s := l.attrs
	for _, a := range attrs {
		s += " " + a.String()
	}
	return &logHandler{h: l.h, next: l.next.WithAttrs(attrs), attrs: s}
}

func (l *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{h: l.h, next: l.next.WithGroup(name), attrs: l.attrs}
}
