package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/policy/onnx"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/system"
)

// Tests of where robotd finds what a launch file names or leaves to defaults (the model,
// the policy bundle, ONNX Runtime), of the order resources are loaded in (all before the
// ROS arm is connected), of the telemetry address, and of launch/ros.yaml as shipped
// against a Franka-named ros_control arm.

// cleanEnv is the test's environment without the variables that would short-cut the
// searches under test.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, sim.ModelsEnv+"=") || strings.HasPrefix(kv, onnx.EnvLibrary+"=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// runBinary runs bin with args in dir and returns its exit status and output.
func runBinary(t *testing.T, bin, dir string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, bin, args...)
	c.Dir, c.Env = dir, env
	var out, errOut strings.Builder
	c.Stdout, c.Stderr = &out, &errOut
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
	}
	return code, out.String(), errOut.String()
}

// launch/test_fixture_sim.yaml run from an empty working directory, by its absolute path: the model
// (a default), the bundle (relative to the file) and ONNX Runtime (the repository's
// .cache, found from the file's directory) all follow the launch file. The telemetry
// address ":0" binds loopback; an explicit 0.0.0.0 is honoured with a warning.
func TestRunFromAnotherDirectory(t *testing.T) {
	bin := robotdBinary(t)
	file := mustAbs(t, "../../launch/test_fixture_sim.yaml")
	cwd := t.TempDir()
	for _, c := range []struct {
		listen   string
		host     string
		warnings bool
	}{
		{":0", "127.0.0.1", false},
		{"0.0.0.0:0", "0.0.0.0", true},
	} {
		code, stdout, stderr := runBinary(t, bin, cwd, cleanEnv(), "run", "--launch", file, "--duration", "300ms", "--listen", c.listen)
		if code != 0 {
			t.Fatalf("robotd run --launch %s --listen %s from %s: exit %d\nstdout:\n%s\nstderr:\n%s", file, c.listen, cwd, code, stdout, stderr)
		}
		m := regexp.MustCompile(`metrics=http://(\S+)/metrics`).FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("--listen %s: no telemetry address logged\n%s", c.listen, stderr)
		}
		host, _, _ := net.SplitHostPort(m[1])
		if ip := net.ParseIP(host); ip == nil || !ip.Equal(net.ParseIP(c.host)) && !(ip.IsUnspecified() && c.host == "0.0.0.0") {
			t.Errorf("--listen %s: telemetry on %s, want host %s", c.listen, m[1], c.host)
		}
		if warned := strings.Contains(stderr, "level=WARN msg=\"telemetry: listening beyond loopback"); warned != c.warnings {
			t.Errorf("--listen %s: warning about a non-loopback address logged: %v, want %v\n%s", c.listen, warned, c.warnings, stderr)
		}
		if _, err := os.Stat(filepath.Join(cwd, "MUJOCO_LOG.TXT")); err == nil {
			t.Errorf("MuJoCo wrote MUJOCO_LOG.TXT into the working directory")
		}
	}
}

