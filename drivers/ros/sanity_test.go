package ros_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
	"golang.org/x/sys/unix"

	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
)

// jointPub is tools/bench/joint_state_pub.py, a rospy robot publishing JointState.
type jointPub struct {
	cmd  *exec.Cmd
	stop func()
}

// startJointPub runs the rospy publisher on topic with joints a and b around q0 (0.1 rad
// sine at 1 Hz) and waits until the master lists it.
func startJointPub(t *testing.T, m *rostest.Master, topic, node string, q0 string, args ...string) *jointPub {
	t.Helper()
	const py = "/usr/bin/python3"
	if exec.Command(py, "-c", "import rospy, sensor_msgs.msg").Run() != nil {
		t.Skip("python3-rospy and sensor_msgs not installed (run scripts/setup.sh)")
	}
	script, err := findUp("tools/bench/joint_state_pub.py")
	if err != nil {
		t.Fatal(err)
	}
	cmd := m.Command(py, append([]string{script, "--topic", topic, "--node", node, "--names", "a,b", "--q0", q0, "--freq", "1"}, args...)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	p := &jointPub{cmd: cmd, stop: func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGCONT)
			in.Close()
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		})
	}}
	t.Cleanup(p.stop)
	m.WaitPublished(t, topic, 30*time.Second)
	return p
}

// rostopicPub runs `rostopic pub -r rate topic sensor_msgs/JointState yaml` (stamped now).
func rostopicPub(t *testing.T, m *rostest.Master, topic, rate, yaml string) {
	t.Helper()
	if _, err := exec.LookPath("rostopic"); err != nil {
		t.Skip("rostopic not installed (Debian python3-rostopic; run scripts/setup.sh)")
	}
	cmd := m.Command("rostopic", "pub", "-s", "-r", rate, topic, "sensor_msgs/JointState", yaml)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
}

