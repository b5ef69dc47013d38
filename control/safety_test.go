package control

import (
	"math"
	"testing"

	"github.com/go-gl/mathgl/mgl64"
)

func TestSafetyTargets(t *testing.T) {
	s, err := NewSafety(panda(t), SafetyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	good := Pose{Pos: mgl64.Vec3{0.4, 0, 0.3}, Rot: mgl64.Quat{W: 2}}
	p, ok := s.Target(good)
	if !ok || p.Rot != mgl64.QuatIdent() || p.Pos != good.Pos {
		t.Fatalf("good target came back as %v, %v", p, ok)
	}
	for _, bad := range []Pose{
		{Pos: mgl64.Vec3{math.NaN(), 0, 0.3}, Rot: mgl64.QuatIdent()},
		{Pos: mgl64.Vec3{0.4, math.Inf(1), 0.3}, Rot: mgl64.QuatIdent()},
		{Pos: mgl64.Vec3{0.4, 0, 0.3}, Rot: mgl64.Quat{W: math.NaN()}},
		{Pos: mgl64.Vec3{0.4, 0, 0.3}},
	} {
		p, ok := s.Target(bad)
		if ok || p.Pos != good.Pos {
			t.Errorf("bad target %v: got %v ok=%v, want the last good target and false", bad, p, ok)
		}
	}
	if s.Counters.TargetsRejected != 4 {
		t.Errorf("rejected = %d, want 4", s.Counters.TargetsRejected)
	}
	p, ok = s.Target(Pose{Pos: mgl64.Vec3{5, -5, -1}, Rot: mgl64.QuatIdent()})
	w := DefaultWorkspace
	if !ok || p.Pos != (mgl64.Vec3{w.Max[0], w.Min[1], w.Min[2]}) || s.Counters.TargetsClamped != 1 {
		t.Errorf("outside target became %v (clamped %d), want the box corner", p.Pos, s.Counters.TargetsClamped)
	}
	q := make([]float64, 7)
	if s.JointTarget(q, []float64{0, 0, 0, math.NaN(), 0, 0, 0}) {
		t.Error("NaN joint target accepted")
	}
	if !s.JointTarget(q, []float64{10, 0, 0, 0, 0, 0, 0}) || q[0] != 2.8973-0.1 || q[3] != -0.0698-0.1 {
		t.Errorf("joint target clamped to %v", q)
	}
}

func TestSafetyTorques(t *testing.T) {
	r := panda(t)
	s, _ := NewSafety(r, SafetyConfig{})
	in := zeroInput(append([]float64(nil), ready...))
	for i := range in.Gravity {
		in.Gravity[i] = float64(i)
	}
	tau := []float64{1000, -1000, 0, 0, 50, -50, math.NaN()}
	s.Torque(tau, in)
	// NaN anywhere: the whole command is replaced by gravity compensation.
	for i := range tau {
		if tau[i] != in.Gravity[i] {
			t.Fatalf("after NaN torque, tau = %v, want gravity %v", tau, in.Gravity)
		}
	}
	tau = []float64{1000, -1000, 0, 0, 50, -50, 1}
	s.Torque(tau, in)
	want := []float64{87, -87, 0, 0, 12, -12, 1}
	for i := range tau {
		if tau[i] != want[i] {
			t.Fatalf("clamped tau = %v, want %v", tau, want)
		}
	}
	// NaN state: no wall or brake can be computed, gravity only.
	in.Q[2] = math.NaN()
	tau = []float64{5, 5, 5, 5, 5, 5, 5}
	s.Torque(tau, in)
	if tau[0] != 0 || tau[6] != 6 {
		t.Errorf("NaN state: tau = %v, want gravity", tau)
	}
	in.Q[2] = 0
	// At the upper limit of joint 1 the wall pushes back with the full torque limit.
	in.Q[0] = r.Joints[0].Upper
	clear(tau)
	clear(in.Gravity)
	s.Torque(tau, in)
	if math.Abs(tau[0]+87) > 1e-9 {
		t.Errorf("at the limit, tau[0] = %g, want -87", tau[0])
	}
	// Above the soft velocity limit, a joint is braked against its motion.
	in.Q[0] = 0
	in.DQ[4] = r.Joints[4].VelocityLimit
	clear(tau)
	s.Torque(tau, in)
	if math.Abs(tau[4]+12) > 1e-9 {
		t.Errorf("at the velocity limit, tau[4] = %g, want the full brake -12", tau[4])
	}
	c := s.Counters
	if c.NonFinite != 2 || c.TorqueClamped < 1 || c.PositionWall != 1 || c.VelocityBrake != 1 {
		t.Errorf("counters %+v", c)
	}
}

func TestSafetyRejectsBadConfig(t *testing.T) {
	r := panda(t)
	for _, cfg := range []SafetyConfig{
		{Workspace: Box{Min: mgl64.Vec3{1, 0, 0}, Max: mgl64.Vec3{0, 1, 1}}},
		{Workspace: Box{Min: mgl64.Vec3{0, 0, math.NaN()}, Max: mgl64.Vec3{1, 1, 1}}},
		{PositionMargin: -1},
		{VelocitySoft: 1.5},
	} {
		if _, err := NewSafety(r, cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	unlimited := *r
	unlimited.Joints = append([]Joint(nil), r.Joints...)
	unlimited.Joints[3].TorqueLimit = 0
	if _, err := NewSafety(&unlimited, SafetyConfig{}); err == nil {
		t.Error("a joint without a torque limit was accepted")
	}
}
