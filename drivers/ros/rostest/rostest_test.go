package rostest

import (
	"strings"
	"testing"
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