// logBuffer is a slog handler's destination the test reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestNoVelocityRefused: a rospy robot whose JointState has no velocity array. Without
// EstimateVelocity the Arm takes none of its states: WaitState fails at once (not at its
// deadline) with an error naming the topic and the missing field, ReadState returns the
// same error, the rejections are counted and logged once.
func TestNoVelocityRefused(t *testing.T) {
	t.Parallel()
	m := rostest.Start(t)
	startJointPub(t, m, "/nv/joint_states", "nv_arm", "0,0", "--rate", "200", "--no-velocity")
	var logs logBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	arm, err := ros.Dial(ctx, ros.ArmConfig{MasterAddress: m.Addr, Node: "nv_robotd", Joints: []string{"a", "b"},
		StateTopic: "/nv/joint_states", Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer arm.Close()
	t0 := time.Now()
	err = arm.WaitState(ctx, 0)
	const want = "/nv/joint_states: JointState has no velocity array (2 names, 0 velocities): robotd needs measured velocities to damp the arm; set arm.ros.estimate_velocity: true to estimate them from positions"
	if !errors.Is(err, ros.ErrRefused) || err.Error() != want {
		t.Fatalf("WaitState: %v, want %q", err, want)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("WaitState took %v to refuse, want it as soon as the first message came (< 5 s)", d)
	}
	time.Sleep(100 * time.Millisecond) // more messages: counted, logged once
	st := drivers.NewState(arm.Info())
	if err := arm.ReadState(st); !errors.Is(err, ros.ErrRefused) {
		t.Errorf("ReadState: %v, want the refusal", err)
	}
	s := arm.Stats()
	if s.Accepted != 0 || s.Rejected[ros.RejectNoVelocity] < 2 {
		t.Errorf("stats %+v: want nothing accepted, at least 2 rejected for no velocity", s)
	}
	if n := strings.Count(logs.String(), `kind="no velocity"`); n != 1 {
		t.Errorf("the refusal logged %d times, want once:\n%s", n, logs.String())
	}
}

// TestEstimateVelocityRospy: the same robot with EstimateVelocity: its states are taken
// with velocities estimated from positions and stamps, close to the sine's own
// derivative (0.63 rad/s peak at 1 Hz; 0.1 rad/s allows the filter's 3.7 ms lag, 0.015
// rad/s, and the publisher's pauses under load: after a gap the estimate is the mean
// velocity over it, 0.06 rad/s off the end's for a 30 ms gap).
func TestEstimateVelocityRospy(t *testing.T) {
	t.Parallel()
	m := rostest.Start(t)
	startJointPub(t, m, "/ev/joint_states", "ev_arm", "0.3,-0.2", "--rate", "500", "--no-velocity")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	arm, err := ros.Dial(ctx, ros.ArmConfig{MasterAddress: m.Addr, Node: "ev_robotd", Joints: []string{"a", "b"},
		StateTopic: "/ev/joint_states", EstimateVelocity: true, StaleLimit: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer arm.Close()
	if err := arm.WaitState(ctx, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // past the filter's settling
	st := drivers.NewState(arm.Info())
	w := 2 * math.Pi * 1.0
	var worst, peak float64
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(7 * time.Millisecond) {
		if err := arm.ReadState(st); err != nil {
			t.Fatal(err)
		}
		want := 0.1 * w * math.Cos(w*st.Time.Seconds())
		for j := range st.DQ {
			worst = max(worst, math.Abs(st.DQ[j]-want))
			peak = max(peak, math.Abs(st.DQ[j]))
		}
	}
	t.Logf("estimated velocities: worst error %.4f rad/s, peak %.3f rad/s (true peak %.3f)", worst, peak, 0.1*w)
	if worst > 0.1 || peak < 0.5 {
		t.Errorf("worst error %.4f rad/s (want <= 0.1), peak %.3f rad/s (want the sine's 0.63, not zero)", worst, peak)
	}
	if s := arm.Stats(); s.Rejected[ros.RejectNoVelocity] != 0 {
		t.Errorf("stats %+v: nothing refused with EstimateVelocity", s)
	}
}

// TestSecondPublisherRejected: while the rospy robot publishes, `rostopic pub` sends
// in-range JointStates on the same topic. The Arm keeps to the publisher it took first:
// the other's messages are rejected (RejectPublisher), logged once with both callerids,
// and every state read is the robot's.
func TestSecondPublisherRejected(t *testing.T) {
	t.Parallel()
	m := rostest.Start(t)
	startJointPub(t, m, "/sp/joint_states", "sp_arm", "0,0", "--rate", "200", "--amp", "0.1")
	var logs logBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	arm, err := ros.Dial(ctx, ros.ArmConfig{MasterAddress: m.Addr, Node: "sp_robotd", Joints: []string{"a", "b"},
		StateTopic: "/sp/joint_states", Lower: []float64{-1, -1}, Upper: []float64{1, 1}, StaleLimit: time.Minute, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer arm.Close()
	if err := arm.WaitState(ctx, 0); err != nil {
		t.Fatal(err)
	}
	rostopicPub(t, m, "/sp/joint_states", "200", "{header: auto, name: [a, b], position: [0.5, 0.5], velocity: [0, 0]}")
	st := drivers.NewState(arm.Info())
	for arm.Stats().Rejected[ros.RejectPublisher] < 20 {
		if ctx.Err() != nil {
			t.Fatalf("no message from rostopic rejected within 30 s: %+v", arm.Stats())
		}
		if err := arm.ReadState(st); err != nil {
			t.Fatal(err)
		}
		if math.Abs(st.Q[0]-0.5) < 1e-9 {
			t.Fatalf("read rostopic's state %v", st.Q)
		}
		time.Sleep(time.Millisecond)
	}
	if s := arm.Stats(); s.Accepted < 20 {
		t.Errorf("stats %+v: the robot's states should still be taken", s)
	}
	if n := strings.Count(logs.String(), `kind="second publisher"`); n != 1 ||
		!strings.Contains(logs.String(), "/sp_arm") || !strings.Contains(logs.String(), "publisher /rostopic_") {
		t.Errorf("second publisher logged %d times, want once naming both /sp_arm and rostopic:\n%s", n, logs.String())
	}
}

// TestOutOfRangeRejected: `rostopic pub` alone, positions 5 rad beyond the model's
// limits: nothing is taken (RejectLimit, logged once naming the joint), the Arm stays
// without state.
func TestOutOfRangeRejected(t *testing.T) {
	t.Parallel()
	m := rostest.Start(t)
	var logs logBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	arm, err := ros.Dial(ctx, ros.ArmConfig{MasterAddress: m.Addr, Node: "or_robotd", Joints: []string{"a", "b"},
		StateTopic: "/or/joint_states", Lower: []float64{-1, -1}, Upper: []float64{1, 1}, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer arm.Close()
	rostopicPub(t, m, "/or/joint_states", "100", "{header: auto, name: [a, b], position: [0.5, 6.0], velocity: [0, 0]}")
	for arm.Stats().Rejected[ros.RejectLimit] < 5 {
		if ctx.Err() != nil {
			t.Fatalf("no rejection within 30 s: %+v", arm.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var se *ros.StaleError
	if err := arm.ReadState(drivers.NewState(arm.Info())); !errors.As(err, &se) || se.Age >= 0 || arm.Stats().Accepted != 0 {
		t.Errorf("ReadState %v, stats %+v: want no state taken", err, arm.Stats())
	}
	if l := logs.String(); strings.Count(l, `kind="beyond joint limit"`) != 1 || !strings.Contains(l, `joint \"b\" at 6.0000 rad`) {
		t.Errorf("want one log naming joint b at 6 rad:\n%s", l)
	}
}

// TestLimitMargin: positions up to LimitMargin past a limit are taken (a real Franka
// reports them), beyond it rejected; an unlimited joint (±Inf) takes anything.
func TestLimitMargin(t *testing.T) {
	m := rostest.Start(t)
	arm, pub := dialWithStatePeer(t, ros.ArmConfig{MasterAddress: m.Addr, Joints: []string{"a", "b"}, StaleLimit: time.Minute,
		Lower: []float64{-1, math.Inf(-1)}, Upper: []float64{1, math.Inf(1)}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg := func(k int, a float64) *sensor_msgs.JointState {
		return &sensor_msgs.JointState{Header: std_msgs.Header{Stamp: time.Unix(int64(k), 0)}, Name: []string{"a", "b"},
			Position: []float64{a, 1e6}, Velocity: []float64{0, 0}}
	}
	for arm.Stats().Accepted == 0 {
		if ctx.Err() != nil {
			t.Fatal("no state from the peer")
		}
		pub.Write(msg(1, 0))
		time.Sleep(5 * time.Millisecond)
	}
	for i, tc := range []struct {
		a    float64
		take bool
	}{{1.0, true}, {1.049, true}, {-1.049, true}, {1.051, false}, {-1.051, false}, {math.Inf(1), false}} {
		k := 2 + i
		before := arm.Stats()
		pub.Write(msg(k, tc.a))
		for arm.Stats().Accepted == before.Accepted && arm.Stats().Rejected == before.Rejected {
			if ctx.Err() != nil {
				t.Fatalf("position %v: neither taken nor rejected", tc.a)
			}
			time.Sleep(time.Millisecond)
		}
		after := arm.Stats()
		if took := after.Accepted > before.Accepted; took != tc.take {
			t.Errorf("position %v with limit ±1 and margin 0.05: taken %v, want %v (stats %+v)", tc.a, took, tc.take, after)
		}
	}
}

// TestStaleOnFrozenPublisher: the rospy robot at 1 kHz is frozen (SIGSTOP) while a
// 1 kHz loop on a locked thread (SCHED_FIFO when permitted, as the daemon's) reads
// the Arm: ReadState reports the state stale within the default stale limit plus one tick
// of the freeze (the last state arrived before it), and fresh again once it resumes.
// The margin for the reading thread's own lateness is 2 ms under SCHED_FIFO, 15 ms
// without it.
func TestStaleOnFrozenPublisher(t *testing.T) {
	t.Parallel()
	m := rostest.Start(t)
	pub := startJointPub(t, m, "/fz/joint_states", "fz_arm", "0,0", "--rate", "1000")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	arm, err := ros.Dial(ctx, ros.ArmConfig{MasterAddress: m.Addr, Node: "fz_robotd", Joints: []string{"a", "b"},
		StateTopic: "/fz/joint_states", RTPriority: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer arm.Close()
	if err := arm.WaitState(ctx, 0); err != nil {
		t.Fatal(err)
	}
	limit := ros.ArmConfig{}.WithDefaults().StaleLimit
	type result struct {
		fifo           bool
		freshBefore    bool
		stopped, found time.Time
		age            time.Duration
		freshAgain     bool
		err            error
	}
	res := make(chan result, 1)
	go func() { // ends locked: its thread (maybe SCHED_FIFO) ends with it
		runtime.LockOSThread()
		var r result
		unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 80}
		r.fifo = unix.SchedSetAttr(0, &attr, 0) == nil
		st := drivers.NewState(arm.Info())
		var ts unix.Timespec
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		next := time.Duration(ts.Nano())
		tick := func() {
			next += time.Millisecond
			t := unix.NsecToTimespec(int64(next))
			for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &t, nil) == unix.EINTR {
			}
		}
		// Fresh before the freeze: a read without error.
		for range 2000 {
			tick()
			if arm.ReadState(st) == nil {
				r.freshBefore = true
				break
			}
		}
		if err := pub.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			r.err = err
			res <- r
			return
		}
		r.stopped = time.Now()
		for range 2000 {
			tick()
			var se *ros.StaleError
			if err := arm.ReadState(st); errors.As(err, &se) {
				r.found, r.age = time.Now(), se.Age
				break
			}
		}
		pub.cmd.Process.Signal(syscall.SIGCONT)
		for range 5000 {
			tick()
			if arm.ReadState(st) == nil {
				r.freshAgain = true
				break
			}
		}
		res <- r
	}()
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	margin := 2 * time.Millisecond
	if !r.fifo {
		margin = 15 * time.Millisecond
	}
	d := r.found.Sub(r.stopped)
	t.Logf("limit %v: stale %v after SIGSTOP (reported age %v); SCHED_FIFO reader %v, margin %v", limit, d, r.age, r.fifo, margin)
	switch {
	case !r.freshBefore:
		t.Fatal("no fresh state in 2 s before the freeze")
	case r.found.IsZero():
		t.Fatalf("no stale state in 2 s after SIGSTOP (limit %v)", limit)
	case d > limit+time.Millisecond+margin || r.age > limit+time.Millisecond+margin:
		t.Errorf("stale %v after SIGSTOP, reported age %v: want within the limit %v + a 1 ms tick + %v", d, r.age, limit, margin)
	case !r.freshAgain:
		t.Error("no fresh state within 5 s of SIGCONT")
	}
}
