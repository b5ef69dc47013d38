package control

import (
	"fmt"
	"math"
	"strings"

	"github.com/go-gl/mathgl/mgl64"
)

// Joint is one actuated revolute joint of a Robot, with its limits.
type Joint struct {
	Name string
	// Lower and Upper bound the joint position (rad) when Limited.
	Lower, Upper float64
	Limited      bool
	// VelocityLimit is the largest allowed |dq| (rad/s); 0 means none given.
	VelocityLimit float64
	// TorqueLimit is the largest allowed |tau| (Nm), from the joint's motor actuator
	// ctrlrange times its gear; 0 means none given.
	TorqueLimit float64
}

// link is the rigid part of the chain between two joints: the fixed transform from the
// previous joint's body frame (or the world) to this joint's body frame, and the joint
// axis and anchor in this body frame.
type link struct {
	pos    mgl64.Vec3
	rot    mgl64.Mat3
	axis   mgl64.Vec3 // unit
	anchor mgl64.Vec3
	ref    float64 // joint reference position: the body frame as written is at q = ref
}

// Robot is a serial chain of revolute joints from MuJoCo's world frame to a tool frame,
// read from MJCF by ParseMJCF. It is immutable after parsing and safe to share.
type Robot struct {
	// Name is the MJCF model name.
	Name string
	// Tool is the name of the site whose frame is the end effector.
	Tool   string
	Joints []Joint

	links   []link
	toolPos mgl64.Vec3 // tool site in the last joint's body frame
	toolRot mgl64.Mat3
}

// DoF is the number of joints.
func (r *Robot) DoF() int { return len(r.Joints) }

// ParseMJCF reads the MJCF file at path (following <include>s) and returns the chain of
// hinge joints from the world to the site named tool. Every body on that chain may carry
// at most one joint, and it must be a hinge. Joint limits come from the joints' range,
// torque limits from motor actuators on the chain's joints, velocity limits from a
// <custom><numeric name="velocity_limit"> with one value per chain joint.
//
// Errors name the file and line of the offending element.
func ParseMJCF(path, tool string) (*Robot, error) {
	root, err := readMJCF(path)
	if err != nil {
		return nil, err
	}
	d, err := newMJCFDoc(root)
	if err != nil {
		return nil, fmt.Errorf("mjcf: %w", err)
	}
	r, err := d.robot(tool)
	if err != nil {
		return nil, fmt.Errorf("mjcf: %w", err)
	}
	r.Name = root.Attr["model"]
	return r, nil
}

func (d *mjcfDoc) robot(tool string) (*Robot, error) {
	site := findNamed(d.world, "site", tool)
	if site == nil {
		return nil, fmt.Errorf("%s: no <site name=%q> in the worldbody", d.root.File, tool)
	}
	// The bodies from the world down to the site's body.
	var chain []*element
	for b := d.parentOf[site]; b != nil && b != d.world; b = d.parentOf[b] {
		if b.Name != "body" {
			return nil, b.errorf("site %q is inside <%s>, want only <body> elements above it", tool, b.Name)
		}
		chain = append(chain, b)
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}

	r := &Robot{Tool: tool}
	accPos, accRot := mgl64.Vec3{}, mgl64.Ident3() // fixed transform since the last joint body
	for _, b := range chain {
		pos, rot, err := d.frame(b)
		if err != nil {
			return nil, err
		}
		accPos, accRot = accPos.Add(accRot.Mul3x1(pos)), accRot.Mul3(rot)
		var joints []*element
		for _, c := range b.Children {
			switch c.Name {
			case "joint":
				joints = append(joints, c)
			case "freejoint":
				return nil, c.errorf("a free joint on the chain to site %q", tool)
			}
		}
		if len(joints) == 0 {
			continue
		}
		if len(joints) > 1 {
			return nil, joints[1].errorf("body %q has %d joints; the arm chain allows one per body", b.Attr["name"], len(joints))
		}
		l, jt, err := d.hinge(joints[0])
		if err != nil {
			return nil, err
		}
		l.pos, l.rot = accPos, accRot
		r.links = append(r.links, l)
		r.Joints = append(r.Joints, jt)
		accPos, accRot = mgl64.Vec3{}, mgl64.Ident3()
	}
	if len(r.Joints) == 0 {
		return nil, site.errorf("no joint between the world and site %q", tool)
	}
	pos, rot, err := d.frame(site)
	if err != nil {
		return nil, err
	}
	r.toolPos, r.toolRot = accPos.Add(accRot.Mul3x1(pos)), accRot.Mul3(rot)

	if err := d.torqueLimits(r); err != nil {
		return nil, err
	}
	if err := d.velocityLimits(r); err != nil {
		return nil, err
	}
	return r, nil
}

