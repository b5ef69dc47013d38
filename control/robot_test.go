package control

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-gl/mathgl/mgl64"
)

const sceneXML = "../sim/models/scene.xml"

func panda(t testing.TB) *Robot {
	t.Helper()
	r, err := ParseMJCF(sceneXML, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var ready = []float64{0, -math.Pi / 4, 0, -3 * math.Pi / 4, 0, math.Pi / 2, math.Pi / 4}

func TestParsePandaLimits(t *testing.T) {
	r := panda(t)
	if r.DoF() != 7 {
		t.Fatalf("DoF = %d, want 7", r.DoF())
	}
	// Franka datasheet values.
	lower := []float64{-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973}
	upper := []float64{2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973}
	vel := []float64{2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61}
	torque := []float64{87, 87, 87, 87, 12, 12, 12}
	for i, j := range r.Joints {
		if !j.Limited || j.Lower != lower[i] || j.Upper != upper[i] || j.VelocityLimit != vel[i] || j.TorqueLimit != torque[i] {
			t.Errorf("joint %d = %+v, want [%g, %g], %g rad/s, %g Nm", i, j, lower[i], upper[i], vel[i], torque[i])
		}
	}
}

// dhForward is an independent forward kinematics straight from Franka's published
// modified-DH table (plus the hand's 0.1034 m tool offset and -45 degree mount), so the
// MJCF is checked against the published kinematics rather than against itself.
func dhForward(q []float64) mgl64.Mat4 {
	dh := [][3]float64{ // a, d, alpha
		{0, 0.333, 0}, {0, 0, -math.Pi / 2}, {0, 0.316, math.Pi / 2}, {0.0825, 0, math.Pi / 2},
		{-0.0825, 0.384, -math.Pi / 2}, {0, 0, math.Pi / 2}, {0.088, 0, math.Pi / 2},
	}
	T := mgl64.Ident4()
	for i, p := range dh {
		T = T.Mul4(mgl64.HomogRotate3DX(p[2])).Mul4(mgl64.Translate3D(p[0], 0, 0)).
			Mul4(mgl64.HomogRotate3DZ(q[i])).Mul4(mgl64.Translate3D(0, 0, p[1]))
	}
	T = T.Mul4(mgl64.Translate3D(0, 0, 0.107)).Mul4(mgl64.HomogRotate3DZ(-math.Pi / 4))
	return T.Mul4(mgl64.Translate3D(0, 0, 0.1034))
}

func TestForwardMatchesPublishedDH(t *testing.T) {
	r := panda(t)
	k := r.NewKinematics()
	rng := rand.New(rand.NewPCG(1, 2))
	q := make([]float64, 7)
	for trial := 0; trial < 200; trial++ {
		randomConfig(rng, r, q, 0)
		r.Forward(k, q)
		T := dhForward(q)
		p := T.Col(3).Vec3()
		if d := p.Sub(k.Pos).Len(); d > 1e-12 {
			t.Fatalf("q=%v: tool at %v, DH table says %v (%.3g m apart)", q, k.Pos, p, d)
		}
		if maxAbsDiff(T.Mat3(), k.Rot) > 1e-12 {
			t.Fatalf("q=%v: orientation %v, DH table says %v", q, k.Rot, T.Mat3())
		}
	}
	// Franka's "ready" pose puts the tool centre point at (0.307, 0, 0.487), pointing down.
	r.Forward(k, ready)
	if d := k.Pos.Sub(mgl64.Vec3{0.3069, 0, 0.4869}).Len(); d > 5e-4 {
		t.Errorf("ready pose tool at %v", k.Pos)
	}
	if z := k.Rot.Col(2); z.Sub(mgl64.Vec3{0, 0, -1}).Len() > 1e-9 {
		t.Errorf("ready pose tool z axis %v, want straight down", z)
	}
}

func TestJacobianMatchesFiniteDifferences(t *testing.T) {
	r := panda(t)
	k, kp := r.NewKinematics(), r.NewKinematics()
	rng := rand.New(rand.NewPCG(3, 4))
	q := make([]float64, 7)
	const h = 1e-6
	for trial := 0; trial < 50; trial++ {
		randomConfig(rng, r, q, 0)
		r.Forward(k, q)
		for j := 0; j < 7; j++ {
			q[j] += h
			r.Forward(kp, q)
			q[j] -= h
			v := kp.Pos.Sub(k.Pos).Mul(1 / h)
			// Angular velocity from the rotation difference: skew(w) ~ (R' R^T - I) / h.
			dR := kp.Rot.Mul3(k.Rot.Transpose())
			w := mgl64.Vec3{dR.At(2, 1) - dR.At(1, 2), dR.At(0, 2) - dR.At(2, 0), dR.At(1, 0) - dR.At(0, 1)}.Mul(0.5 / h)
			for row := 0; row < 3; row++ {
				if math.Abs(v[row]-k.J[row*7+j]) > 1e-5 || math.Abs(w[row]-k.J[(row+3)*7+j]) > 1e-5 {
					t.Fatalf("J[:, %d] = %v, finite differences give v %v w %v", j, column(k.J, j), v, w)
				}
			}
		}
	}
}

func column(J []float64, j int) []float64 {
	n := len(J) / 6
	c := make([]float64, 6)
	for r := range c {
		c[r] = J[r*n+j]
	}
	return c
}

// randomConfig draws q uniformly inside the joint limits less margin.
func randomConfig(rng *rand.Rand, r *Robot, q []float64, margin float64) {
	for i, j := range r.Joints {
		q[i] = j.Lower + margin + rng.Float64()*(j.Upper-j.Lower-2*margin)
	}
}

func TestForwardAllocatesNothing(t *testing.T) {
	r := panda(t)
	k := r.NewKinematics()
	if a := testing.AllocsPerRun(100, func() { r.Forward(k, ready) }); a != 0 {
		t.Errorf("Forward allocates %v times per call", a)
	}
}

// TestParseOrientationForms checks euler (intrinsic and extrinsic), axisangle, xyaxes
// and zaxis against the quaternion each should equal, and that angles follow <compiler>.
func TestParseOrientationForms(t *testing.T) {
	cases := []struct{ compiler, attr string }{
		{`angle="radian"`, `quat="0.7071067811865476 0 0.7071067811865476 0"`},
		{`angle="radian"`, `axisangle="0 1 0 1.5707963267948966"`},
		{``, `axisangle="0 2 0 90"`},
		{`angle="radian" eulerseq="xyz"`, `euler="0 1.5707963267948966 0"`},
		{`angle="degree" eulerseq="XYZ"`, `euler="0 90 0"`},
		{`angle="radian"`, `xyaxes="0 0 -1 0 1 0"`},
		{`angle="radian"`, `zaxis="1 0 0"`},
	}
	want := mgl64.QuatRotate(math.Pi/2, mgl64.Vec3{0, 1, 0}).Mat4().Mat3()
	for _, c := range cases {
		path := writeMJCF(t, `<mujoco><compiler `+c.compiler+` autolimits="true"/><worldbody>
			<body name="b" `+c.attr+`><joint name="j" axis="1 0 0" range="-1 1"/><site name="s" pos="0 0 1"/></body>
			</worldbody></mujoco>`)
		r, err := ParseMJCF(path, "s")
		if err != nil {
			t.Fatalf("%s: %v", c.attr, err)
		}
		k := r.NewKinematics()
		r.Forward(k, []float64{0})
		if maxAbsDiff(k.Rot, want) > 1e-12 {
			t.Errorf("%s %s: rotation %v, want %v", c.compiler, c.attr, k.Rot, want)
		}
		if d := k.Pos.Sub(mgl64.Vec3{1, 0, 0}).Len(); d > 1e-12 {
			t.Errorf("%s: site at %v, want (1 0 0)", c.attr, k.Pos)
		}
	}
}

func TestParseDefaultsAndIncludes(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "arm.xml"), []byte(`<mujocoinclude><worldbody>
		<body name="a" childclass="arm"><joint name="j1"/>
		  <body name="b" pos="0 0 0.5"><joint name="j2" class="other"/><site name="tip" pos="0.5 0 0"/></body>
		</body></worldbody></mujocoinclude>`), 0o644)
	top := filepath.Join(dir, "top.xml")
	os.WriteFile(top, []byte(`<mujoco><compiler angle="degree" autolimits="true"/>
		<default><joint axis="0 1 0"/>
		  <default class="arm"><joint axis="0 0 1" range="-90 90"/>
		    <default class="other"><joint range="-45 45" limited="true"/></default>
		  </default>
		</default>
		<include file="arm.xml"/></mujoco>`), 0o644)
	r, err := ParseMJCF(top, "tip")
	if err != nil {
		t.Fatal(err)
	}
	// j1: class arm (childclass). j2: class other, inheriting axis z from arm.
	if j := r.Joints[0]; math.Abs(j.Upper-math.Pi/2) > 1e-15 || !j.Limited {
		t.Errorf("j1 = %+v, want limited to +-90 degrees", j)
	}
	if j := r.Joints[1]; math.Abs(j.Upper-math.Pi/4) > 1e-15 {
		t.Errorf("j2 = %+v, want limited to +-45 degrees", j)
	}
	k := r.NewKinematics()
	r.Forward(k, []float64{math.Pi / 2, 0})
	if d := k.Pos.Sub(mgl64.Vec3{0, 0.5, 0.5}).Len(); d > 1e-12 {
		t.Errorf("tip at %v, want (0 0.5 0.5): j1 must turn about z", k.Pos)
	}
}

