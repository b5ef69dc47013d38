package ros_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/sim/rosbridge"
)

// The round-trip benchmark's exchange. A rosbridge.Server publishes the MuJoCo arm's JointState
// at 1 kHz (one 1 ms step each); a responder in another process (robotd's Arm, or rospy)
// answers every state it sees with an effort command whose last torque carries the
// state's identity: its stamp in ms after the sim epoch (1 s), times 1e-6 Nm (at most
// 0.01 Nm: harmless to the arm, which keeps moving under the sim's own compensation).
// A probe subscriber in the sim's process notes when each identity first comes back.
const (
	rttEpoch     = time.Second            // rosbridge.ServerConfig.Epoch's default
	rttUnit      = 1e-6                   // Nm per ms of identity
	rttResponder = "ROBOTD_RTT_RESPONDER" // master address|namespace|mode, for TestRTTResponder
	rttQueue     = 256                    // ArmConfig.Queue of the paced responder, rospy's queue_size
)

func rttID(stamp time.Duration) int {
	return int((stamp - rttEpoch + time.Millisecond/2) / time.Millisecond)
}

// setTimerSlack asks the kernel for 1 ns timer slack on this thread (the default 50 us
// would blur every sleep below).
func setTimerSlack() {
	const prSetTimerslack = 29
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerslack, 1, 0)
}

// nanosleep sleeps on the calling OS thread (Go's timers wake up to 1 ms late here).
func nanosleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}

