package control

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestIKRecoversReachablePoses(t *testing.T) {
	r := panda(t)
	ik := NewIK(r)
	k := r.NewKinematics()
	rng := rand.New(rand.NewPCG(9, 10))
	qT, seed, sol := make([]float64, 7), make([]float64, 7), make([]float64, 7)
	for trial := 0; trial < 100; trial++ {
		randomConfig(rng, r, qT, 0.2)
		for i, j := range r.Joints { // a seed within 0.4 rad: the same branch
			seed[i] = math.Max(j.Lower, math.Min(j.Upper, qT[i]+0.4*(2*rng.Float64()-1)))
		}
		r.Forward(k, qT)
		target := k.Pose()
		pe, re, ok := ik.Solve(sol, seed, target)
		if !ok {
			t.Fatalf("trial %d: no solution (errors %.3g m, %.3g rad)", trial, pe, re)
		}
		r.Forward(k, sol)
		if d := k.Pos.Sub(target.Pos).Len(); d > 1e-6 || OrientationError(k.Pose().Rot, target.Rot) > 1e-6 {
			t.Fatalf("trial %d: solution is %g m / %g rad off", trial, d, OrientationError(k.Pose().Rot, target.Rot))
		}
		for i, j := range r.Joints {
			if sol[i] < j.Lower || sol[i] > j.Upper {
				t.Fatalf("trial %d: joint %d at %g outside its limits", trial, i, sol[i])
			}
		}
	}
	if a := testing.AllocsPerRun(20, func() { ik.Solve(sol, seed, Pose{Pos: k.Pos, Rot: k.Pose().Rot}) }); a != 0 {
		t.Errorf("Solve allocates %v times", a)
	}
}
