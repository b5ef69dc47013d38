package mujoco

import (
	"errors"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// scenePath is robotd's reference scene: 7-DoF torque-controlled arm, gripper, table, cube.
const scenePath = "../models/scene.xml"

// homeQpos is the "home" keyframe of scene.xml.
var homeQpos = []float64{0, -0.785398163, 0, -2.35619449, 0, 1.57079633, 0.785398163, 0.04, 0.04,
	0.5, 0, 0.025, 1, 0, 0, 0}

const armJoints = 7

func loadScene(t testing.TB) *Sim {
	t.Helper()
	s, err := Load(scenePath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func mustID(t testing.TB, s *Sim, kind ObjType, name string) int {
	t.Helper()
	id, err := s.ID(kind, name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func home(t testing.TB, s *Sim) {
	t.Helper()
	if err := s.ResetKeyframe("home"); err != nil {
		t.Fatal(err)
	}
}

func TestLoadScene(t *testing.T) {
	s := loadScene(t)
	if v := Version(); v != "2.2.2" {
		t.Errorf("Version() = %q, want 2.2.2 (Debian's libmujoco)", v)
	}
	got := [4]int{s.NQ(), s.NV(), s.NU(), s.NSensorData()}
	if want := [4]int{16, 15, 8, 6}; got != want {
		t.Errorf("NQ, NV, NU, NSensorData = %v, want %v", got, want)
	}
	if len(s.Qpos()) != 16 || len(s.Qvel()) != 15 || len(s.Qacc()) != 15 || len(s.Ctrl()) != 8 ||
		len(s.QfrcApplied()) != 15 || len(s.QfrcBias()) != 15 || len(s.QfrcActuator()) != 15 ||
		len(s.SensorData()) != 6 {
		t.Error("view lengths do not match the model sizes")
	}
	if s.Timestep() != 0.001 {
		t.Errorf("Timestep() = %v, want 0.001", s.Timestep())
	}
	if w := s.CompileWarning(); w != "" {
		t.Errorf("compile warning: %s", w)
	}
	if g := s.Gravity(); g != [3]float64{0, 0, -9.81} {
		t.Errorf("Gravity() = %v", g)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.xml")
	_, err := Load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load(missing) = %v, want an fs.ErrNotExist naming %s", err, path)
	}
}

func TestLoadErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		file string
		line int
		msg  string // part of MuJoCo's own message
	}{
		{"malformed.xml", 4, "XML_ERROR_MISMATCHED_ELEMENT"},    // tinyxml2: not well-formed
		{"bad_attr.xml", 6, "unrecognized attribute: 'colour'"}, // schema violation
		{"bad_material.xml", 6, "material 'nosuch' not found"},  // compiler error
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			s, err := Load(path)
			if err == nil {
				s.Close()
				t.Fatal("Load succeeded")
			}
			t.Log(err)
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, tc.msg) {
				t.Errorf("error %q: want it to contain %q and %q", msg, path, tc.msg)
			}
			var merr *Error
			if !errors.As(err, &merr) || merr.Line != tc.line {
				t.Fatalf("error %#v: want *Error with Line %d", err, tc.line)
			}
			if want := "line " + strconv.Itoa(tc.line); !strings.Contains(msg, want) {
				t.Errorf("error %q does not contain %q", msg, want)
			}
		})
	}
}

// TestNoLogFile checks that nothing MuJoCo does through this package writes MUJOCO_LOG.TXT
// into the working directory (MuJoCo's default handlers do): failed loads, warnings and a
// run-time engine error.
func TestNoLogFile(t *testing.T) {
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	scene, bad, overflow := abs(scenePath), abs("testdata/bad_material.xml"), abs("testdata/stack_overflow.xml")
	dir := t.TempDir()
	t.Chdir(dir)

	if _, err := Load(bad); err == nil {
		t.Fatal("bad model loaded")
	}
	s, err := Load(scene)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Qpos()[0] = math.NaN()
	if err := s.Step(); err != nil {
		t.Fatal(err)
	}
	o, err := Load(overflow)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := o.ResetKeyframe("on_floor"); err == nil {
		t.Fatal("expected a stack overflow error")
	}
	if _, err := os.Stat(filepath.Join(dir, "MUJOCO_LOG.TXT")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("MUJOCO_LOG.TXT exists in the working directory (stat: %v)", err)
	}
}