// ONNX Runtime is found from the executable's directory and its parents (a robotd built
// into a checkout's bin/ run from anywhere, with a launch file outside the checkout);
// without a runtime anywhere, the error names every place looked and scripts/setup.sh,
// and comes before the run starts.
func TestRuntimeBesideTheExecutable(t *testing.T) {
	lib, err := onnx.Library("")
	if err != nil {
		t.Skipf("no ONNX Runtime here (%v)", err)
	}
	root := t.TempDir()
	checkout := filepath.Join(root, "checkout")
	exe := filepath.Join(checkout, "bin", "robotd")
	copyFile(t, robotdBinary(t), exe, 0o755)

	// A launch file outside the checkout whose paths are relative to it.
	elsewhere := filepath.Join(root, "robot-cell")
	cwd := filepath.Join(root, "cwd")
	for _, d := range []string{elsewhere, cwd} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rel := func(p string) string {
		r, err := filepath.Rel(elsewhere, mustAbs(t, p))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	data, err := os.ReadFile("../../launch/test_fixture_sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	body := string(data)
	for _, r := range [][2]string{
		{"  driver: sim          # sim/models/scene.xml\n", "  driver: sim\n  model: " + rel("../../sim/models/scene.xml") + "\n"},
		{"bundle: ../policy/testdata/unet", "bundle: " + rel("../../policy/testdata/unet")},
		{"listen: 127.0.0.1:9102", `listen: "off"`},
	} {
		if !strings.Contains(body, r[0]) {
			t.Fatalf("launch/test_fixture_sim.yaml no longer contains %q: update this test", r[0])
		}
		body = strings.Replace(body, r[0], r[1], 1)
	}
	file := filepath.Join(elsewhere, "cell.yaml")
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}

	// No runtime near the executable, the launch file or the working directory.
	code, stdout, stderr := runBinary(t, exe, cwd, cleanEnv(), "run", "--launch", file, "--duration", "300ms")
	if code == 0 {
		t.Fatalf("ran without an ONNX Runtime anywhere\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	for _, want := range []string{"ONNX Runtime shared library not found", elsewhere, cwd, filepath.Dir(exe), "scripts/setup.sh", "$" + onnx.EnvLibrary} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the missing-runtime error does not name %s:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "msg=run ") {
		t.Errorf("the run started before the runtime was found:\n%s", stderr)
	}

	// setup's layout beside the executable: <checkout>/.cache/onnxruntime.
	cache := filepath.Join(checkout, ".cache", "onnxruntime")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(lib, filepath.Join(cache, "libonnxruntime.so")); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runBinary(t, exe, cwd, cleanEnv(), "run", "--launch", file, "--duration", "300ms")
	if code != 0 {
		t.Fatalf("robotd in %s with the runtime in %s: exit %d\nstdout:\n%s\nstderr:\n%s", filepath.Dir(exe), cache, code, stdout, stderr)
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// rosLaunchFor writes launch/ros.yaml with its master at master (connect_timeout 1s),
// paths made absolute, and more replacements (old, new) of its text, into a temp file.
func rosLaunchFor(t *testing.T, master string, more ...[2]string) string {
	t.Helper()
	data, err := os.ReadFile("../../launch/ros.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, r := range append([][2]string{
		{"    node: robotd\n", "    node: robotd\n    master: " + master + "\n    connect_timeout: 1s\n"},
		{"bundle: ../policy/testdata/unet", "bundle: " + mustAbs(t, "../../policy/testdata/unet")},
	}, more...) {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("launch/ros.yaml no longer contains %q: update rosLaunchFor", r[0])
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	p := filepath.Join(t.TempDir(), "ros.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every resource is loaded and checked before robotd connects to the arm: with the
// master unreachable, a missing runtime, a bad bundle, a joint map the model refutes or
// a camera pipeline the policy cannot take fails with the resource's error, not the
// connection's. The control case (everything fine) does fail on the connection, so the
// test would see a wrong order.
func TestResourcesLoadBeforeROS(t *testing.T) {
	master := closedPort(t)
	badBundle := t.TempDir()
	if err := os.WriteFile(filepath.Join(badBundle, "policy.yaml"), []byte("type: nonsense\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		env     string // a value for $ROBOTD_ONNXRUNTIME
		replace [][2]string
		want    string
	}{
		{"missing runtime", filepath.Join(t.TempDir(), "libonnxruntime.so"), nil, "$" + onnx.EnvLibrary},
		{"bad bundle", "", [][2]string{{"  bundle: ", "  bundle: " + badBundle + "\n  #"}}, badBundle},
		{"joint map", "", [][2]string{{"panda_joint7: joint7", "panda_joint7: joint8"}}, `arm.ros.joint_map.panda_joint7: "joint8" is not a joint of the robot model`},
		{"camera pipeline", "", [][2]string{{"    rate_hz: 30\n", "    rate_hz: 30\n    pipeline:\n      resize: {width: 32, height: 32}\n"}}, "camera wrist: the pipeline makes"},
		{"control: all resources fine", "", nil, "arm.ros"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.env != "" {
				t.Setenv(onnx.EnvLibrary, c.env)
			}
			f, err := launch.Load(rosLaunchFor(t, master, c.replace...))
			if err != nil {
				if strings.Contains(err.Error(), c.want) {
					return // refused by the launch file's validation: earlier still
				}
				t.Fatal(err)
			}
			start := time.Now()
			w, err := system.New(context.Background(), f, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err == nil {
				w.Close()
				t.Fatal("wired against an unreachable master")
			}
			t.Logf("%v after %v", err, time.Since(start).Round(time.Millisecond))
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q\nwant the resource's (%q)", err, c.want)
			}
			if c.want != "arm.ros" && strings.Contains(err.Error(), "arm.ros:") {
				t.Errorf("the connection failed first: %v", err)
			}
		})
	}
}

// launch/ros.yaml, as shipped, runs against an independent Franka-named ros_control arm
// (tools/franka_sim: panda_joint1..7 plus fingers, the effort controller
// /effort_joint_group_controller/command, a wrist camera) from a working directory
// outside the repository: the joint map takes panda_joint* onto the model's joints,
// robotd takes the arm over, commands it, and ends the run cleanly.
func TestROSYAMLFrankaArm(t *testing.T) {
	m := rosMaster(t)
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3 (Debian's, with rospy)")
	}
	report := filepath.Join(t.TempDir(), "franka.json")
	arm := exec.Command(py, mustAbs(t, "../../tools/franka_sim/franka_sim.py"), "--report", report)
	arm.Env = m.Env()
	var armOut syncBuffer
	arm.Stdout, arm.Stderr = &armOut, &armOut
	if err := arm.Start(); err != nil {
		t.Fatal(err)
	}
	armDone := make(chan struct{})
	go func() { arm.Wait(); close(armDone) }()
	t.Cleanup(func() {
		arm.Process.Kill()
		<-armDone
	})
	m.WaitPublished(t, "/joint_states", 60*time.Second)

	sum := filepath.Join(t.TempDir(), "summary.json")
	code, stdout, stderr := runBinary(t, robotdBinary(t), t.TempDir(), cleanEnv(m.Env()...),
		"run", "--launch", mustAbs(t, "../../launch/ros.yaml"), "--duration", "3s", "--listen", ":0", "--summary-json", sum)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\nexit %d\nstdout:\n%s\nstderr:\n%s\nfranka_sim:\n%s", append(args, code, stdout, stderr, armOut.String())...)
	}
	if !strings.Contains(stderr, "to=running") {
		fail("robotd never took the arm over (no transition to running)")
	}
	s := readSummary(t, sum)
	t.Logf("summary: final %s, %d ticks, %d inferences, safe stops %d, watchdogs %v", s.Final, s.Ticks, s.Inference.N, s.SafeStops, s.Watchdogs)
	switch {
	case code != 0:
		fail("robotd run --launch launch/ros.yaml against franka_sim failed")
	case s.Final != "idle" || s.Ticks < 1000 || s.SafeStops != 0 || s.Fault != nil:
		fail("summary %+v: want a clean run (final idle, over 1000 ticks, no safe stop)", s)
	}

	// The arm's own account: robotd's effort commands reached its controller.
	arm.Process.Signal(syscall.SIGTERM)
	select {
	case <-armDone:
	case <-time.After(30 * time.Second):
		t.Fatalf("franka_sim did not exit on SIGTERM\n%s", armOut.String())
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("franka_sim report: %v\n%s", err, armOut.String())
	}
	var rep struct {
		Commands struct {
			Received uint64 `json:"received"`
			Rejected uint64 `json:"rejected"`
		} `json:"commands"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("franka_sim report: %v\n%s", err, data)
	}
	t.Logf("franka_sim: %d commands received, %d rejected", rep.Commands.Received, rep.Commands.Rejected)
	if rep.Commands.Received == 0 || rep.Commands.Rejected != 0 || rep.Commands.Received < 1000 {
		t.Errorf("franka_sim took %d commands and refused %d: want robotd's 1 kHz effort commands, none refused", rep.Commands.Received, rep.Commands.Rejected)
	}
}
