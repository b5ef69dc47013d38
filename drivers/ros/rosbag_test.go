package ros_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-gl/mathgl/mgl64"
	"go.yaml.in/yaml/v3"

	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/sim/rosbridge"
)

// xmlrpc posts one call with string parameters and returns the response body.
func xmlrpc(uri, method string, params ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0"?><methodCall><methodName>%s</methodName><params>`, method)
	for _, p := range params {
		fmt.Fprintf(&b, `<param><value><string>%s</string></value></param>`, p)
	}
	b.WriteString(`</params></methodCall>`)
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Post(uri, "text/xml", strings.NewReader(b.String()))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

var nodeURI = regexp.MustCompile(`>(http://[^<]+)<`)

// connections counts the live connections between node and peer, as node's getBusInfo
// (the ROS slave API) lists them: for a goroslib publisher, one per connected subscriber.
func connections(m *rostest.Master, node, peer string) int {
	body, err := xmlrpc(m.URI, "lookupNode", "/rostest", node)
	if err != nil {
		return 0
	}
	u := nodeURI.FindStringSubmatch(body)
	if u == nil {
		return 0
	}
	body, err = xmlrpc(u[1], "getBusInfo", "/rostest")
	if err != nil {
		return 0
	}
	return strings.Count(body, ">"+peer+"<")
}

type bagInfo struct {
	Messages int `yaml:"messages"`
	Topics   []struct {
		Topic    string `yaml:"topic"`
		Type     string `yaml:"type"`
		Messages int    `yaml:"messages"`
	} `yaml:"topics"`
}

// TestRosbagRecordsRun: Debian's `rosbag record` records a short closed-loop robotd run
// (rosbridge.Server at about 1 kHz, the Arm answering every state, the StatusPublisher fed by
// the loop), and `rosbag info --yaml` lists every topic with its type and count.
func TestRosbagRecordsRun(t *testing.T) {
	t.Parallel()
	m := rostest.Start(t)
	srv, simArm := newServer(t, m, rosbridge.ServerConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	arm, err := ros.Dial(ctx, ros.ArmConfig{MasterAddress: m.Addr, Joints: simArm.Info().Joints, StaleLimit: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer arm.Close()
	status, err := ros.NewStatusPublisher(ctx, ros.StatusConfig{MasterAddress: m.Addr, DiagnosticsPeriod: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	statusOpen := true
	defer func() {
		if statusOpen {
			status.Close()
		}
	}()
	status.SetMode("idle") // published and latched before the recorder exists

	if _, err := exec.LookPath("rosbag"); err != nil {
		t.Skip("rosbag not installed (python3-rosbag; run scripts/setup.sh)")
	}
	bag := filepath.Join(t.TempDir(), "run.bag")
	topics := []string{"/joint_states", "/effort_controller/command", "/robotd/setpoint", "/robotd/mode", "/diagnostics"}
	rec := m.Command("rosbag", append([]string{"record", "--tcpnodelay", "-O", bag, "__name:=bagrec"}, topics...)...)
	var recOut bytes.Buffer
	rec.Stdout, rec.Stderr = &recOut, &recOut
	// rosbag record is a Python wrapper around /usr/lib/rosbag/record: a process group
	// of its own, so that the signals reach both.
	rec.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	rec.WaitDelay = 5 * time.Second
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	recDone := make(chan error, 1)
	go func() { recDone <- rec.Wait() }()
	defer func() {
		select {
		case <-recDone:
		default:
			syscall.Kill(-rec.Process.Pid, syscall.SIGKILL)
			<-recDone
		}
	}()
	// Record from a known point: every publisher has the recorder connected.
	for connections(m, "/robotd_sim", "/bagrec") < 1 || connections(m, "/robotd", "/bagrec") < 1 ||
		connections(m, "/robotd_status", "/bagrec") < 3 {
		if ctx.Err() != nil {
			t.Fatalf("rosbag record did not connect to every topic within 20 s:\n%s", recOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The run: a 1 ms step, a state, a command answering it, a setpoint; the mode
	// changes half way; a diagnostics snapshot every 100 ticks.
	const ticks = 800
	st := drivers.NewState(arm.Info())
	tau := make([]float64, len(st.Q))
	var states int
	for k := 0; k < ticks; k++ {
		if err := srv.Step(time.Millisecond); err != nil {
			t.Fatal(err)
		}
		states++
		if arm.ReadState(st) == nil {
			for i := range tau {
				tau[i] = -0.1 * st.DQ[i]
			}
			if err := arm.WriteTorque(tau); err != nil {
				t.Fatal(err)
			}
		}
		status.SetSetpoint(mgl64.Vec3{0.4, 0, 0.3 + 1e-4*float64(k)}, mgl64.QuatIdent(), st.Time)
		if k == ticks/2 {
			status.SetMode("running")
		}
		if k%100 == 0 {
			status.SetDiagnostics(ros.LevelOK, "", []ros.KeyValue{{Key: "tick", Value: float64(k)}})
		}
		time.Sleep(time.Millisecond)
	}
	if err := arm.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Let the last messages reach the recorder before closing: goroslib drops what a
	// publisher still has queued when it closes, and the count below is exact.
	time.Sleep(300 * time.Millisecond)
	status.Close()
	statusOpen = false
	sent := status.Stats()
	commands := arm.Stats().Published
	syscall.Kill(-rec.Process.Pid, syscall.SIGINT)
	select {
	case err := <-recDone:
		recDone <- err
	case <-time.After(10 * time.Second):
		t.Fatalf("rosbag record did not stop on SIGINT:\n%s", recOut.String())
	}

	out, err := m.Run(t, 15*time.Second, "rosbag", "info", "--yaml", bag)
	if err != nil {
		t.Fatalf("rosbag info: %v\n%s\nrecord:\n%s", err, out, recOut.String())
	}
	var info bagInfo
	if err := yaml.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("rosbag info --yaml: %v\n%s", err, out)
	}
	// Tolerances: low-rate topics exact; 1 kHz topics may lose up to 1% (goroslib drops
	// silently when a subscriber's 64-message send buffer is full), never gain.
	want := []struct {
		topic, typ string
		n, slack   int
	}{
		{"/joint_states", "sensor_msgs/JointState", states, states / 100},
		{"/effort_controller/command", "std_msgs/Float64MultiArray", int(commands), int(commands) / 100},
		{"/robotd/setpoint", "geometry_msgs/PoseStamped", int(sent.Setpoints), 0},
		{"/robotd/mode", "std_msgs/String", 2, 0}, // the latched "idle", then "running"
		{"/diagnostics", "diagnostic_msgs/DiagnosticArray", int(sent.Diagnostics), 0},
	}
	if len(info.Topics) != len(want) {
		t.Errorf("bag has %d topics, want %d:\n%s", len(info.Topics), len(want), out)
	}
	total := 0
	for _, w := range want {
		found := false
		for _, got := range info.Topics {
			if got.Topic != w.topic {
				continue
			}
			found = true
			total += got.Messages
			if got.Type != w.typ || got.Messages > w.n || got.Messages < w.n-w.slack {
				t.Errorf("%s: %d messages of %s, want %d (-%d) of %s", w.topic, got.Messages, got.Type, w.n, w.slack, w.typ)
			}
		}
		if !found {
			t.Errorf("%s not in the bag:\n%s", w.topic, out)
		}
	}
	if info.Messages != total {
		t.Errorf("bag total %d messages, topics sum to %d", info.Messages, total)
	}
	// Sanity of the run itself: about 10 ms per setpoint, and the loop fed them all.
	if sent.Setpoints < ticks/25 || commands < ticks/2 || sent.Diagnostics < 3 {
		t.Errorf("run too thin to mean much: %d setpoints, %d commands, %d diagnostics in %d ticks", sent.Setpoints, commands, sent.Diagnostics, ticks)
	}
	t.Logf("recorded %d states, %d commands, %d setpoints, 2 modes, %d diagnostics", states, commands, sent.Setpoints, sent.Diagnostics)
}
