package control

import (
	"testing"

	"github.com/go-gl/mathgl/mgl64"
)

// BenchmarkCartesianTick is one control tick of the Cartesian impedance law for the
// 7-joint arm (forward kinematics, Jacobian, task and nullspace torques, rate limit,
// filter) followed by the safety layer's torque bounds.
func BenchmarkCartesianTick(b *testing.B) {
	r := panda(b)
	c, err := NewCartesianImpedance(r, CartesianConfig{})
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewSafety(r, SafetyConfig{})
	if err != nil {
		b.Fatal(err)
	}
	in := zeroInput(append([]float64(nil), ready...))
	for i := range in.DQ {
		in.DQ[i] = 0.1 * float64(i)
		in.Gravity[i] = float64(i)
	}
	c.Start(in.Q)
	c.SetTarget(Pose{Pos: mgl64.Vec3{0.45, 0.1, 0.3}, Rot: mgl64.Quat{V: mgl64.Vec3{1, 0, 0}}})
	tau := make([]float64, 7)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Update(tau, in, 1e-3)
		s.Torque(tau, in, 0.001)
	}
}

func BenchmarkForwardKinematics(b *testing.B) {
	r := panda(b)
	k := r.NewKinematics()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.Forward(k, ready)
	}
}
