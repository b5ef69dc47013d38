package mujoco

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/telemetry"
)

// Feed is a camera of the embedded simulator on a schedule: a frame is rendered when its
// period has passed in simulated time.
type Feed struct {
	Latest *perception.Latest // where rendered frames go (nil: the Mirror's Render does the work)
	Every  time.Duration      // the period between frames, in simulated time
	next   time.Duration
}

// Due reports whether a frame is due at simulated time now and, if so, schedules the
// next one (no burst of frames after falling behind).
func (c *Feed) Due(now time.Duration) bool {
	if now < c.next {
		return false
	}
	c.next += c.Every
	if c.next <= now {
		c.next = now + c.Every
	}
	return true
}

// Restart makes a frame due at simulated time now (a new episode: its first frame shows
// the new scene, whatever the schedule of the episode before).
func (c *Feed) Restart(now time.Duration) { c.next = now }

// Stepper advances the arm by one period and renders the feeds that are due, in the
// calling goroutine (lockstep: reproducible). ctx is handed to the cameras' reads.
func Stepper(ctx context.Context, arm *Arm, feeds []*Feed) func(time.Duration) error {
	return func(d time.Duration) error {
		if _, err := arm.Tick(d); err != nil {
			return err
		}
		now := arm.Now()
		for _, c := range feeds {
			if c.Due(now) {
				if err := c.Latest.Step(ctx); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// Mirror renders the embedded simulator's cameras off the stepping goroutine (realtime
// mode): a second Sim of the same model mirrors the stepping Sim's positions whenever a
// frame is due, and Run's goroutine renders from the mirror. The stepping goroutine only
// copies qpos (a few hundred bytes) and never waits for OSMesa, whose renders take
// milliseconds. In lockstep mode render in the stepping goroutine instead (Stepper),
// which is reproducible.
type Mirror struct {
	src, mirror *Sim
	feeds       []*Feed
	// Render, when set, replaces stepping the feeds' Latest: it renders from the mirror
	// (robotd sim publishes over ROS this way). Its errors are the caller's to count.
	Render func() error

	mu    sync.Mutex
	qpos  []float64 // guarded by mu: the state to render
	t     float64
	at    time.Time // when the snapshot was taken
	due   []bool
	ready chan struct{} // a snapshot is waiting (capacity 1)

	// The render goroutine's figures: from a snapshot to the start of its render (the
	// wait for a core), and the render itself.
	waited, took telemetry.Quantiles
	renders      atomic.Uint64
}

// NewMirror renders feeds from mirror, a second Sim of src's model.
func NewMirror(src, mirror *Sim, feeds []*Feed) *Mirror {
	return &Mirror{src: src, mirror: mirror, feeds: feeds, qpos: make([]float64, src.NQ()),
		due: make([]bool, len(feeds)), ready: make(chan struct{}, 1)}
}

// Offer is called by the stepping goroutine after each step: when a feed is due it
// snapshots the state and wakes the render goroutine (never blocking; a render still
// running means the snapshot replaces the one not yet taken).
func (m *Mirror) Offer(now time.Duration) {
	any := false
	for _, c := range m.feeds {
		any = any || now >= c.next
	}
	if !any {
		return
	}
	m.mu.Lock()
	for i, c := range m.feeds {
		if c.Due(now) {
			m.due[i] = true
		}
	}
	copy(m.qpos, m.src.Qpos())
	m.t = m.src.Time()
	m.at = time.Now()
	m.mu.Unlock()
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

// Run renders snapshots until ctx ends; it returns nil then. Render and read failures
// are counted where they happen (the publisher, perception.Latest), not returned: a
// dropped frame is the camera watchdog's business.
func (m *Mirror) Run(ctx context.Context) error {
	due := make([]bool, len(m.feeds))
	for {
		select {
		case <-m.ready:
		case <-ctx.Done():
			return nil
		}
		m.mu.Lock()
		copy(m.mirror.Qpos(), m.qpos)
		m.mirror.SetTime(m.t)
		copy(due, m.due)
		clear(m.due)
		at := m.at
		m.mu.Unlock()
		t0 := time.Now()
		m.waited.Record(t0.Sub(at))
		if m.mirror.Kinematics() != nil {
			continue
		}
		if m.Render != nil {
			_ = m.Render()
		} else {
			for i, c := range m.feeds {
				if due[i] {
					_ = c.Latest.Step(ctx)
				}
			}
		}
		m.took.Record(time.Since(t0))
		m.renders.Add(1)
	}
}

// Report is the render goroutine's figures, for exit lines.
func (m *Mirror) Report() string {
	return fmt.Sprintf("%d render passes; wait for the render goroutine %s; render %s", m.renders.Load(), m.waited.Snapshot(), m.took.Snapshot())
}
