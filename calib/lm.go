package calib

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// leastSquares is a nonlinear least-squares problem for levenbergMarquardt: minimise
// ½ |f(x)|² over x in R^n, f: R^n -> R^m.
type leastSquares struct {
	n, m int
	// f writes the m residuals at x into dst.
	f func(dst, x []float64)
	// recenter, if not nil, is called with every accepted x and may rewrite it to an
	// equivalent point (for example fold a rotation increment into a reference
	// rotation and zero it), so that increments stay small and far from singularities.
	recenter func(x []float64)
}

// lmStats describes a levenbergMarquardt run.
type lmStats struct {
	Iterations int
	Cost0      float64 // ½ |f|² at the start
	Cost       float64 // ½ |f|² at the end
}

// levenbergMarquardt minimises p from x (updated in place) with Marquardt's scaled
// damping and Nielsen's damping update. The Jacobian is taken by central differences.
func levenbergMarquardt(p leastSquares, x []float64, maxIter int) lmStats {
	n, m := p.n, p.m
	r := make([]float64, m)
	rTry := make([]float64, m)
	rp := make([]float64, m)
	rm := make([]float64, m)
	xTry := make([]float64, n)
	J := mat.NewDense(m, n, nil)
	var JtJ mat.Dense
	g := mat.NewVecDense(n, nil)
	A := mat.NewSymDense(n, nil)
	rhs := mat.NewVecDense(n, nil)
	delta := mat.NewVecDense(n, nil)
	var chol mat.Cholesky

	cost := func(v []float64) float64 {
		s := 0.0
		for _, e := range v {
			s += e * e
		}
		if !finite(s) {
			return math.Inf(1)
		}
		return s / 2
	}
	jacobian := func() {
		for j := 0; j < n; j++ {
			h := 1e-7 * math.Max(1, math.Abs(x[j]))
			xj := x[j]
			x[j] = xj + h
			p.f(rp, x)
			x[j] = xj - h
			p.f(rm, x)
			x[j] = xj
			for i := 0; i < m; i++ {
				J.Set(i, j, (rp[i]-rm[i])/(2*h))
			}
		}
	}

	p.f(r, x)
	c := cost(r)
	st := lmStats{Cost0: c, Cost: c}
	if m == 0 || math.IsInf(c, 1) {
		return st
	}
	mu, nu := -1.0, 2.0
	for st.Iterations = 0; st.Iterations < maxIter; st.Iterations++ {
		jacobian()
		JtJ.Mul(J.T(), J)
		g.MulVec(J.T(), mat.NewVecDense(m, r))
		if mat.Norm(g, math.Inf(1)) < 1e-14*(1+c) {
			break
		}
		if mu < 0 { // initial damping: relative to the largest curvature
			maxd := 0.0
			for j := 0; j < n; j++ {
				maxd = math.Max(maxd, JtJ.At(j, j))
			}
			mu = 1e-3 * maxd
			if mu == 0 {
				mu = 1e-3
			}
		}
		improved := false
		for tries := 0; tries < 30 && !improved; tries++ {
			for i := 0; i < n; i++ {
				for j := i; j < n; j++ {
					A.SetSym(i, j, JtJ.At(i, j))
				}
				// Marquardt scaling with a floor, so that a direction with no curvature
				// still gets damped.
				A.SetSym(i, i, JtJ.At(i, i)+mu*math.Max(JtJ.At(i, i), 1e-12))
				rhs.SetVec(i, -g.AtVec(i))
			}
			if !chol.Factorize(A) {
				mu *= nu
				nu *= 2
				continue
			}
			if err := chol.SolveVecTo(delta, rhs); err != nil {
				mu *= nu
				nu *= 2
				continue
			}
			for i := range xTry {
				xTry[i] = x[i] + delta.AtVec(i)
			}
			p.f(rTry, xTry)
			cTry := cost(rTry)
			// Gain ratio: actual over predicted reduction, predicted = ½ δᵀ(μ D δ - g).
			pred := 0.0
			for i := 0; i < n; i++ {
				d := delta.AtVec(i)
				pred += d * (mu*math.Max(JtJ.At(i, i), 1e-12)*d - g.AtVec(i))
			}
			pred /= 2
			if cTry < c && pred > 0 {
				rho := (c - cTry) / pred
				small := mat.Norm(delta, 2) < 1e-12*(1+vecNorm(x))
				copy(x, xTry)
				copy(r, rTry)
				prev := c
				c = cTry
				mu *= math.Max(1.0/3, 1-math.Pow(2*rho-1, 3))
				nu = 2
				improved = true
				if p.recenter != nil {
					p.recenter(x)
					p.f(r, x)
					c = cost(r)
				}
				if small || prev-c <= 1e-15*prev {
					st.Cost = c
					st.Iterations++
					return st
				}
			} else {
				mu *= nu
				nu *= 2
			}
		}
		if !improved {
			break
		}
	}
	st.Cost = c
	return st
}

func vecNorm(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s)
}
