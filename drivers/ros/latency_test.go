package ros

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/sim"
)

// The receive side of a joint state, stage by stage, against a real rospy publisher at
// 1 kHz (tools/bench/joint_state_pub.py) on a real rosmaster, read by the real daemon's
// control loop (daemon.Daemon: its realtime setup, SCHED_FIFO 80 when permitted, its
// state_stale watchdog) with robotd run's runtime settings (GOMAXPROCS >= 8, GOGC 400).
// Settings, from the environment:
//
//	ROBOTD_LAT_SECONDS    length of each run (default 10)
//	ROBOTD_LAT_RUNS       runs, each with a fresh publisher, Arm and daemon (default 1)
//	ROBOTD_LAT_STALE      the daemon's state_stale (default 1s: measure, do not trip)
//	ROBOTD_LAT_PUB_FIFO   SCHED_FIFO priority of the publisher process, every thread
//	                      (default 20, as a robot's realtime driver; 0: normal scheduling)
//	ROBOTD_LAT_LOAD       busy processes to run beside it (default 0)
//	ROBOTD_LAT_GOGC       GOGC (default 400, robotd run's)
//	ROBOTD_LAT_RX_PRIO    ArmConfig.RTPriority, the receiving threads' SCHED_FIFO priority
//	                      (default 80, control.rt_priority's default, as robotd run passes it)
//	ROBOTD_LAT_GOROSLIB   1: also a goroslib subscriber on the topic in the same process,
//	                      whose callback entry is the "goroslib" stage (the Arm's path
//	                      before stateSub), for a comparison within one run
//	ROBOTD_LAT_TRACE      file for an execution trace of the first run
//
// Each run logs its stage distributions; the metrics are over all runs.
func BenchmarkStateLatency(b *testing.B) {
	secs := envFloat("ROBOTD_LAT_SECONDS", 10)
	runs := int(envFloat("ROBOTD_LAT_RUNS", 1))
	stale := envDuration("ROBOTD_LAT_STALE", time.Second)
	pubFIFO := int(envFloat("ROBOTD_LAT_PUB_FIFO", 20))
	load := int(envFloat("ROBOTD_LAT_LOAD", 0))
	gogc := int(envFloat("ROBOTD_LAT_GOGC", 400))
	rxPrio := int(envFloat("ROBOTD_LAT_RX_PRIO", 80))
	withGoroslib := os.Getenv("ROBOTD_LAT_GOROSLIB") == "1"
	if pubFIFO > 0 && exec.Command("chrt", "-f", strconv.Itoa(pubFIFO), "true").Run() != nil {
		b.Logf("SCHED_FIFO %d refused for the publisher: normal scheduling", pubFIFO)
		pubFIFO = 0
	}
	// robotd run's runtime settings (cmd/robotd daemonConfig).
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(8, 4*runtime.NumCPU())))
	defer debug.SetGCPercent(debug.SetGCPercent(gogc))

	m := rostest.Start(b)
	scene := sim.Scene{}.WithDefaults()
	robot, err := control.ParseMJCF(scene.Model, scene.Tool)
	if err != nil {
		b.Fatal(err)
	}
	for range load {
		hog := exec.Command("sh", "-c", "while :; do :; done")
		if err := hog.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { hog.Process.Kill(); hog.Wait() }()
	}
	var all latencyRun
	trips := 0
	for b.Loop() {
		for r := range runs {
			lr := measureStateLatency(b, m, robot, latencySetup{secs: secs, stale: stale, pubFIFO: pubFIFO, rxPrio: rxPrio,
				goroslib: withGoroslib, trace: r == 0 && os.Getenv("ROBOTD_LAT_TRACE") != ""})
			b.Logf("run %d/%d (load %s): %s", r+1, runs, loadavg(), lr.summary())
			if lr.fault != "" {
				trips++
			}
			all.add(lr)
		}
	}
	all.sortAll()
	b.Logf("all runs: %s", all.summary())
	for _, st := range all.stages() {
		if len(st.d) == 0 {
			continue
		}
		b.ReportMetric(us(pct(st.d, 0.5)), st.name+"-p50-us")
		b.ReportMetric(us(pct(st.d, 0.99)), st.name+"-p99-us")
		b.ReportMetric(us(pct(st.d, 0.999)), st.name+"-p999-us")
		b.ReportMetric(us(pct(st.d, 1)), st.name+"-max-us")
	}
	b.ReportMetric(float64(trips), "stale-trips")
	b.ReportMetric(float64(runs), "runs")
	b.ReportMetric(all.pubMax, "pub-gap-max-ms")
	b.ReportMetric(float64(all.states), "states")
	b.ReportMetric(float64(all.skipped), "skipped")
	b.ReportMetric(float64(all.gcs), "gcs")
	b.ReportMetric(0, "ns/op")
}

