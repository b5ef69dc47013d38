package task_test

import (
	"math"
	"testing"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
)

// SetCubePose puts the cube where it is told, at rest, and CubePose reads it back; a
// non-finite pose changes nothing.
func TestSetCubePose(t *testing.T) {
	tk := newTask(t)
	if _, err := tk.Reset(3); err != nil {
		t.Fatal(err)
	}
	want := control.Pose{Pos: mgl64.Vec3{0.45, 0.1, tk.TableTop() + tk.CubeSize()/2},
		Rot: mgl64.QuatRotate(0.3, mgl64.Vec3{0, 0, 1}).Scale(2)} // not normalised
	if err := tk.SetCubePose(want); err != nil {
		t.Fatal(err)
	}
	got := tk.CubePose()
	if got.Pos.Sub(want.Pos).Len() > 1e-12 || math.Abs(math.Abs(got.Rot.Dot(want.Rot.Normalize()))-1) > 1e-12 {
		t.Fatalf("cube at %v, want %v", got, want)
	}
	if p := tk.Privileged().Cube; p.Pos != got.Pos || p.Rot != got.Rot {
		t.Errorf("Privileged().Cube %v, CubePose %v", p, got)
	}
	st := tk.Evaluate()
	if st.Speed != 0 || st.Tilt > 1e-9 || math.Abs(st.Lift) > 1e-9 {
		t.Errorf("after SetCubePose: speed %v, tilt %v, lift %v; want a cube at rest, flat on the table", st.Speed, st.Tilt, st.Lift)
	}
	bad := want
	bad.Pos[0] = math.NaN()
	if err := tk.SetCubePose(bad); err == nil {
		t.Error("a NaN position was accepted")
	}
	if again := tk.CubePose(); again != got {
		t.Errorf("a refused pose moved the cube to %v", again)
	}
}
