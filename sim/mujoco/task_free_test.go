package mujoco

import (
	"math"
	"testing"
)

// TestFreeJointPose: setting the cube's free joint moves its body there (after Forward),
// normalises the quaternion, zeroes its velocity, and rejects NaN poses and non-free joints.
func TestFreeJointPose(t *testing.T) {
	s := loadScene(t)
	cube := mustID(t, s, ObjJoint, "cube")
	body := mustID(t, s, ObjBody, "cube")
	if got := s.JointType(cube); got != JointFree {
		t.Fatalf("cube joint is %v", got)
	}
	if got := s.JointType(mustID(t, s, ObjJoint, "joint1")); got != JointHinge {
		t.Errorf("joint1 is %v, want hinge", got)
	}
	if got := s.JointType(mustID(t, s, ObjJoint, "finger_left")); got != JointSlide {
		t.Errorf("finger_left is %v, want slide", got)
	}
	if pos, quat := s.FreeJointPose(cube); pos != [3]float64{0.5, 0, 0.025} || quat != [4]float64{1, 0, 0, 0} {
		t.Errorf("keyframe-less default pose %v %v", pos, quat)
	}
	dof := s.JointDofAdr(cube)
	for i := 0; i < 6; i++ {
		s.Qvel()[dof+i] = 1
	}
	// Yaw 0.3 rad, given unnormalised (times 2).
	want := [4]float64{math.Cos(0.15), 0, 0, math.Sin(0.15)}
	if err := s.SetFreeJointPose(cube, [3]float64{0.4, -0.1, 0.2}, [4]float64{2 * want[0], 0, 0, 2 * want[3]}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		if v := s.Qvel()[dof+i]; v != 0 {
			t.Errorf("qvel[%d] = %v after SetFreeJointPose, want 0", dof+i, v)
		}
	}
	if err := s.Forward(); err != nil {
		t.Fatal(err)
	}
	pos, quat := s.BodyPose(body)
	if pos != [3]float64{0.4, -0.1, 0.2} {
		t.Errorf("body at %v", pos)
	}
	for i := range quat {
		if math.Abs(quat[i]-want[i]) > 1e-12 {
			t.Errorf("body quat %v, want %v", quat, want)
			break
		}
	}
	if p, q := s.FreeJointPose(cube); p != pos || q != quat {
		t.Errorf("FreeJointPose %v %v, body %v %v", p, q, pos, quat)
	}
	for _, bad := range []struct {
		pos  [3]float64
		quat [4]float64
	}{
		{[3]float64{math.NaN(), 0, 0}, [4]float64{1, 0, 0, 0}},
		{[3]float64{0, 0, 0}, [4]float64{0, 0, 0, 0}},
		{[3]float64{0, 0, 0}, [4]float64{math.Inf(1), 0, 0, 0}},
	} {
		if err := s.SetFreeJointPose(cube, bad.pos, bad.quat); err == nil {
			t.Errorf("SetFreeJointPose(%v, %v) accepted", bad.pos, bad.quat)
		}
	}
	if p, _ := s.FreeJointPose(cube); p != pos {
		t.Errorf("a rejected pose moved the cube to %v", p)
	}
	defer func() {
		if recover() == nil {
			t.Error("FreeJointPose of a hinge did not panic")
		}
	}()
	s.FreeJointPose(mustID(t, s, ObjJoint, "joint1"))
}
