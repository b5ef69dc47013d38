package calib

import (
	"math"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
)

// Compose returns the transform a*b: with a = T_x_y and b = T_y_z it is T_x_z.
func Compose(a, b control.Pose) control.Pose {
	return control.Pose{
		Pos: a.Pos.Add(a.Rot.Rotate(b.Pos)),
		Rot: a.Rot.Mul(b.Rot).Normalize(),
	}
}

// Invert returns the inverse transform: T_y_x from T_x_y.
func Invert(p control.Pose) control.Pose {
	q := p.Rot.Conjugate()
	return control.Pose{Pos: q.Rotate(p.Pos).Mul(-1), Rot: q}
}

// Apply maps point x from the child frame of p to its parent frame.
func Apply(p control.Pose, x mgl64.Vec3) mgl64.Vec3 { return p.Pos.Add(p.Rot.Rotate(x)) }

// PoseDistance is the translation (m) and rotation (rad) between two poses: the size of
// a^-1 b.
func PoseDistance(a, b control.Pose) (trans, rot float64) {
	return b.Pos.Sub(a.Pos).Len(), angleBetween(a.Rot, b.Rot)
}

// angleBetween is the angle (rad) of the rotation taking a to b, in [0, pi].
func angleBetween(a, b mgl64.Quat) float64 {
	d := a.Conjugate().Mul(b)
	return 2 * math.Atan2(d.V.Len(), math.Abs(d.W))
}

// matFromQuat is the rotation matrix of unit quaternion q.
func matFromQuat(q mgl64.Quat) mgl64.Mat3 { return q.Normalize().Mat4().Mat3() }

// rotExp is the rotation by the rotation vector v (axis * angle) as a quaternion.
func rotExp(v mgl64.Vec3) mgl64.Quat {
	a := v.Len()
	if a < 1e-12 {
		// Second-order accurate near zero; Normalize keeps it unit.
		return mgl64.Quat{W: 1, V: v.Mul(0.5)}.Normalize()
	}
	s, c := math.Sincos(a / 2)
	return mgl64.Quat{W: c, V: v.Mul(s / a)}
}

// rotLog is the rotation vector (axis * angle, angle in [0, pi]) of unit quaternion q.
func rotLog(q mgl64.Quat) mgl64.Vec3 {
	if q.W < 0 {
		q = q.Scale(-1)
	}
	n := q.V.Len()
	if n < 1e-12 {
		return q.V.Mul(2 / q.W)
	}
	angle := 2 * math.Atan2(n, q.W)
	return q.V.Mul(angle / n)
}

// finitePose reports whether every number of p is finite and its quaternion is not zero.
func finitePose(p control.Pose) bool {
	return p.IsFinite() && p.Rot.Len() > 1e-9
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func deg(rad float64) float64 { return rad * 180 / math.Pi }
