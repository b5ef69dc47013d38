package mujoco

import "unsafe"

// GeomBody is the id of the body geom g belongs to (0 is the world body).
func (s *Sim) GeomBody(g int) int {
	s.checkID(ObjGeom, g)
	return int(at(s.c.m.geom_bodyid, g))
}

// GeomSize is geom g's size parameters as MuJoCo stores them (m): half-extents for a box,
// radius and half-length for a capsule or cylinder, and so on.
func (s *Sim) GeomSize(g int) [3]float64 {
	s.checkID(ObjGeom, g)
	return *(*[3]float64)(unsafe.Pointer(&unsafe.Slice(s.c.m.geom_size, 3*g+3)[3*g]))
}

// GeomPose is geom g's frame in world coordinates: position (m) and rotation matrix
// (row-major), as of the last Forward/Step/Kinematics.
func (s *Sim) GeomPose(g int) (pos [3]float64, rot [9]float64) {
	s.checkID(ObjGeom, g)
	d := s.c.d
	pos = *(*[3]float64)(unsafe.Pointer(&unsafe.Slice(d.geom_xpos, 3*g+3)[3*g]))
	rot = *(*[9]float64)(unsafe.Pointer(&unsafe.Slice(d.geom_xmat, 9*g+9)[9*g]))
	return pos, rot
}
