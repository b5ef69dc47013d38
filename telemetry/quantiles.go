package telemetry

import (
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"
)

// Log-linear buckets over nanoseconds, HDR-histogram style: values below subBuckets
// (128 ns) each have their own bucket; above, every power of two is split into subBuckets
// equal parts, so a bucket is at most 1/128 of its lower bound wide. Reporting its midpoint
// puts any quantile within 1/256 (0.39 %) of the exact value. The buckets cover all of
// int64 (about 292 years).
const (
	subBits     = 7
	subBuckets  = 1 << subBits
	numQBuckets = (63-subBits)*subBuckets + subBuckets // index of math.MaxInt64 is 7295
	maxRelError = 1.0 / (2 * subBuckets)
)

// bucketOf returns the bucket index of v >= 0.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return shift*subBuckets + int(v>>uint(shift))
}

// bucketRange returns the lowest value of bucket i and the bucket's width.
func bucketRange(i int) (lo, width uint64) {
	if i < subBuckets {
		return uint64(i), 1
	}
	shift := uint(i/subBuckets - 1)
	m := uint64(i%subBuckets + subBuckets)
	return m << shift, 1 << shift
}

// Quantiles records durations from one goroutine (Record) and gives their distribution to
// any other goroutine (Snapshot), in fixed memory (about 57 KiB) and without locks. It is
// meant for the control loop's period, jitter and latency figures in the exit summary.
//
// Record must be called by one goroutine at a time; Snapshot may be called from any
// goroutine concurrently with it. The zero value is ready to use.
type Quantiles struct {
	seq      atomic.Uint64 // a seqlock: odd while Record runs
	n        atomic.Uint64 // records so far
	min, max atomic.Int64  // valid once n > 0; min is stored as ^min so 0 means unset
	sum      atomic.Int64  // nanoseconds, wraps after 292 years of total
	counts   [numQBuckets]atomic.Uint64
}

// Record adds one duration. Negative durations count as 0: record the magnitude of a
// signed quantity (early and late jitter) yourself. It allocates nothing and takes no
// lock; it costs a few atomic stores.
func (q *Quantiles) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	q.seq.Add(1)
	// Publish min and max before the bucket: a Snapshot that falls back to an unlocked
	// read reads them after the buckets, so every bucket it sees lies within Min and Max.
	if raw := q.min.Load(); raw == 0 || v < ^raw {
		q.min.Store(^v)
	}
	if v > q.max.Load() {
		q.max.Store(v)
	}
	q.counts[bucketOf(uint64(v))].Add(1)
	q.sum.Add(v)
	q.n.Add(1)
	q.seq.Add(1)
}

// snapshotTries is how often Snapshot tries for a read that no Record overlapped. A
// snapshot reads about 57 KiB in a few microseconds, so against a 1 kHz writer the first
// try almost always succeeds.
const snapshotTries = 8

// Snapshot returns the distribution recorded so far. It is safe to call concurrently with
// Record, and allocates a small slice for the non-empty buckets.
//
// The snapshot is exact (all its figures from the same records) unless Record ran during
// every one of its tries; then Count, Min, Max and the quantiles still agree with one
// another, and Sum and Mean may include a few records more or fewer.
func (q *Quantiles) Snapshot() Snapshot {
	var s Snapshot
	for range snapshotTries {
		seq := q.seq.Load()
		if seq&1 == 0 {
			q.read(&s)
			if q.seq.Load() == seq {
				s.consistent = true
				return s
			}
		}
		runtime.Gosched()
	}
	q.read(&s)
	return s
}

// read copies q into s: the record count and sum together, then the buckets, then min
// and max (the reverse of Record's order).
func (q *Quantiles) read(s *Snapshot) {
	s.buckets = s.buckets[:0]
	s.meanN = q.n.Load()
	s.Sum = time.Duration(q.sum.Load())
	s.Count = 0
	for i := range q.counts {
		if n := q.counts[i].Load(); n > 0 {
			s.buckets = append(s.buckets, snapBucket{idx: int32(i), n: n})
			s.Count += n
		}
	}
	s.Min, s.Max = 0, 0
	if s.Count > 0 {
		s.Min = time.Duration(^q.min.Load())
		s.Max = time.Duration(q.max.Load())
	}
}

// Snapshot is a copy of a [Quantiles] at one moment. Count, Min, Max and Sum are exact
// (but see [Quantiles.Snapshot] on a writer that never pauses); Quantile is within 0.4 %
// of the exact value.
type Snapshot struct {
	Count    uint64
	Min, Max time.Duration
	Sum      time.Duration

	buckets    []snapBucket // non-empty buckets, by index
	meanN      uint64       // the record count read together with Sum
	consistent bool         // no Record overlapped the read (for tests)
}

type snapBucket struct {
	idx int32
	n   uint64
}

// Mean returns Sum/Count, or 0 without records.
func (s Snapshot) Mean() time.Duration {
	if s.meanN == 0 {
		return 0
	}
	return s.Sum / time.Duration(s.meanN)
}

// Quantile returns an estimate of the nearest-rank q-quantile (0 <= q <= 1): the
// ceil(q*Count)-th smallest record (the smallest for q = 0), within 0.4 % of it and never
// outside [Min, Max]. It returns 0 without records and panics if q is outside [0, 1].
func (s Snapshot) Quantile(q float64) time.Duration {
	if !(q >= 0 && q <= 1) {
		panic(fmt.Sprintf("telemetry: Quantile(%g): want 0 <= q <= 1", q))
	}
	if s.Count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(s.Count)))
	if rank < 1 {
		rank = 1
	}
	switch {
	case rank == 1:
		return s.Min // exact
	case rank >= s.Count:
		return s.Max // exact
	}
	var cum uint64
	for _, b := range s.buckets {
		cum += b.n
		if cum >= rank {
			lo, w := bucketRange(int(b.idx))
			v := time.Duration(lo + w/2)
			return min(max(v, s.Min), s.Max)
		}
	}
	return s.Max // unreachable: the buckets add up to Count
}

// String formats the snapshot on one line: count, mean, p50, p99, p99.9 and max.
func (s Snapshot) String() string {
	return fmt.Sprintf("n=%d mean=%v p50=%v p99=%v p99.9=%v max=%v",
		s.Count, s.Mean(), s.Quantile(0.5), s.Quantile(0.99), s.Quantile(0.999), s.Max)
}
