package rostest

import (
	"strings"
	"testing"
	"time"
)

func TestStartAnswersRosnode(t *testing.T) {
	m := Start(t)
	// A real peer reaches it: a --core master has no topics yet, so `rostopic list`
	// succeeds with empty output, and fails when no master answers.
	out, err := m.Command("rostopic", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("rostopic list against the started master: %v: %s", err, out)
	}
	m.Stop()
	out, err = m.Command("rostopic", "list").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "master") {
		t.Errorf("rostopic list after Stop: err %v, output %q; want an unreachable-master error", err, out)
	}
	m.Restart(t)
	if out, err := m.Command("rostopic", "list").CombinedOutput(); err != nil {
		t.Errorf("rostopic list after Restart: %v: %s", err, out)
	}
}

func TestWaitPublished(t *testing.T) {
	m := Start(t)
	// A real publisher in another process: rostopic pub latches one message and stays.
	pub := m.Command("rostopic", "pub", "/rostest/topic", "std_msgs/String", "data: x")
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Process.Kill(); pub.Wait() })
	m.WaitPublished(t, "/rostest/topic", 30*time.Second)
}
