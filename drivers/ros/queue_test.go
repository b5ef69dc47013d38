package ros_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
)

// statePeer is a goroslib node publishing JointStates of joints a and b on /joint_states
// and reading the commands on /effort_controller/command, for an Arm under test.
type statePeer struct {
	pub  *goroslib.Publisher
	cmds chan float64 // Data[0] of each command, in arrival order
}

func newStatePeer(t *testing.T, m *rostest.Master) *statePeer {
	t.Helper()
	node, err := goroslib.NewNode(goroslib.NodeConf{MasterAddress: m.Addr, Name: "peer",
		LogLevel: goroslib.LogLevelWarn, LogDestinations: goroslib.LogDestinationConsole})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close)
	p := &statePeer{cmds: make(chan float64, 1024)}
	if p.pub, err = goroslib.NewPublisher(goroslib.PublisherConf{Node: node, Topic: "/joint_states", Msg: &sensor_msgs.JointState{}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.pub.Close)
	sub, err := goroslib.NewSubscriber(goroslib.SubscriberConf{Node: node, Topic: "/effort_controller/command",
		Callback: func(c *std_msgs.Float64MultiArray) { p.cmds <- c.Data[0] }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	return p
}

// state is a JointState stamped k ms after 1 s, carrying k as joint a's position.
func (p *statePeer) state(k int) {
	p.pub.Write(&sensor_msgs.JointState{Header: std_msgs.Header{Seq: uint32(k), Stamp: time.Unix(1, 0).Add(time.Duration(k) * time.Millisecond)},
		Name: []string{"a", "b"}, Position: []float64{float64(k), 0}, Velocity: []float64{0, 0}})
}

func dialQueued(t *testing.T, m *rostest.Master, queue int, stale time.Duration) *ros.Arm {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	arm, err := ros.Dial(ctx, ros.ArmConfig{MasterAddress: m.Addr, Joints: []string{"a", "b"}, Queue: queue, StaleLimit: stale})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(arm.Close)
	return arm
}

// TestNextStateAnswersBursts: states sent back to back (a late robot tick, a publisher
// catching up) each come out of NextState once, in order, and each answer reaches the
// robot in order; a latest-value loop would have seen only the last of each burst.
func TestNextStateAnswersBursts(t *testing.T) {
	m := rostest.Start(t)
	arm := dialQueued(t, m, 256, time.Minute)
	peer := newStatePeer(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Handshake: state 0 until its answer (0) is back; both connections are then up.
	var answered atomic.Int64 // states answered by the loop below
	loopDone := make(chan error, 1)
	lctx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	go func() {
		st := drivers.NewState(arm.Info())
		tau := make([]float64, 2)
		for {
			if err := arm.NextState(lctx, st); err != nil {
				loopDone <- err
				return
			}
			tau[0] = st.Q[0]
			if err := arm.WriteTorque(tau); err != nil {
				loopDone <- err
				return
			}
			answered.Add(1)
		}
	}()
	for connected := false; !connected; {
		peer.state(0)
		select {
		case <-peer.cmds:
			connected = true
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no answer to the handshake state")
		}
	}
	for quiet := false; !quiet; { // the handshake's other answers
		select {
		case <-peer.cmds:
		case <-time.After(50 * time.Millisecond):
			quiet = true
		}
	}
	if a, n := answered.Load(), arm.Stats().Accepted; a != int64(n) {
		t.Fatalf("handshake: %d states accepted, %d answered", n, a)
	}

	// Four bursts of 50 (below the 64 messages goroslib's publisher buffers per
	// subscriber before it drops silently), each sent without a pause.
	const bursts, size = 4, 50
	next := 1
	for range bursts {
		for range size {
			peer.state(next)
			next++
		}
		time.Sleep(20 * time.Millisecond)
	}
	for want := 1; want < next; want++ {
		select {
		case got := <-peer.cmds:
			if got != float64(want) {
				t.Fatalf("answer %v arrived where %d was due (lost or out of order)", got, want)
			}
		case <-ctx.Done():
			t.Fatalf("%d of %d burst states answered (stats %+v)", want-1, next-1, arm.Stats())
		}
	}
	stopLoop()
	if err := <-loopDone; !errors.Is(err, context.Canceled) {
		t.Errorf("NextState after its context ended: %v, want context.Canceled", err)
	}
	if s := arm.Stats(); s.QueueDrops != 0 || s.CommandDrops != 0 || s.SeqGaps != 0 {
		t.Errorf("stats %+v: want no drops and no seq gaps", s)
	}
}

// TestNextStateQueueFull: states that find the queue full are dropped and counted; the
// ones queued come out oldest first, and then NextState reports the silence as stale.
func TestNextStateQueueFull(t *testing.T) {
	m := rostest.Start(t)
	arm := dialQueued(t, m, 4, 30*time.Millisecond)
	peer := newStatePeer(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := drivers.NewState(arm.Info())
	for arm.Stats().Accepted == 0 { // connect, then empty the queue
		if ctx.Err() != nil {
			t.Fatal("no state from the peer")
		}
		peer.state(0)
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	for arm.NextState(ctx, st) == nil {
	}
	drops0, n0 := arm.Stats().QueueDrops, arm.Stats().Accepted
	for k := 1; k <= 10; k++ {
		peer.state(k)
	}
	for arm.Stats().Accepted < n0+10 {
		if ctx.Err() != nil {
			t.Fatalf("%d of 10 states accepted", arm.Stats().Accepted-n0)
		}
		time.Sleep(time.Millisecond)
	}
	if d := arm.Stats().QueueDrops - drops0; d != 6 {
		t.Errorf("10 states into a queue of 4: %d dropped, want 6", d)
	}
	for k := 1; k <= 4; k++ {
		if err := arm.NextState(ctx, st); err != nil || st.Q[0] != float64(k) || st.Time != time.Second+time.Duration(k)*time.Millisecond {
			t.Fatalf("NextState %d: %v, q %v at %v; want state %d (oldest first)", k, err, st.Q, st.Time, k)
		}
	}
	t0 := time.Now()
	var se *ros.StaleError
	if err := arm.NextState(ctx, st); !errors.As(err, &se) || se.Age < 30*time.Millisecond || time.Since(t0) < 30*time.Millisecond {
		t.Errorf("NextState with nothing queued: %v after %v, want a StaleError after the 30 ms limit", err, time.Since(t0))
	}
	if st.Q[0] != 4 {
		t.Errorf("a stale NextState changed dst to q %v", st.Q)
	}
}

// TestNextStateErrors: before any state NextState reports a stale error with a negative
// age; its context ending ends the wait; an Arm without a queue refuses it.
func TestNextStateErrors(t *testing.T) {
	m := rostest.Start(t)
	arm := dialQueued(t, m, 4, 10*time.Millisecond)
	st := drivers.NewState(arm.Info())
	var se *ros.StaleError
	if err := arm.NextState(context.Background(), st); !errors.As(err, &se) || se.Age >= 0 || !errors.Is(err, ros.ErrStale) {
		t.Errorf("NextState before any state: %v, want a StaleError with negative age", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := arm.NextState(ctx, st); !errors.Is(err, context.Canceled) {
		t.Errorf("NextState with an ended context: %v, want context.Canceled", err)
	}
	plain := dialQueued(t, m, 0, time.Second)
	if err := plain.NextState(context.Background(), drivers.NewState(plain.Info())); !errors.Is(err, ros.ErrNoQueue) {
		t.Errorf("NextState without a queue: %v, want ErrNoQueue", err)
	}
	if _, err := ros.Dial(context.Background(), ros.ArmConfig{Joints: []string{"a"}, Queue: -1}); err == nil {
		t.Error("Dial with Queue -1: no error")
	}
}

// TestCommandBurst: commands written back to back into the queue all reach the robot, in
// order. Bursts of 60: goroslib's publisher buffers 64 messages per subscriber and drops
// the rest silently when its writer goroutine falls behind, which the Arm makes unlikely
// (see Arm.sent) but cannot rule out for longer backlogs.
func TestCommandBurst(t *testing.T) {
	m := rostest.Start(t)
	arm := dialQueued(t, m, 256, time.Minute)
	peer := newStatePeer(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for connected := false; !connected; { // the peer's subscription is up
		if err := arm.WriteTorque([]float64{-1, 0}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-peer.cmds:
			connected = true
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("the peer received no command")
		}
	}
	for quiet := false; !quiet; {
		select {
		case <-peer.cmds:
		case <-time.After(50 * time.Millisecond):
			quiet = true
		}
	}
	const bursts, size = 5, 60
	for b := range bursts {
		for k := 1; k <= size; k++ {
			if err := arm.WriteTorque([]float64{float64(b*size + k), 0}); err != nil {
				t.Fatal(err)
			}
		}
		for k := 1; k <= size; k++ {
			select {
			case got := <-peer.cmds:
				if want := float64(b*size + k); got != want {
					t.Fatalf("command %v arrived where %v was due (lost or out of order)", got, want)
				}
			case <-ctx.Done():
				t.Fatalf("burst %d: %d of %d commands arrived (stats %+v)", b, k-1, size, arm.Stats())
			}
		}
	}
	if s := arm.Stats(); s.CommandDrops != 0 {
		t.Errorf("%d commands dropped by the Arm's queue", s.CommandDrops)
	}
}
