package clock_test

import (
	"context"
	"testing"
	"time"

	"github.com/robotd/robotd/clock"
)

// received reports whether c holds a value, without waiting.
func received(c <-chan time.Time) (time.Time, bool) {
	select {
	case v := <-c:
		return v, true
	default:
		return time.Time{}, false
	}
}

func TestManualTimerFiresOnAdvance(t *testing.T) {
	m := clock.NewManual(time.Second)
	tm := m.NewTimer(10 * time.Millisecond)
	if m.Advance(9*time.Millisecond) != time.Second+9*time.Millisecond {
		t.Fatalf("Advance returned the wrong time")
	}
	if _, ok := received(tm.C()); ok {
		t.Fatal("timer fired 1 ms early")
	}
	m.Advance(time.Millisecond)
	v, ok := received(tm.C())
	if !ok || v.UnixNano() != int64(time.Second+10*time.Millisecond) {
		t.Fatalf("timer at its deadline: got %v (%v), want a value reading 1.01 s", v.UnixNano(), ok)
	}
	if tm.Stop() {
		t.Fatal("Stop of a fired timer reported it pending")
	}
	// Reset after it fired but before the value was taken: no stale value.
	tm.Reset(5 * time.Millisecond)
	m.Advance(5 * time.Millisecond)
	if tm.Reset(time.Millisecond) { // fired at 5 ms, value not taken
		t.Fatal("Reset of a fired timer reported it pending")
	}
	if _, ok := received(tm.C()); ok {
		t.Fatal("a value from before Reset was received")
	}
	m.Advance(time.Millisecond)
	if _, ok := received(tm.C()); !ok {
		t.Fatal("reset timer did not fire")
	}
	if m.Armed() != 0 {
		t.Fatalf("%d timers armed after all fired, want 0", m.Armed())
	}
}

func TestManualTickerKeepsPhaseAndDrops(t *testing.T) {
	m := new(clock.Manual)
	tk := m.NewTicker(10 * time.Millisecond)
	defer tk.Stop()
	m.Advance(35 * time.Millisecond) // three periods: one tick kept, the others dropped
	v, ok := received(tk.C())
	if !ok || v.UnixNano() != int64(10*time.Millisecond) {
		t.Fatalf("first tick %v (%v), want one at 10 ms", v.UnixNano(), ok)
	}
	if _, ok := received(tk.C()); ok {
		t.Fatal("a second tick was buffered: a slow receiver must drop ticks")
	}
	m.Advance(4 * time.Millisecond) // 39 ms
	if _, ok := received(tk.C()); ok {
		t.Fatal("tick before 40 ms")
	}
	m.Advance(time.Millisecond) // 40 ms: the ticker's phase
	if v, ok := received(tk.C()); !ok || v.UnixNano() != int64(40*time.Millisecond) {
		t.Fatalf("tick at 40 ms: got %v (%v)", v.UnixNano(), ok)
	}
	tk.Stop()
	m.Advance(time.Second)
	if _, ok := received(tk.C()); ok {
		t.Fatal("tick after Stop")
	}
}

func TestManualSleepAndBlockUntil(t *testing.T) {
	m := new(clock.Manual)
	done := make(chan time.Duration)
	go func() {
		m.Sleep(50 * time.Millisecond)
		done <- m.Now()
	}()
	if err := m.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	m.Advance(49 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("Sleep(50ms) returned after 49 ms")
	default:
	}
	m.Advance(time.Millisecond)
	if got := <-done; got != 50*time.Millisecond {
		t.Fatalf("Sleep returned at %v, want 50ms", got)
	}
	m.Sleep(0) // never blocks
}

func TestManualTimersFireInDeadlineOrder(t *testing.T) {
	m := new(clock.Manual)
	late, early := m.NewTimer(20*time.Millisecond), m.NewTimer(10*time.Millisecond)
	m.Advance(time.Second)
	a, _ := received(early.C())
	b, _ := received(late.C())
	if a.UnixNano() != int64(10*time.Millisecond) || b.UnixNano() != int64(20*time.Millisecond) {
		t.Fatalf("timers fired with readings %v and %v, want their deadlines 10 ms and 20 ms", a.UnixNano(), b.UnixNano())
	}
}

// Real reads Unix time through the monotonic clock, and its Now allocates nothing.
func TestRealNow(t *testing.T) {
	c := clock.Real
	wall := time.Now().UnixNano()
	now := int64(c.Now())
	if d := now - wall; d < -int64(time.Second) || d > int64(time.Second) {
		t.Fatalf("Real.Now %d is %v from the wall clock, want Unix time", now, time.Duration(d))
	}
	t0 := c.Now()
	<-c.After(2 * time.Millisecond)
	if el := c.Since(t0); el < 2*time.Millisecond {
		t.Fatalf("After(2ms) fired after %v", el)
	}
	if n := testing.AllocsPerRun(100, func() { _ = c.Since(c.Now()) }); n != 0 {
		t.Fatalf("Real.Now and Since: %v allocations, want 0", n)
	}
	tm := c.NewTimer(time.Hour)
	if !tm.Stop() {
		t.Fatal("Stop of a pending real timer reported it not pending")
	}
}

func TestManualBlockUntilEndsWithItsContext(t *testing.T) {
	m := new(clock.Manual)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.BlockUntil(ctx, 1); err != context.Canceled {
		t.Fatalf("BlockUntil with nothing armed and a cancelled context = %v, want context.Canceled", err)
	}
}
