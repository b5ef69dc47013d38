package mujoco

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"
)

// This file gives calibration code what a real camera cannot: moving a camera freely and
// reading its exact intrinsics.

// SetCameraPose places camera id in its body's frame (for a camera in the worldbody, in
// the world frame): position in metres and orientation quaternion (w, x, y, z) of
// MuJoCo's camera frame (x to the image's right, y up, looking along -z). It changes the
// model, like editing the camera's pos and quat in the MJCF; CameraPose and images follow
// at the next Forward (MuJoCo computes camera poses in mj_camlight, which Forward runs and
// Kinematics does not). The camera must be in the default fixed mode (no tracking), whose
// pose MuJoCo takes from these values.
func (s *Sim) SetCameraPose(id int, pos [3]float64, quat [4]float64) error {
	if s.c == nil {
		return ErrClosed
	}
	s.checkID(ObjCamera, id)
	m := s.c.m
	if mode := at(m.cam_mode, id); mode != C.mjCAMLIGHT_FIXED {
		return fmt.Errorf("mujoco: %s: camera %q is not in fixed mode (mode %d): its pose is computed by MuJoCo",
			s.path, s.Name(ObjCamera, id), int(mode))
	}
	n := math.Sqrt(quat[0]*quat[0] + quat[1]*quat[1] + quat[2]*quat[2] + quat[3]*quat[3])
	for _, v := range append(pos[:], quat[:]...) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("mujoco: camera pose %v %v: not finite", pos, quat)
		}
	}
	if n < 1e-9 {
		return fmt.Errorf("mujoco: camera quaternion %v: zero", quat)
	}
	p := unsafe.Slice((*float64)(unsafe.Pointer(m.cam_pos)), 3*(id+1))[3*id:]
	q := unsafe.Slice((*float64)(unsafe.Pointer(m.cam_quat)), 4*(id+1))[4*id:]
	copy(p, pos[:])
	for i, v := range quat {
		q[i] = v / n
	}
	return nil
}

// SetCameraFovy sets camera id's vertical field of view in degrees, in (0, 180).
func (s *Sim) SetCameraFovy(id int, fovy float64) error {
	if s.c == nil {
		return ErrClosed
	}
	s.checkID(ObjCamera, id)
	if !(fovy > 0 && fovy < 180) {
		return fmt.Errorf("mujoco: camera fovy %v deg: want (0, 180)", fovy)
	}
	unsafe.Slice((*float64)(unsafe.Pointer(s.c.m.cam_fovy)), id+1)[id] = fovy
	return nil
}

// CameraIntrinsics is the exact pinhole model of camera id in a Renderer image of width x
// height pixels, in OpenCV's pixel convention (the centre of the top-left pixel is
// (0, 0), v grows downwards): the focal length f = (height/2) / tan(fovy/2) in pixels for
// both axes (MuJoCo's pixels are square and its frustum symmetric), and the principal
// point at the image centre, ((width-1)/2, (height-1)/2). The camera has no distortion.
// Its optical frame (x right, y down, z forward) is MuJoCo's camera frame turned half a
// turn about x: see [Sim.CameraPose].
func (s *Sim) CameraIntrinsics(id, width, height int) (f, cx, cy float64) {
	fovy := s.CameraFovy(id) * math.Pi / 180
	f = float64(height) / 2 / math.Tan(fovy/2)
	return f, float64(width-1) / 2, float64(height-1) / 2
}
