package control

import (
	"math"
	"testing"

	"github.com/go-gl/mathgl/mgl64"
)

// RotationVector and FromRotationVector round-trip, agree with mathgl's axis-angle
// quaternions, take q and -q to the same vector, and stay first-order exact near the
// identity (the IK and the ee_pose spaces had two versions that disagreed there and on
// the sign of q).
func TestRotationVector(t *testing.T) {
	axis := mgl64.Vec3{1, -2, 0.5}.Normalize()
	for _, angle := range []float64{0, 1e-14, 1e-9, 1e-3, 0.5, 2, math.Pi - 1e-9} {
		q := mgl64.QuatRotate(angle, axis)
		want := axis.Mul(angle)
		for _, sign := range []float64{1, -1} {
			got := RotationVector(q.Scale(sign))
			if d := got.Sub(want).Len(); d > 1e-12*math.Max(1, angle) {
				t.Errorf("angle %g, sign %v: RotationVector = %v, want %v (off by %g)", angle, sign, got, want, d)
			}
		}
		back := FromRotationVector(want)
		if d := math.Min(back.Sub(q).Len(), back.Add(q).Len()); d > 1e-12 {
			t.Errorf("angle %g: FromRotationVector = %v, want %v", angle, back, q)
		}
	}
	// A quaternion with W < 0 whose shortest rotation is 0.3 rad about -axis.
	q := mgl64.QuatRotate(2*math.Pi-0.3, axis)
	if got, want := RotationVector(q), axis.Mul(-0.3); got.Sub(want).Len() > 1e-12 {
		t.Errorf("long-way quaternion: %v, want the shortest rotation %v", got, want)
	}
	if a := testing.AllocsPerRun(100, func() { _ = FromRotationVector(RotationVector(q)) }); a != 0 {
		t.Errorf("%v allocations", a)
	}
}
