package control

import (
	"fmt"
	"math"
)

// IK solves inverse kinematics by damped least squares, seeded from a configuration so
// that the solution stays in the seed's branch. robotd uses it to give the Cartesian
// controller a nullspace posture that actually reaches the target, which removes the
// steady-state error the damped projector's leakage would otherwise leave (see
// CartesianImpedance). It allocates nothing per Solve.
type IK struct {
	robot *Robot
	kin   *Kinematics
	// Damping is lambda of the damped least-squares step far from the solution; it
	// shrinks in proportion to the error below 1 cm. Default 0.05.
	Damping float64
	// Iterations bounds the iterations per Solve. Default 200.
	Iterations int
	// Margin keeps the solution this far inside every joint limit (rad). Default 0.05.
	Margin float64

	a   [36]float64
	b   [6]float64
	tmp []float64
}

// NewIK returns a solver for r with the defaults above.
func NewIK(r *Robot) *IK {
	return &IK{robot: r, kin: r.NewKinematics(), Damping: 0.05, Iterations: 200, Margin: 0.05, tmp: make([]float64, r.DoF())}
}

// Solve writes into dst the configuration nearest (by the iteration) to seed whose tool
// pose is target, and returns the remaining position (m) and orientation (rad) error.
// It reports ok when both are below 1e-6.
func (s *IK) Solve(dst, seed []float64, target Pose) (posErr, rotErr float64, ok bool) {
	n := s.robot.DoF()
	if len(dst) != n || len(seed) != n {
		panic(fmt.Sprintf("control: IK: %d and %d joint values for %d joints", len(dst), len(seed), n))
	}
	copy(dst, seed)
	target.Rot = target.Rot.Normalize()
	for it := 0; it < s.Iterations; it++ {
		s.robot.Forward(s.kin, dst)
		k := s.kin
		dp := target.Pos.Sub(k.Pos)
		cur := QuatFromMat(k.Rot)
		qe := target.Rot.Mul(cur.Inverse()) // rotation from the tool to the target, base frame
		rv := RotationVector(qe)
		posErr, rotErr = dp.Len(), rv.Len()
		if posErr < 1e-6 && rotErr < 1e-6 {
			return posErr, rotErr, true
		}
		e := [6]float64{dp[0], dp[1], dp[2], rv[0], rv[1], rv[2]}
		// Damping shrinks with the error (Levenberg-Marquardt style): robust far from
		// the solution, quadratic convergence near it, also close to singularities.
		lam := s.Damping * math.Min(1, (posErr+rotErr)/0.01)
		l2 := lam*lam + 1e-12
		// dq = J^T (J J^T + l^2 I)^-1 e
		J := k.J
		dampedGram(&s.a, J, n, l2)
		s.b = e
		cholSolve6(&s.a, &s.b)
		for j := 0; j < n; j++ {
			v := 0.0
			for r := 0; r < 6; r++ {
				v += J[r*n+j] * s.b[r]
			}
			jt := s.robot.Joints[j]
			q := dst[j] + v
			if jt.Limited {
				q = math.Max(jt.Lower+s.Margin, math.Min(jt.Upper-s.Margin, q))
			}
			dst[j] = q
		}
	}
	return posErr, rotErr, false
}
