package viz

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-gl/mathgl/mgl64"
	"go.uber.org/goleak"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/policy/chunk"
	"github.com/robotd/robotd/policy/steer"
)

// memSink keeps every message it is given, decoded.
type memSink struct {
	mu   sync.Mutex
	msgs map[string][]map[string]any
}

func (m *memSink) Write(ch *Channel, t time.Time, data []byte) error {
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.msgs == nil {
		m.msgs = map[string][]map[string]any{}
	}
	m.msgs[ch.Topic] = append(m.msgs[ch.Topic], v)
	return nil
}

func (m *memSink) get(topic string) []map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.msgs[topic]
}

// TestHub feeds a hub what a run's loops report and reads back what the log and a live
// sink got: every tick on the log and 1 in 20 live (1 kHz ticks, 50 Hz live rate), the
// joint states' names and values, NaN as null, no gripper messages without a gripper, a
// safety message only when a counter grew (at most at the live rate), a watchdog message
// at each trip, the plan's poses, the steering record, the transition and a log record
// through LogHandler.
func TestHub(t *testing.T) {
	defer goleak.VerifyNone(t)
	names := []string{"a", "b"}
	h, err := New(Config{Joints: names, Start: time.Unix(100, 0)})
	if err != nil {
		t.Fatal(err)
	}
	lg, live := &memSink{}, &memSink{}
	h.SetLog(lg)
	h.AddLive(live)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()

	rec := &daemon.TickRecord{Q: []float64{1, 2}, DQ: []float64{0, math.NaN()}, Tau: []float64{3, 4}, Gripper: math.NaN(), GripperCommand: math.NaN()}
	rec.Tool.Rot, rec.Target.Rot = mgl64.QuatIdent(), mgl64.QuatIdent()
	h.Transition(0, daemon.Idle, daemon.Homing, "start")
	for i := range 200 {
		rec.T = time.Duration(i) * time.Millisecond
		if i == 50 || i == 51 { // two interventions in a row: one message at most per live period
			rec.Safety.TorqueClamped++
		}
		if i == 120 {
			rec.Watchdogs[1]++
		}
		h.Tick(rec)
	}
	c := chunk.Chunk{T0: 0, Dt: 10 * time.Millisecond, Dim: 3, Actions: make([]float64, 9)}
	h.Plan(150*time.Millisecond, &c, []mgl64.Vec3{{0.1, 0, 0.2}, {0.2, 0, 0.2}, {0.3, 0, 0.2}})
	h.Steer(160*time.Millisecond, &steer.StepInfo{N: 8, Valid: 7, Chosen: 3, Spread: 0.5, Infer: 12 * time.Millisecond})
	slog.New(h.LogHandler(slog.NewTextHandler(&strings.Builder{}, nil))).With("arm", "sim").Warn("policy paused", "why", "stale")
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := h.Sync(sctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	js := lg.get(TopicJointStates)
	if len(js) != 200 || len(live.get(TopicJointStates)) != 10 {
		t.Errorf("joint states: %d logged, %d live; want 200 and 10 (50 Hz of 1 kHz)", len(js), len(live.get(TopicJointStates)))
	}
	if got, _ := json.Marshal(js[0]); !strings.Contains(string(got), `"name":["a","b"]`) || !strings.Contains(string(got), `"velocity":[0,null]`) ||
		!strings.Contains(string(got), `"effort":[3,4]`) || !strings.Contains(string(got), `"timestamp":{"nsec":0,"sec":100}`) {
		t.Errorf("joint state %s", got)
	}
	if n := len(lg.get(TopicGripper)); n != 0 {
		t.Errorf("%d gripper messages without a gripper", n)
	}
	if s := lg.get(TopicSafety); len(s) != 1 || s[0]["torque_clamped"] != 2.0 {
		t.Errorf("safety messages %v, want one with torque_clamped 2", s)
	}
	if w := lg.get(TopicWatchdog); len(w) != 1 || w[0]["camera_stale"] != 1.0 {
		t.Errorf("watchdog messages %v", w)
	}
	if p := lg.get(TopicPlan); len(p) != 1 || len(p[0]["poses"].([]any)) != 3 || p[0]["frame_id"] != BaseFrame {
		t.Errorf("plan messages %v", p)
	}
	if s := lg.get(TopicSteering); len(s) != 1 || s[0]["chosen"] != 3.0 || s[0]["infer_s"] != 0.012 {
		t.Errorf("steering messages %v", s)
	}
	if s := lg.get(TopicState); len(s) != 1 || s[0]["to"] != "homing" || s[0]["why"] != "start" {
		t.Errorf("state messages %v", s)
	}
	if l := lg.get(TopicLog); len(l) != 1 || l[0]["level"] != 3.0 || l[0]["message"] != "policy paused arm=sim why=stale" {
		t.Errorf("log messages %v", l)
	}
	if c := h.Counts(); c[TopicJointStates] != 200 || c[TopicPlan] != 1 {
		t.Errorf("counts %v", c)
	}
}

// TestHubDrops: with nothing draining it, a hub that logs takes QueueLen ticks and
// drops (and counts) the rest, and the same for plans beyond their 8 buffers.
func TestHubDrops(t *testing.T) {
	h, err := New(Config{Joints: []string{"a"}, QueueLen: 16})
	if err != nil {
		t.Fatal(err)
	}
	h.SetLog(&memSink{})
	rec := &daemon.TickRecord{Q: []float64{0}, DQ: []float64{0}, Tau: []float64{0}}
	for range 100 {
		h.Tick(rec)
	}
	c := chunk.Chunk{Dim: 1, Actions: []float64{0}}
	for range 10 {
		h.Plan(0, &c, nil)
	}
	if d := h.Dropped(); d["tick"] != 84 || d["plan"] != 2 {
		t.Errorf("dropped %v, want 84 ticks and 2 plans", d)
	}
	if !strings.Contains(h.Summary(), "86 records dropped") {
		t.Errorf("summary %q", h.Summary())
	}
}

// wanter is a live sink that wants the per-tick channels only when want is set (the
// event channels always), as the operator page while polled or not.
type wanter struct {
	memSink
	want bool
}

func (w *wanter) Wants(ch *Channel) bool { return w.want || !ch.Live }

// TestHubIdle: a hub that nobody watches or records queues no tick (its encoder never
// wakes) except those that change the watchdog counters; once a live sink wants the
// per-tick channels it queues one tick per live period, and with a log every tick.
func TestHubIdle(t *testing.T) {
	h, err := New(Config{Joints: []string{"a"}, QueueLen: 2000})
	if err != nil {
		t.Fatal(err)
	}
	live := &wanter{}
	h.AddLive(live)
	rec := &daemon.TickRecord{Q: []float64{0}, DQ: []float64{0}, Tau: []float64{0}}
	at := time.Duration(0)
	ticks := func(n int) int {
		before := len(h.ticks)
		for range n {
			at += time.Millisecond
			rec.T = at
			h.Tick(rec)
		}
		return len(h.ticks) - before
	}
	if n := ticks(1000); n != 0 {
		t.Errorf("unwatched: %d of 1000 ticks queued, want 0", n)
	}
	rec.Watchdogs[0]++
	if n := ticks(1000); n != 1 {
		t.Errorf("unwatched, one watchdog trip: %d of 1000 ticks queued, want 1", n)
	}
	live.want = true
	h.refreshWants() // what Run does every live period
	if n := ticks(1000); n != 50 {
		t.Errorf("watched live: %d of 1000 ticks queued, want 50 (50 Hz)", n)
	}
	h.SetLog(&memSink{})
	if n := ticks(1000); n != 1000 {
		t.Errorf("logged: %d of 1000 ticks queued, want all", n)
	}
	if d := h.Dropped()["tick"]; d != 0 {
		t.Errorf("%d ticks dropped, want 0", d)
	}
}

// TestHubWait: with Wait, a full queue makes Tick wait for the encoder and nothing is
// dropped; once Run has returned (the system stopping while the daemon still ramps
// down), Tick no longer waits: it drops and counts.
func TestHubWait(t *testing.T) {
	defer goleak.VerifyNone(t)
	h, err := New(Config{Joints: []string{"a"}, QueueLen: 4, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	lg := &memSink{}
	h.SetLog(lg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()
	rec := &daemon.TickRecord{Q: []float64{0}, DQ: []float64{0}, Tau: []float64{0}, Gripper: math.NaN(), GripperCommand: math.NaN()}
	for i := range 500 {
		rec.T = time.Duration(i) * time.Millisecond
		h.Tick(rec)
	}
	if err := h.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, d := len(lg.get(TopicJointStates)), h.Dropped()["tick"]; n != 500 || d != 0 {
		t.Errorf("%d logged, %d dropped of 500 with Wait", n, d)
	}
	cancel()
	<-done
	finished := make(chan struct{})
	go func() {
		for range 100 {
			h.Tick(rec)
		}
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("Tick waits for a hub that has stopped")
	}
	if d := h.Dropped()["tick"]; d < 96 {
		t.Errorf("%d of 100 ticks dropped after Run returned, want all but the queue's 4", d)
	}
	if err := h.Sync(context.Background()); err != nil {
		t.Errorf("Sync after Run: %v", err)
	}
}
