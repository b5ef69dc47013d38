package ros

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/geometry_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/clock"
)

// The pick-and-place task over ROS, as a workcell's task manager serves it next to the
// robot (docs/task.md, "The task over ROS"). Every topic lives under a namespace
// (TaskServerConfig.Namespace, default /task) and uses std_msgs / geometry_msgs only, so
// rostopic, rosbag and a rospy evaluator need no message package of robotd's:
//
//   - <ns>/reset (std_msgs/Int64, subscribed by the server): reset the scene to the start
//     of that seed. The server applies it between two simulation steps and acknowledges it
//     with a status whose seed is the requested one and whose episode count went up. A
//     client re-sends until acknowledged (the first message on a new publisher is lost
//     when the server has not connected to it yet), so a reset to the seed that is running,
//     arriving within TaskDuplicateWindow of its reset, is a repeat and is ignored.
//   - <ns>/status (std_msgs/Float64MultiArray, published): TaskStatusLayout, one value
//     each: seed, episode (resets so far), reward (1 while the task's instant success
//     holds, else 0), success (1 once the episode succeeded), done (1 once it ended: success
//     held for the task's hold time, or its timeout), elapsed_s (simulation time since the
//     reset), time_to_success_s (0 until success), stamp_s (ROS time of the state, Unix
//     seconds). At the server's rate (50 Hz by default), at once after each reset and at
//     once when the episode ends. layout.dim[0].label names the values.
//   - <ns>/debug/cube_pose (geometry_msgs/PoseStamped, frame "world" = the robot's base
//     frame): the cube's true pose, for people and evaluators. A policy never reads it.
//   - <ns>/debug/score (std_msgs/Float64MultiArray, TaskScoreLayout): episode, done,
//     lift_m (the cube's bottom above the table), max_lift_m and place_error_m (horizontal
//     distance from the cube's centre to the zone's centre): the evaluator's diagnostics,
//     derived from the true pose, so debug too.

// TaskStatusLayout and TaskScoreLayout name the values of the status and score arrays, in
// order (their layout.dim[0].label).
const (
	TaskStatusLayout = "seed,episode,reward,success,done,elapsed_s,time_to_success_s,stamp_s"
	TaskScoreLayout  = "episode,done,lift_m,max_lift_m,place_error_m"
)

// TaskDuplicateWindow is how long after a reset a second reset to the same seed is taken
// as a re-sent copy of the first and ignored.
const TaskDuplicateWindow = 3 * time.Second

// taskResendAfter is how long TaskClient.Reset waits for the acknowledgement before it
// sends the reset again.
const taskResendAfter = time.Second

// TaskStatus is one <ns>/status message.
type TaskStatus struct {
	Seed          int64
	Episode       uint64 // resets the server has applied (the first episode is 1)
	Reward        float64
	Success, Done bool
	Elapsed       time.Duration // simulation time since the episode's reset
	TimeToSuccess time.Duration // from the reset to the start of the success that held (valid when Success)
	Stamp         time.Time     // ROS time of the state the status describes
}

// TaskScore is one <ns>/debug/score message.
type TaskScore struct {
	Episode                   uint64
	Done                      bool
	Lift, MaxLift, PlaceError float64 // m
}

func statusValues(s TaskStatus) []float64 {
	return []float64{float64(s.Seed), float64(s.Episode), s.Reward, b2f(s.Success), b2f(s.Done),
		s.Elapsed.Seconds(), s.TimeToSuccess.Seconds(), float64(s.Stamp.UnixNano()) / 1e9}
}

