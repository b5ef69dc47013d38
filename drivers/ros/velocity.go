package ros

import (
	"math"
	"time"
)

// DefaultVelocityCutoff is ArmConfig.VelocityCutoff's default (Hz).
//
// The estimate is a backward difference of positions over header stamps through a
// first-order low-pass filter, whose lag is its time constant 1/(2 pi fc): 3.2 ms at
// 50 Hz, plus half a sample (0.5 ms at 1 kHz) from the difference. At the bandwidth of a
// joint impedance loop (a few Hz up to ~10 Hz: stiffnesses of hundreds of Nm/rad over
// link inertias of 0.1-1 kg m^2) 3.7 ms is 7-13 degrees of phase, which the damping
// tolerates. What a higher cutoff lets through is less the encoders' noise (1e-5 rad
// adds almost nothing at any cutoff) than the stamps' jitter: a publisher stamps when it
// publishes, not when it sampled, and +-0.3 ms on a 1 ms period is +-30 % on each
// difference. TestVelocityEstimateCutoffs measures it on a fast known motion (0.5 rad at
// 2 Hz, 6.3 rad/s peak, 1 kHz, 1e-5 rad noise, +-0.3 ms jitter): RMS error 0.87 rad/s
// at 10 Hz and 0.45 at 20 (lag), 0.28 at 50, 0.42 at 100, 0.70 at 200 and 1.13 at 500
// (jitter). 50 Hz is the minimum; with exact stamps a higher cutoff would do better
// (0.09 rad/s at 100 Hz), so a robot with a realtime publisher may raise it.
const DefaultVelocityCutoff = 50.0

// velocityEstimator estimates joint velocities from positions and their stamps (see
// DefaultVelocityCutoff). The first message after construction, or after a stamp that
// went backwards, gives no estimate (it primes the difference); a message whose stamp is
// not after the previous one is skipped. With dt the stamp difference and tau the
// filter's time constant, each message does
//
//	dq += (1 - exp(-dt/tau)) * ((q - q_prev)/dt - dq)
//
// the exact discretisation of the continuous filter for a piecewise-constant input, which
// stays right for irregular dt: a short interval moves the estimate little, and after a
// long gap (dt >> tau) the estimate is the mean velocity over the gap. The first estimate
// is the first difference itself, not a ramp up from zero (which would under-damp).
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
