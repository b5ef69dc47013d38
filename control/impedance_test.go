package control

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/go-gl/mathgl/mgl64"
	"gonum.org/v1/gonum/mat"
)

// TestDampedPseudoInverseEqualsSVDForm checks that the Cholesky form used by the
// controller equals franka_ros' SVD-damped pseudo-inverse of J^T, including near a
// singularity (the stretched arm).
func TestDampedPseudoInverseEqualsSVDForm(t *testing.T) {
	r := panda(t)
	c, err := NewCartesianImpedance(r, CartesianConfig{})
	if err != nil {
		t.Fatal(err)
	}
	k := r.NewKinematics()
	rng := rand.New(rand.NewPCG(5, 6))
	q := make([]float64, 7)
	for trial := 0; trial < 100; trial++ {
		randomConfig(rng, r, q, 0)
		if trial == 0 { // stretched: joints 2 and 4 near zero, a kinematic singularity
			copy(q, []float64{0, 0, 0, -0.0698, 0, 0, 0})
		}
		r.Forward(k, q)
		for i := range c.y {
			c.y[i] = rng.NormFloat64()
		}
		c.dampedSolveJ(k.J, 7)

		// Reference: pinv(J^T) = V diag(s / (s^2 + l^2)) U^T with J^T = U S V^T.
		Jt := mat.DenseCopyOf(mat.NewDense(6, 7, k.J).T())
		var svd mat.SVD
		if !svd.Factorize(Jt, mat.SVDThin) {
			t.Fatal("SVD failed")
		}
		var U, V mat.Dense
		svd.UTo(&U)
		svd.VTo(&V)
		s := svd.Values(nil)
		l2 := 0.2 * 0.2
		S := mat.NewDiagDense(len(s), nil)
		for i, v := range s {
			S.SetDiag(i, v/(v*v+l2))
		}
		var P, want mat.Dense
		P.Product(&V, S, U.T())
		want.Mul(&P, mat.NewVecDense(7, append([]float64(nil), c.y...)))
		for i := 0; i < 6; i++ {
			if d := math.Abs(want.At(i, 0) - c.wrk6[i]); d > 1e-12*(1+math.Abs(want.At(i, 0))) {
				t.Fatalf("q=%v: component %d = %.15g, SVD form %.15g", q, i, c.wrk6[i], want.At(i, 0))
			}
		}
	}
}

func zeroInput(q []float64) *Input {
	n := len(q)
	return &Input{Q: q, DQ: make([]float64, n), Coriolis: make([]float64, n), Gravity: make([]float64, n)}
}

func TestCartesianUpdateAllocatesNothing(t *testing.T) {
	r := panda(t)
	c, _ := NewCartesianImpedance(r, CartesianConfig{})
	in := zeroInput(append([]float64(nil), ready...))
	c.Start(in.Q)
	c.SetTarget(Pose{Pos: mgl64.Vec3{0.4, 0.1, 0.3}, Rot: mgl64.Quat{V: mgl64.Vec3{1, 0, 0}}})
	tau := make([]float64, 7)
	if a := testing.AllocsPerRun(200, func() { c.Update(tau, in, 1e-3) }); a != 0 {
		t.Errorf("Update allocates %v times per tick", a)
	}
	j, _ := NewJointImpedance(7, JointConfig{})
	if a := testing.AllocsPerRun(200, func() { j.Update(tau, in, 1e-3) }); a != 0 {
		t.Errorf("joint Update allocates %v times per tick", a)
	}
	s, _ := NewSafety(r, SafetyConfig{})
	if a := testing.AllocsPerRun(200, func() { s.Torque(tau, in, 0.001); s.Target(c.Target()) }); a != 0 {
		t.Errorf("safety allocates %v times per tick", a)
	}
}

