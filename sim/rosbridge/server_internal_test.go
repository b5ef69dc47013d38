package rosbridge

import (
	"math"
	"testing"
	"time"
)

// A trajectory is linear from its start to each point in turn, holds its start before t0
// and its last point after its time.
func TestTrajectorySample(t *testing.T) {
	const ms = time.Millisecond
	tr := trajectory{t0: 10 * ms, start: []float64{0}, times: []time.Duration{2 * ms, 6 * ms}, pos: [][]float64{{1}, {3}}}
	for _, c := range []struct {
		now  time.Duration
		want float64
	}{{5 * ms, 0}, {10 * ms, 0}, {11 * ms, 0.5}, {12 * ms, 1}, {14 * ms, 2}, {16 * ms, 3}, {99 * ms, 3}} {
		dst := []float64{-1}
		tr.sample(dst, c.now)
		if math.Abs(dst[0]-c.want) > 1e-12 {
			t.Errorf("sample at %v = %v, want %v", c.now, dst[0], c.want)
		}
	}
}
