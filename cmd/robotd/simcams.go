package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/telemetry"
)

// mirrorRenderer renders the embedded simulator's cameras off the control loop (realtime
// mode): a second Sim of the same model mirrors the stepping Sim's positions whenever a
// frame is due, and its own goroutine renders from the mirror. The control loop only copies
// qpos (a few hundred bytes) and never waits for OSMesa, whose renders take milliseconds.
// In lockstep mode robotd renders in the stepping goroutine instead, which is
// reproducible.
type mirrorRenderer struct {
	src, mirror *mujoco.Sim
	cams        []*simCamera
	// render, when set, replaces stepping the cameras' Latest: it renders from the mirror
	// (robotd sim publishes over ROS this way).
	render func() error

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

func newMirrorRenderer(src, mirror *mujoco.Sim, cams []*simCamera) *mirrorRenderer {
	return &mirrorRenderer{src: src, mirror: mirror, cams: cams, qpos: make([]float64, src.NQ()),
		due: make([]bool, len(cams)), ready: make(chan struct{}, 1)}
}

// offer is called by the stepping goroutine after each step: when a camera is due it
// snapshots the state and wakes the render goroutine (never blocking; a render still
// running means the snapshot replaces the one not yet taken).
func (m *mirrorRenderer) offer(now time.Duration) {
	any := false
	for _, c := range m.cams {
		any = any || now >= c.next
	}
	if !any {
		return
	}
	m.mu.Lock()
	for i, c := range m.cams {
		if c.due(now) {
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

// run renders snapshots until ctx ends.
func (m *mirrorRenderer) run(ctx context.Context) {
	due := make([]bool, len(m.cams))
	for {
		select {
		case <-m.ready:
		case <-ctx.Done():
			return
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
		if m.render != nil {
			_ = m.render() // publishing failures are counted by the publisher
		} else {
			for i, c := range m.cams {
				if due[i] {
					_ = c.latest.Step(ctx) // read errors are counted by Latest
				}
			}
		}
		m.took.Record(time.Since(t0))
		m.renders.Add(1)
	}
}

// report is the render goroutine's figures for robotd sim's exit lines.
func (m *mirrorRenderer) report() string {
	return fmt.Sprintf("%d render passes; wait for the render goroutine %s; render %s", m.renders.Load(), m.waited.Snapshot(), m.took.Snapshot())
}
