// Package rostest starts Debian's ROS master for tests: a real rosmaster on a free
// loopback port, stopped by its PID when the test ends. It is a test helper for any
// package that needs a master (drivers/ros, and cmd/robotd's end-to-end tests of the
// robotd processes over ROS). It talks to the master over plain XML-RPC and runs the ROS
// command-line tools as processes: it does not import goroslib, which stays inside
// drivers/ros.
package rostest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Master is a running rosmaster.
type Master struct {
	// Addr is host:port, the form goroslib's NodeConf.MasterAddress takes.
	Addr string
	// URI is http://host:port/, the form ROS_MASTER_URI takes.
	URI    string
	bin    string
	port   int
	logDir string
	cmd    *exec.Cmd
	exited chan error
}

// Env returns the environment for a ROS command-line peer (rostopic, rosbag) talking to
// this master.
func (m *Master) Env() []string {
	return append(os.Environ(), "ROS_MASTER_URI="+m.URI, "ROS_IP=127.0.0.1", "ROS_HOME="+os.TempDir())
}

// Command returns a ROS command-line tool set up to talk to this master.
func (m *Master) Command(name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Env = m.Env()
	return c
}

// Run runs a ROS command-line tool (rostopic, rosparam, rosbag info ...) against this
// master and returns its combined output, killing it after timeout (the error then says
// so). The test is skipped when the tool is not installed (scripts/setup.sh installs it).
func (m *Master) Run(t testing.TB, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath(args[0]); err != nil {
		t.Skipf("%s not installed (run scripts/setup.sh)", args[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := exec.CommandContext(ctx, args[0], args[1:]...)
	c.Env = m.Env()
	out, err := c.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (killed after %v)", err, timeout)
	}
	return string(out), err
}

// MustRun is Run failing the test, with the tool's output, when the tool fails.
func (m *Master) MustRun(t testing.TB, timeout time.Duration, args ...string) string {
	t.Helper()
	out, err := m.Run(t, timeout, args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Start runs `rosmaster --core -p PORT` on a free loopback port and waits until it
// answers an XML-RPC call. It skips the test when rosmaster is not installed
// (scripts/setup.sh installs it) and stops the master by PID at cleanup.
func Start(t testing.TB) *Master {
	t.Helper()
	bin, err := exec.LookPath("rosmaster")
	if err != nil {
		t.Skip("rosmaster not installed (Debian package ros-core; run scripts/setup.sh)")
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		m := &Master{Addr: fmt.Sprintf("127.0.0.1:%d", port), URI: fmt.Sprintf("http://127.0.0.1:%d/", port),
			bin: bin, port: port, logDir: t.TempDir()}
		if lastErr = m.start(); lastErr == nil {
			t.Cleanup(m.Stop)
			return m
		}
	}
	t.Fatalf("rostest: rosmaster did not come up: %v", lastErr)
	return nil
}

// start runs the master process on m's port and waits until it answers.
func (m *Master) start() error {
	m.cmd = exec.Command(m.bin, "--core", "-p", fmt.Sprint(m.port))
	m.cmd.Env = append(m.Env(), "ROS_LOG_DIR="+m.logDir)
	var out bytes.Buffer
	m.cmd.Stdout, m.cmd.Stderr = &out, &out
	if err := m.cmd.Start(); err != nil {
		return fmt.Errorf("rostest: start rosmaster: %w", err)
	}
	m.exited = make(chan error, 1)
	go func() { m.exited <- m.cmd.Wait() }()
	if err := waitReady(m.URI, m.exited); err != nil {
		m.Stop()
		return fmt.Errorf("%w; output: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Stop ends the master now (SIGTERM, then SIGKILL after 5 s) and waits until the process
// is gone; for tests of a master that goes away. Stopping a stopped master does nothing.
func (m *Master) Stop() {
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(5 * time.Second):
		m.cmd.Process.Kill()
		<-m.exited
	}
	m.cmd = nil
}

// Restart starts a new master on the same port after Stop (or stops the running one
// first): a fresh master that knows no node, as after a crash or a relaunch.
func (m *Master) Restart(t testing.TB) {
	t.Helper()
	m.Stop()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = m.start(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond) // the port may still be held briefly
	}
	t.Fatalf("rostest: restart rosmaster on %s: %v", m.Addr, err)
}

// WaitPublished waits until some node publishes topic (the master's getPublishedTopics
// lists it), for tests that start a publisher in another process. It fails the test
// after timeout.
func (m *Master) WaitPublished(t testing.TB, topic string, timeout time.Duration) {
	t.Helper()
	call := `<?xml version="1.0"?><methodCall><methodName>getPublishedTopics</methodName><params>` +
		`<param><value><string>/rostest</string></value></param><param><value><string></string></value></param>` +
		`</params></methodCall>`
	want := []byte("<string>" + topic + "</string>")
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Post(m.URI, "text/xml", strings.NewReader(call))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if bytes.Contains(body, want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("rostest: nobody publishes %s on %s after %v", topic, m.URI, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("rostest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

const getPid = `<?xml version="1.0"?><methodCall><methodName>getPid</methodName>` +
	`<params><param><value><string>/rostest</string></value></param></params></methodCall>`

// waitReady polls the master's getPid until it answers, the process exits, or 15 s pass.
func waitReady(uri string, exited chan error) error {
	deadline := time.Now().Add(15 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("rosmaster exited: %v", err)
		default:
		}
		resp, err := client.Post(uri, "text/xml", strings.NewReader(getPid))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte("<int>1</int>")) {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("rosmaster did not answer getPid within 15 s")
}
