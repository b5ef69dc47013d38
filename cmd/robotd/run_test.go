package main

import (
	"bufio"
	"context"
	"fmt"
	"github.com/robotd/robotd/system"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// robotdBinary builds cmd/robotd once per test binary, for tests that need a real process
// (signals, exit statuses).
func robotdBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "robotd-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "robotd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is a robotd subprocess whose stderr is scanned for the telemetry address.
type proc struct {
	cmd     *exec.Cmd
	stdout  strings.Builder
	stderr  safeBuffer
	metrics chan string
	done    chan error
}

type safeBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *safeBuffer) add(line string) { s.mu.Lock(); s.b.WriteString(line + "\n"); s.mu.Unlock() }
func (s *safeBuffer) String() string  { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var metricsURL = regexp.MustCompile(`metrics=(http://\S+/metrics)`)

func startRobotd(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(robotdBinary(t), args...), metrics: make(chan string, 1), done: make(chan error, 1)}
	p.cmd.Dir = "../.."
	p.cmd.Stdout = &p.stdout
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			p.stderr.add(sc.Text())
			if m := metricsURL.FindStringSubmatch(sc.Text()); m != nil {
				p.metrics <- m[1]
			}
		}
	}()
	go func() { <-scanned; p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
		}
	})
	return p
}

// wait returns the exit status, failing the test after timeout.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		t.Fatalf("robotd did not exit within %v\nstdout:\n%s\nstderr:\n%s", timeout, p.stdout.String(), p.stderr.String())
		return -1
	}
}

func get(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestRunSimLaunch is the product's main job end to end on launch/test_fixture_sim.yaml
// (embedded MuJoCo in lockstep, the wrist camera rendered into the fixture diffusion
// policy) for 10 simulated seconds; metrics are scraped while it runs; it exits 0 with the
// summary.
func TestRunSimLaunch(t *testing.T) {
	p := startRobotd(t, "run", "--launch", "launch/test_fixture_sim.yaml", "--listen", "127.0.0.1:0")
	var scraped string
	select {
	case url := <-p.metrics:
		code, body, err := get(url)
		if err != nil || code != 200 {
			t.Fatalf("GET %s: %d %v", url, code, err)
		}
		scraped = body
	case <-time.After(60 * time.Second):
		t.Fatalf("no telemetry address logged\n%s", p.stderr.String())
	}
	if code := p.wait(t, 120*time.Second); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, p.stdout.String(), p.stderr.String())
	}
	for _, want := range []string{"robotd_control_ticks_total", "robotd_policy_inference_seconds_bucket", `robotd_watchdog_trips_total{kind="state_stale"}`, "robotd_state"} {
		if !strings.Contains(scraped, want) {
			t.Errorf("metrics scraped during the run lack %q", want)
		}
	}
	out := p.stdout.String()
	t.Logf("\n%s", out)
	for _, want := range []string{"final state            idle", "safe stops             0", "chunks rejected        0", "policy errors          0"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	// 10 s, the 0.5 s stop ramp, braking until the arm is still (at most 1 s), then the
	// release: the hold command written 20 times.
	if m := regexp.MustCompile(`ticks +(\d+) over`).FindStringSubmatch(out); m == nil {
		t.Errorf("summary lacks the ticks")
	} else if n, _ := strconv.Atoi(m[1]); n < 10519 || n > 11519 {
		t.Errorf("summary: %d ticks, want 10519 (10 s, 0.5 s hold, the release) to 11519 (and at most 1 s of braking)", n)
	}
	if m := regexp.MustCompile(`inferences +n=(\d+)`).FindStringSubmatch(out); m == nil || m[1] == "0" || len(m[1]) < 2 {
		t.Errorf("summary: want at least 10 inferences in 10 s, got %v", m)
	}
}

