package daemon

import (
	"fmt"
	"math"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
)

// Space says what a policy's action or observation.state values mean.
type Space int

const (
	// SpaceEEPose is the tool pose in the base frame: x y z (m), a rotation vector rx ry
	// rz (rad: axis times angle), then the gripper opening (m) when there are 7 values.
	SpaceEEPose Space = iota
	// SpaceJoints is the joint positions (rad) in the arm's order, then the gripper
	// opening (m) when there is one more value than joints.
	SpaceJoints
)

// ParseSpace reads a launch file's spelling: ee_pose or joint_position.
func ParseSpace(s string) (Space, error) {
	switch s {
	case "ee_pose":
		return SpaceEEPose, nil
	case "joint_position":
		return SpaceJoints, nil
	}
	return 0, fmt.Errorf("space %q: want ee_pose or joint_position", s)
}

func (s Space) String() string {
	if s == SpaceJoints {
		return "joint_position"
	}
	return "ee_pose"
}

// width returns how many values the space has for an arm with dof joints, without and with
// the gripper.
func (s Space) width(dof int) (plain, withGripper int) {
	if s == SpaceJoints {
		return dof, dof + 1
	}
	return 6, 7
}

// checkWidth reports whether a feature of n values fits the space, and whether its last
// value is the gripper.
func (s Space) checkWidth(feature string, n, dof int) (gripper bool, err error) {
	plain, with := s.width(dof)
	switch n {
	case plain:
		return false, nil
	case with:
		return true, nil
	}
	return false, fmt.Errorf("%s has %d values; %s for this %d-joint arm has %d (or %d with the gripper)", feature, n, s, dof, plain, with)
}

// rotvecQuat converts a rotation vector (axis times angle, rad) to a unit quaternion.
func rotvecQuat(r mgl64.Vec3) mgl64.Quat {
	angle := r.Len()
	if angle < 1e-12 {
		return mgl64.QuatIdent()
	}
	return mgl64.QuatRotate(angle, r.Mul(1/angle))
}

// quatRotvec converts a unit quaternion to a rotation vector with angle in [0, pi].
func quatRotvec(q mgl64.Quat) mgl64.Vec3 {
	if q.W < 0 {
		q = mgl64.Quat{W: -q.W, V: q.V.Mul(-1)}
	}
	s := q.V.Len()
	if s < 1e-12 {
		return mgl64.Vec3{}
	}
	angle := 2 * math.Atan2(s, q.W)
	return q.V.Mul(angle / s)
}

// PoseValues writes p as x y z rx ry rz into dst[:6]: the ee_pose space's layout
// (rotation vector with the angle in [0, pi]); recordings use it for their actions.
func PoseValues(dst []float32, p control.Pose) {
	r := quatRotvec(p.Rot)
	for i := range 3 {
		dst[i] = float32(p.Pos[i])
		dst[3+i] = float32(r[i])
	}
}

// ValuesPose reads x y z rx ry rz (PoseValues' layout).
func ValuesPose[T float32 | float64](v []T) control.Pose {
	return control.Pose{
		Pos: mgl64.Vec3{float64(v[0]), float64(v[1]), float64(v[2])},
		Rot: rotvecQuat(mgl64.Vec3{float64(v[3]), float64(v[4]), float64(v[5])}),
	}
}