// TestRuntimeEngineError provokes a real mju_error during a step and checks it comes back as an
// error, that the Sim keeps failing cleanly rather than crashing, and that Reset recovers it.
func TestRuntimeEngineError(t *testing.T) {
	s, err := Load("testdata/stack_overflow.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Step(); err != nil {
		t.Fatalf("step in the air: %v", err)
	}
	err = s.ResetKeyframe("on_floor")
	var merr *Error
	if !errors.As(err, &merr) || !strings.Contains(merr.Msg, "Stack overflow") {
		t.Fatalf("ResetKeyframe(on_floor) = %v, want a MuJoCo stack overflow error", err)
	}
	for i := 0; i < 3; i++ {
		if err := s.Step(); err == nil || !strings.Contains(err.Error(), "Stack overflow") {
			t.Fatalf("step %d on the floor = %v, want stack overflow", i, err)
		}
	}
	if err := s.Reset(); err != nil {
		t.Fatalf("Reset after error: %v", err)
	}
	for i := 0; i < 10; i++ {
		if err := s.Step(); err != nil {
			t.Fatalf("step after Reset: %v", err)
		}
	}

	// The guard also holds for an error raised directly.
	if err := s.testError("synthetic failure"); err == nil || !strings.Contains(err.Error(), "synthetic failure") {
		t.Errorf("testError = %v", err)
	}
}

