package control

import (
	"fmt"
	"math"

	"github.com/go-gl/mathgl/mgl64"
)

// Pose is a rigid transform: position and orientation of a frame in its parent.
type Pose struct {
	Pos mgl64.Vec3
	Rot mgl64.Quat // unit, scalar first
}

// IsFinite reports whether every number of the pose is finite.
func (p Pose) IsFinite() bool {
	return finite3(p.Pos) && finite(p.Rot.W) && finite3(p.Rot.V)
}

func (p Pose) String() string {
	return fmt.Sprintf("pos (%.4f %.4f %.4f) quat (%.4f %.4f %.4f %.4f)",
		p.Pos[0], p.Pos[1], p.Pos[2], p.Rot.W, p.Rot.V[0], p.Rot.V[1], p.Rot.V[2])
}

// Kinematics is the result of Robot.Forward at one configuration: the tool pose and its
// geometric Jacobian. Make one with Robot.NewKinematics and reuse it every tick.
type Kinematics struct {
	// Pos and Rot are the tool frame in the base frame (T_base_tool).
	Pos mgl64.Vec3
	Rot mgl64.Mat3
	// J is the 6 x n geometric Jacobian of the tool point, row-major: rows 0-2 map dq to
	// the tool's linear velocity, rows 3-5 to its angular velocity, both in the base frame.
	J []float64

	axes    []mgl64.Vec3 // joint axes in the base frame
	anchors []mgl64.Vec3 // joint anchors in the base frame
}

// NewKinematics allocates the destination of Forward for this robot.
func (r *Robot) NewKinematics() *Kinematics {
	n := r.DoF()
	return &Kinematics{
		J:       make([]float64, 6*n),
		axes:    make([]mgl64.Vec3, n),
		anchors: make([]mgl64.Vec3, n),
	}
}

// Pose returns the tool pose as position and unit quaternion.
func (k *Kinematics) Pose() Pose { return Pose{Pos: k.Pos, Rot: QuatFromMat(k.Rot)} }

// Forward computes the tool pose and Jacobian at joint positions q into dst. It panics
// if len(q) or dst's shape does not match the robot (a programming error), and
// allocates nothing.
func (r *Robot) Forward(dst *Kinematics, q []float64) {
	n := r.DoF()
	if len(q) != n || len(dst.J) != 6*n {
		panic(fmt.Sprintf("control: Forward: %d joint values and a %d-element Jacobian for a %d-joint robot", len(q), len(dst.J), n))
	}
	pos, rot := mgl64.Vec3{}, mgl64.Ident3()
	for i := range r.links {
		l := &r.links[i]
		pos = pos.Add(rot.Mul3x1(l.pos))
		rot = rot.Mul3(l.rot)
		anchor := pos.Add(rot.Mul3x1(l.anchor))
		dst.axes[i] = rot.Mul3x1(l.axis)
		dst.anchors[i] = anchor
		// Rotate the body about the joint axis through its anchor: the anchor stays put.
		rot = rot.Mul3(axisRotation(l.axis, q[i]-l.ref))
		pos = anchor.Sub(rot.Mul3x1(l.anchor))
	}
	dst.Pos = pos.Add(rot.Mul3x1(r.toolPos))
	dst.Rot = rot.Mul3(r.toolRot)
	for i := 0; i < n; i++ {
		z := dst.axes[i]
		v := z.Cross(dst.Pos.Sub(dst.anchors[i]))
		dst.J[0*n+i], dst.J[1*n+i], dst.J[2*n+i] = v[0], v[1], v[2]
		dst.J[3*n+i], dst.J[4*n+i], dst.J[5*n+i] = z[0], z[1], z[2]
	}
}

// axisRotation is the rotation by angle about the unit axis k (Rodrigues' formula).
func axisRotation(k mgl64.Vec3, angle float64) mgl64.Mat3 {
	s, c := math.Sincos(angle)
	t := 1 - c
	x, y, z := k[0], k[1], k[2]
	// mgl64.Mat3 is column-major.
	return mgl64.Mat3{
		c + t*x*x, t*x*y + s*z, t*x*z - s*y,
		t*x*y - s*z, c + t*y*y, t*y*z + s*x,
		t*x*z + s*y, t*y*z - s*x, c + t*z*z,
	}
}

// QuatFromMat converts a rotation matrix to a unit quaternion with W >= 0 (Shepperd's
// method: divide by the largest of the four candidate terms for accuracy).
func QuatFromMat(m mgl64.Mat3) mgl64.Quat {
	m00, m11, m22 := m.At(0, 0), m.At(1, 1), m.At(2, 2)
	tr := m00 + m11 + m22
	var q mgl64.Quat
	switch {
	case tr > m00 && tr > m11 && tr > m22:
		s := 2 * math.Sqrt(1+tr)
		q = mgl64.Quat{W: s / 4, V: mgl64.Vec3{
			(m.At(2, 1) - m.At(1, 2)) / s, (m.At(0, 2) - m.At(2, 0)) / s, (m.At(1, 0) - m.At(0, 1)) / s}}
	case m00 > m11 && m00 > m22:
		s := 2 * math.Sqrt(1+m00-m11-m22)
		q = mgl64.Quat{W: (m.At(2, 1) - m.At(1, 2)) / s, V: mgl64.Vec3{
			s / 4, (m.At(0, 1) + m.At(1, 0)) / s, (m.At(0, 2) + m.At(2, 0)) / s}}
	case m11 > m22:
		s := 2 * math.Sqrt(1+m11-m00-m22)
		q = mgl64.Quat{W: (m.At(0, 2) - m.At(2, 0)) / s, V: mgl64.Vec3{
			(m.At(0, 1) + m.At(1, 0)) / s, s / 4, (m.At(1, 2) + m.At(2, 1)) / s}}
	default:
		s := 2 * math.Sqrt(1+m22-m00-m11)
		q = mgl64.Quat{W: (m.At(1, 0) - m.At(0, 1)) / s, V: mgl64.Vec3{
			(m.At(0, 2) + m.At(2, 0)) / s, (m.At(1, 2) + m.At(2, 1)) / s, s / 4}}
	}
	if q.W < 0 {
		q = q.Scale(-1)
	}
	return q.Normalize()
}

// OrientationError is the angle (rad) of the rotation that takes a to b.
func OrientationError(a, b mgl64.Quat) float64 {
	d := math.Abs(a.Dot(b)) / (a.Len() * b.Len())
	return 2 * math.Acos(math.Min(1, d))
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func finite3(v mgl64.Vec3) bool { return finite(v[0]) && finite(v[1]) && finite(v[2]) }

func allFinite(v []float64) bool {
	for _, x := range v {
		if !finite(x) {
			return false
		}
	}
	return true
}