// latencyRun is one run's (or all runs') per-stage samples.
type latencyRun struct {
	toCallback, inCallback, toRead, total, readGap, pubGap []time.Duration
	staleAge                                               []time.Duration // at each read without a new state: time since the last new one (the watchdog's now - lastNew)
	goroslib                                               []time.Duration // stamp -> a goroslib subscriber's callback (ROBOTD_LAT_GOROSLIB)
	states, skipped, gcs                                   int
	gcPauseMax                                             time.Duration
	pubMax                                                 float64 // the publisher's own largest gap between publishes (ms)
	pubBig                                                 [][2]float64
	late, gaps, stampGaps                                  [][2]float64 // (s, ms): callbacks > 5 ms after the stamp, loop reads > 5 ms apart
	fault                                                  string
}

type stage struct {
	name string
	d    []time.Duration
}

func (r *latencyRun) stages() []stage {
	return []stage{{"stamp-callback", r.toCallback}, {"callback", r.inCallback}, {"callback-read", r.toRead},
		{"stamp-read", r.total}, {"read-gap", r.readGap}, {"stamp-gap", r.pubGap}, {"watchdog-age", r.staleAge}, {"goroslib-stamp-callback", r.goroslib}}
}

func (r *latencyRun) add(o latencyRun) {
	r.toCallback = append(r.toCallback, o.toCallback...)
	r.inCallback = append(r.inCallback, o.inCallback...)
	r.toRead = append(r.toRead, o.toRead...)
	r.total = append(r.total, o.total...)
	r.readGap = append(r.readGap, o.readGap...)
	r.pubGap = append(r.pubGap, o.pubGap...)
	r.goroslib = append(r.goroslib, o.goroslib...)
	r.staleAge = append(r.staleAge, o.staleAge...)
	r.states += o.states
	r.skipped += o.skipped
	r.gcs += o.gcs
	r.gcPauseMax = max(r.gcPauseMax, o.gcPauseMax)
	r.pubMax = max(r.pubMax, o.pubMax)
}

func (r *latencyRun) sortAll() {
	for _, s := range r.stages() {
		slices.Sort(s.d)
	}
}

func (r *latencyRun) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d states, %d not read (a newer one came first), %d GCs (longest pause %v), publisher's largest gap %.2f ms",
		r.states, r.skipped, r.gcs, r.gcPauseMax, r.pubMax)
	if len(r.late) > 0 {
		fmt.Fprintf(&b, "\n  callbacks > 5 ms after the stamp (s, ms): %v", trimList(r.late))
	}
	if len(r.stampGaps) > 0 {
		fmt.Fprintf(&b, "\n  stamps > 5 ms apart (s, ms): %v", trimList(r.stampGaps))
	}
	if len(r.gaps) > 0 {
		fmt.Fprintf(&b, "\n  loop reads > 5 ms apart (s, ms): %v", trimList(r.gaps))
	}
	if r.fault != "" {
		fmt.Fprintf(&b, "; FAULT %s", r.fault)
	}
	for _, s := range r.stages() {
		if len(s.d) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n  %-15s p50 %7.0f us  p99 %7.0f us  p99.9 %7.0f us  max %7.0f us", s.name,
			us(pct(s.d, 0.5)), us(pct(s.d, 0.99)), us(pct(s.d, 0.999)), us(pct(s.d, 1)))
	}
	return b.String()
}