// hinge reads a <joint> that must be a hinge.
func (d *mjcfDoc) hinge(e *element) (link, Joint, error) {
	var l link
	jt := Joint{Name: e.Attr["name"]}
	if jt.Name == "" {
		return l, jt, e.errorf("joint on the arm chain has no name")
	}
	typ, _, err := d.attr(e, "type")
	if err != nil {
		return l, jt, err
	}
	if typ != "" && typ != "hinge" {
		return l, jt, e.errorf("joint %q is type=%q; the arm chain supports hinge joints only", jt.Name, typ)
	}
	l.axis = mgl64.Vec3{0, 0, 1}
	if v, ok, err := d.floats(e, "axis", 3); err != nil {
		return l, jt, err
	} else if ok {
		l.axis = mgl64.Vec3{v[0], v[1], v[2]}
	}
	if n := l.axis.Len(); n < 1e-9 {
		return l, jt, e.errorf("joint %q has a zero axis", jt.Name)
	} else {
		l.axis = l.axis.Mul(1 / n)
	}
	if v, ok, err := d.floats(e, "pos", 3); err != nil {
		return l, jt, err
	} else if ok {
		l.anchor = mgl64.Vec3{v[0], v[1], v[2]}
	}
	unit := 1.0
	if d.comp.degrees {
		unit = math.Pi / 180
	}
	if v, ok, err := d.floats(e, "ref", 1); err != nil {
		return l, jt, err
	} else if ok {
		l.ref = v[0] * unit
	}
	rng, hasRange, err := d.floats(e, "range", 2)
	if err != nil {
		return l, jt, err
	}
	limited, _, err := d.attr(e, "limited")
	if err != nil {
		return l, jt, err
	}
	switch limited {
	case "true":
		jt.Limited = true
	case "false":
	case "", "auto":
		jt.Limited = d.comp.autolimits && hasRange
	default:
		return l, jt, e.errorf("limited=%q, want true, false or auto", limited)
	}
	if jt.Limited {
		if !hasRange {
			return l, jt, e.errorf("joint %q is limited but has no range", jt.Name)
		}
		jt.Lower, jt.Upper = rng[0]*unit, rng[1]*unit
		if !(jt.Lower < jt.Upper) {
			return l, jt, e.errorf("joint %q range %g..%g is empty", jt.Name, rng[0], rng[1])
		}
	}
	return l, jt, nil
}

// frame reads an element's position and orientation relative to its parent body.
func (d *mjcfDoc) frame(e *element) (mgl64.Vec3, mgl64.Mat3, error) {
	var pos mgl64.Vec3
	if v, ok, err := d.floats(e, "pos", 3); err != nil {
		return pos, mgl64.Mat3{}, err
	} else if ok {
		pos = mgl64.Vec3{v[0], v[1], v[2]}
	}
	q, err := d.orientation(e)
	if err != nil {
		return pos, mgl64.Mat3{}, err
	}
	return pos, q.Normalize().Mat4().Mat3(), nil
}

