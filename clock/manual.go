package clock

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Manual is a Clock that moves only when told to (Advance, Set), for deterministic tests:
// the timers, tickers and sleeps that fall due fire as it moves, in deadline order, and a
// test waits with BlockUntil for the code under test to arm them. Its zero value reads 0
// and is ready to use. It is safe for concurrent use.
//
// A timer fires by a send on a channel of capacity 1 that Advance never waits on: a
// ticker whose receiver has not taken the previous tick drops the new one, as
// time.Ticker does.
type Manual struct {
	now atomic.Int64 // the reading, ns

	mu      sync.Mutex
	pending []*manualTimer // armed timers and tickers (a Sleep is one)
	armed   chan struct{}  // closed when a timer is armed, for BlockUntil (nil: no one waits)
}

// NewManual returns a Manual clock reading t.
func NewManual(t time.Duration) *Manual {
	m := new(Manual)
	m.now.Store(int64(t))
	return m
}

// Now implements Clock.
func (m *Manual) Now() time.Duration { return time.Duration(m.now.Load()) }

// Since implements Clock.
func (m *Manual) Since(t time.Duration) time.Duration { return m.Now() - t }

// Advance moves the clock forward by d (d >= 0, else it panics), fires every timer due by
// the new time and returns it. A ticker fires once however many periods d spans (its
// receiver would have dropped the others) and keeps its phase.
func (m *Manual) Advance(d time.Duration) time.Duration {
	if d < 0 {
		panic("clock: Manual.Advance by a negative duration")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Duration(m.now.Add(int64(d)))
	m.fire(now)
	return now
}

// Set moves the clock to t and fires every timer due by then. Moving it back (t before
// Now) is allowed for tests that script readings; no timer fires then.
func (m *Manual) Set(t time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now.Store(int64(t))
	m.fire(t)
}

// fire sends on every pending timer due at or before now, earliest first (m.mu held).
func (m *Manual) fire(now time.Duration) {
	slices.SortStableFunc(m.pending, func(a, b *manualTimer) int { return cmp.Compare(a.at, b.at) })
	kept := m.pending[:0]
	for _, t := range m.pending {
		if t.at > now {
			kept = append(kept, t)
			continue
		}
		select {
		case t.c <- time.Unix(0, int64(t.at)):
		default:
		}
		if t.period == 0 {
			t.armed = false
			continue
		}
		t.at += (now-t.at)/t.period*t.period + t.period
		kept = append(kept, t)
	}
	clear(m.pending[len(kept):])
	m.pending = kept
}

// BlockUntil waits until at least n timers, tickers and sleeps are armed on the clock, or
// ctx ends (its error is returned): a test calls it before Advance so that the goroutine
// under test is waiting on the clock rather than about to.
func (m *Manual) BlockUntil(ctx context.Context, n int) error {
	for {
		m.mu.Lock()
		if len(m.pending) >= n {
			m.mu.Unlock()
			return nil
		}
		if m.armed == nil {
			m.armed = make(chan struct{})
		}
		w := m.armed
		m.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Armed is the number of timers, tickers and sleeps armed on the clock.
func (m *Manual) Armed() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending)
}

// Sleep implements Clock: it returns once the clock has been advanced by d.
func (m *Manual) Sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	<-m.NewTimer(d).C()
}

// After implements Clock.
func (m *Manual) After(d time.Duration) <-chan time.Time { return m.NewTimer(d).C() }

// NewTimer implements Clock. A timer with d <= 0 fires at once.
func (m *Manual) NewTimer(d time.Duration) Timer {
	t := &manualTimer{m: m, c: make(chan time.Time, 1)}
	t.reset(d, 0)
	return t
}

// NewTicker implements Clock.
func (m *Manual) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	t := &manualTimer{m: m, c: make(chan time.Time, 1)}
	t.reset(d, d)
	return (*manualTicker)(t)
}

// manualTimer is a Manual clock's timer (period 0) or ticker.
type manualTimer struct {
	m      *Manual
	c      chan time.Time
	at     time.Duration // next deadline
	period time.Duration // ticker period; 0 for a timer
	armed  bool          // in m.pending
}

func (t *manualTimer) C() <-chan time.Time { return t.c }

// stop disarms t and drains its channel (m.mu held); it reports whether t was armed.
func (t *manualTimer) stop() bool {
	was := t.armed
	if was {
		t.m.pending = slices.DeleteFunc(t.m.pending, func(p *manualTimer) bool { return p == t })
		t.armed = false
	}
	select {
	case <-t.c:
	default:
	}
	return was
}

func (t *manualTimer) Stop() bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	return t.stop()
}

func (t *manualTimer) Reset(d time.Duration) bool { return t.reset(d, 0) }

// reset rearms t to fire after d, then every period (0: once).
func (t *manualTimer) reset(d, period time.Duration) bool {
	m := t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	was := t.stop()
	t.at, t.period = m.Now()+d, period
	if d <= 0 {
		t.c <- time.Unix(0, int64(m.Now())) // drained by stop: never blocks
		return was
	}
	t.armed = true
	m.pending = append(m.pending, t)
	if m.armed != nil {
		close(m.armed)
		m.armed = nil
	}
	return was
}

// manualTicker is a manualTimer with a period and time.Ticker's method set.
type manualTicker manualTimer

func (t *manualTicker) C() <-chan time.Time { return t.c }

func (t *manualTicker) Stop() { (*manualTimer)(t).Stop() }

func (t *manualTicker) Reset(d time.Duration) {
	if d <= 0 {
		panic("clock: non-positive interval for Ticker.Reset")
	}
	(*manualTimer)(t).reset(d, d)
}