// trimList keeps the first of each run of entries less than 20 ms apart (a backlog is one
// event), up to 20.
func trimList(l [][2]float64) [][2]float64 {
	var out [][2]float64
	for i, e := range l {
		if i > 0 && e[0]-l[i-1][0] < 0.02 {
			if e[1] > out[len(out)-1][1] {
				out[len(out)-1][1] = e[1]
			}
			continue
		}
		out = append(out, e)
	}
	return out[:min(len(out), 20)]
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

// measureStateLatency is one run: a publisher process, an Arm with a trace, a daemon
// holding the arm for secs; then the trace cut into stages.
type latencySetup struct {
	secs            float64
	stale           time.Duration
	pubFIFO, rxPrio int
	goroslib, trace bool
}

func measureStateLatency(b *testing.B, m *rostest.Master, robot *control.Robot, ls latencySetup) latencyRun {
	secs, stale, pubFIFO, withTrace := ls.secs, ls.stale, ls.pubFIFO, ls.trace
	names := robot.JointNames()
	q0 := make([]string, len(names))
	for i, j := range robot.Joints {
		q0[i] = strconv.FormatFloat((j.Lower+j.Upper)/2, 'f', 4, 64)
	}
	script, err := findRepoFile("tools/bench/joint_state_pub.py")
	if err != nil {
		b.Skip(err)
	}
	args := []string{"/usr/bin/python3", script, "--topic", "/lat/joint_states", "--names", strings.Join(names, ","), "--q0", strings.Join(q0, ",")}
	if pubFIFO > 0 {
		args = append([]string{"chrt", "-f", strconv.Itoa(pubFIFO)}, args...)
	}
	pub := m.Command(args[0], args[1:]...)
	in, err := pub.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	var out strings.Builder
	pub.Stdout, pub.Stderr = &out, os.Stderr
	if err := pub.Start(); err != nil {
		b.Fatal(err)
	}
	var once sync.Once
	stopPub := func() {
		once.Do(func() {
			in.Close()
			done := make(chan struct{})
			go func() { pub.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				pub.Process.Kill()
				<-done
			}
		})
	}
	defer stopPub()

	n := int(secs*1000*1.5) + 20000
	tr := newStateTrace(n)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	arm, err := Dial(ctx, ArmConfig{MasterAddress: m.Addr, Node: "lat_robotd", Joints: names, StateTopic: "/lat/joint_states",
		Controller: "/lat/effort_controller", StaleLimit: stale, Logger: log, RTPriority: ls.rxPrio, trace: tr})
	if err != nil {
		b.Fatal(err)
	}
	defer arm.Close()
	var probe []int64 // goroslib callback entry - stamp, stamp (ns), by message
	closeProbe := func() {}
	if ls.goroslib {
		probe = make([]int64, 0, n)
		var pmu sync.Mutex
		node, err := goroslib.NewNode(goroslib.NodeConf{MasterAddress: m.Addr, Name: "lat_goroslib",
			LogLevel: goroslib.LogLevelWarn, LogDestinations: goroslib.LogDestinationConsole})
		if err != nil {
			b.Fatal(err)
		}
		sub, err := goroslib.NewSubscriber(goroslib.SubscriberConf{Node: node, Topic: "/lat/joint_states",
			Callback: func(js *sensor_msgs.JointState) {
				now := time.Now().UnixNano()
				pmu.Lock()
				if len(probe) < cap(probe) {
					probe = append(probe, now-js.Header.Stamp.UnixNano(), js.Header.Stamp.UnixNano())
				}
				pmu.Unlock()
			}})
		if err != nil {
			node.Close()
			b.Fatal(err)
		}
		closeProbe = func() { sub.Close(); node.Close(); closeProbe = func() {} }
		defer func() { closeProbe() }()
	}
	if err := arm.WaitState(ctx, 0); err != nil {
		b.Fatal(err)
	}
	d, err := daemon.New(daemon.Config{StateStale: stale, RTPriority: 80, Duration: time.Duration(secs * float64(time.Second)), Logger: log},
		daemon.Ports{Arm: arm, Robot: robot, ArmName: "arm.ros (/lat/joint_states)"})
	if err != nil {
		b.Fatal(err)
	}
	first := arm.Stats().Accepted + 1
	if withTrace {
		f, err := os.Create(os.Getenv("ROBOTD_LAT_TRACE"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		trace.Start(f)
		defer trace.Stop()
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	var r latencyRun
	if err := d.Run(context.Background()); err != nil {
		r.fault = err.Error()
	}
	runtime.ReadMemStats(&ms1)
	closeProbe()
	last := arm.Stats().Accepted
	stopPub()
	arm.Close()
	var ps struct {
		Sent int
		Max  float64
		Big  [][2]float64
	}
	if err := json.Unmarshal([]byte(out.String()), &ps); err != nil {
		b.Errorf("publisher output %q: %v", out.String(), err)
	}
	r.pubMax, r.pubBig = ps.Max, ps.Big
	r.gcs = int(ms1.NumGC - ms0.NumGC)
	for g := ms0.NumGC; g < ms1.NumGC; g++ {
		r.gcPauseMax = max(r.gcPauseMax, time.Duration(ms1.PauseNs[(g+255)%256]))
	}
	// From 1 s after the loop's first read (the loop starting, SCHED_FIFO, the first
	// reads of a backlog are not the steady state).
	var from int64
	for s := first; s <= min(last, uint64(n)); s++ {
		if tr.take[s] != 0 {
			from = tr.take[s] + int64(time.Second)
			break
		}
	}
	var prevTake, prevStamp int64
	t0 := from
	for s := first; s <= min(last, uint64(n)); s++ {
		if tr.stamp[s] == 0 || tr.entry[s] < from {
			continue
		}
		if late := time.Duration(tr.entry[s] - tr.stamp[s]); late > 5*time.Millisecond {
			r.late = append(r.late, [2]float64{float64(tr.stamp[s]-t0) / 1e9, float64(late) / 1e6})
		}
		r.states++
		if prevStamp != 0 {
			g := time.Duration(tr.stamp[s] - prevStamp)
			r.pubGap = append(r.pubGap, g)
			if g > 5*time.Millisecond {
				r.stampGaps = append(r.stampGaps, [2]float64{float64(tr.stamp[s]-t0) / 1e9, float64(g) / 1e6})
			}
		}
		prevStamp = tr.stamp[s]
		r.toCallback = append(r.toCallback, time.Duration(tr.entry[s]-tr.stamp[s]))
		r.inCallback = append(r.inCallback, time.Duration(tr.accept[s]-tr.entry[s]))
		if tr.take[s] == 0 {
			r.skipped++
			continue
		}
		r.toRead = append(r.toRead, time.Duration(tr.take[s]-tr.accept[s]))
		r.total = append(r.total, time.Duration(tr.take[s]-tr.stamp[s]))
		if prevTake != 0 {
			g := time.Duration(tr.take[s] - prevTake)
			r.readGap = append(r.readGap, g)
			if g > 5*time.Millisecond {
				r.gaps = append(r.gaps, [2]float64{float64(tr.take[s]-t0) / 1e9, float64(g) / 1e6})
			}
		}
		prevTake = tr.take[s]
	}
	// The watchdog's view from the same point on.
	for i, a := range tr.ages {
		if tr.ageAt[i] >= from {
			r.staleAge = append(r.staleAge, time.Duration(a)*time.Microsecond)
		}
	}
	for i := 0; i+1 < len(probe); i += 2 {
		if probe[i+1] >= from {
			r.goroslib = append(r.goroslib, time.Duration(probe[i]))
		}
	}
	r.sortAll()
	return r
}

func envFloat(key string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(key), 64); err == nil {
		return v
	}
	return def
}

func envDuration(key string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(key)); err == nil {
		return v
	}
	return def
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// findRepoFile finds a repository file from the package directory.
func findRepoFile(rel string) (string, error) {
	for dir := "."; len(dir) < 40; dir = "../" + dir {
		p := dir + "/" + rel
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found above the working directory", rel)
}