// orientation reads MJCF's alternative orientation specifiers; at most one may be given.
func (d *mjcfDoc) orientation(e *element) (mgl64.Quat, error) {
	var given []string
	for _, k := range []string{"quat", "axisangle", "euler", "xyaxes", "zaxis"} {
		if _, ok := e.Attr[k]; ok {
			given = append(given, k)
		}
	}
	if len(given) > 1 {
		return mgl64.Quat{}, e.errorf("orientation given more than once (%s)", strings.Join(given, ", "))
	}
	if len(given) == 0 {
		return mgl64.QuatIdent(), nil
	}
	unit := 1.0
	if d.comp.degrees {
		unit = math.Pi / 180
	}
	switch given[0] {
	case "quat":
		v, _, err := d.floats(e, "quat", 4)
		if err != nil {
			return mgl64.Quat{}, err
		}
		q := mgl64.Quat{W: v[0], V: mgl64.Vec3{v[1], v[2], v[3]}}
		if q.Len() < 1e-12 {
			return q, e.errorf("quat is zero")
		}
		return q, nil
	case "axisangle":
		v, _, err := d.floats(e, "axisangle", 4)
		if err != nil {
			return mgl64.Quat{}, err
		}
		axis := mgl64.Vec3{v[0], v[1], v[2]}
		if axis.Len() < 1e-12 {
			return mgl64.Quat{}, e.errorf("axisangle has a zero axis")
		}
		return mgl64.QuatRotate(v[3]*unit, axis.Normalize()), nil
	case "euler":
		v, _, err := d.floats(e, "euler", 3)
		if err != nil {
			return mgl64.Quat{}, err
		}
		q := mgl64.QuatIdent()
		for i, c := range d.comp.eulerseq {
			var axis mgl64.Vec3
			axis[strings.IndexRune("xyz", c|0x20)] = 1
			r := mgl64.QuatRotate(v[i]*unit, axis)
			if c >= 'a' { // lowercase: axes move with the frame (intrinsic)
				q = q.Mul(r)
			} else {
				q = r.Mul(q)
			}
		}
		return q, nil
	case "xyaxes":
		v, _, err := d.floats(e, "xyaxes", 6)
		if err != nil {
			return mgl64.Quat{}, err
		}
		x := mgl64.Vec3{v[0], v[1], v[2]}
		y := mgl64.Vec3{v[3], v[4], v[5]}
		if x.Len() < 1e-12 {
			return mgl64.Quat{}, e.errorf("xyaxes has a zero x axis")
		}
		x = x.Normalize()
		y = y.Sub(x.Mul(x.Dot(y)))
		if y.Len() < 1e-12 {
			return mgl64.Quat{}, e.errorf("xyaxes: y is parallel to x")
		}
		y = y.Normalize()
		return QuatFromMat(mgl64.Mat3FromCols(x, y, x.Cross(y))), nil
	default: // zaxis: the smallest rotation taking (0,0,1) to the given axis
		v, _, err := d.floats(e, "zaxis", 3)
		if err != nil {
			return mgl64.Quat{}, err
		}
		z := mgl64.Vec3{v[0], v[1], v[2]}
		if z.Len() < 1e-12 {
			return mgl64.Quat{}, e.errorf("zaxis is zero")
		}
		return mgl64.QuatBetweenVectors(mgl64.Vec3{0, 0, 1}, z.Normalize()), nil
	}
}

// torqueLimits takes each chain joint's limit from a <motor> on it: ctrlrange x gear.
func (d *mjcfDoc) torqueLimits(r *Robot) error {
	for _, sec := range d.root.Children {
		if sec.Name != "actuator" {
			continue
		}
		for _, a := range sec.Children {
			if a.Name != "motor" {
				continue
			}
			i := r.jointIndex(a.Attr["joint"])
			if i < 0 {
				continue
			}
			rng, ok, err := d.floats(a, "ctrlrange", 2)
			if err != nil {
				return err
			}
			lim, _, err := d.attr(a, "ctrllimited")
			if err != nil {
				return err
			}
			if !ok || lim == "false" || (lim != "true" && !d.comp.autolimits) {
				continue
			}
			gear := 1.0
			if g, ok, err := d.floats(a, "gear", -1); err != nil {
				return err
			} else if ok && len(g) > 0 {
				gear = math.Abs(g[0])
			}
			r.Joints[i].TorqueLimit = math.Max(math.Abs(rng[0]), math.Abs(rng[1])) * gear
		}
	}
	return nil
}

// velocityLimits reads <custom><numeric name="velocity_limit" data="..."/>.
func (d *mjcfDoc) velocityLimits(r *Robot) error {
	for _, sec := range d.root.Children {
		if sec.Name != "custom" {
			continue
		}
		for _, n := range sec.Children {
			if n.Name != "numeric" || n.Attr["name"] != "velocity_limit" {
				continue
			}
			v, _, err := d.floats(n, "data", -1)
			if err != nil {
				return err
			}
			if len(v) != len(r.Joints) {
				return n.errorf("velocity_limit has %d values for %d joints", len(v), len(r.Joints))
			}
			for i, x := range v {
				if !(x > 0) {
					return n.errorf("velocity_limit[%d] = %g, want > 0", i, x)
				}
				r.Joints[i].VelocityLimit = x
			}
		}
	}
	return nil
}

func (r *Robot) jointIndex(name string) int {
	for i, j := range r.Joints {
		if j.Name == name {
			return i
		}
	}
	return -1
}

// JointNames returns the joint names in chain order.
func (r *Robot) JointNames() []string {
	out := make([]string, len(r.Joints))
	for i, j := range r.Joints {
		out[i] = j.Name
	}
	return out
}
