package task_test

import (
	"testing"

	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/sim/task"
)

func newTask(t testing.TB) *task.Task {
	t.Helper()
	arm, err := mujoco.NewArm(task.Scene())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(arm.Close)
	tk, err := task.New(arm, task.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}
