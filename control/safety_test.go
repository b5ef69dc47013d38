package control

import (
	"math"
	"slices"
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
	// A rate limit that never binds here: TestSafetyTorqueRate tests it.
	s, _ := NewSafety(r, SafetyConfig{MaxTorqueRate: 1e6})
	in := zeroInput(append([]float64(nil), ready...))
	for i := range in.Gravity {
		in.Gravity[i] = float64(i)
	}
	tau := []float64{1000, -1000, 0, 0, 50, -50, math.NaN()}
	s.Torque(tau, in, 1)
	// NaN anywhere: the whole command is replaced by gravity compensation.
	for i := range tau {
		if tau[i] != in.Gravity[i] {
			t.Fatalf("after NaN torque, tau = %v, want gravity %v", tau, in.Gravity)
		}
	}
	tau = []float64{1000, -1000, 0, 0, 50, -50, 1}
	s.Torque(tau, in, 1)
	want := []float64{87, -87, 0, 0, 12, -12, 1}
	for i := range tau {
		if tau[i] != want[i] {
			t.Fatalf("clamped tau = %v, want %v", tau, want)
		}
	}
	// NaN state: no wall or brake can be computed, gravity only.
	in.Q[2] = math.NaN()
	tau = []float64{5, 5, 5, 5, 5, 5, 5}
	s.Torque(tau, in, 1)
	if tau[0] != 0 || tau[6] != 6 {
		t.Errorf("NaN state: tau = %v, want gravity", tau)
	}
	in.Q[2] = 0
	// At the upper limit of joint 1 the wall pushes back with the full torque limit.
	in.Q[0] = r.Joints[0].Upper
	clear(tau)
	clear(in.Gravity)
	s.Torque(tau, in, 1)
	if math.Abs(tau[0]+87) > 1e-9 {
		t.Errorf("at the limit, tau[0] = %g, want -87", tau[0])
	}
	// Above the soft velocity limit, a joint is braked against its motion.
	in.Q[0] = 0
	in.DQ[4] = r.Joints[4].VelocityLimit
	clear(tau)
	s.Torque(tau, in, 1)
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
		{MaxTorqueRate: -1},
		{MaxTorqueRate: math.Inf(1)},
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

// The torque-rate limit bounds every change of command, the joint-limit wall's included
// (an independent arm saw the wall take joint 4 from 0.86 to 76.8 Nm within 5 ms), and
// Release ramps back to the hold command at the same rate, adding nothing.
func TestSafetyTorqueRate(t *testing.T) {
	r := panda(t)
	s, err := NewSafety(r, SafetyConfig{}) // 1000 Nm/s
	if err != nil {
		t.Fatal(err)
	}
	const dt = 0.001
	in := zeroInput(append([]float64(nil), ready...))
	in.Q[3] = r.Joints[3].Upper // at joint 4's limit: the wall wants its full -87 Nm
	tau := make([]float64, 7)
	var seen []float64
	for range 200 {
		clear(tau)
		s.Torque(tau, in, dt)
		seen = append(seen, tau[3])
	}
	for k, v := range seen {
		prev := 0.0
		if k > 0 {
			prev = seen[k-1]
		}
		if math.Abs(v-prev) > 1+1e-9 {
			t.Fatalf("tick %d: joint 4 went %g -> %g Nm, more than 1 Nm per 1 ms tick", k, prev, v)
		}
	}
	if math.Abs(seen[9]+10) > 1e-9 || math.Abs(seen[199]+87) > 1e-9 {
		t.Errorf("the wall reached %g Nm after 10 ticks and %g after 200; want -10 and -87", seen[9], seen[199])
	}
	if p := s.PeakTorqueStep()[3]; math.Abs(p-1) > 1e-9 {
		t.Errorf("peak step of joint 4 = %g Nm, want 1", p)
	}
	if s.Counters.RateLimited == 0 || s.Counters.PositionWall != 200 {
		t.Errorf("counters %+v", s.Counters)
	}
	// Release: from -87 back to zero (the arm compensates gravity) at 1 Nm per tick, with
	// the joint still inside the wall's margin: no wall force is left.
	for k := 1; ; k++ {
		done := s.Release(tau, in, dt)
		if want := math.Min(0, -87+float64(k)); math.Abs(tau[3]-want) > 1e-9 {
			t.Fatalf("release tick %d: joint 4 at %g Nm, want %g", k, tau[3], want)
		}
		if done {
			if k != 87 {
				t.Fatalf("release done after %d ticks, want 87", k)
			}
			break
		}
		if k > 100 {
			t.Fatal("release never done")
		}
	}
	for i, v := range tau {
		if v != 0 {
			t.Fatalf("hold command of an arm that compensates gravity: joint %d = %g, want exactly 0", i+1, v)
		}
	}
	// An arm that does not compensate gravity is left with gravity alone.
	in.Gravity = []float64{0, -20, 1, 15, 0, 2, 0}
	if !s.Release(tau, in, dt) || !slices.Equal(tau, in.Gravity) {
		t.Errorf("hold command = %v, want gravity %v", tau, in.Gravity)
	}
	// After Reset the first command starts from zero.
	s.Reset()
	in.Gravity = nil
	in.Q[3] = -1.5
	tau = []float64{50, 0, 0, 0, 0, 0, -50}
	s.Torque(tau, in, dt)
	if tau[0] != 1 || tau[6] != -1 {
		t.Errorf("first command after Reset = %v, want +-1 Nm from zero", tau)
	}
	if a := testing.AllocsPerRun(100, func() { s.Torque(tau, in, dt); s.Release(tau, in, dt) }); a != 0 {
		t.Errorf("%v allocations per Torque+Release", a)
	}
}
