package ros

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/robotd/robotd/drivers/ros/rostest"
)

// pausedListener is a StopListener whose watch never checks on its own (the test calls
// check and register), counting its requests.
func pausedListener(t *testing.T, m *rostest.Master) (*StopListener, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := NewStopListener(ctx, StopConfig{MasterAddress: m.Addr, MasterCheck: time.Hour}, func(string, bool) { n.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l, &n
}

func peerNode(t *testing.T, m *rostest.Master, name string) *goroslib.Node {
	t.Helper()
	n, err := goroslib.NewNode(goroslib.NodeConf{MasterAddress: m.Addr, Name: name,
		LogLevel: goroslib.LogLevelWarn, LogDestinations: goroslib.LogDestinationConsole})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeNode(n) })
	return n
}

// TestWatchRegisterAgainNoDuplicates: a latched publisher (a goroslib node without a
// watch: the restarted master does not know it) delivered its one message before the
// restart; registering the listener again, twice, keeps that connection and delivers
// nothing more (a second connection to a latched publisher would repeat its message).
func TestWatchRegisterAgainNoDuplicates(t *testing.T) {
	m := rostest.Start(t)
	l, n := pausedListener(t, m)
	pub, err := goroslib.NewPublisher(goroslib.PublisherConf{Node: peerNode(t, m, "latched_stop"), Topic: "/robotd/stop",
		Msg: &std_msgs.String{}, Latch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	pub.Write(&std_msgs.String{Data: "once"})
	for t0 := time.Now(); n.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Since(t0) > 5*time.Second {
			t.Fatal("the latched request did not arrive")
		}
	}
	m.Restart(t)
	var st watchState
	l.watch.check(&st) // the new master does not know the node: registers
	if err := l.watch.register(); err != nil {
		t.Fatal(err)
	}
	l.watch.check(&st) // healthy: the kept publisher is still connected
	time.Sleep(300 * time.Millisecond)
	bus, err := l.watch.inbound()
	if err != nil {
		t.Fatal(err)
	}
	if got, reregs := n.Load(), l.Reregistrations(); got != 1 || reregs != 2 || len(bus["/robotd/stop"]) != 1 {
		t.Errorf("after registering twice: %d requests (want 1), %d registrations (want 2), publishers %v (want the latched one)",
			got, reregs, bus["/robotd/stop"])
	}
	if len(l.watch.kept["/robotd/stop"]) != 1 {
		t.Errorf("kept publishers %v, want the latched one", l.watch.kept)
	}
}

// TestWatchNameTaken: after a master restart another node took the listener's name
// before its watch checked; the watch then leaves that node registered (registering
// would make the master shut it down) and says so.
func TestWatchNameTaken(t *testing.T) {
	m := rostest.Start(t)
	l, _ := pausedListener(t, m)
	m.Restart(t)
	peerNode(t, m, l.cfg.Node)
	otherURL, err := l.watch.master.LookupNode(l.watch.name)
	if err != nil || otherURL == l.watch.url {
		t.Fatalf("the other node is not registered: %q, %v", otherURL, err)
	}
	var st watchState
	l.watch.check(&st)
	if !st.foreign || l.Reregistrations() != 0 {
		t.Fatalf("watch state %+v, %d registrations: want the name seen as taken and none", st, l.Reregistrations())
	}
	if u, err := l.watch.master.LookupNode(l.watch.name); err != nil || u != otherURL {
		t.Errorf("the name is registered to %q (%v), want the other node still", u, err)
	}
}
