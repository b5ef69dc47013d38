package ros_test

import (
	"context"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"

	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/sim/rosbridge"
)

func newServer(t *testing.T, m *rostest.Master, cfg rosbridge.ServerConfig) (*rosbridge.Server, *mujoco.Arm) {
	t.Helper()
	return newServerAt(t, m, cfg)
}

// newServerAt is newServer for configs that name their own node and topics.
func newServerAt(t *testing.T, m *rostest.Master, cfg rosbridge.ServerConfig) (*rosbridge.Server, *mujoco.Arm) {
	t.Helper()
	arm, err := mujoco.NewArm(sim.Scene{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(arm.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg.MasterAddress = m.Addr
	srv, err := rosbridge.NewServer(ctx, arm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv, arm
}

// publishing republishes the server's state every 10 ms (without stepping) until the
// test ends, so a late-joining peer gets one.
func publishing(t *testing.T, srv *rosbridge.Server) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				srv.Publish()
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// TestRostopicEchoDecodesState: Debian's rostopic decodes the sim's joint states.
func TestRostopicEchoDecodesState(t *testing.T) {
	m := rostest.Start(t)
	srv, arm := newServer(t, m, rosbridge.ServerConfig{})
	publishing(t, srv)
	out := m.MustRun(t, 30*time.Second, "rostopic", "echo", "-n", "1", "/joint_states")
	st := drivers.NewState(arm.Info())
	arm.ReadState(st)
	if !strings.Contains(out, "name: \n  - joint1\n  - joint2\n  - joint3\n  - joint4\n  - joint5\n  - joint6\n  - joint7\n") {
		t.Errorf("rostopic echo: no joint names in\n%s", out)
	}
	pos := regexp.MustCompile(`(?m)^position: \[(.*)\]$`).FindStringSubmatch(out)
	if pos == nil {
		t.Fatalf("rostopic echo: no position line in\n%s", out)
	}
	var q []float64
	for _, f := range strings.Split(pos[1], ", ") {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			t.Fatalf("position %q: %v", pos[1], err)
		}
		q = append(q, v)
	}
	// rostopic prints 9 significant digits.
	if len(q) != len(st.Q) || maxDiff(q, st.Q) > 1e-8 {
		t.Errorf("rostopic echo positions %v, sim %v (tolerance 1e-8)", q, st.Q)
	}
	if !strings.Contains(out, "secs: 1\n") {
		t.Errorf("stamp is not the sim epoch (1 s):\n%s", out)
	}
}

// TestRostopicPubDrivesSim: an effort command published by Debian's rostopic is executed
// by the sim: the commanded joints accelerate in the commanded directions.
func TestRostopicPubDrivesSim(t *testing.T) {
	m := rostest.Start(t)
	srv, arm := newServer(t, m, rosbridge.ServerConfig{})
	st := drivers.NewState(arm.Info())
	arm.ReadState(st)
	q0 := slices.Clone(st.Q)
	m.MustRun(t, 30*time.Second, "rostopic", "pub", "-1", "/effort_controller/command", "std_msgs/Float64MultiArray",
		"{layout: {dim: [{label: joints, size: 7, stride: 7}]}, data: [3.0, 0, 0, 0, 0, 0, -1.0]}")
	want := []float64{3, 0, 0, 0, 0, 0, -1}
	if srv.Received() == 0 || !slices.Equal(srv.Command(), want) {
		t.Fatalf("after rostopic pub the sim has %d commands, in force %v; want %v", srv.Received(), srv.Command(), want)
	}
	for i := 0; i < 100; i++ {
		if err := srv.Step(time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	arm.ReadState(st)
	if !(st.DQ[0] > 0.1 && st.Q[0] > q0[0] && st.DQ[6] < -0.1 && st.Q[6] < q0[6]) {
		t.Errorf("after 100 ms of +3 Nm on joint1 and -1 Nm on joint7: dq %v, q-q0 %v", st.DQ, sub(st.Q, q0))
	}
	for _, j := range []int{2, 4} {
		if math.Abs(st.Q[j]-q0[j]) > math.Abs(st.Q[0]-q0[0]) {
			t.Errorf("uncommanded joint%d moved %.4f rad, more than joint1", j+1, st.Q[j]-q0[j])
		}
	}
	if srv.Rejected() != 0 {
		t.Errorf("%d commands rejected", srv.Rejected())
	}
}

// TestSimTime: with /use_sim_time set, the sim's /clock is the adapter's clock: a
// JointState without a stamp gets the /clock time.
func TestSimTime(t *testing.T) {
	m := rostest.Start(t)
	m.MustRun(t, 30*time.Second, "rosparam", "set", "/use_sim_time", "true")
	srv, _ := newServer(t, m, rosbridge.ServerConfig{Clock: true})
	for i := 0; i < 5; i++ {
		if err := srv.Step(time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	arm, pub := dialWithStatePeer(t, ros.ArmConfig{MasterAddress: m.Addr, Joints: []string{"a"}, StateTopic: "/peer_states", StaleLimit: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	want := time.Duration(srv.Now().UnixNano()) // 1.005 s
	st := &drivers.State{Q: make([]float64, 1), DQ: make([]float64, 1), Tau: make([]float64, 1), Coriolis: make([]float64, 1)}
	for st.Time != want {
		if ctx.Err() != nil {
			t.Fatalf("unstamped state time %v, want the /clock time %v", st.Time, want)
		}
		srv.Publish() // /clock again, for a subscriber that joined late
		pub.Write(&sensor_msgs.JointState{Name: []string{"a"}, Position: []float64{0.5}, Velocity: []float64{0}})
		time.Sleep(5 * time.Millisecond)
		arm.ReadState(st)
	}
	if st.Q[0] != 0.5 {
		t.Errorf("q = %v, want 0.5", st.Q)
	}
}

func sub(a, b []float64) []float64 {
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return d
}

func maxDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}
