package ros_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-gl/mathgl/mgl64"
	"go.yaml.in/yaml/v3"

	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
)

func newStatus(t testing.TB, m *rostest.Master, cfg ros.StatusConfig) *ros.StatusPublisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg.MasterAddress = m.Addr
	p, err := ros.NewStatusPublisher(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// echoYAML decodes the one message `rostopic echo -n 1` printed (YAML, then "---").
func echoYAML(t *testing.T, topic, out string, dst any) {
	t.Helper()
	doc, _, _ := strings.Cut(out, "\n---")
	if err := yaml.Unmarshal([]byte(doc), dst); err != nil {
		t.Fatalf("rostopic echo %s: %v in\n%s", topic, err, out)
	}
}

type rosStamp struct {
	Secs  int64 `yaml:"secs"`
	Nsecs int64 `yaml:"nsecs"`
}

type rosHeader struct {
	Stamp   rosStamp `yaml:"stamp"`
	FrameID string   `yaml:"frame_id"`
}

// TestStatusRostopicEcho: Debian's rostopic decodes the setpoint, the latched mode and
// the diagnostics robotd publishes.
func TestStatusRostopicEcho(t *testing.T) {
	m := rostest.Start(t)
	p := newStatus(t, m, ros.StatusConfig{DiagnosticsPeriod: 50 * time.Millisecond})
	pos := mgl64.Vec3{0.4, -0.125, 0.3}
	quat := mgl64.QuatRotate(0.3, mgl64.Vec3{0, 0, 1}).Mul(mgl64.QuatRotate(math.Pi, mgl64.Vec3{1, 0, 0}))
	const t0 = 12*time.Second + 500*time.Millisecond

	p.SetMode("hold")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for p.Stats().Modes == 0 {
		if ctx.Err() != nil {
			t.Fatal("mode not published within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	p.SetDiagnostics(ros.LevelWarn, "deadline misses", []ros.KeyValue{
		{Key: "loop_jitter_p99_us", Value: 23.5}, {Key: "loop_misses", Value: 3},
		{Key: "inference_latency_ms", Value: 41.25}, {Key: "watchdog_trips", Value: 0},
	})
	// A control loop: a fresh setpoint every millisecond (only fresh ones are published).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				p.SetSetpoint(pos, quat, t0)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	topics := []string{"/robotd/setpoint", "/robotd/mode", "/diagnostics"}
	outs := make([]string, len(topics))
	errs := make([]error, len(topics))
	var echo sync.WaitGroup
	for i, topic := range topics {
		echo.Add(1)
		go func() {
			defer echo.Done()
			outs[i], errs[i] = m.Run(t, 15*time.Second, "rostopic", "echo", "-n", "1", topic)
		}()
	}
	echo.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("rostopic echo -n 1 %s: %v\n%s", topics[i], err, outs[i])
		}
	}

	var sp struct {
		Header rosHeader `yaml:"header"`
		Pose   struct {
			Position    struct{ X, Y, Z float64 }    `yaml:"position"`
			Orientation struct{ X, Y, Z, W float64 } `yaml:"orientation"`
		} `yaml:"pose"`
	}
	echoYAML(t, topics[0], outs[0], &sp)
	got := []float64{sp.Pose.Position.X, sp.Pose.Position.Y, sp.Pose.Position.Z,
		sp.Pose.Orientation.W, sp.Pose.Orientation.X, sp.Pose.Orientation.Y, sp.Pose.Orientation.Z}
	want := []float64{pos[0], pos[1], pos[2], quat.W, quat.V[0], quat.V[1], quat.V[2]}
	// rostopic prints 9 significant digits.
	if d := maxDiff(got, want); d > 1e-8 {
		t.Errorf("setpoint (x y z, w x y z) %v, want %v (tolerance 1e-8)\n%s", got, want, outs[0])
	}
	if sp.Header.Stamp != (rosStamp{12, 500000000}) || sp.Header.FrameID != "base" {
		t.Errorf("setpoint header %+v, want stamp 12.5 s in frame base", sp.Header)
	}

	var mode struct{ Data string }
	echoYAML(t, topics[1], outs[1], &mode)
	if mode.Data != "hold" {
		t.Errorf("mode %q, want hold\n%s", mode.Data, outs[1])
	}
	// The mode was published once, before rostopic subscribed: it got the latched copy.
	if n := p.Stats().Modes; n != 1 {
		t.Errorf("%d mode publications, want 1 (the latched one)", n)
	}

	var diag struct {
		Header rosHeader `yaml:"header"`
		Status []struct {
			Level   int
			Name    string
			Message string
			Values  []struct{ Key, Value string }
		} `yaml:"status"`
	}
	echoYAML(t, topics[2], outs[2], &diag)
	if len(diag.Status) != 1 {
		t.Fatalf("diagnostics: %d statuses, want 1\n%s", len(diag.Status), outs[2])
	}
	st := diag.Status[0]
	kv := fmt.Sprint(st.Values)
	if st.Level != 1 || st.Name != "robotd" || st.Message != "deadline misses" ||
		kv != "[{loop_jitter_p99_us 23.5} {loop_misses 3} {inference_latency_ms 41.25} {watchdog_trips 0}]" {
		t.Errorf("diagnostics status level %d name %q message %q values %s, want WARN(1) robotd \"deadline misses\" and the four values\n%s",
			st.Level, st.Name, st.Message, kv, outs[2])
	}
	if age := time.Since(time.Unix(diag.Header.Stamp.Secs, diag.Header.Stamp.Nsecs)); age < 0 || age > time.Minute {
		t.Errorf("diagnostics stamp %+v is %v from now, want the node's (wall) clock", diag.Header.Stamp, age)
	}
}

