package ros_test

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/sim/rosbridge"
	"github.com/robotd/robotd/sim/rosbridge/bridgetest"
)

// The TestMasterRestart* tests here kill and restart a real rosmaster (one restart
// each) and then check one kind of robotd node from a peer that exists only after the
// restart, which can find the node through the new master alone. The nodes check the
// master every 100 ms; the limits are generous for a loaded 2-core machine.

const restartCheck = 100 * time.Millisecond

// eventually polls cond every 5 ms until it holds, and returns how long that took; it
// fails the test after limit.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	t0 := time.Now()
	for !cond() {
		if time.Since(t0) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(t0)
}

// restarted restarts m and waits until every reregs counter has grown; it returns how
// long after the new master answered the last node registered again.
func restarted(t *testing.T, m *rostest.Master, reregs ...func() uint64) time.Duration {
	t.Helper()
	before := make([]uint64, len(reregs))
	for i, r := range reregs {
		before[i] = r()
	}
	m.Restart(t)
	return eventually(t, 5*time.Second, "every node registered again with the restarted master", func() bool {
		for i, r := range reregs {
			if r() == before[i] {
				return false
			}
		}
		return true
	})
}

// tool runs a ROS command-line tool against m (at most 20 s) and returns its output;
// unlike rosTool it may run on any goroutine.
func tool(m *rostest.Master, args ...string) (string, error) {
	if _, err := exec.LookPath(args[0]); err != nil {
		return "", fmt.Errorf("%s not installed (run scripts/setup.sh): %w", args[0], err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, args[0], args[1:]...)
	c.Env = m.Env()
	out, err := c.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// tools runs several tools at once (each rospy process takes a second or more to start)
// and returns their outputs in order.
func tools(t *testing.T, m *rostest.Master, cmds ...[]string) []string {
	t.Helper()
	if _, err := exec.LookPath(cmds[0][0]); err != nil {
		t.Skipf("%s not installed (run scripts/setup.sh)", cmds[0][0])
	}
	outs, errs := make([]string, len(cmds)), make([]error, len(cmds))
	var wg sync.WaitGroup
	for i, c := range cmds {
		wg.Add(1)
		go func() { defer wg.Done(); outs[i], errs[i] = tool(m, c...) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return outs
}

// background runs a ROS command-line tool against m until the test ends.
func background(t *testing.T, m *rostest.Master, args ...string) {
	t.Helper()
	if _, err := exec.LookPath(args[0]); err != nil {
		t.Skipf("%s not installed (run scripts/setup.sh)", args[0])
	}
	c := m.Command(args[0], args[1:]...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			c.Process.Kill()
			<-done
		}
	})
}

// requests records a StopListener's requests.
type requests struct {
	mu  sync.Mutex
	got []string // reason, with " (now)" for immediate ones
}

func (r *requests) add(reason string, immediate bool) {
	if immediate {
		reason += " (now)"
	}
	r.mu.Lock()
	r.got = append(r.got, reason)
	r.mu.Unlock()
}

func (r *requests) count(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, g := range r.got {
		if g == reason {
			n++
		}
	}
	return n
}

// TestMasterRestartStopListener: after a master restart, stop and stop_now requests from
// `rostopic pub -1` processes started after the restart reach the StopFunc, once each;
// and a `rostopic pub -r 5` started before the restart (rospy never registers again, so
// the new master does not know it) keeps delivering, also after the new master's
// publisherUpdate for the new publisher left it out.
func TestMasterRestartStopListener(t *testing.T) {
	m := rostest.Start(t)
	var reqs requests
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := ros.NewStopListener(ctx, ros.StopConfig{MasterAddress: m.Addr, MasterCheck: restartCheck}, reqs.add)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const old = "ROS /robotd/stop: before the restart"
	background(t, m, "rostopic", "pub", "-r", "5", "/robotd/stop", "std_msgs/String", "data: 'before the restart'")
	eventually(t, 10*time.Second, "the requests of a publisher started before the restart", func() bool { return reqs.count(old) > 0 })

	rereg := restarted(t, m, l.Reregistrations)
	t0 := time.Now()
	tools(t, m,
		[]string{"rostopic", "pub", "-1", "/robotd/stop_now", "std_msgs/String", "data: 'person in the cell'"},
		[]string{"rostopic", "pub", "-1", "/robotd/stop", "std_msgs/String", "data: 'after the restart'"})
	const now, stop = "ROS /robotd/stop_now: person in the cell (now)", "ROS /robotd/stop: after the restart"
	eventually(t, 5*time.Second, "stop_now and stop from publishers started after the restart", func() bool {
		return reqs.count(now) > 0 && reqs.count(stop) > 0
	})
	n := reqs.count(old)
	d := eventually(t, 5*time.Second, "requests of the publisher from before the restart, after a new publisher of its topic came and went",
		func() bool { return reqs.count(old) >= n+2 })
	if a, b := reqs.count(now), reqs.count(stop); a != 1 || b != 1 {
		t.Errorf("stop_now delivered %d times, stop %d times; want once each (latched publishers: a duplicated connection would repeat them)", a, b)
	}
	if stops, nows := l.Stats(); nows != 1 || stops < uint64(n+3) {
		t.Errorf("Stats: %d stops, %d stop_nows; want >= %d and 1", stops, nows, n+3)
	}
	t.Logf("re-registered %v after the master answered; rostopic pub -1 x2 took %v; the old publisher delivered again %v later",
		rereg, time.Since(t0)-d, d)
}

// TestMasterRestartStatus: after a master restart, a `rostopic echo -n 1` started after
// the restart gets the latched mode, and a subscriber connected before the restart still
// gets the new modes.
func TestMasterRestartStatus(t *testing.T) {
	m := rostest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := ros.NewStatusPublisher(ctx, ros.StatusConfig{MasterAddress: m.Addr, MasterCheck: restartCheck})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetMode("running")
	var mu sync.Mutex
	var modes []string
	node := testNode(t, m, "mode_listener")
	sub, err := goroslib.NewSubscriber(goroslib.SubscriberConf{Node: node, Topic: "/robotd/mode", Callback: func(s *std_msgs.String) {
		mu.Lock()
		modes = append(modes, s.Data)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	last := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(modes) == 0 {
			return ""
		}
		return modes[len(modes)-1]
	}
	eventually(t, 5*time.Second, "mode running before the restart", func() bool { return last() == "running" })

	rereg := restarted(t, m, func() uint64 { return p.Stats().Reregistrations })
	p.SetMode("stopping")
	eventually(t, 5*time.Second, "a subscriber from before the restart gets the new mode", func() bool { return last() == "stopping" })
	t0 := time.Now()
	out := tools(t, m, []string{"rostopic", "echo", "-n", "1", "/robotd/mode"})[0]
	if !strings.Contains(out, `data: "stopping"`) {
		t.Fatalf("rostopic echo -n 1 /robotd/mode after the restart printed %q, want the latched mode stopping", out)
	}
	t.Logf("re-registered %v after the master answered; rostopic echo took %v; stats %+v", rereg, time.Since(t0), p.Stats())
}

// TestMasterRestartCamera: after a master restart the Camera reads frames from a
// publisher that starts after the restart, and frames from the publisher connected
// before it keep coming after the new one appeared.
func TestMasterRestartCamera(t *testing.T) {
	m := rostest.Start(t)
	const topic = "/restart/image_raw"
	cam := dialCamera(t, m, ros.CameraConfig{Topic: topic, MasterCheck: restartCheck})
	image := func(v byte) func() any {
		return func() any {
			return &sensor_msgs.Image{Width: 2, Height: 1, Encoding: "mono8", Step: 2, Data: []byte{v, v}}
		}
	}
	// from reads frames until one from publisher v arrives.
	from := func(v byte, what string) time.Duration {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		t0 := time.Now()
		var f perception.Frame
		for {
			if err := cam.Read(ctx, &f); err != nil {
				t.Fatalf("%s: %v (stats %+v)", what, err, cam.Stats())
			}
			if f.Data[0] == v {
				return time.Since(t0)
			}
		}
	}
	stopOld := repeating(advertise(t, testNode(t, m, "camera_before"), topic, &sensor_msgs.Image{}), image(1))
	defer stopOld()
	from(1, "a frame from the publisher started before the restart")

	rereg := restarted(t, m, func() uint64 { return cam.Stats().Reregistrations })
	stopNew := repeating(advertise(t, testNode(t, m, "camera_after"), topic, &sensor_msgs.Image{}), image(2))
	defer stopNew()
	dNew := from(2, "a frame from a publisher started after the restart")
	dOld := from(1, "a frame from the publisher started before the restart, after the new one appeared")
	t.Logf("re-registered %v after the master answered; first frame of the new publisher %v after it started; the old one's again %v later; stats %+v",
		rereg, dNew, dOld, cam.Stats())
}

// TestMasterRestartSim: after a master restart, `rostopic echo -n 1` processes started
// after the restart get robotd sim's joint states (rosbridge.Server) and its camera's image
// (rosbridge.Cameras), and a node started after the restart its camera info.
func TestMasterRestartSim(t *testing.T) {
	m := rostest.Start(t)
	arm, err := mujoco.NewArm(sim.Scene{})
	if err != nil {
		t.Fatal(err)
	}
	defer arm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := rosbridge.NewServer(ctx, arm, rosbridge.ServerConfig{MasterAddress: m.Addr, MasterCheck: restartCheck})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sc, err := rosbridge.NewCameras(ctx, arm.Sim(), rosbridge.CamerasConfig{MasterAddress: m.Addr, MasterCheck: restartCheck,
		Width: 32, Height: 24, Cameras: []rosbridge.CameraConfig{{Camera: "scene"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	defer bridgetest.Stepping(t, sc, srv.Step)() // the simulator's owner: step and publish every 10 ms

	rereg := restarted(t, m, func() uint64 { return srv.Stats().Reregistrations }, func() uint64 { return sc.Stats().Reregistrations })
	t0 := time.Now()
	in, err := ros.WaitCameraInfo(ctx, ros.CameraInfoConfig{MasterAddress: m.Addr, Topic: "/camera/scene/camera_info", Name: "scene"})
	if err != nil || in.Width != 32 {
		t.Errorf("camera info from a node started after the restart: %+v, %v", in, err)
	}
	outs := tools(t, m,
		[]string{"rostopic", "echo", "-n", "1", "--noarr", "/joint_states"},
		[]string{"rostopic", "echo", "-n", "1", "--noarr", "/camera/scene/image_raw"})
	for i, want := range []string{"header:", "encoding: \"rgb8\""} {
		if !strings.Contains(outs[i], want) {
			t.Errorf("rostopic echo after the restart printed %q, want %q in it", outs[i], want)
		}
	}
	t.Logf("re-registered %v after the master answered; camera info and two rostopic echo -n 1 took %v; sim %+v, cameras %+v",
		rereg, time.Since(t0), srv.Stats(), sc.Stats())
}

// TestMasterRestartCloseBounded: Close returns at once while the master is gone, for
// every kind of node (their watches are mid-check, their unregistrations are refused).
func TestMasterRestartCloseBounded(t *testing.T) {
	m := rostest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := ros.NewStopListener(ctx, ros.StopConfig{MasterAddress: m.Addr, MasterCheck: restartCheck}, func(string, bool) {})
	if err != nil {
		t.Fatal(err)
	}
	p, err := ros.NewStatusPublisher(ctx, ros.StatusConfig{MasterAddress: m.Addr, MasterCheck: restartCheck})
	if err != nil {
		t.Fatal(err)
	}
	cam, err := ros.DialCamera(ctx, ros.CameraConfig{MasterAddress: m.Addr, Topic: "/close/image_raw", MasterCheck: restartCheck})
	if err != nil {
		t.Fatal(err)
	}
	m.Stop()
	time.Sleep(3 * restartCheck) // every watch has found the master gone
	for _, c := range []struct {
		what  string
		close func()
	}{{"StopListener", l.Close}, {"StatusPublisher", p.Close}, {"Camera", func() { cam.Close() }}} {
		t0 := time.Now()
		c.close()
		if d := time.Since(t0); d > 2*time.Second {
			t.Errorf("%s.Close took %v without a master; want it bounded (< 2 s)", c.what, d)
		} else {
			t.Logf("%s.Close without a master: %v", c.what, d)
		}
	}
}

// TestMasterHungCloseBounded: with a master that accepts connections but never answers
// (SIGSTOP: a hung process, or a remote host gone), a StopListener's Close, which
// unregisters its topics with the master, still returns within a few seconds (each call
// times out after 2 s, and the subscriptions close at once; goroslib's default took 32 s).
func TestMasterHungCloseBounded(t *testing.T) {
	m := rostest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := ros.NewStopListener(ctx, ros.StopConfig{MasterAddress: m.Addr, MasterCheck: restartCheck}, func(string, bool) {})
	if err != nil {
		t.Fatal(err)
	}
	body, err := xmlrpc(m.URI, "getPid", "/rostest")
	pid := regexp.MustCompile(`<int>(\d+)</int>\s*</value>\s*</data>`).FindStringSubmatch(body)
	if err != nil || pid == nil {
		l.Close()
		t.Fatalf("master's getPid: %q, %v", body, err)
	}
	n, _ := strconv.Atoi(pid[1])
	if err := syscall.Kill(n, syscall.SIGSTOP); err != nil {
		l.Close()
		t.Fatal(err)
	}
	defer syscall.Kill(n, syscall.SIGCONT)
	time.Sleep(3 * restartCheck) // the watch's check is in flight
	t0 := time.Now()
	l.Close()
	if d := time.Since(t0); d > 8*time.Second {
		t.Errorf("StopListener.Close with a hung master took %v, want < 8 s", d)
	} else {
		t.Logf("StopListener.Close with a hung master: %v", d)
	}
}
