package ros_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
)

// TestStopListenerRostopicPub: stop requests published by Debian's rostopic reach the
// StopFunc with their reasons, graceful on /robotd/stop, immediate on /robotd/stop_now.
func TestStopListenerRostopicPub(t *testing.T) {
	m := rostest.Start(t)
	type req struct {
		reason    string
		immediate bool
	}
	var mu sync.Mutex
	var got []req
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := ros.NewStopListener(ctx, ros.StopConfig{MasterAddress: m.Addr}, func(reason string, immediate bool) {
		mu.Lock()
		got = append(got, req{reason, immediate})
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// rostopic pub -1 waits for its subscribers to connect before it publishes and exits.
	m.MustRun(t, 30*time.Second, "rostopic", "pub", "-1", "/robotd/stop", "std_msgs/String", "data: 'operator: end of shift'")
	m.MustRun(t, 30*time.Second, "rostopic", "pub", "-1", "/robotd/stop_now", "std_msgs/String", "data: ''")
	want := []req{{"ROS /robotd/stop: operator: end of shift", false}, {"ROS /robotd/stop_now", true}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("requests %+v, want %+v", got, want)
	}
	if s, n := l.Stats(); s != 1 || n != 1 {
		t.Errorf("Stats %d stops, %d stop_nows; want 1 and 1", s, n)
	}
}

func TestStopConfig(t *testing.T) {
	c := ros.StopConfig{Namespace: "/arm1/robotd/"}.WithDefaults()
	if c.StopTopic() != "/arm1/robotd/stop" || c.StopNowTopic() != "/arm1/robotd/stop_now" || c.Node != "robotd_stop" {
		t.Errorf("topics %s %s node %s", c.StopTopic(), c.StopNowTopic(), c.Node)
	}
	for _, bad := range []ros.StopConfig{{Namespace: "/a b"}, {Node: "x/y"}} {
		if err := bad.WithDefaults().Validate(); err == nil || !strings.Contains(err.Error(), "not a ROS name") {
			t.Errorf("%+v: error %v, want one naming the bad name", bad, err)
		}
	}
	if _, err := ros.NewStopListener(context.Background(), ros.StopConfig{}, nil); err == nil {
		t.Error("a listener without a StopFunc was made")
	}
}
