package ros

import "time"

// stateTrace records, for each accepted JointState (by Arm's seq), its header stamp, when
// onState began, when it was accepted and when the control loop's ReadState took it (all
// Unix ns: readings of ArmConfig.Clock, which must then be clock.Real to compare with the
// stamps), for BenchmarkStateLatency's per-stage distributions. Preallocated; states past
// its capacity are not recorded. The callback writes the first three, the control loop
// the last; they are read after both have stopped.
//
// It also records what the daemon's state_stale watchdog sees: at each ReadState that
// finds no new state, the time since the loop last took one (ages, in us).
type stateTrace struct {
	stamp, entry, accept, take []int64
	lastTake                   int64
	ages                       []int32 // us
	ageAt                      []int64 // when each age was seen (Unix ns)
}

func newStateTrace(n int) *stateTrace {
	return &stateTrace{stamp: make([]int64, n+1), entry: make([]int64, n+1), accept: make([]int64, n+1), take: make([]int64, n+1),
		ages: make([]int32, 0, 2*n), ageAt: make([]int64, 0, 2*n)}
}

func (t *stateTrace) accepted(seq uint64, stamp time.Time, entry, accept time.Duration) {
	if seq < uint64(len(t.stamp)) {
		t.stamp[seq], t.entry[seq], t.accept[seq] = stamp.UnixNano(), int64(entry), int64(accept)
	}
}

// taken records the state seq taken by ReadState at clock time at.
func (t *stateTrace) taken(seq uint64, at time.Duration) {
	now := int64(at)
	if seq < uint64(len(t.take)) {
		t.take[seq] = now
	}
	t.lastTake = now
}

// notNew records a ReadState without a new state, at clock time at.
func (t *stateTrace) notNew(at time.Duration) {
	if t.lastTake != 0 && len(t.ages) < cap(t.ages) {
		now := int64(at)
		t.ages = append(t.ages, int32((now-t.lastTake)/1e3))
		t.ageAt = append(t.ageAt, now)
	}
}