// TestCartesianLawAtRest: at the equilibrium with zero velocity the law commands exactly
// gravity + Coriolis; displaced along x it pushes back along -x with K * dx.
func TestCartesianLawAtRest(t *testing.T) {
	r := panda(t)
	c, _ := NewCartesianImpedance(r, CartesianConfig{MaxTorqueRate: 1e9})
	in := zeroInput(append([]float64(nil), ready...))
	for i := range in.Gravity {
		in.Gravity[i] = float64(i + 1)
		in.Coriolis[i] = 0.1 * float64(i)
	}
	c.Start(in.Q)
	tau := make([]float64, 7)
	c.Update(tau, in, 1e-3)
	for i := range tau {
		if want := in.Gravity[i] + in.Coriolis[i]; math.Abs(tau[i]-want) > 1e-9 {
			t.Fatalf("tau[%d] = %g at rest, want gravity + coriolis = %g", i, tau[i], want)
		}
	}
	// Equilibrium 1 cm further along +x: the wrench is +K dx along x, so tau = J^T w.
	c.Start(in.Q)
	eq := c.Equilibrium()
	c.eq.Pos = eq.Pos.Add(mgl64.Vec3{0.01, 0, 0})
	clear(in.Gravity)
	clear(in.Coriolis)
	c.cfg.NullspaceStiffness = 0
	c.Update(tau, in, 1e-3)
	k := r.NewKinematics()
	r.Forward(k, in.Q)
	for j := 0; j < 7; j++ {
		want := k.J[0*7+j] * 200 * 0.01
		if math.Abs(tau[j]-want) > 1e-9 {
			t.Fatalf("tau[%d] = %g, want J^T (K dx) = %g", j, tau[j], want)
		}
	}
}

func TestTorqueRateIsLimited(t *testing.T) {
	r := panda(t)
	c, _ := NewCartesianImpedance(r, CartesianConfig{})
	in := zeroInput(append([]float64(nil), ready...))
	c.Start(in.Q)
	c.eq.Pos = c.eq.Pos.Add(mgl64.Vec3{0.3, 0, 0}) // a large error: the law wants a big jump
	tau, prev := make([]float64, 7), make([]float64, 7)
	for tick := 0; tick < 5; tick++ {
		c.Update(tau, in, 1e-3)
		for i := range tau {
			if d := math.Abs(tau[i] - prev[i]); d > 1+1e-12 {
				t.Fatalf("tick %d joint %d: torque moved %g Nm in 1 ms, limit 1", tick, i, d)
			}
		}
		copy(prev, tau)
	}
	if math.Abs(tau[0])+math.Abs(tau[1]) < 1 {
		t.Errorf("torque %v did not move toward the target", tau)
	}
}

func TestFilterAlphaIndependentOfRate(t *testing.T) {
	if a := filterAlpha(0.005, 1e-3); math.Abs(a-0.005) > 1e-15 {
		t.Errorf("alpha at 1 kHz = %g, want 0.005", a)
	}
	// Two 0.5 ms steps must cover the same fraction as one 1 ms step.
	a := filterAlpha(0.005, 0.5e-3)
	if got := 1 - (1-a)*(1-a); math.Abs(got-0.005) > 1e-15 {
		t.Errorf("two half steps cover %g, want 0.005", got)
	}
}

func TestConfigValidation(t *testing.T) {
	r := panda(t)
	bad := []CartesianConfig{
		{Stiffness: [6]float64{-1}},
		{Damping: [6]float64{math.NaN()}},
		{FilterRate: 2},
		{PinvDamping: -1},
		{MaxTorqueRate: -5},
	}
	for _, cfg := range bad {
		if _, err := NewCartesianImpedance(r, cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	c, err := NewCartesianImpedance(r, CartesianConfig{})
	if err != nil {
		t.Fatal(err)
	}
	got := c.Config()
	if got.Stiffness != [6]float64{200, 200, 200, 10, 10, 10} || math.Abs(got.Damping[0]-2*math.Sqrt(200)) > 1e-12 ||
		got.NullspaceStiffness != 0.5 || got.PinvDamping != 0.2 || got.MaxTorqueRate != 1000 || got.FilterRate != 0.005 {
		t.Errorf("defaults %+v differ from franka_ros'", got)
	}
	if _, err := NewJointImpedance(7, JointConfig{Stiffness: []float64{1}}); err == nil {
		t.Error("joint config with 1 stiffness for 7 joints accepted")
	}
}

func TestJointImpedanceHoldsAndPulls(t *testing.T) {
	j, err := NewJointImpedance(7, JointConfig{MaxTorqueRate: 1e9})
	if err != nil {
		t.Fatal(err)
	}
	in := zeroInput(append([]float64(nil), ready...))
	j.Start(in.Q)
	tau := make([]float64, 7)
	j.Update(tau, in, 1e-3)
	for i, v := range tau {
		if v != 0 {
			t.Fatalf("tau[%d] = %g at the equilibrium, want 0", i, v)
		}
	}
	j.eq[0] += 0.1
	j.Update(tau, in, 1e-3)
	if math.Abs(tau[0]-60) > 1e-9 {
		t.Errorf("tau[0] = %g for 0.1 rad error, want K*0.1 = 60", tau[0])
	}
}
