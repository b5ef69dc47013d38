package daemon

import (
	"fmt"

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
	// SpaceEEPose6D is the tool pose in the base frame as x y z (m) and the first two
	// columns of its rotation matrix (Zhou et al.'s continuous 6D representation, as
	// diffusion_policy's rotation_6d): x y z, r00 r10 r20, r01 r11 r21, then the gripper
	// opening (m) when there are 10 values. Unlike a rotation vector it has no jump
	// anywhere (a downward tool sits at angle pi, where rotation vectors flip sign), so
	// policies can regress it and the executor can blend and interpolate it; values off
	// the rotation manifold are projected back by Gram-Schmidt.
	SpaceEEPose6D
)

// ParseSpace reads a launch file's spelling: ee_pose, ee_pose_6d or joint_position.
func ParseSpace(s string) (Space, error) {
	switch s {
	case "ee_pose":
		return SpaceEEPose, nil
	case "ee_pose_6d":
		return SpaceEEPose6D, nil
	case "joint_position":
		return SpaceJoints, nil
	}
	return 0, fmt.Errorf("space %q: want ee_pose, ee_pose_6d or joint_position", s)
}

func (s Space) String() string {
	switch s {
	case SpaceJoints:
		return "joint_position"
	case SpaceEEPose6D:
		return "ee_pose_6d"
	}
	return "ee_pose"
}

// width returns how many values the space has for an arm with dof joints, without and with
// the gripper.
func (s Space) width(dof int) (plain, withGripper int) {
	switch s {
	case SpaceJoints:
		return dof, dof + 1
	case SpaceEEPose6D:
		return 9, 10
	}
	return 6, 7
}

// Names are the names of the space's values for an arm with these joints, without the
// gripper (a recording's info.json names).
func (s Space) Names(joints []string) []string {
	switch s {
	case SpaceJoints:
		return joints
	case SpaceEEPose6D:
		return []string{"x", "y", "z", "r00", "r10", "r20", "r01", "r11", "r21"}
	}
	return []string{"x", "y", "z", "rx", "ry", "rz"}
}

// Pose reads the tool pose from v in this pose space (ee_pose or ee_pose_6d).
func (s Space) Pose(v []float64) control.Pose {
	if s == SpaceEEPose6D {
		return Values6DPose(v)
	}
	return ValuesPose(v)
}

// PutPose writes p into dst in this pose space (ee_pose or ee_pose_6d).
func (s Space) PutPose(dst []float32, p control.Pose) {
	if s == SpaceEEPose6D {
		Pose6DValues(dst, p)
		return
	}
	PoseValues(dst, p)
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

// PoseValues writes p as x y z rx ry rz into dst[:6]: the ee_pose space's layout
// (rotation vector with the angle in [0, pi]); recordings use it for their actions.
func PoseValues(dst []float32, p control.Pose) {
	r := control.RotationVector(p.Rot)
	for i := range 3 {
		dst[i] = float32(p.Pos[i])
		dst[3+i] = float32(r[i])
	}
}

// ValuesPose reads x y z rx ry rz (PoseValues' layout).
func ValuesPose[T float32 | float64](v []T) control.Pose {
	return control.Pose{
		Pos: mgl64.Vec3{float64(v[0]), float64(v[1]), float64(v[2])},
		Rot: control.FromRotationVector(mgl64.Vec3{float64(v[3]), float64(v[4]), float64(v[5])}),
	}
}

// Pose6DValues writes p as x y z r00 r10 r20 r01 r11 r21 into dst[:9]: the ee_pose_6d
// space's layout (the first two columns of the rotation matrix).
func Pose6DValues(dst []float32, p control.Pose) {
	m := p.Rot.Normalize().Mat4()
	for i := range 3 {
		dst[i] = float32(p.Pos[i])
		dst[3+i] = float32(m.At(i, 0))
		dst[6+i] = float32(m.At(i, 1))
	}
}

// Values6DPose reads x y z and two rotation columns (Pose6DValues' layout). The columns
// need not be orthonormal: the first is normalised, the second made orthogonal to it and
// normalised, the third is their cross product. Degenerate columns (zero, or parallel)
// give the identity rotation.
func Values6DPose[T float32 | float64](v []T) control.Pose {
	a := mgl64.Vec3{float64(v[3]), float64(v[4]), float64(v[5])}
	b := mgl64.Vec3{float64(v[6]), float64(v[7]), float64(v[8])}
	p := control.Pose{Pos: mgl64.Vec3{float64(v[0]), float64(v[1]), float64(v[2])}, Rot: mgl64.QuatIdent()}
	la := a.Len()
	if la < 1e-9 {
		return p
	}
	x := a.Mul(1 / la)
	b = b.Sub(x.Mul(x.Dot(b)))
	lb := b.Len()
	if lb < 1e-9 {
		return p
	}
	y := b.Mul(1 / lb)
	z := x.Cross(y)
	m := mgl64.Mat4{
		x[0], x[1], x[2], 0,
		y[0], y[1], y[2], 0,
		z[0], z[1], z[2], 0,
		0, 0, 0, 1,
	}
	p.Rot = mgl64.Mat4ToQuat(m).Normalize()
	return p
}
