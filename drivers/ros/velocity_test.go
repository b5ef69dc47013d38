package ros

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/protocommon"
)

// TestVelocityEstimator: the estimator's handling of each kind of stamp sequence.
func TestVelocityEstimator(t *testing.T) {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	type step struct {
		t      time.Duration
		q      float64
		want   int
		wantDQ float64 // checked when want is estOK (tolerance 1e-9)
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"first message primes, a ramp is exact from the second", []step{
			{ms(1), 0, estPrimed, 0}, {ms(2), 0.002, estOK, 2}, {ms(3), 0.004, estOK, 2}, {ms(5), 0.008, estOK, 2}}},
		{"a repeated stamp is skipped and changes nothing", []step{
			{ms(1), 0, estPrimed, 0}, {ms(2), 0.001, estOK, 1}, {ms(2), 5, estNotAfter, 0}, {ms(3), 0.002, estOK, 1}}},
		{"a stamp going back primes again", []step{
			{ms(10), 0, estPrimed, 0}, {ms(11), 0.001, estOK, 1}, {ms(5), 3, estPrimed, 0}, {ms(6), 3.003, estOK, 3}}},
		{"after a long gap the estimate is the gap's mean velocity", []step{
			{ms(0), 0, estPrimed, 0}, {ms(1), 0.001, estOK, 1}, {ms(1001), -0.999, estOK, -1}}}, // 1 - 2(1 - exp(-1 s / 3.2 ms)) = -1
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newVelocityEstimator(1, DefaultVelocityCutoff)
			dst := []float64{math.NaN()}
			for i, s := range tc.steps {
				got := e.update(s.t, []float64{s.q}, dst)
				if got != s.want || (got == estOK && math.Abs(dst[0]-s.wantDQ) > 1e-9) {
					t.Fatalf("step %d (t %v, q %v): result %d dq %v, want %d dq %v", i, s.t, s.q, got, dst[0], s.want, s.wantDQ)
				}
			}
		})
	}
}

// velocityRMS runs an estimator with the given cutoff over q = A sin(2 pi f t) sampled at
// 1 kHz, the positions with Gaussian noise and the stamps jittered (uniform, +-jitter)
// around the sampling times, and returns the RMS error against the true velocity at the
// sampling time, after 0.5 s of settling.
func velocityRMS(cutoff, noise float64, jitter time.Duration, seed uint64) float64 {
	const amp, freq = 0.5, 2.0 // 6.3 rad/s peak: a fast arm
	w := 2 * math.Pi * freq
	rng := rand.New(rand.NewPCG(seed, 1))
	e := newVelocityEstimator(1, cutoff)
	dq := []float64{0}
	var sum float64
	n := 0
	for k := 0; k < 3000; k++ {
		ts := float64(k) * 1e-3
		q := amp*math.Sin(w*ts) + noise*rng.NormFloat64()
		stamp := time.Duration(ts*1e9) + time.Duration((2*rng.Float64()-1)*float64(jitter))
		if e.update(stamp, []float64{q}, dq) == estOK && ts >= 0.5 {
			d := dq[0] - amp*w*math.Cos(w*ts)
			sum += d * d
			n++
		}
	}
	return math.Sqrt(sum / float64(n))
}

// TestVelocityEstimateCutoffs: the estimate of a known trajectory (0.5 rad at 2 Hz,
// 6.3 rad/s peak, sampled at 1 kHz with 1e-5 rad of position noise, a Franka's order,
// and stamps jittered by +-0.3 ms, a rospy publisher's) against the true velocity, by
// cutoff. Low cutoffs lag (the error grows with the motion's frequency), high ones pass
// the difference's noise and the stamps' jitter; the default must be within 20 % of the
// best of them, and its RMS error within 5 % of the peak velocity.
func TestVelocityEstimateCutoffs(t *testing.T) {
	cutoffs := []float64{10, 20, 50, 100, 200, 500}
	rms := make([]float64, len(cutoffs))
	for i, fc := range cutoffs {
		rms[i] = velocityRMS(fc, 1e-5, 300*time.Microsecond, 1)
		t.Logf("cutoff %5.0f Hz: RMS error %.3f rad/s (position noise only: %.3f; neither noise nor jitter, the lag alone: %.3f)",
			fc, rms[i], velocityRMS(fc, 1e-5, 0, 1), velocityRMS(fc, 0, 0, 1))
	}
	def := rms[slices.Index(cutoffs, DefaultVelocityCutoff)]
	if best := slices.Min(rms); def > 1.2*best {
		t.Errorf("default cutoff %v Hz: RMS error %.4f rad/s, more than 1.2 x the best (%.4f)", DefaultVelocityCutoff, def, best)
	}
	if peak := 0.5 * 2 * math.Pi * 2; def > 0.05*peak {
		t.Errorf("default cutoff: RMS error %.4f rad/s, want within 5 %% of the %.1f rad/s peak", def, peak)
	}
}

// TestDecodeJointState: the Arm's decoder agrees with goroslib's encoder, and decodes a
// message shaped like the previous one without allocating.
func TestDecodeJointState(t *testing.T) {
	msgs := []*sensor_msgs.JointState{
		{Header: std_msgs.Header{Seq: 7, Stamp: time.Unix(1700000000, 123456789).UTC(), FrameId: "base"},
			Name: []string{"a", "bb", "ccc"}, Position: []float64{1, -2, 3.5}, Velocity: []float64{0.1, 0.2, 0.3}, Effort: []float64{4, 5, 6}},
		{Header: std_msgs.Header{Seq: 8}, Name: []string{"a", "bb", "ccc"}, Position: []float64{1, 2, 3}},
		{Header: std_msgs.Header{Seq: 9, Stamp: time.Unix(5, 0).UTC()}, Name: []string{"x"}, Position: []float64{math.Inf(1)}, Velocity: []float64{0}},
		{},
	}
	var got sensor_msgs.JointState
	for i, m := range msgs {
		var buf bytes.Buffer
		if err := protocommon.MessageEncode(&buf, m); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()[4:] // after the length prefix
		if err := decodeJointState(b, &got); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if fmt.Sprint(got.Header, got.Name, got.Position, got.Velocity, got.Effort) != fmt.Sprint(m.Header, orEmpty(m.Name), orEmpty(m.Position), orEmpty(m.Velocity), orEmpty(m.Effort)) {
			t.Errorf("message %d decoded as %+v, want %+v", i, got, *m)
		}
		if err := decodeJointState(b[:len(b)-1], &got); err == nil {
			t.Errorf("message %d cut short by a byte: no error", i)
		}
	}
	var buf bytes.Buffer
	protocommon.MessageEncode(&buf, msgs[0])
	b := buf.Bytes()[4:]
	decodeJointState(b, &got)
	if n := testing.AllocsPerRun(100, func() { decodeJointState(b, &got) }); n != 0 {
		t.Errorf("decoding a message shaped like the previous one allocates %v times", n)
	}
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