func parseStatus(v []float64) (TaskStatus, error) {
	if len(v) != strings.Count(TaskStatusLayout, ",")+1 {
		return TaskStatus{}, fmt.Errorf("%d values, want %d (%s)", len(v), strings.Count(TaskStatusLayout, ",")+1, TaskStatusLayout)
	}
	for _, x := range v {
		if !finite(x) {
			return TaskStatus{}, errors.New("non-finite value")
		}
	}
	sec := func(x float64) time.Duration { return time.Duration(math.Round(x * 1e9)) }
	return TaskStatus{Seed: int64(v[0]), Episode: uint64(v[1]), Reward: v[2], Success: v[3] != 0, Done: v[4] != 0,
		Elapsed: sec(v[5]), TimeToSuccess: sec(v[6]), Stamp: time.Unix(0, int64(math.Round(v[7]*1e9)))}, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func layoutMsg(label string, data []float64) *std_msgs.Float64MultiArray {
	return &std_msgs.Float64MultiArray{
		Layout: std_msgs.MultiArrayLayout{Dim: []std_msgs.MultiArrayDimension{{Label: label, Size: uint32(len(data)), Stride: uint32(len(data))}}},
		Data:   data,
	}
}

// taskNamespace normalises a namespace ("" is /task).
func taskNamespace(ns string) string {
	if ns == "" {
		ns = "/task"
	}
	return "/" + strings.Trim(ns, "/")
}

// TaskServerConfig configures a TaskServer. Zero fields take the documented defaults.
type TaskServerConfig struct {
	// MasterAddress is the ROS master. Default as ArmConfig's.
	MasterAddress string
	// Node is the server's node name. Default "robotd_sim_task".
	Node string
	// Namespace holds the task's topics. Default "/task".
	Namespace string
	// FrameID is the cube pose's frame. Default "world".
	FrameID string
	// Backoff as in ArmConfig.
	Backoff time.Duration
	// MasterCheck as in ArmConfig (default 250 ms; negative: none).
	MasterCheck time.Duration
	// Logger receives the reset log lines. Default slog.Default().
	Logger *slog.Logger
	// Clock as in ArmConfig: the duplicate window, the backoff and the master checks.
	// Default clock.Real.
	Clock clock.Clock
}

// WithDefaults returns the config with its zero fields filled.
func (c TaskServerConfig) WithDefaults() TaskServerConfig {
	a := ArmConfig{MasterAddress: c.MasterAddress, Backoff: c.Backoff, MasterCheck: c.MasterCheck, Clock: c.Clock}.WithDefaults()
	c.MasterAddress, c.Backoff, c.MasterCheck, c.Clock = a.MasterAddress, a.Backoff, a.MasterCheck, a.Clock
	if c.Node == "" {
		c.Node = "robotd_sim_task"
	}
	c.Namespace = taskNamespace(c.Namespace)
	if c.FrameID == "" {
		c.FrameID = "world"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// TaskServerStats counts reset requests.
type TaskServerStats struct {
	Requests   uint64 // reset messages received
	Duplicates uint64 // ignored as re-sent copies (TaskDuplicateWindow)
}

// TaskServer serves a task's topics (see the package's task convention above) for the
// goroutine that steps the simulation: TakeReset hands it the pending reset request, and
// Publish hands the state to publish to the server's own goroutine, which writes the
// messages (goroslib's Write may block; the stepping goroutine never waits for it).
type TaskServer struct {
	cfg   TaskServerConfig
	node  *goroslib.Node
	sub   *goroslib.Subscriber
	pubs  [3]*goroslib.Publisher // status, cube pose, score
	watch *masterWatch

	mu        sync.Mutex
	pending   bool // a reset request waits for TakeReset
	seed      int64
	lastSeed  int64         // the seed of the last reset taken
	lastReset time.Duration // when the last reset was taken, on the config's Clock
	resetOnce bool          // a reset was taken (lastReset is set)
	requests  atomic.Uint64
	dups      atomic.Uint64

	out     taskOut // guarded by mu: the newest state to publish
	fresh   bool
	wake    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	poseSeq uint32
}

type taskOut struct {
	status TaskStatus
	score  TaskScore
	pos    mgl64.Vec3
	rot    mgl64.Quat
}

// NewTaskServer connects to the master (retrying until ctx ends), subscribes the reset
// topic and advertises the others.
func NewTaskServer(ctx context.Context, cfg TaskServerConfig) (*TaskServer, error) {
	cfg = cfg.WithDefaults()
	node, err := connect(ctx, cfg.Clock, cfg.MasterAddress, cfg.Node, cfg.Backoff)
	if err != nil {
		return nil, err
	}
	s := &TaskServer{cfg: cfg, node: node, wake: make(chan struct{}, 1), done: make(chan struct{})}
	fail := func(err error) (*TaskServer, error) { s.closeGraph(); return nil, err }
	ns := cfg.Namespace
	if s.sub, err = goroslib.NewSubscriber(goroslib.SubscriberConf{Node: node, Topic: ns + "/reset", Callback: s.onReset}); err != nil {
		return fail(fmt.Errorf("ros: task: subscribe %s/reset: %w", ns, err))
	}
	for i, t := range []struct {
		topic string
		msg   any
	}{{ns + "/status", &std_msgs.Float64MultiArray{}}, {ns + "/debug/cube_pose", &geometry_msgs.PoseStamped{}}, {ns + "/debug/score", &std_msgs.Float64MultiArray{}}} {
		if s.pubs[i], err = goroslib.NewPublisher(goroslib.PublisherConf{Node: node, Topic: t.topic, Msg: t.msg}); err != nil {
			return fail(fmt.Errorf("ros: task: advertise %s: %w", t.topic, err))
		}
	}
	if s.watch, err = watchMaster(node, cfg.Clock, cfg.MasterAddress, cfg.Node, cfg.MasterCheck, cfg.Logger); err != nil {
		return fail(err)
	}
	var pctx context.Context
	pctx, s.cancel = context.WithCancel(context.Background())
	go s.run(pctx)
	return s, nil
}

func (s *TaskServer) onReset(m *std_msgs.Int64) {
	s.requests.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resetOnce && m.Data == s.lastSeed && s.cfg.Clock.Since(s.lastReset) < TaskDuplicateWindow {
		s.dups.Add(1)
		return
	}
	s.pending, s.seed = true, m.Data
}

// TakeReset returns the reset request waiting, if any (the newest one when several came
// since the last call). The caller resets the scene and Publishes its first status.
func (s *TaskServer) TakeReset() (seed int64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.pending {
		return 0, false
	}
	s.pending = false
	s.lastSeed, s.lastReset, s.resetOnce = s.seed, s.cfg.Clock.Now(), true
	return s.seed, true
}

// Publish hands the task's state to the publisher goroutine (the newest replaces one not
// yet sent). It never blocks on the network.
func (s *TaskServer) Publish(st TaskStatus, sc TaskScore, cubePos mgl64.Vec3, cubeRot mgl64.Quat) {
	s.mu.Lock()
	s.out = taskOut{status: st, score: sc, pos: cubePos, rot: cubeRot}
	s.fresh = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *TaskServer) run(ctx context.Context) {
	defer close(s.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		s.mu.Lock()
		o, fresh := s.out, s.fresh
		s.fresh = false
		s.mu.Unlock()
		if !fresh {
			continue
		}
		s.pubs[0].Write(layoutMsg(TaskStatusLayout, statusValues(o.status)))
		s.poseSeq++
		s.pubs[1].Write(poseMessage(s.poseSeq, o.status.Stamp, s.cfg.FrameID, o.pos, o.rot))
		sc := o.score
		s.pubs[2].Write(layoutMsg(TaskScoreLayout, []float64{float64(sc.Episode), b2f(sc.Done), sc.Lift, sc.MaxLift, sc.PlaceError}))
	}
}

// Stats returns the reset counters.
func (s *TaskServer) Stats() TaskServerStats {
	return TaskServerStats{Requests: s.requests.Load(), Duplicates: s.dups.Load()}
}

// Close stops the publisher goroutine and leaves the ROS graph.
func (s *TaskServer) Close() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
	s.closeGraph()
}

func (s *TaskServer) closeGraph() {
	s.watch.stop()
	if s.sub != nil {
		s.sub.Close()
	}
	for _, p := range s.pubs {
		if p != nil {
			p.Close()
		}
	}
	closeNode(s.node)
}

// TaskClientConfig configures a TaskClient. Zero fields take the documented defaults.
type TaskClientConfig struct {
	// MasterAddress is the ROS master. Default as ArmConfig's.
	MasterAddress string
	// Node is the client's node name. Default "robotd_task_client".
	Node string
	// Namespace holds the task's topics. Default "/task".
	Namespace string
	// Backoff as in ArmConfig.
	Backoff time.Duration
	// MasterCheck as in ArmConfig (default 250 ms; negative: none).
	MasterCheck time.Duration
	// Logger receives the once-only reports of malformed messages. Default slog.Default().
	Logger *slog.Logger
	// Clock as in ArmConfig: the statuses' receipt times, the backoff and the master
	// checks. Default clock.Real.
	Clock clock.Clock
}

// TaskClient drives a task served over ROS (TaskServer's convention, or any workcell that
// follows it): it resets the task to a seed and reads its status. Status is safe for a
// control loop: it neither blocks nor allocates.
type TaskClient struct {
	cfg   TaskClientConfig
	node  *goroslib.Node
	pub   *goroslib.Publisher
	subs  [2]*goroslib.Subscriber
	watch *masterWatch

	status   atomic.Pointer[taskStatusRecv]
	score    atomic.Pointer[TaskScore]
	got      chan struct{} // a status arrived (capacity 1)
	rejected atomic.Uint64
	warned   atomic.Bool
}

type taskStatusRecv struct {
	TaskStatus
	recv time.Duration // on the config's Clock
}

// DialTask connects to the master (retrying until ctx ends), subscribes the status and
// score topics and advertises the reset topic. It does not wait for the server: Reset
// and WaitStatus do.
func DialTask(ctx context.Context, cfg TaskClientConfig) (*TaskClient, error) {
	a := ArmConfig{MasterAddress: cfg.MasterAddress, Backoff: cfg.Backoff, MasterCheck: cfg.MasterCheck, Clock: cfg.Clock}.WithDefaults()
	cfg.MasterAddress, cfg.Backoff, cfg.MasterCheck, cfg.Clock = a.MasterAddress, a.Backoff, a.MasterCheck, a.Clock
	if cfg.Node == "" {
		cfg.Node = "robotd_task_client"
	}
	cfg.Namespace = taskNamespace(cfg.Namespace)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	node, err := connect(ctx, cfg.Clock, cfg.MasterAddress, cfg.Node, cfg.Backoff)
	if err != nil {
		return nil, err
	}
	c := &TaskClient{cfg: cfg, node: node, got: make(chan struct{}, 1)}
	ns := cfg.Namespace
	fail := func(err error) (*TaskClient, error) { c.Close(); return nil, err }
	if c.pub, err = goroslib.NewPublisher(goroslib.PublisherConf{Node: node, Topic: ns + "/reset", Msg: &std_msgs.Int64{}}); err != nil {
		return fail(fmt.Errorf("ros: task: advertise %s/reset: %w", ns, err))
	}
	if c.subs[0], err = goroslib.NewSubscriber(goroslib.SubscriberConf{Node: node, Topic: ns + "/status", Callback: c.onStatus}); err != nil {
		return fail(fmt.Errorf("ros: task: subscribe %s/status: %w", ns, err))
	}
	if c.subs[1], err = goroslib.NewSubscriber(goroslib.SubscriberConf{Node: node, Topic: ns + "/debug/score", Callback: c.onScore}); err != nil {
		return fail(fmt.Errorf("ros: task: subscribe %s/debug/score: %w", ns, err))
	}
	if c.watch, err = watchMaster(node, cfg.Clock, cfg.MasterAddress, cfg.Node, cfg.MasterCheck, cfg.Logger); err != nil {
		return fail(err)
	}
	return c, nil
}

func (c *TaskClient) malformed(topic string, err error) {
	c.rejected.Add(1)
	if !c.warned.Swap(true) {
		c.cfg.Logger.Warn("ros: task: dropping malformed messages (logged once)", "topic", c.cfg.Namespace+topic, "err", err)
	}
}

func (c *TaskClient) onStatus(m *std_msgs.Float64MultiArray) {
	st, err := parseStatus(m.Data)
	if err != nil {
		c.malformed("/status", err)
		return
	}
	c.status.Store(&taskStatusRecv{TaskStatus: st, recv: c.cfg.Clock.Now()})
	select {
	case c.got <- struct{}{}:
	default:
	}
}

func (c *TaskClient) onScore(m *std_msgs.Float64MultiArray) {
	v := m.Data
	if len(v) != strings.Count(TaskScoreLayout, ",")+1 {
		c.malformed("/debug/score", fmt.Errorf("%d values, want %d (%s)", len(v), strings.Count(TaskScoreLayout, ",")+1, TaskScoreLayout))
		return
	}
	c.score.Store(&TaskScore{Episode: uint64(v[0]), Done: v[1] != 0, Lift: v[2], MaxLift: v[3], PlaceError: v[4]})
}

// Status returns the newest status and when it arrived, on TaskClientConfig.Clock (ok
// false before any). It neither blocks nor allocates.
func (c *TaskClient) Status() (st TaskStatus, recv time.Duration, ok bool) {
	p := c.status.Load()
	if p == nil {
		return TaskStatus{}, 0, false
	}
	return p.TaskStatus, p.recv, true
}

// Score returns the newest debug score (ok false before any).
func (c *TaskClient) Score() (TaskScore, bool) {
	p := c.score.Load()
	if p == nil {
		return TaskScore{}, false
	}
	return *p, true
}

// Rejected counts malformed status and score messages.
func (c *TaskClient) Rejected() uint64 { return c.rejected.Load() }

// WaitStatus waits until a status satisfying ok arrives (or is the newest already).
func (c *TaskClient) WaitStatus(ctx context.Context, ok func(TaskStatus) bool) (TaskStatus, error) {
	for {
		if st, _, have := c.Status(); have && ok(st) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return TaskStatus{}, ctx.Err()
		case <-c.got:
		}
	}
}

// Reset resets the task to seed and returns the acknowledging status (the new episode's
// first): it sends the request, and again every second until a status with this seed and
// a higher episode count than before arrives, or ctx ends. A task that published no status
// yet is waited for first.
func (c *TaskClient) Reset(ctx context.Context, seed int64) (TaskStatus, error) {
	before, err := c.WaitStatus(ctx, func(TaskStatus) bool { return true })
	if err != nil {
		return TaskStatus{}, fmt.Errorf("ros: task: no status on %s/status: %w", c.cfg.Namespace, err)
	}
	for {
		c.pub.Write(&std_msgs.Int64{Data: seed})
		wctx, cancel := context.WithTimeout(ctx, taskResendAfter)
		st, err := c.WaitStatus(wctx, func(st TaskStatus) bool { return st.Episode > before.Episode && st.Seed == seed })
		cancel()
		if err == nil {
			return st, nil
		}
		if ctx.Err() != nil {
			return TaskStatus{}, fmt.Errorf("ros: task: reset to seed %d not acknowledged on %s/status: %w", seed, c.cfg.Namespace, ctx.Err())
		}
	}
}

// Close leaves the ROS graph.
func (c *TaskClient) Close() {
	c.watch.stop()
	for _, s := range c.subs {
		if s != nil {
			s.Close()
		}
	}
	if c.pub != nil {
		c.pub.Close()
	}
	closeNode(c.node)
}
