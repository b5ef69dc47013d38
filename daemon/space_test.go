package daemon

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
)

// angleBetween is the rotation angle (rad) from a to b.
func angleBetween(a, b mgl64.Quat) float64 {
	d := math.Abs(a.Normalize().Dot(b.Normalize()))
	return 2 * math.Acos(math.Min(1, d))
}

func TestPose6DRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	down := mgl64.QuatRotate(math.Pi, mgl64.Vec3{1, 0, 0})
	var v [9]float32
	for i := range 1000 {
		var q mgl64.Quat
		if i%2 == 0 { // a downward tool turned about the vertical: angle pi
			q = mgl64.QuatRotate(rng.Float64()*2*math.Pi-math.Pi, mgl64.Vec3{0, 0, 1}).Mul(down)
		} else {
			q = mgl64.Quat{W: rng.NormFloat64(), V: mgl64.Vec3{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}}.Normalize()
		}
		p := control.Pose{Pos: mgl64.Vec3{rng.Float64(), rng.Float64() - 0.5, rng.Float64()}, Rot: q}
		Pose6DValues(v[:], p)
		got := Values6DPose(v[:])
		if e := got.Pos.Sub(p.Pos).Len(); e > 1e-6 {
			t.Fatalf("pose %d: position off by %g m", i, e)
		}
		if e := angleBetween(got.Rot, p.Rot); e > 1e-5 {
			t.Fatalf("pose %d: rotation off by %g rad", i, e)
		}
		v64 := make([]float64, len(v))
		for j, x := range v {
			v64[j] = float64(x)
		}
		if e := angleBetween(SpaceEEPose6D.Pose(v64).Rot, p.Rot); e > 1e-5 {
			t.Fatalf("pose %d: Space.Pose disagrees with Values6DPose", i)
		}
	}
}

// The reason for the space: two nearby downward orientations have nearby 6D values,
// while their rotation vectors (angle pi) can point opposite ways.
func TestPose6DContinuousAtPi(t *testing.T) {
	// A downward tool tilted 1 mrad either way about x: angles pi-0.001 about +x and
	// pi-0.001 about -x.
	a := control.Pose{Rot: mgl64.QuatRotate(math.Pi-0.001, mgl64.Vec3{1, 0, 0})}
	b := control.Pose{Rot: mgl64.QuatRotate(math.Pi+0.001, mgl64.Vec3{1, 0, 0})}
	var va, vb [9]float32
	Pose6DValues(va[:], a)
	Pose6DValues(vb[:], b)
	var d6 float64
	for i := range va {
		d6 = math.Max(d6, math.Abs(float64(va[i]-vb[i])))
	}
	if d6 > 0.003 {
		t.Errorf("6D values of orientations 2 mrad apart differ by %g", d6)
	}
	var ra, rb [6]float32
	PoseValues(ra[:], a)
	PoseValues(rb[:], b)
	var dr float64
	for i := 3; i < 6; i++ {
		dr = math.Max(dr, math.Abs(float64(ra[i]-rb[i])))
	}
	if dr < 6 {
		t.Errorf("rotation vectors 2 mrad apart at angle pi differ by %g; expected the sign flip (about 2 pi)", dr)
	}
	t.Logf("2 mrad apart at angle pi: 6D values differ by %.4f, rotation vectors by %.4f", d6, dr)
}

// Blended or noisy 6D values (what an executor's interpolation or a policy outputs) are
// projected back onto a rotation; a blend of two orientations lands between them.
func TestValues6DProjects(t *testing.T) {
	down := mgl64.QuatRotate(math.Pi, mgl64.Vec3{1, 0, 0})
	a := control.Pose{Rot: mgl64.QuatRotate(-0.3, mgl64.Vec3{0, 0, 1}).Mul(down)}
	b := control.Pose{Rot: mgl64.QuatRotate(0.3, mgl64.Vec3{0, 0, 1}).Mul(down)}
	var va, vb, mid [9]float32
	Pose6DValues(va[:], a)
	Pose6DValues(vb[:], b)
	for i := range mid {
		mid[i] = (va[i] + vb[i]) / 2
	}
	got := Values6DPose(mid[:])
	if e := angleBetween(got.Rot, down); e > 1e-5 {
		t.Errorf("the blend of yaw -0.3 and +0.3 is %g rad from yaw 0", e)
	}
	scaled := va
	for i := 3; i < 9; i++ {
		scaled[i] *= 3
	}
	scaled[6] += 0.5 * scaled[3] // second column no longer orthogonal to the first
	scaled[7] += 0.5 * scaled[4]
	scaled[8] += 0.5 * scaled[5]
	if e := angleBetween(Values6DPose(scaled[:]).Rot, a.Rot); e > 1e-5 {
		t.Errorf("scaled, sheared columns give a rotation %g rad off", e)
	}
	var zero [9]float32
	if got := Values6DPose(zero[:]); angleBetween(got.Rot, mgl64.QuatIdent()) > 1e-12 {
		t.Errorf("zero columns: rotation %v, want identity", got.Rot)
	}
	for i, x := range Values6DPose(zero[:]).Rot.V {
		if math.IsNaN(x) {
			t.Fatalf("zero columns: NaN in rotation component %d", i)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Pose6DValues(va[:], Values6DPose(mid[:])) }); n != 0 {
		t.Errorf("%v allocations per conversion, want 0", n)
	}
}

func TestParseSpace(t *testing.T) {
	for _, s := range []Space{SpaceEEPose, SpaceEEPose6D, SpaceJoints} {
		got, err := ParseSpace(s.String())
		if err != nil || got != s {
			t.Errorf("ParseSpace(%q) = %v, %v", s.String(), got, err)
		}
	}
	if _, err := ParseSpace("ee_pose_quat"); err == nil {
		t.Error("ParseSpace accepted ee_pose_quat")
	}
	if _, err := SpaceEEPose6D.checkWidth("action", 10, 7); err != nil {
		t.Errorf("10-value ee_pose_6d action: %v", err)
	}
	joints := []string{"j1", "j2", "j3", "j4", "j5", "j6", "j7"}
	for _, s := range []Space{SpaceEEPose, SpaceEEPose6D, SpaceJoints} {
		if plain, _ := s.width(len(joints)); len(s.Names(joints)) != plain {
			t.Errorf("%s: %d names for %d values", s, len(s.Names(joints)), plain)
		}
	}
	if _, err := SpaceEEPose6D.checkWidth("action", 7, 7); err == nil {
		t.Error("a 7-value action was accepted as ee_pose_6d")
	}
}
