package ros

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/robotd/robotd/clock"
	"github.com/robotd/robotd/drivers"
)

// manualArm is an Arm on a manual clock, with no node: states go in through onState (as
// from the subscriber), NextState's queue holds queue states (0: none).
func manualArm(clk *clock.Manual, queue int) *Arm {
	a := quietArm(CommandEffort)
	a.cfg.Clock, a.cfg.Queue = clk, queue
	a.log = a.cfg.Logger
	a.index, a.ignore, a.seen = map[string]int{"a": 0, "b": 1, "c": 2}, map[string]bool{}, make([]bool, 3)
	newSample := func() *sample { return &sample{q: make([]float64, 3), dq: make([]float64, 3), tau: make([]float64, 3)} }
	a.states = newTriple(newSample)
	a.born = clk.Now()
	if queue > 0 {
		a.queue = newRing(queue, newSample)
		a.queued = make(chan struct{}, 1)
		a.timer = clk.NewTimer(time.Hour)
		a.timer.Stop()
	}
	return a
}

// receive hands the arm one JointState, stamped at n seconds.
func receive(a *Arm, n int) {
	a.onState("/pub", &sensor_msgs.JointState{Header: std_msgs.Header{Seq: uint32(n), Stamp: time.Unix(int64(n), 0)},
		Name: []string{"a", "b", "c"}, Position: []float64{0.1, 0.2, 0.3}, Velocity: make([]float64, 3)})
}

// ReadState's stale check is on ArmConfig.Clock: on a manual clock the state is fresh up
// to the limit exactly and stale a nanosecond later, with the age it has on that clock,
// without waiting for anything.
func TestReadStateStaleOnTheArmsClock(t *testing.T) {
	clk := clock.NewManual(time.Hour)
	a := manualArm(clk, 0)
	st := drivers.NewState(a.info)
	var se *StaleError
	if err := a.ReadState(st); !errors.As(err, &se) || se.Age >= 0 {
		t.Fatalf("before any state: ReadState = %v, want a StaleError with a negative age", err)
	}
	clk.Advance(time.Second)
	receive(a, 1)
	limit := a.cfg.StaleLimit
	clk.Advance(limit)
	if err := a.ReadState(st); err != nil || st.Seq != 1 {
		t.Fatalf("state exactly %v old (the limit): ReadState = %v, seq %d; want fresh, seq 1", limit, err, st.Seq)
	}
	clk.Advance(time.Nanosecond)
	if err := a.ReadState(st); !errors.As(err, &se) || se.Age != limit+time.Nanosecond || se.Limit != limit {
		t.Fatalf("state %v old: ReadState = %v, want a StaleError of age %v", limit+time.Nanosecond, err, limit+time.Nanosecond)
	}
	if st.Q[2] != 0.3 {
		t.Fatalf("a stale read left Q %v, want the newest state's positions", st.Q)
	}
	receive(a, 2)
	if err := a.ReadState(st); err != nil || st.Seq != 2 {
		t.Fatalf("a new state: ReadState = %v, seq %d; want fresh, seq 2", err, st.Seq)
	}
	if n := testing.AllocsPerRun(100, func() { _ = a.ReadState(st) }); n != 0 {
		t.Fatalf("ReadState on a manual clock allocates %v times, want 0", n)
	}
}

// NextState's wait for the next state ends after the stale limit on ArmConfig.Clock, with
// the newest state's age on that clock.
func TestNextStateTimesOutOnTheArmsClock(t *testing.T) {
	clk := clock.NewManual(time.Hour)
	a := manualArm(clk, 4)
	st := drivers.NewState(a.info)
	receive(a, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := a.NextState(ctx, st); err != nil || st.Seq != 1 {
		t.Fatalf("NextState with a state queued = %v, seq %d; want it at once", err, st.Seq)
	}
	clk.Advance(30 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- a.NextState(ctx, st) }()
	if err := clk.BlockUntil(ctx, 1); err != nil { // NextState armed its stale timer
		t.Fatal(err)
	}
	limit := a.cfg.StaleLimit
	clk.Advance(limit - time.Nanosecond)
	select {
	case err := <-done:
		t.Fatalf("NextState returned %v before the stale limit", err)
	default:
	}
	clk.Advance(time.Nanosecond)
	var se *StaleError
	if err := <-done; !errors.As(err, &se) || se.Age != 30*time.Millisecond+limit {
		t.Fatalf("NextState = %v, want a StaleError of age %v (30 ms before the wait, then the limit)", err, 30*time.Millisecond+limit)
	}
	if clk.Armed() != 0 {
		t.Fatalf("%d timers still armed after NextState returned", clk.Armed())
	}
}
