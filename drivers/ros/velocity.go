package ros

import (
	"math"
	"time"
)

// DefaultVelocityCutoff is ArmConfig.VelocityCutoff's default (Hz).
//
// The estimate is a backward difference of positions over header stamps through a
// first-order low-pass filter. The filter's lag is its time constant 1/(2 pi fc), 3.2 ms
// at 50 Hz (plus half a sample, 0.5 ms at 1 kHz, from the difference itself); at the
// bandwidth of a joint impedance loop (a few Hz up to ~10 Hz: stiffness of hundreds of
// Nm/rad over link inertias of 0.1-1 kg m^2) 3.7 ms is 7-13 degrees of phase, which the
// damping tolerates. A higher cutoff lets through more of the difference's noise, which
// grows as 1/dt: measured in TestVelocityEstimateCutoffs on a known trajectory sampled at
// 1 kHz with 1e-5 rad of position noise and a stamp jitter of +-0.3 ms, the RMS error is
// 0.015 rad/s at 50 Hz, against 0.03 at 100 Hz and 0.10 at 500 Hz; at 20 Hz the noise
// halves again but the lag (8 ms) costs more than it saves on a 2 Hz motion.
const DefaultVelocityCutoff = 50.0

// velocityEstimator estimates joint velocities from positions and their stamps (see
// DefaultVelocityCutoff). The first message after construction, or after a stamp that
// went backwards, gives no estimate (it primes the difference); a message whose stamp is
// not after the previous one is skipped. With dt the stamp difference and tau the
// filter's time constant, each message does
//
//	dq += (1 - exp(-dt/tau)) * ((q - q_prev)/dt - dq)
//
// the exact discretisation of the continuous filter for a piecewise-constant input,
// which stays right for irregular dt: for dt << tau the update is about
// (q - q_prev - dq*dt)/tau, in which dt's error (a stamp's jitter) hardly appears, and
// after a long gap (dt >> tau) the estimate is the mean velocity over the gap. The first
// estimate is the first difference itself, not a ramp up from zero.
type velocityEstimator struct {
	tau   float64 // s
	prevQ []float64
	dq    []float64
	prevT time.Duration
	state int // 0 unprimed, 1 primed (a previous position), 2 estimating
}

// estimate results
const (
	estOK       = iota // dst holds the estimate
	estPrimed          // first message (or after a stamp went back): no estimate yet
	estNotAfter        // stamp not after the previous one: message skipped
)

func newVelocityEstimator(n int, cutoff float64) *velocityEstimator {
	return &velocityEstimator{tau: 1 / (2 * math.Pi * cutoff), prevQ: make([]float64, n), dq: make([]float64, n)}
}

// update takes the positions q stamped t and writes the estimate to dst (len(q)).
func (e *velocityEstimator) update(t time.Duration, q, dst []float64) int {
	if e.state == 0 || t < e.prevT {
		copy(e.prevQ, q)
		e.prevT, e.state = t, 1
		return estPrimed
	}
	if t == e.prevT {
		return estNotAfter
	}
	dt := (t - e.prevT).Seconds()
	a := -math.Expm1(-dt / e.tau)
	for i := range q {
		raw := (q[i] - e.prevQ[i]) / dt
		if e.state == 1 {
			e.dq[i] = raw
		} else {
			e.dq[i] += a * (raw - e.dq[i])
		}
	}
	copy(e.prevQ, q)
	e.prevT, e.state = t, 2
	copy(dst, e.dq)
	return estOK
}

// reset forgets the history: the next message primes.
func (e *velocityEstimator) reset() { e.state = 0 }