// TestRunSignal starts the realtime simulation, waits until it is running (/readyz), sends
// SIGINT and expects a ramp to a hold and exit status 0.
func TestRunSignal(t *testing.T) {
	p := startRobotd(t, "run", "--launch", "launch/test_fixture_realtime.yaml", "--listen", "127.0.0.1:0")
	var url string
	select {
	case url = <-p.metrics:
	case <-time.After(60 * time.Second):
		t.Fatalf("no telemetry address logged\n%s", p.stderr.String())
	}
	ready := strings.TrimSuffix(url, "/metrics") + "/readyz"
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, _ := get(ready)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never 200\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // let the policy run for a while
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGINT\nstdout:\n%s\nstderr:\n%s", code, p.stdout.String(), p.stderr.String())
	}
	out := p.stdout.String()
	t.Logf("\n%s", out)
	if !strings.Contains(p.stderr.String(), "to=stopping") || !strings.Contains(out, "final state            idle") {
		t.Fatalf("no ramp to a hold after SIGINT\nstdout:\n%s\nstderr:\n%s", out, p.stderr.String())
	}
	m := regexp.MustCompile(`joint speed at the end ([0-9.]+) rad/s`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("summary lacks the final joint speed")
	}
	var speed float64
	fmt.Sscan(m[1], &speed)
	if speed > 0.05 {
		t.Fatalf("arm still moving at %v rad/s after the stop ramp: not held", speed)
	}
}

// TestRunBadInput: bad launch files fail before anything moves, naming the problem.
func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, body, want string
	}{
		{"unknown.yaml", "mode: lockstep\ncontrol:\n  rate_hz: 1000\n  gain: 3\n", `unknown.yaml:4: unknown key "gain" (in control)`},
		{"gains.yaml", "control:\n  stiffness: [200, 200, 200, 30, 30, 900]\n", `gains.yaml:2: control.stiffness.5: 900: want (0, 300] Nm/rad`},
		{"model.yaml", "policy:\n  bundle: /nonexistent/bundle\n", `policy.bundle: /nonexistent/bundle: not a directory`},
		{"library.yaml", "policy:\n  bundle: " + mustAbs(t, "../../policy/testdata/unet") + "\n  library: /nonexistent/libonnxruntime.so\n", `policy.library:`},
		{"master.yaml", "arm:\n  driver: ros\n  ros:\n    master: 127.0.0.1:1\n    connect_timeout: 1s\n", `arm.ros:`},
		{"camera.yaml", "cameras:\n  - name: top\n    sim_camera: scene\n    width: 64\n    height: 64\npolicy:\n  bundle: " + mustAbs(t, "../../policy/testdata/unet") + "\n", `needs camera "wrist"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(context.Background(), []string{"run", "--launch", write(c.name, c.body), "--listen", "off"}, &stdout, &stderr)
			if code != 1 || !strings.Contains(stderr.String(), c.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and %q", code, stderr.String(), c.want)
			}
			if strings.Contains(stderr.String(), "to=homing") {
				t.Fatalf("the arm was started despite the error:\n%s", stderr.String())
			}
		})
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestRunSecondSignal: a second SIGINT during the stop ramp commands the safe stop at
// once: exit status 3, and the summary (on screen and --summary-json) names the fault.
func TestRunSecondSignal(t *testing.T) {
	sum := filepath.Join(t.TempDir(), "run.json")
	p := startRobotd(t, "run", "--launch", "launch/test_fixture_realtime.yaml", "--listen", "127.0.0.1:0", "--summary-json", sum)
	waitReady(t, p)
	time.Sleep(300 * time.Millisecond) // the policy moves the arm
	for range 2 {
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // well inside the 500 ms ramp
	}
	if code := p.wait(t, 20*time.Second); code != system.ExitFault {
		t.Fatalf("exit %d after two SIGINTs, want %d\nstdout:\n%s\nstderr:\n%s", code, system.ExitFault, p.stdout.String(), p.stderr.String())
	}
	s := readSummary(t, sum)
	t.Logf("summary: final %s, fault %+v, safe stops %d, final joint speed %.4f rad/s", s.Final, s.Fault, s.SafeStops, s.JointVel)
	if s.Final != "faulted" || s.SafeStops != 1 || s.Fault == nil || s.Fault.Kind != "stop_now" || !strings.Contains(s.Fault.Message, "signal interrupt") {
		t.Errorf("--summary-json: final %s, %d safe stops, fault %+v: want faulted, 1, stop_now from the signal", s.Final, s.SafeStops, s.Fault)
	}
	if !regexp.MustCompile(`(?m)^fault +stop_now: signal interrupt`).MatchString(p.stdout.String()) {
		t.Errorf("the summary on stdout lacks the fault row:\n%s", p.stdout.String())
	}
}