func TestParseErrorsNameFileAndLine(t *testing.T) {
	cases := []struct {
		name, xml, tool, want string
	}{
		{"malformed", "<mujoco>\n<worldbody>\n<body name=\"a\">\n</worldbody>\n</mujoco>", "s", ":4: malformed XML"},
		{"bad number", "<mujoco>\n<worldbody>\n<body name=\"a\" pos=\"0 x 0\">\n<joint name=\"j\"/><site name=\"s\"/></body>\n</worldbody></mujoco>", "s", `:3: <body>: attribute pos="0 x 0": "x" is not a number`},
		{"wrong count", "<mujoco><worldbody>\n\n<body name=\"a\" quat=\"1 0 0\"><joint name=\"j\"/><site name=\"s\"/></body>\n</worldbody></mujoco>", "s", ":3: <body>: attribute quat=\"1 0 0\" has 3 numbers, want 4"},
		{"no site", "<mujoco><worldbody><body name=\"a\"><joint name=\"j\"/></body></worldbody></mujoco>", "tcp", `no <site name="tcp">`},
		{"slide", "<mujoco><worldbody>\n<body name=\"a\">\n<joint name=\"j\" type=\"slide\"/><site name=\"s\"/></body></worldbody></mujoco>", "s", `:3: <joint>: joint "j" is type="slide"`},
		{"two orientations", "<mujoco><worldbody><body name=\"a\" quat=\"1 0 0 0\" euler=\"0 0 0\"><joint name=\"j\"/><site name=\"s\"/></body></worldbody></mujoco>", "s", "orientation given more than once"},
		{"unknown class", "<mujoco><worldbody><body name=\"a\"><joint name=\"j\" class=\"nope\"/><site name=\"s\"/></body></worldbody></mujoco>", "s", `unknown default class "nope"`},
		{"not mujoco", "<robot/>", "s", "want <mujoco>"},
		{"empty", "", "s", "no XML element"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeMJCF(t, c.xml)
			_, err := ParseMJCF(path, c.tool)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to name %s and contain %q", err, path, c.want)
			}
		})
	}
	_, err := ParseMJCF("testdata/does-not-exist.xml", "tcp")
	if err == nil || !strings.Contains(err.Error(), "testdata/does-not-exist.xml") || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: error %v, want a not-exist error naming the file", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

func writeMJCF(t *testing.T, s string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.xml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func maxAbsDiff(a, b mgl64.Mat3) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}