// TestStatusSetNoAllocs: the hand-offs the control loop and the state machine call
// allocate nothing. The publication periods are long, so that the publisher goroutine
// (which allocates every message) stays idle while allocations are counted.
func TestStatusSetNoAllocs(t *testing.T) {
	// No master watch: AllocsPerRun counts the whole process, and its checks allocate.
	p := newStatus(t, rostest.Start(t), ros.StatusConfig{SetpointPeriod: time.Hour, DiagnosticsPeriod: time.Hour, MaxKeyValues: 4, MasterCheck: -1})
	kv := []ros.KeyValue{{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}, {"e", 5}}
	modes := []string{"hold", "run"}
	var i int
	allocs := map[string]float64{
		"SetSetpoint": testing.AllocsPerRun(1000, func() {
			i++
			p.SetSetpoint(mgl64.Vec3{float64(i), 0, 0}, mgl64.QuatIdent(), time.Duration(i))
		}),
		"SetMode":        testing.AllocsPerRun(1000, func() { i++; p.SetMode(modes[i%2]) }),
		"SetDiagnostics": testing.AllocsPerRun(1000, func() { i++; p.SetDiagnostics(ros.LevelOK, "", kv[:i%6]) }),
	}
	for name, n := range allocs {
		if n != 0 {
			t.Errorf("%s allocates %v times per call", name, n)
		}
	}
	// kv[:5] (one call in six) is over capacity.
	if st := p.Stats(); st.Truncated == 0 || st.Setpoints != 0 {
		t.Errorf("stats %+v: want truncated snapshots counted and nothing published", st)
	}
}

func TestStatusConfigErrors(t *testing.T) {
	for name, cfg := range map[string]ros.StatusConfig{
		"negative period": {SetpointPeriod: -time.Second},
		"negative keys":   {MaxKeyValues: -1},
		"bad namespace":   {Namespace: "/robot d"},
	} {
		if _, err := ros.NewStatusPublisher(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "status config") {
			t.Errorf("%s: err = %v, want a config error", name, err)
		}
	}
	cfg := ros.StatusConfig{Namespace: "arm2/"}.WithDefaults()
	if cfg.SetpointTopic() != "/arm2/setpoint" || cfg.ModeTopic() != "/arm2/mode" || cfg.DiagnosticsTopic != "/diagnostics" {
		t.Errorf("topics %s %s %s", cfg.SetpointTopic(), cfg.ModeTopic(), cfg.DiagnosticsTopic)
	}
}