// TestRTTResponder is not a test: it is robotd's side of BenchmarkJointStateRTT, run in a
// process of its own (this test binary, with ROBOTD_RTT_RESPONDER=addr|ns|mode) as the
// rospy peer is: a robotd Arm on <ns>/joint_states answering each state with WriteTorque
// until its stdin closes. Modes:
//   - "paced": a robot-paced loop, Arm.NextState with ArmConfig.Queue rttQueue, on a
//     goroutine not locked to an OS thread (every state answered, in order);
//   - "polled": a loop on a locked OS thread polling ReadState every 50 us (latest
//     value only, as a clock-paced loop reads it; states that land between two polls go
//     unanswered).
func TestRTTResponder(t *testing.T) {
	spec := strings.Split(os.Getenv(rttResponder), "|")
	if len(spec) != 3 {
		t.Skip("the robotd process of BenchmarkJointStateRTT")
	}
	addr, ns, mode := spec[0], spec[1], spec[2]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	defer dcancel()
	cfg := ros.ArmConfig{MasterAddress: addr, Node: "rtt_robotd",
		Joints:     []string{"joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "joint7"},
		StateTopic: ns + "/joint_states", Controller: ns + "/effort_controller", StaleLimit: time.Hour}
	if mode == "paced" {
		cfg.Queue = rttQueue
	}
	arm, err := ros.Dial(dctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer arm.Close()
	var stop atomic.Bool
	go func() { io.Copy(io.Discard, os.Stdin); stop.Store(true); cancel() }()
	st := drivers.NewState(arm.Info())
	tau := make([]float64, len(st.Q))
	answer := func() {
		tau[6] = float64(rttID(st.Time)) * rttUnit
		if err := arm.WriteTorque(tau); err != nil {
			t.Fatal(err)
		}
	}
	switch mode {
	case "paced":
		for {
			err := arm.NextState(ctx, st)
			if ctx.Err() != nil {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			answer()
		}
	case "polled":
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		setTimerSlack()
		var last uint64
		for !stop.Load() {
			if err := arm.ReadState(st); (err == nil || errors.Is(err, ros.ErrStale)) && st.Seq != last && st.Seq != 0 {
				last = st.Seq
				answer()
			}
			nanosleep(50 * time.Microsecond)
		}
	default:
		t.Fatalf("responder mode %q, want paced or polled", mode)
	}
	if s := arm.Stats(); s.QueueDrops != 0 || s.CommandDrops != 0 {
		t.Errorf("queue drops: %d states, %d commands", s.QueueDrops, s.CommandDrops)
	}
}

// rttRun is one measured exchange.
type rttRun struct {
	p50, p99, max time.Duration
	states, lost  int
	late          int     // sim ticks that started more than 1 ms after their deadline
	rate          float64 // states published per second of wall time
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// measureRTT serves the sim on <ns>, starts the responder (cmd, already configured, with
// stdin to close at the end), and measures n states after warm states of warm-up.
func measureRTT(b *testing.B, m *rostest.Master, ns string, cmd *exec.Cmd, warm, n int) rttRun {
	simArm, err := mujoco.NewArm(sim.Scene{})
	if err != nil {
		b.Fatal(err)
	}
	defer simArm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := rosbridge.NewServer(ctx, simArm, rosbridge.ServerConfig{MasterAddress: m.Addr, Node: "rtt_sim" + ns[1:],
		StateTopic: ns + "/joint_states", Controller: ns + "/effort_controller"})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()

	total := warm + n
	start := time.Now()
	sent := make([]atomic.Int64, total+1) // by identity: ns after start at publication
	back := make([]atomic.Int64, total+1) // by identity: ns after start at first answer
	var answers, foreign atomic.Int64
	node, err := goroslib.NewNode(goroslib.NodeConf{MasterAddress: m.Addr, Name: "rtt_probe" + ns[1:],
		LogLevel: goroslib.LogLevelWarn, LogDestinations: goroslib.LogDestinationConsole})
	if err != nil {
		b.Fatal(err)
	}
	defer node.Close()
	probe, err := goroslib.NewSubscriber(goroslib.SubscriberConf{Node: node, Topic: ns + "/effort_controller/command",
		Callback: func(c *std_msgs.Float64MultiArray) {
			now := time.Since(start)
			answers.Add(1)
			if len(c.Data) != 7 {
				foreign.Add(1)
				return
			}
			id := int(math.Round(c.Data[6] / rttUnit))
			if id < 0 || id > total {
				foreign.Add(1)
				return
			}
			back[id].CompareAndSwap(0, int64(now))
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer probe.Close()

	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Signal(syscall.SIGTERM)
			<-done
		}
	}()
	// Handshake: the unstepped state (identity 0) until its answer comes back.
	for back[0].Load() == 0 {
		if ctx.Err() != nil {
			b.Fatalf("%s: no answer from the responder within 20 s", ns)
		}
		if err := srv.Publish(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The 1 kHz sim: a locked thread waking at absolute 1 ms deadlines.
	runtime.LockOSThread()
	setTimerSlack()
	var late int
	t0 := time.Since(start)
	for k := 1; k <= total; k++ {
		deadline := t0 + time.Duration(k)*time.Millisecond
		if d := deadline - time.Since(start); d > 0 {
			nanosleep(d)
		} else if d < -time.Millisecond && k > warm {
			late++
		}
		sent[k].Store(int64(time.Since(start)))
		if err := srv.Step(time.Millisecond); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start) - t0
	runtime.UnlockOSThread()
	// Grace for the last answers: 100 ms, far above any round trip seen.
	grace := time.Now().Add(100 * time.Millisecond)
	for back[total].Load() == 0 && time.Now().Before(grace) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)

	r := rttRun{states: n, late: late, rate: float64(total) / elapsed.Seconds()}
	lat := make([]time.Duration, 0, n)
	for k := warm + 1; k <= total; k++ {
		if a := back[k].Load(); a == 0 {
			r.lost++
		} else {
			lat = append(lat, time.Duration(a-sent[k].Load()))
		}
	}
	slices.Sort(lat)
	r.p50, r.p99 = percentile(lat, 0.50), percentile(lat, 0.99)
	if len(lat) > 0 {
		r.max = lat[len(lat)-1]
	}
	if foreign.Load() != 0 {
		b.Errorf("%s: %d commands without a valid identity", ns, foreign.Load())
	}
	return r
}

func rttSeconds() float64 {
	if s, err := strconv.ParseFloat(os.Getenv("ROBOTD_RTT_SECONDS"), 64); err == nil && s > 0 {
		return s
	}
	return 10
}

// BenchmarkJointStateRTT: JointState round trip sim -> responder -> effort command -> sim
// over a real rosmaster, 1 kHz for ROBOTD_RTT_SECONDS (default 10) after 1 s of warm-up;
// robotd (its Arm and a robot-paced loop, in a process of its own: TestRTTResponder) and
// then rospy (tools/bench/ros_rtt_peer.py) in the responder's seat, both with a queue of
// rttQueue states. Run with -benchtime 1x. For comparisons: ROBOTD_RTT_MODE=polled runs
// robotd's other responder; ROBOTD_RTT_PROCS and ROBOTD_RTT_GOGC set its GOMAXPROCS and
// GOGC (default 8 and 400, as robotd run sets them); ROBOTD_RTT_PROFILE=dir writes its
// CPU and heap profiles and an execution trace there.
func BenchmarkJointStateRTT(b *testing.B) {
	n := int(rttSeconds() * 1000)
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	report := func(b *testing.B, r rttRun) {
		b.ReportMetric(float64(r.p50.Microseconds()), "p50-us")
		b.ReportMetric(float64(r.p99.Microseconds()), "p99-us")
		b.ReportMetric(float64(r.max.Microseconds()), "max-us")
		b.ReportMetric(float64(r.lost), "lost")
		b.ReportMetric(float64(r.states), "states")
		b.ReportMetric(float64(r.late), "late-ticks")
		b.ReportMetric(r.rate, "states/s")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("robotd", func(b *testing.B) {
		m := rostest.Start(b) // a master per responder: nothing left over from the other
		for b.Loop() {
			cmd := exec.Command(self, "-test.run", "^TestRTTResponder$", "-test.timeout", "10m")
			if dir := os.Getenv("ROBOTD_RTT_PROFILE"); dir != "" {
				cmd.Args = append(cmd.Args, "-test.cpuprofile", dir+"/responder.cpu", "-test.trace", dir+"/responder.trace", "-test.memprofile", dir+"/responder.mem")
			}
			mode := os.Getenv("ROBOTD_RTT_MODE")
			if mode == "" {
				mode = "paced"
			}
			procs := os.Getenv("ROBOTD_RTT_PROCS")
			if procs == "" { // more Ps than cores, as SETUP.md recommends for robotd
				procs = "8"
			}
			gogc := os.Getenv("ROBOTD_RTT_GOGC")
			if gogc == "" { // as robotd run sets it (fewer collections)
				gogc = "400"
			}
			cmd.Env = append(os.Environ(), rttResponder+"="+m.Addr+"|/rtt_robotd|"+mode, "GOMAXPROCS="+procs, "GOGC="+gogc)
			report(b, measureRTT(b, m, "/rtt_robotd", cmd, 1000, n))
		}
	})
	b.Run("rospy", func(b *testing.B) {
		const py = "/usr/bin/python3"
		peer, err := findUp("tools/bench/ros_rtt_peer.py")
		if err != nil {
			b.Skip(err)
		}
		m := rostest.Start(b)
		for b.Loop() {
			cmd := exec.Command(py, peer, "--ns", "/rtt_rospy", "--queue", strconv.Itoa(rttQueue))
			cmd.Env = m.Env()
			report(b, measureRTT(b, m, "/rtt_rospy", cmd, 1000, n))
		}
	})
}

// findUp finds a repository file from the package directory.
func findUp(rel string) (string, error) {
	for dir := "."; len(dir) < 40; dir = "../" + dir {
		p := dir + "/" + rel
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found above the working directory", rel)
}

// BenchmarkSubscriberQueueDrops quantifies goroslib's silent drops: one rosbridge.Server
// publishes JointState at 1 kHz for ROBOTD_RTT_SECONDS/2 to subscribers with different
// SubscriberConf.QueueSize, each in its own node, half of them with a callback that
// stalls 20 ms every 100 messages (a GC pause, a contended lock, a descheduled thread).
// Each counts header seq gaps (lost messages) and the worst delivery delay; robotd's Arm
// (QueueSize 0, goroslib's default) listens too, and only its Accepted count can show a
// loss, since it keeps no header seq.
func BenchmarkSubscriberQueueDrops(b *testing.B) {
	m := rostest.Start(b)
	simArm, err := mujoco.NewArm(sim.Scene{})
	if err != nil {
		b.Fatal(err)
	}
	defer simArm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := rosbridge.NewServer(ctx, simArm, rosbridge.ServerConfig{MasterAddress: m.Addr, StateTopic: "/q/joint_states", Controller: "/q/effort_controller"})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	arm, err := ros.Dial(ctx, ros.ArmConfig{MasterAddress: m.Addr, Node: "q_arm", Joints: simArm.Info().Joints,
		StateTopic: "/q/joint_states", Controller: "/q/effort_controller", StaleLimit: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer arm.Close()

	n := int(rttSeconds() * 500)
	start := time.Now()
	sent := make([]atomic.Int64, n+1) // by seq - base: ns after start at publication
	var base atomic.Int64             // the last handshake seq; measured seqs follow
	type counter struct {
		name        string
		queue       uint
		stall       bool
		seen        atomic.Bool
		got, lost   atomic.Int64
		last, worst atomic.Int64
	}
	var subs []*counter
	for _, q := range []uint{0, 1, 10, 100} {
		for _, stall := range []bool{false, true} {
			c := &counter{queue: q, stall: stall, name: fmt.Sprintf("queue%d", q)}
			if stall {
				c.name += "-stall"
			}
			subs = append(subs, c)
			node, err := goroslib.NewNode(goroslib.NodeConf{MasterAddress: m.Addr, Name: "q_" + c.name,
				LogLevel: goroslib.LogLevelWarn, LogDestinations: goroslib.LogDestinationConsole})
			if err != nil {
				b.Fatal(err)
			}
			defer node.Close()
			sub, err := goroslib.NewSubscriber(goroslib.SubscriberConf{Node: node, Topic: "/q/joint_states", QueueSize: q,
				Callback: func(s *sensor_msgs.JointState) {
					c.seen.Store(true)
					b0 := base.Load()
					k := int64(s.Header.Seq) - b0
					if b0 == 0 || k < 1 || k > int64(n) {
						return // the handshake
					}
					if last := c.last.Swap(k); k > last+1 {
						c.lost.Add(k - last - 1)
					}
					c.got.Add(1)
					delay := int64(time.Since(start)) - sent[k].Load()
					for w := c.worst.Load(); delay > w && !c.worst.CompareAndSwap(w, delay); w = c.worst.Load() {
					}
					if c.stall && k%100 == 0 {
						time.Sleep(20 * time.Millisecond)
					}
				}})
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Close()
		}
	}
	// Handshake: unstepped states until every subscriber has one.
	published := int64(0)
	for arm.Stats().Accepted == 0 || slices.ContainsFunc(subs, func(c *counter) bool { return !c.seen.Load() }) {
		if ctx.Err() != nil {
			b.Fatal("subscribers did not connect within 20 s")
		}
		if err := srv.Publish(); err != nil {
			b.Fatal(err)
		}
		published++
		time.Sleep(10 * time.Millisecond)
	}
	base.Store(published)
	arm0 := arm.Stats().Accepted
	for b.Loop() {
		runtime.LockOSThread()
		setTimerSlack()
		t0 := time.Since(start)
		for k := 1; k <= n; k++ {
			if d := t0 + time.Duration(k)*time.Millisecond - time.Since(start); d > 0 {
				nanosleep(d)
			}
			sent[k].Store(int64(time.Since(start)))
			if err := srv.Step(time.Millisecond); err != nil {
				b.Fatal(err)
			}
		}
		runtime.UnlockOSThread()
	}
	// Let the backlogs drain: every subscriber's count stops changing for 100 ms.
	for prev := int64(-1); ; {
		sum := int64(0)
		for _, c := range subs {
			sum += c.got.Load()
		}
		if sum == prev || ctx.Err() != nil {
			break
		}
		prev = sum
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range subs {
		lost := c.lost.Load() + int64(n) - c.last.Load() // gaps, and the tail never seen
		b.ReportMetric(float64(lost), c.name+"-lost")
		b.ReportMetric(float64(time.Duration(c.worst.Load()).Milliseconds()), c.name+"-worst-ms")
	}
	b.ReportMetric(float64(int64(n)-int64(arm.Stats().Accepted-arm0)), "arm-lost")
	b.ReportMetric(float64(n), "states")
	b.ReportMetric(0, "ns/op")
}
