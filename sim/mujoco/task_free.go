package mujoco

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"math"
)

// JointType is a joint's kind (MuJoCo's mjtJoint).
type JointType int

// Joint kinds, with MuJoCo's mjJNT_* values.
const (
	JointFree  JointType = C.mjJNT_FREE  // 7 coordinates (position, quaternion), 6 DoFs
	JointBall  JointType = C.mjJNT_BALL  // 4 coordinates (quaternion), 3 DoFs
	JointSlide JointType = C.mjJNT_SLIDE // 1 coordinate (m)
	JointHinge JointType = C.mjJNT_HINGE // 1 coordinate (rad)
)

// String is the MJCF name of the kind, e.g. "free".
func (t JointType) String() string {
	switch t {
	case JointFree:
		return "free"
	case JointBall:
		return "ball"
	case JointSlide:
		return "slide"
	case JointHinge:
		return "hinge"
	}
	return fmt.Sprintf("JointType(%d)", int(t))
}

// JointType is joint j's kind.
func (s *Sim) JointType(j int) JointType {
	s.checkID(ObjJoint, j)
	return JointType(at(s.c.m.jnt_type, j))
}

// FreeJointPose reads free joint j's coordinates from Qpos: the position (m) and orientation
// quaternion (w, x, y, z) of its body in world coordinates (a free joint's body hangs from
// the world). It panics when j is not a free joint, like an out-of-range id.
func (s *Sim) FreeJointPose(j int) (pos [3]float64, quat [4]float64) {
	adr := s.freeAdr(j)
	q := s.qpos[adr : adr+7]
	return [3]float64{q[0], q[1], q[2]}, [4]float64{q[3], q[4], q[5], q[6]}
}

// SetFreeJointPose puts free joint j's body at pos with orientation quat (w, x, y, z;
// normalised here) and zeroes its velocity, for placing objects at an episode's start. It
// writes Qpos and Qvel only: call Forward (or step) before reading poses or contacts. A
// non-finite or zero quaternion or a non-finite position is an error and changes nothing.
func (s *Sim) SetFreeJointPose(j int, pos [3]float64, quat [4]float64) error {
	adr := s.freeAdr(j)
	n := math.Sqrt(quat[0]*quat[0] + quat[1]*quat[1] + quat[2]*quat[2] + quat[3]*quat[3])
	ok := n > 1e-9 && !math.IsInf(n, 0)
	for _, v := range pos {
		ok = ok && !math.IsNaN(v) && !math.IsInf(v, 0)
	}
	if !ok {
		return fmt.Errorf("mujoco: free joint %q: pose %v %v: want a finite position and a non-zero finite quaternion",
			s.Name(ObjJoint, j), pos, quat)
	}
	q := s.qpos[adr : adr+7]
	copy(q, pos[:])
	for i, v := range quat {
		q[3+i] = v / n
	}
	dof := s.JointDofAdr(j)
	clear(s.qvel[dof : dof+6])
	return nil
}

// freeAdr is free joint j's Qpos address; it panics when j is not a free joint.
func (s *Sim) freeAdr(j int) int {
	if t := s.JointType(j); t != JointFree {
		panic(fmt.Sprintf("mujoco: joint %d (%q) is a %v joint, not a free joint", j, s.Name(ObjJoint, j), t))
	}
	return s.JointQposAdr(j)
}
