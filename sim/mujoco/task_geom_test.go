package mujoco

import "testing"

// TestGeomBodySizePose: the reference scene's table and cube geoms report their bodies,
// MJCF sizes and world poses.
func TestGeomBodySizePose(t *testing.T) {
	s := loadScene(t)
	table, cube := mustID(t, s, ObjGeom, "table"), mustID(t, s, ObjGeom, "cube")
	if b := s.GeomBody(table); b != 0 {
		t.Errorf("table geom on body %d, want the world (0)", b)
	}
	if b, want := s.GeomBody(cube), mustID(t, s, ObjBody, "cube"); b != want {
		t.Errorf("cube geom on body %d, want %d", b, want)
	}
	if sz := s.GeomSize(table); sz != [3]float64{0.6, 0.7, 0.02} {
		t.Errorf("table size %v", sz)
	}
	if sz := s.GeomSize(cube); sz != [3]float64{0.025, 0.025, 0.025} {
		t.Errorf("cube size %v", sz)
	}
	pos, rot := s.GeomPose(table)
	if pos != [3]float64{0.45, 0, -0.02} || rot != [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1} {
		t.Errorf("table pose %v %v", pos, rot)
	}
}
