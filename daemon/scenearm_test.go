package daemon

import (
	"testing"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
)

// SceneArm is the reference scene's simulated arm (closed when the test ends) and its
// robot model, for the daemon's tests that drive an arm without the whole system:
// white-box tests of package daemon and the servo and command tests of package
// daemon_test.
func SceneArm(t testing.TB) (*mujoco.Arm, *control.Robot) {
	t.Helper()
	scene := sim.Scene{}.WithDefaults()
	arm, err := mujoco.NewArm(scene)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(arm.Close)
	robot, err := control.ParseMJCF(scene.Model, scene.Tool)
	if err != nil {
		t.Fatal(err)
	}
	return arm, robot
}
