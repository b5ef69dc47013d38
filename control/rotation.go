package control

import (
	"math"

	"github.com/go-gl/mathgl/mgl64"
)

// RotationVector is the rotation vector (unit axis times angle, rad) of the unit
// quaternion q, with the angle in [0, pi]: q and -q, the same rotation, give the same
// vector. Near the identity it is 2 q.V, the first-order exact value (not zero), so a
// tiny rotation error still points the right way. The one conversion robotd uses
// (the IK's orientation error, the ee_pose action and state spaces).
func RotationVector(q mgl64.Quat) mgl64.Vec3 {
	if q.W < 0 {
		q = mgl64.Quat{W: -q.W, V: q.V.Mul(-1)}
	}
	s := q.V.Len()
	if s < 1e-12 {
		return q.V.Mul(2)
	}
	return q.V.Mul(2 * math.Atan2(s, q.W) / s)
}

// FromRotationVector is the unit quaternion of the rotation vector r (RotationVector's
// inverse for angles in [0, pi]).
func FromRotationVector(r mgl64.Vec3) mgl64.Quat {
	angle := r.Len()
	if angle < 1e-12 {
		// First order: exact to the double's precision at these angles.
		return mgl64.Quat{W: 1, V: r.Mul(0.5)}.Normalize()
	}
	return mgl64.QuatRotate(angle, r.Mul(1/angle))
}