// TestConcurrentLoads: loading is safe from several goroutines at once (MuJoCo 2.2.2's
// compiler swaps in thread-local handlers of its own), and afterwards engine errors still come
// back through this package's guard.
func TestConcurrentLoads(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			s, err := Load(scenePath)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			for j := 0; j < 100; j++ {
				if err := s.Step(); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := Load("testdata/bad_material.xml"); err == nil {
				errs <- errors.New("bad_material.xml loaded")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s, err := Load("testdata/stack_overflow.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.ResetKeyframe("on_floor"); err == nil || !strings.Contains(err.Error(), "Stack overflow") {
		t.Errorf("after concurrent loads: %v, want a stack overflow error", err)
	}
}

func TestBadQposWarningIsObservable(t *testing.T) {
	s := loadScene(t)
	home(t, s)
	if w := s.Warnings(); w.Total() != 0 {
		t.Fatalf("warnings after reset: %+v", w)
	}
	_, before := LastWarning()
	s.Qpos()[3] = math.NaN()
	if err := s.Step(); err != nil {
		t.Fatalf("Step with NaN qpos returned an error (MuJoCo warns and resets): %v", err)
	}
	w := s.Warnings()
	if st := w[WarnBadQpos]; st.Count < 1 || st.LastInfo != 3 {
		t.Errorf("Warnings()[badqpos] = %+v, want count >= 1, info 3", st)
	}
	msg, after := LastWarning()
	if after <= before || !strings.Contains(strings.ToLower(msg), "qpos") {
		t.Errorf("LastWarning() = %q, %d (was %d)", msg, after, before)
	}
	for i, q := range s.Qpos() {
		if math.IsNaN(q) {
			t.Fatalf("qpos[%d] still NaN: MuJoCo should have reset the data", i)
		}
	}
	s.ClearWarnings()
	if w := s.Warnings(); w.Total() != 0 {
		t.Errorf("after ClearWarnings: %+v", w)
	}
}

func TestSetTimestep(t *testing.T) {
	s := loadScene(t)
	for _, dt := range []float64{0, -0.001, math.NaN(), math.Inf(1)} {
		if err := s.SetTimestep(dt); err == nil {
			t.Errorf("SetTimestep(%v) accepted", dt)
		}
	}
	if err := s.SetTimestep(0.002); err != nil || s.Timestep() != 0.002 {
		t.Errorf("SetTimestep(0.002) = %v, Timestep() = %v", err, s.Timestep())
	}
	if err := s.Step(); err != nil {
		t.Fatal(err)
	}
	if s.Time() != 0.002 {
		t.Errorf("Time() after one step = %v, want 0.002", s.Time())
	}
}

func TestResetKeyframe(t *testing.T) {
	s := loadScene(t)
	home(t, s)
	for i, q := range s.Qpos() {
		if q != homeQpos[i] {
			t.Errorf("qpos[%d] = %v, want %v", i, q, homeQpos[i])
		}
	}
	if s.Time() != 0 {
		t.Errorf("Time() = %v after reset", s.Time())
	}
	err := s.ResetKeyframe("nosuch")
	if err == nil || !strings.Contains(err.Error(), `"nosuch"`) || !strings.Contains(err.Error(), "home") {
		t.Errorf("ResetKeyframe(nosuch) = %v, want an error naming it and listing home", err)
	}
	// Reset goes back to the model's qpos0 (all zero joints, cube where the MJCF puts it).
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	if s.Qpos()[1] != 0 || s.Qpos()[9] != 0.5 {
		t.Errorf("after Reset qpos = %v", s.Qpos())
	}
}

func TestArmFallsWithZeroTorque(t *testing.T) {
	s := loadScene(t)
	home(t, s)
	for i := 0; i < 200; i++ {
		if err := s.Step(); err != nil {
			t.Fatal(err)
		}
	}
	moved := 0.0
	for i := 0; i < armJoints; i++ {
		moved = math.Max(moved, math.Abs(s.Qpos()[i]-homeQpos[i]))
	}
	if moved < 0.01 {
		t.Errorf("largest arm joint change after 0.2 s without torque = %v rad; gravity should move it", moved)
	}
	if w := s.Warnings(); w.Total() != 0 {
		t.Errorf("warnings: %+v", w)
	}
}

// holdHome steps the scene for n steps with gravity compensation on the arm (ctrl = g(q),
// computed between Step1 and Step2) and the gripper commanded open.
func holdHome(t testing.TB, s *Sim, n int) {
	t.Helper()
	g := make([]float64, s.NV())
	for i := 0; i < n; i++ {
		if err := s.Step1(); err != nil {
			t.Fatal(err)
		}
		if err := s.GravityForce(g); err != nil {
			t.Fatal(err)
		}
		copy(s.Ctrl()[:armJoints], g[:armJoints]) // motors joint1..7 have gear 1 on dofs 0..6
		s.Ctrl()[armJoints] = 0.04
		if err := s.Step2(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGravityCompensationHolds(t *testing.T) {
	s := loadScene(t)
	home(t, s)
	holdHome(t, s, 1000)
	for i := 0; i < armJoints; i++ {
		if d := math.Abs(s.Qpos()[i] - homeQpos[i]); d > 1e-4 {
			t.Errorf("joint%d drifted %.3g rad in 1 s under gravity compensation", i+1, d)
		}
	}
}

func TestGravityForce(t *testing.T) {
	s := loadScene(t)
	home(t, s)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range s.Qvel() {
		s.Qvel()[i] = rng.NormFloat64()
	}
	if err := s.Forward(); err != nil {
		t.Fatal(err)
	}
	bias := append([]float64(nil), s.QfrcBias()...)
	cvel := append([]float64(nil), s.cvel()...)
	qvel := append([]float64(nil), s.Qvel()...)

	g := make([]float64, s.NV())
	if err := s.GravityForce(g); err != nil {
		t.Fatal(err)
	}
	equal := func(name string, got, want []float64, tol float64) {
		t.Helper()
		for i := range want {
			if math.Abs(got[i]-want[i]) > tol {
				t.Errorf("%s[%d] = %.15g, want %.15g", name, i, got[i], want[i])
			}
		}
	}
	equal("qfrc_bias after GravityForce", s.QfrcBias(), bias, 0)
	equal("cvel after GravityForce", s.cvel(), cvel, 0)
	equal("qvel after GravityForce", s.Qvel(), qvel, 0)

	// The velocity part: the same state in a copy of the model without gravity.
	z, err := Load(scenePath)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	z.SetGravity([3]float64{})
	copy(z.Qpos(), s.Qpos())
	copy(z.Qvel(), s.Qvel())
	if err := z.Forward(); err != nil {
		t.Fatal(err)
	}
	sum := make([]float64, s.NV())
	for i := range sum {
		sum[i] = g[i] + z.QfrcBias()[i]
	}
	equal("gravity + Coriolis", sum, bias, 1e-9)

	// With the arm at rest, qfrc_bias is gravity alone.
	for i := range s.Qvel() {
		s.Qvel()[i] = 0
	}
	if err := s.Forward(); err != nil {
		t.Fatal(err)
	}
	if err := s.GravityForce(g); err != nil {
		t.Fatal(err)
	}
	equal("GravityForce at rest", g, s.QfrcBias(), 1e-12)
	if math.Abs(g[1]) < 1 {
		t.Errorf("gravity torque on joint2 at home = %v Nm, implausibly small", g[1])
	}
}

func TestStepSplitMatchesStep(t *testing.T) {
	a, b := loadScene(t), loadScene(t)
	home(t, a)
	home(t, b)
	for i := 0; i < 100; i++ {
		a.Ctrl()[0], b.Ctrl()[0] = 5, 5
		if err := a.Step(); err != nil {
			t.Fatal(err)
		}
		if err := b.Step1(); err != nil {
			t.Fatal(err)
		}
		if err := b.Step2(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range a.Qpos() {
		if a.Qpos()[i] != b.Qpos()[i] {
			t.Errorf("qpos[%d]: Step %v, Step1+Step2 %v", i, a.Qpos()[i], b.Qpos()[i])
		}
	}
}

func TestIDAndName(t *testing.T) {
	s := loadScene(t)
	for _, tc := range []struct {
		kind ObjType
		name string
		id   int // -1: just check round trip
	}{
		{ObjJoint, "joint1", 0},
		{ObjJoint, "joint7", 6},
		{ObjJoint, "finger_left", 7},
		{ObjActuator, "joint1", 0},
		{ObjActuator, "gripper", 7},
		{ObjSensor, "ft_force", 0},
		{ObjSensor, "ft_torque", 1},
		{ObjCamera, "scene", -1},
		{ObjCamera, "wrist", -1},
		{ObjSite, "tcp", -1},
		{ObjSite, "ft", -1},
		{ObjBody, "cube", -1},
		{ObjGeom, "table", -1},
		{ObjKey, "home", 0},
		{ObjNumeric, "velocity_limit", 0},
	} {
		id, err := s.ID(tc.kind, tc.name)
		if err != nil || (tc.id >= 0 && id != tc.id) {
			t.Errorf("ID(%v, %q) = %d, %v; want %d", tc.kind, tc.name, id, err, tc.id)
			continue
		}
		if got := s.Name(tc.kind, id); got != tc.name {
			t.Errorf("Name(%v, %d) = %q, want %q", tc.kind, id, got, tc.name)
		}
	}
	_, err := s.ID(ObjSite, "nosuch")
	if err == nil || !strings.Contains(err.Error(), `site named "nosuch"`) {
		t.Errorf("ID(site, nosuch) = %v", err)
	}
	if n := s.Name(ObjBody, 999); n != "" {
		t.Errorf("Name(body, 999) = %q", n)
	}
	if s.Count(ObjCamera) != 2 || s.Count(ObjJoint) != 10 {
		t.Errorf("Count(camera), Count(joint) = %d, %d", s.Count(ObjCamera), s.Count(ObjJoint))
	}
}

func TestRanges(t *testing.T) {
	s := loadScene(t)
	j4 := mustID(t, s, ObjJoint, "joint4")
	if lo, hi, lim := s.JointRange(j4); lo != -3.0718 || hi != -0.0698 || !lim {
		t.Errorf("JointRange(joint4) = %v, %v, %v", lo, hi, lim)
	}
	cube := mustID(t, s, ObjJoint, "cube")
	if _, _, lim := s.JointRange(cube); lim {
		t.Error("free joint reported limited")
	}
	if s.JointQposAdr(cube) != 9 || s.JointDofAdr(cube) != 9 || s.JointQposAdr(j4) != 3 {
		t.Errorf("addresses: cube qpos %d dof %d, joint4 qpos %d", s.JointQposAdr(cube),
			s.JointDofAdr(cube), s.JointQposAdr(j4))
	}
	for _, tc := range []struct {
		name   string
		lo, hi float64
	}{{"joint1", -87, 87}, {"joint5", -12, 12}, {"gripper", 0, 0.04}} {
		a := mustID(t, s, ObjActuator, tc.name)
		if lo, hi, lim := s.ActuatorCtrlRange(a); lo != tc.lo || hi != tc.hi || !lim {
			t.Errorf("ActuatorCtrlRange(%s) = %v, %v, %v", tc.name, lo, hi, lim)
		}
	}
	f, tq := mustID(t, s, ObjSensor, "ft_force"), mustID(t, s, ObjSensor, "ft_torque")
	if a, d := s.SensorAdr(f); a != 0 || d != 3 {
		t.Errorf("SensorAdr(ft_force) = %d, %d", a, d)
	}
	if a, d := s.SensorAdr(tq); a != 3 || d != 3 {
		t.Errorf("SensorAdr(ft_torque) = %d, %d", a, d)
	}
	defer func() {
		if recover() == nil {
			t.Error("JointRange(99) did not panic")
		}
	}()
	s.JointRange(99)
}

func TestPoses(t *testing.T) {
	s := loadScene(t)
	home(t, s)
	pos, quat := s.BodyPose(mustID(t, s, ObjBody, "cube"))
	if pos != [3]float64{0.5, 0, 0.025} || quat != [4]float64{1, 0, 0, 0} {
		t.Errorf("cube pose = %v %v", pos, quat)
	}
	p, r := s.SitePose(mustID(t, s, ObjSite, "tcp"))
	// Rotation is orthonormal; in the ready pose the tool points straight down (z axis = column 2).
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			dot := r[i]*r[j] + r[3+i]*r[3+j] + r[6+i]*r[6+j]
			want := 0.0
			if i == j {
				want = 1
			}
			if math.Abs(dot-want) > 1e-9 {
				t.Fatalf("site_xmat not orthonormal: %v", r)
			}
		}
	}
	if z := [3]float64{r[2], r[5], r[8]}; math.Abs(z[2]+1) > 1e-6 {
		t.Errorf("tcp z axis = %v, want (0, 0, -1) in the home pose", z)
	}
	if p[0] < 0.2 || p[0] > 0.7 || math.Abs(p[1]) > 1e-6 || p[2] < 0.1 || p[2] > 0.8 {
		t.Errorf("tcp position at home = %v: not in front of the base above the table", p)
	}
}

func TestContactsCubeOnTable(t *testing.T) {
	s := loadScene(t)
	home(t, s)
	holdHome(t, s, 300)
	cube, table := mustID(t, s, ObjGeom, "cube"), mustID(t, s, ObjGeom, "table")
	cs := s.Contacts(nil)
	n := 0
	for _, c := range cs {
		if (c.Geom1 == cube && c.Geom2 == table) || (c.Geom1 == table && c.Geom2 == cube) {
			n++
			if c.Dist > 1e-3 || c.Dist < -2e-3 {
				t.Errorf("contact distance %v", c.Dist)
			}
			if math.Abs(c.Pos[2]) > 2e-3 || math.Abs(math.Abs(c.Frame[2])-1) > 1e-6 {
				t.Errorf("contact at %v with normal %v: want on the table top, vertical", c.Pos, c.Frame[:3])
			}
		} else {
			t.Errorf("unexpected contact between %q and %q", s.Name(ObjGeom, c.Geom1), s.Name(ObjGeom, c.Geom2))
		}
	}
	if n == 0 || n != s.NumContacts() {
		t.Errorf("%d cube-table contacts of %d", n, s.NumContacts())
	}
	pos, _ := s.BodyPose(mustID(t, s, ObjBody, "cube"))
	if math.Abs(pos[2]-0.025) > 1e-3 {
		t.Errorf("cube height %v after settling, want about 0.025", pos[2])
	}
	// Appending keeps what dst held.
	if got := s.Contacts(make([]Contact, 2, 16)); len(got) != 2+n {
		t.Errorf("Contacts appended to 2 entries: len %d", len(got))
	}
}

// TestFTSensorAtRest: with the arm held still the "ft" force sensor carries the weight of what
// hangs below it. The site sits in the hand at the flange, and a MuJoCo force sensor measures the
// force between the site's body and its parent, so that is the hand with its fingers.
func TestFTSensorAtRest(t *testing.T) {
	s := loadScene(t)
	home(t, s)
	holdHome(t, s, 200)
	if err := s.Forward(); err != nil {
		t.Fatal(err)
	}
	fid := mustID(t, s, ObjSensor, "ft_force")
	adr, _ := s.SensorAdr(fid)
	f := s.SensorData()[adr : adr+3]
	_, rot := s.SitePose(mustID(t, s, ObjSite, "ft"))
	var fw [3]float64 // in world coordinates
	for i := 0; i < 3; i++ {
		fw[i] = rot[3*i]*f[0] + rot[3*i+1]*f[1] + rot[3*i+2]*f[2]
	}
	weight := s.SubtreeMass(mustID(t, s, ObjBody, "hand")) * 9.81
	mag := math.Sqrt(fw[0]*fw[0] + fw[1]*fw[1] + fw[2]*fw[2])
	t.Logf("ft_force = %.3f N (site frame %v), expected weight %.3f N", mag, f, weight)
	if math.Abs(mag-weight) > 0.02*weight || math.Abs(fw[2]) < 0.99*mag {
		t.Errorf("ft_force in world = %v (|f| = %.3f N), want vertical with magnitude %.3f N", fw, mag, weight)
	}
}

func TestJacSiteFiniteDifference(t *testing.T) {
	s := loadScene(t)
	home(t, s)
	// A pose away from the keyframe, so no column is special.
	for i, dq := range []float64{0.3, 0.2, -0.4, 0.5, 0.1, -0.3, 0.6, -0.01, -0.01} {
		s.Qpos()[i] += dq
	}
	if err := s.Kinematics(); err != nil {
		t.Fatal(err)
	}
	tcp := mustID(t, s, ObjSite, "tcp")
	nv := s.NV()
	jacp, jacr := make([]float64, 3*nv), make([]float64, 3*nv)
	s.JacSite(tcp, jacp, jacr)

	const h = 1e-6
	for j := 0; j < s.Count(ObjJoint); j++ {
		if s.Name(ObjJoint, j) == "cube" {
			continue
		}
		qa, da := s.JointQposAdr(j), s.JointDofAdr(j)
		q0 := s.Qpos()[qa]
		s.Qpos()[qa] = q0 + h
		if err := s.Kinematics(); err != nil {
			t.Fatal(err)
		}
		pp, rp := s.SitePose(tcp)
		s.Qpos()[qa] = q0 - h
		if err := s.Kinematics(); err != nil {
			t.Fatal(err)
		}
		pm, rm := s.SitePose(tcp)
		s.Qpos()[qa] = q0
		// Angular velocity from R+ R-^T ~ I + skew(2h w).
		var d [9]float64
		for r := 0; r < 3; r++ {
			for c := 0; c < 3; c++ {
				for k := 0; k < 3; k++ {
					d[3*r+c] += rp[3*r+k] * rm[3*c+k]
				}
			}
		}
		w := [3]float64{(d[7] - d[5]) / (4 * h), (d[2] - d[6]) / (4 * h), (d[3] - d[1]) / (4 * h)}
		for r := 0; r < 3; r++ {
			fd := (pp[r] - pm[r]) / (2 * h)
			if got := jacp[r*nv+da]; math.Abs(got-fd) > 1e-6 {
				t.Errorf("jacp[%d][%s] = %.9f, finite difference %.9f", r, s.Name(ObjJoint, j), got, fd)
			}
			if got := jacr[r*nv+da]; math.Abs(got-w[r]) > 1e-6 {
				t.Errorf("jacr[%d][%s] = %.9f, finite difference %.9f", r, s.Name(ObjJoint, j), got, w[r])
			}
		}
	}
	for r := 0; r < 3; r++ {
		for c := 9; c < nv; c++ { // cube dofs do not move the tcp
			if jacp[r*nv+c] != 0 || jacr[r*nv+c] != 0 {
				t.Errorf("jac[%d][%d] (cube dof) = %v, %v", r, c, jacp[r*nv+c], jacr[r*nv+c])
			}
		}
	}
	s.JacSite(tcp, nil, jacr) // either may be nil
}

func TestPerTickCallsDoNotAllocate(t *testing.T) {
	s := loadScene(t)
	home(t, s)
	tcp := mustID(t, s, ObjSite, "tcp")
	cube := mustID(t, s, ObjBody, "cube")
	g := make([]float64, s.NV())
	jacp, jacr := make([]float64, 3*s.NV()), make([]float64, 3*s.NV())
	contacts := make([]Contact, 0, 64)
	var sink float64
	allocs := testing.AllocsPerRun(200, func() {
		q := s.Qpos()
		sink += q[0] + s.Qvel()[0] + s.Qacc()[0] + s.QfrcBias()[0] + s.QfrcActuator()[0] + s.SensorData()[0]
		s.Ctrl()[0] = 1
		s.QfrcApplied()[0] = 0
		if err := s.Step1(); err != nil {
			t.Fatal(err)
		}
		if err := s.GravityForce(g); err != nil {
			t.Fatal(err)
		}
		if err := s.Step2(); err != nil {
			t.Fatal(err)
		}
		if err := s.Step(); err != nil {
			t.Fatal(err)
		}
		if err := s.Forward(); err != nil {
			t.Fatal(err)
		}
		if err := s.Kinematics(); err != nil {
			t.Fatal(err)
		}
		s.JacSite(tcp, jacp, jacr)
		p, _ := s.BodyPose(cube)
		sp, _ := s.SitePose(tcp)
		contacts = s.Contacts(contacts[:0])
		w := s.Warnings()
		sink += p[0] + sp[0] + float64(len(contacts)+w.Total()) + s.Time()
	})
	if allocs != 0 {
		t.Errorf("per-tick calls allocate %v times per run, want 0", allocs)
	}
	_ = sink
}

func TestClose(t *testing.T) {
	s, err := Load(scenePath)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close()
	if err := s.Step(); !errors.Is(err, ErrClosed) {
		t.Errorf("Step after Close = %v", err)
	}
	if s.Qpos() != nil {
		t.Error("Qpos after Close is not nil")
	}
}

// BenchmarkStep measures mj_step on scene.xml: episodes of 1000 steps (1 s) from "home" with
// zero torque, so the arm falls onto the table; the resets are not timed.
func BenchmarkStep(b *testing.B) {
	s := loadScene(b)
	home(b, s)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%1000 == 0 && i > 0 {
			b.StopTimer()
			home(b, s)
			b.StartTimer()
		}
		if err := s.Step(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
}

// BenchmarkStepVsTestspeed runs MuJoCo's own C benchmark, mujoco-testspeed (Debian package
// libmujoco-samples), and the same workload through this package: 20000 steps of scene.xml
// from qpos0 with zero ctrl, one thread; also the same 20000 steps as one StepN call (a C
// loop inside this process, to tell per-call overhead from process effects). They alternate 5 times per benchmark iteration
// and each keeps its best rate, which filters out interference on a shared machine. It
// reports both rates and their ratio (cgo/C).
func BenchmarkStepVsTestspeed(b *testing.B) {
	exe, err := exec.LookPath("mujoco-testspeed")
	if err != nil {
		b.Skip("mujoco-testspeed not installed (apt-get install libmujoco-samples)")
	}
	const nstep, alternations = 20000, 5
	s := loadScene(b)
	abs, _ := filepath.Abs(scenePath)
	rateRE := regexp.MustCompile(`Steps per second\s*:\s*([0-9.]+)`)
	goRate, cRate, loopRate := 0.0, 0.0, 0.0
	for i := 0; i < b.N; i++ {
		for a := 0; a < alternations; a++ {
			if err := s.Reset(); err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			for j := 0; j < nstep; j++ {
				if err := s.Step(); err != nil {
					b.Fatal(err)
				}
			}
			goRate = math.Max(goRate, nstep/time.Since(t0).Seconds())

			if err := s.Reset(); err != nil {
				b.Fatal(err)
			}
			t0 = time.Now()
			if err := s.StepN(nstep); err != nil {
				b.Fatal(err)
			}
			loopRate = math.Max(loopRate, nstep/time.Since(t0).Seconds())

			cmd := exec.Command(exe, abs, strconv.Itoa(nstep), "1", "0")
			cmd.Dir = b.TempDir() // in case it writes MUJOCO_LOG.TXT
			out, err := cmd.CombinedOutput()
			if err != nil {
				b.Fatalf("%s: %v\n%s", exe, err, out)
			}
			m := rateRE.FindSubmatch(out)
			if m == nil {
				b.Fatalf("no 'Steps per second' in mujoco-testspeed output:\n%s", out)
			}
			r, _ := strconv.ParseFloat(string(m[1]), 64)
			cRate = math.Max(cRate, r)
		}
	}
	b.ReportMetric(goRate, "steps/s")
	b.ReportMetric(cRate, "testspeed-steps/s")
	b.ReportMetric(loopRate, "stepN-steps/s")
	b.ReportMetric(goRate/cRate, "ratio")
}
