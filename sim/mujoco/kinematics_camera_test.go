package mujoco

import (
	"testing"

	"github.com/robotd/robotd/sim"
)

// A Sim that mirrors another one's positions for rendering (robotd's realtime cameras and
// robotd sim's served ones) calls Kinematics, not Forward: the cameras attached to a
// moving body must follow. mj_kinematics alone leaves their poses where they were (the
// wrist camera then showed the start pose for a whole run).
func TestKinematicsMovesBodyCameras(t *testing.T) {
	scene := sim.Scene{}.WithDefaults()
	arm, err := NewArm(scene)
	if err != nil {
		t.Fatal(err)
	}
	defer arm.Close()
	mirror, err := Load(scene.Model)
	if err != nil {
		t.Fatal(err)
	}
	defer mirror.Close()
	q := make([]float64, len(arm.Info().Joints))
	for i := range q {
		q[i] = 0.3
	}
	if err := arm.SetJointPositions(q); err != nil {
		t.Fatal(err)
	}
	copy(mirror.Qpos(), arm.Sim().Qpos())
	if err := mirror.Kinematics(); err != nil {
		t.Fatal(err)
	}
	for id := 0; id < arm.Sim().Count(ObjCamera); id++ {
		want, wrot := arm.Sim().CameraPose(id)
		got, grot := mirror.CameraPose(id)
		if got != want || grot != wrot {
			t.Errorf("camera %d after Kinematics at %v, the stepped Sim's at %v", id, got, want)
		}
	}
}
