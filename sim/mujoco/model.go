package mujoco

/*
#include <stdlib.h>
#include <string.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// ObjType is a kind of named model element (MuJoCo's mjtObj).
type ObjType int

// Object kinds, with MuJoCo's mjOBJ_* values.
const (
	ObjBody     ObjType = C.mjOBJ_BODY
	ObjJoint    ObjType = C.mjOBJ_JOINT
	ObjGeom     ObjType = C.mjOBJ_GEOM
	ObjSite     ObjType = C.mjOBJ_SITE
	ObjCamera   ObjType = C.mjOBJ_CAMERA
	ObjLight    ObjType = C.mjOBJ_LIGHT
	ObjMesh     ObjType = C.mjOBJ_MESH
	ObjMaterial ObjType = C.mjOBJ_MATERIAL
	ObjEquality ObjType = C.mjOBJ_EQUALITY
	ObjTendon   ObjType = C.mjOBJ_TENDON
	ObjActuator ObjType = C.mjOBJ_ACTUATOR
	ObjSensor   ObjType = C.mjOBJ_SENSOR
	ObjNumeric  ObjType = C.mjOBJ_NUMERIC
	ObjKey      ObjType = C.mjOBJ_KEY
)

var objNames = map[ObjType]string{
	ObjBody: "body", ObjJoint: "joint", ObjGeom: "geom", ObjSite: "site", ObjCamera: "camera",
	ObjLight: "light", ObjMesh: "mesh", ObjMaterial: "material", ObjEquality: "equality",
	ObjTendon: "tendon", ObjActuator: "actuator", ObjSensor: "sensor", ObjNumeric: "numeric",
	ObjKey: "keyframe",
}

// String is the MJCF element name of the kind, e.g. "body".
func (t ObjType) String() string {
	if n, ok := objNames[t]; ok {
		return n
	}
	return fmt.Sprintf("ObjType(%d)", int(t))
}

// Count is the number of elements of kind t in the model (0 for kinds this package does not
// list).
func (s *Sim) Count(t ObjType) int {
	m := s.c.m
	var n C.int
	switch t {
	case ObjBody:
		n = m.nbody
	case ObjJoint:
		n = m.njnt
	case ObjGeom:
		n = m.ngeom
	case ObjSite:
		n = m.nsite
	case ObjCamera:
		n = m.ncam
	case ObjLight:
		n = m.nlight
	case ObjMesh:
		n = m.nmesh
	case ObjMaterial:
		n = m.nmat
	case ObjEquality:
		n = m.neq
	case ObjTendon:
		n = m.ntendon
	case ObjActuator:
		n = m.nu
	case ObjSensor:
		n = m.nsensor
	case ObjNumeric:
		n = m.nnumeric
	case ObjKey:
		n = m.nkey
	}
	return int(n)
}

// checkID panics when id is not a valid index of kind t: ids come from ID, so a bad one is a
// programming error, like an out-of-range slice index.
func (s *Sim) checkID(t ObjType, id int) {
	if n := s.Count(t); id < 0 || id >= n {
		panic(fmt.Sprintf("mujoco: %s id %d out of range [0, %d)", t, id, n))
	}
}

// ID returns the index of the element of kind t called name (mj_name2id).
func (s *Sim) ID(t ObjType, name string) (int, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	id := int(C.mj_name2id(s.c.m, C.int(t), cname))
	if id < 0 {
		return -1, fmt.Errorf("mujoco: %s has no %s named %q", s.path, t, name)
	}
	return id, nil
}

// Name returns the name of element id of kind t, or "" when it is unnamed or out of range.
func (s *Sim) Name(t ObjType, id int) string {
	p := C.mj_id2name(s.c.m, C.int(t), C.int(id))
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// JointQposAdr is the index in Qpos of joint j's first coordinate.
func (s *Sim) JointQposAdr(j int) int {
	s.checkID(ObjJoint, j)
	return int(at(s.c.m.jnt_qposadr, j))
}

// JointDofAdr is the index in Qvel (and the Jacobian columns) of joint j's first DoF.
func (s *Sim) JointDofAdr(j int) int {
	s.checkID(ObjJoint, j)
	return int(at(s.c.m.jnt_dofadr, j))
}

// JointRange is joint j's position range (rad or m) and whether it is enforced.
func (s *Sim) JointRange(j int) (lo, hi float64, limited bool) {
	s.checkID(ObjJoint, j)
	m := s.c.m
	return float64(at(m.jnt_range, 2*j)), float64(at(m.jnt_range, 2*j+1)), at(m.jnt_limited, j) != 0
}

// ActuatorCtrlRange is actuator a's control range and whether MuJoCo clamps Ctrl to it.
func (s *Sim) ActuatorCtrlRange(a int) (lo, hi float64, limited bool) {
	s.checkID(ObjActuator, a)
	m := s.c.m
	return float64(at(m.actuator_ctrlrange, 2*a)), float64(at(m.actuator_ctrlrange, 2*a+1)),
		at(m.actuator_ctrllimited, a) != 0
}

// SensorAdr is where sensor id's output starts in SensorData and how many values it has.
func (s *Sim) SensorAdr(id int) (adr, dim int) {
	s.checkID(ObjSensor, id)
	return int(at(s.c.m.sensor_adr, id)), int(at(s.c.m.sensor_dim, id))
}

// SubtreeMass is the mass in kg of body id and all its descendants.
func (s *Sim) SubtreeMass(id int) float64 {
	s.checkID(ObjBody, id)
	return float64(at(s.c.m.body_subtreemass, id))
}

// BodyPose is body id's frame in world coordinates: position (m) and orientation quaternion
// (w, x, y, z), as of the last Forward/Step/Kinematics.
func (s *Sim) BodyPose(id int) (pos [3]float64, quat [4]float64) {
	s.checkID(ObjBody, id)
	d := s.c.d
	pos = *(*[3]float64)(unsafe.Pointer(&unsafe.Slice(d.xpos, 3*id+3)[3*id]))
	quat = *(*[4]float64)(unsafe.Pointer(&unsafe.Slice(d.xquat, 4*id+4)[4*id]))
	return pos, quat
}

// SitePose is site id's frame in world coordinates: position (m) and rotation matrix
// (row-major; its columns are the site's axes in world coordinates).
func (s *Sim) SitePose(id int) (pos [3]float64, rot [9]float64) {
	s.checkID(ObjSite, id)
	d := s.c.d
	pos = *(*[3]float64)(unsafe.Pointer(&unsafe.Slice(d.site_xpos, 3*id+3)[3*id]))
	rot = *(*[9]float64)(unsafe.Pointer(&unsafe.Slice(d.site_xmat, 9*id+9)[9*id]))
	return pos, rot
}

// CameraPose is camera id's frame in world coordinates: position (m) and rotation matrix
// (row-major). Its columns are the camera's axes: x to the image's right, y up, and z
// backwards (the camera looks along -z), as in OpenGL.
func (s *Sim) CameraPose(id int) (pos [3]float64, rot [9]float64) {
	s.checkID(ObjCamera, id)
	d := s.c.d
	pos = *(*[3]float64)(unsafe.Pointer(&unsafe.Slice(d.cam_xpos, 3*id+3)[3*id]))
	rot = *(*[9]float64)(unsafe.Pointer(&unsafe.Slice(d.cam_xmat, 9*id+9)[9*id]))
	return pos, rot
}

// CameraFovy is camera id's vertical field of view in degrees. A Renderer image of height h
// has focal length (h/2) / tan(fovy/2) pixels, square pixels and the principal point at the
// image centre.
func (s *Sim) CameraFovy(id int) float64 {
	s.checkID(ObjCamera, id)
	return float64(at(s.c.m.cam_fovy, id))
}

// JacSite writes the translational (jacp) and rotational (jacr) Jacobians of site id's origin,
// each 3 x NV row-major, in world coordinates (mj_jacSite). Either may be nil; otherwise its
// length must be 3*NV. It uses the kinematics of the last Forward/Step/Kinematics.
func (s *Sim) JacSite(id int, jacp, jacr []float64) {
	s.checkID(ObjSite, id)
	var p, r *C.double
	if jacp != nil {
		if len(jacp) != 3*s.nv {
			panic(fmt.Sprintf("mujoco: JacSite: len(jacp) = %d, want 3*NV = %d", len(jacp), 3*s.nv))
		}
		if s.nv > 0 {
			p = (*C.double)(unsafe.Pointer(&jacp[0]))
		}
	}
	if jacr != nil {
		if len(jacr) != 3*s.nv {
			panic(fmt.Sprintf("mujoco: JacSite: len(jacr) = %d, want 3*NV = %d", len(jacr), 3*s.nv))
		}
		if s.nv > 0 {
			r = (*C.double)(unsafe.Pointer(&jacr[0]))
		}
	}
	C.rd_jac_site(s.c, C.int(id), p, r)
}

// Contact is one contact MuJoCo detected in the last Forward/Step.
type Contact struct {
	Geom1, Geom2 int        // geom ids; see Name(ObjGeom, id)
	Dist         float64    // distance between the geoms (m); negative means penetration
	Pos          [3]float64 // contact point in world coordinates (midway between the surfaces)
	Frame        [9]float64 // contact frame, row-major; the first row is the normal (geom1 -> geom2)
}

// NumContacts is the number of contacts of the last Forward/Step.
func (s *Sim) NumContacts() int { return int(s.c.d.ncon) }

// Contacts appends the contacts of the last Forward/Step to dst and returns it. It allocates
// nothing when dst has room.
func (s *Sim) Contacts(dst []Contact) []Contact {
	n := int(s.c.d.ncon)
	if n == 0 {
		return dst
	}
	cs := unsafe.Slice(s.c.d.contact, n)
	for i := range cs {
		c := &cs[i]
		dst = append(dst, Contact{
			Geom1: int(c.geom1),
			Geom2: int(c.geom2),
			Dist:  float64(c.dist),
			Pos:   *(*[3]float64)(unsafe.Pointer(&c.pos[0])),
			Frame: *(*[9]float64)(unsafe.Pointer(&c.frame[0])),
		})
	}
	return dst
}

// Warning is a kind of MuJoCo runtime warning (mjtWarning).
type Warning int

// Runtime warning kinds, with MuJoCo's mjWARN_* values.
const (
	WarnInertia        Warning = C.mjWARN_INERTIA     // (near) singular inertia matrix
	WarnContactFull    Warning = C.mjWARN_CONTACTFULL // too many contacts: some dropped
	WarnConstraintFull Warning = C.mjWARN_CNSTRFULL   // too many constraints: some dropped
	WarnVGeomFull      Warning = C.mjWARN_VGEOMFULL   // too many visual geoms to render
	WarnBadQpos        Warning = C.mjWARN_BADQPOS     // NaN/huge qpos: MuJoCo reset the data
	WarnBadQvel        Warning = C.mjWARN_BADQVEL     // NaN/huge qvel: MuJoCo reset the data
	WarnBadQacc        Warning = C.mjWARN_BADQACC     // NaN/huge qacc (unstable): data reset
	WarnBadCtrl        Warning = C.mjWARN_BADCTRL     // NaN/huge ctrl: ctrl was zeroed

	NumWarnings = C.mjNWARNING // number of warning kinds
)

var warningNames = [NumWarnings]string{
	"inertia", "contactfull", "cnstrfull", "vgeomfull", "badqpos", "badqvel", "badqacc", "badctrl",
}

// String is a short lower-case name such as "badqacc".
func (w Warning) String() string {
	if w >= 0 && int(w) < NumWarnings {
		return warningNames[w]
	}
	return fmt.Sprintf("Warning(%d)", int(w))
}

// WarningStat counts one kind of warning since the last reset.
type WarningStat struct {
	Count    int // how many times it was raised
	LastInfo int // MuJoCo's detail for the last one, e.g. the index of the bad DoF
}

// Warnings holds the counters of every warning kind, indexed by Warning.
type Warnings [NumWarnings]WarningStat

// Total is the number of warnings of all kinds.
func (w *Warnings) Total() int {
	n := 0
	for _, st := range w {
		n += st.Count
	}
	return n
}

// Warnings returns MuJoCo's per-data warning counters (mjData.warning). MuJoCo's automatic
// reset after a bad qpos/qvel/qacc keeps the counter of the warning that caused it; Reset and
// ResetKeyframe clear them all.
func (s *Sim) Warnings() Warnings {
	var w Warnings
	for i := range s.c.d.warning {
		st := &s.c.d.warning[i]
		w[i] = WarningStat{Count: int(st.number), LastInfo: int(st.lastinfo)}
	}
	return w
}

// ClearWarnings zeroes the warning counters, so a later Warnings shows only new ones.
func (s *Sim) ClearWarnings() {
	for i := range s.c.d.warning {
		s.c.d.warning[i] = C.mjWarningStat{}
	}
}
