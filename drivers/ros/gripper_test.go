package ros_test

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/sim/rosbridge"
)

// TestGripperOverROS: robotd's Arm commands the sim's gripper with a Float64 width and
// reads the opening from the finger joints; Debian's rostopic decodes the finger joint
// states. (The action convention and the other state conventions run in
// TestArmConformanceModes.)
func TestGripperOverROS(t *testing.T) {
	m := rostest.Start(t)
	p := newPairWith(t, m, ros.ArmConfig{StaleLimit: time.Minute,
		Gripper: ros.GripperConfig{Command: ros.GripperWidth, CommandTopic: "/gripper/command", StateTopic: "/franka_gripper/joint_states"}},
		rosbridge.ServerConfig{})
	g, ok := p.Gripper()
	if !ok {
		t.Fatal("no gripper")
	}
	if err := g.SetGripperWidth(0.03); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 400; i++ {
		p.advance(t, time.Millisecond)
	}
	// The finger state comes on its own topic: it may be one step behind the sim.
	if w := g.GripperWidth(); math.Abs(w-0.03) > 0.002 || math.Abs(w-p.sim.GripperWidth()) > 1e-4 {
		t.Errorf("gripper at %.4f m (sim %.4f), commanded 0.03", w, p.sim.GripperWidth())
	}
	publishing(t, p.srv)
	out := m.MustRun(t, 30*time.Second, "rostopic", "echo", "-n", "1", "/franka_gripper/joint_states")
	if !strings.Contains(out, "name: \n  - finger_left\n  - finger_right\n") {
		t.Errorf("rostopic echo: no finger names in\n%s", out)
	}
	pos := regexp.MustCompile(`(?m)^position: \[(.*), (.*)\]$`).FindStringSubmatch(out)
	if pos == nil {
		t.Fatalf("rostopic echo: no two positions in\n%s", out)
	}
	a, _ := strconv.ParseFloat(pos[1], 64)
	b, _ := strconv.ParseFloat(pos[2], 64)
	if math.Abs(a+b-p.sim.GripperWidth()) > 1e-8 {
		t.Errorf("echoed fingers %v + %v, sim width %v", a, b, p.sim.GripperWidth())
	}
}
