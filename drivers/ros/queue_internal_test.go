package ros

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/robotd/robotd/drivers"
)

// queuedArm is an Arm with ArmConfig.Queue n and no node: the queues without the network.
func queuedArm(n int) *Arm {
	a := quietArm(CommandEffort)
	a.cfg.Queue = n
	a.log = a.cfg.Logger
	a.born = a.cfg.Clock.Now()
	a.queue = newRing(n, func() *sample { return &sample{q: make([]float64, 3), dq: make([]float64, 3), tau: make([]float64, 3)} })
	a.queued = make(chan struct{}, 1)
	a.timer = a.cfg.Clock.NewTimer(time.Hour)
	a.timer.Stop()
	a.cmdq = newRing(n, func() *command { return &command{tau: make([]float64, 3)} })
	return a
}

// TestCommandQueue: with a queue, commands wait in order instead of replacing each other,
// and one that finds the queue full is dropped and counted.
func TestCommandQueue(t *testing.T) {
	a := queuedArm(2)
	for i := range 3 {
		if err := a.WriteTorque([]float64{float64(i), 0, 0}); err != nil {
			t.Fatal(err)
		}
	}
	if s := a.Stats(); s.CommandDrops != 1 || s.Written != 2 {
		t.Errorf("3 commands into a queue of 2: %d dropped, %d written; want 1, 2", s.CommandDrops, s.Written)
	}
	for want := range 2 {
		c := a.next()
		if c == nil || c.tau[0] != float64(want) {
			t.Fatalf("command %d: %v, want torque %d first (in order)", want, c, want)
		}
		a.sent(c)
	}
	if c := a.next(); c != nil {
		t.Errorf("a third command %v came out of the queue", c.tau)
	}
	if a.published.Load() != 2 {
		t.Errorf("published %d, want 2", a.published.Load())
	}
}

// TestNextStateNoAllocs: the robot-paced loop's side (a queued state taken, a queued
// command written) allocates nothing.
func TestNextStateNoAllocs(t *testing.T) {
	a := queuedArm(4)
	s := &sample{q: []float64{1, 2, 3}, dq: make([]float64, 3), tau: make([]float64, 3), recv: a.cfg.Clock.Now()}
	st := drivers.NewState(a.info)
	ctx := context.Background()
	tau := make([]float64, 3)
	if n := testing.AllocsPerRun(1000, func() {
		s.time++
		a.enqueue(s)
		if err := a.NextState(ctx, st); err != nil {
			t.Fatal(err)
		}
		a.WriteTorque(tau)
		a.sent(a.next())
	}); n != 0 {
		t.Errorf("enqueue + NextState + WriteTorque allocate %v times", n)
	}
	if !slices.Equal(st.Q, s.q) || st.Time != s.time {
		t.Errorf("NextState gave q %v at %v, want %v at %v", st.Q, st.Time, s.q, s.time)
	}
}
