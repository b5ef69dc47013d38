package perception

import (
	"sync/atomic"
	"time"
)

// Clock reads the session's monotonic clock: the time base of Frame.Time, of the arm's
// joint states and of observation times. It is a plain function so that any source of time
// fits without an adapter: [Monotonic] on a real robot, the simulator's clock in lockstep
// (sim/mujoco's Arm.Now), a [ManualClock]'s Now in tests. A Clock must be safe to call from
// any goroutine and must never go backwards.
type Clock func() time.Duration

// sessionStart is the origin of [Monotonic].
var sessionStart = time.Now()

// Monotonic is the real session clock: the time elapsed since the process started this
// package, read from Go's monotonic clock (immune to wall-clock steps). Real cameras stamp
// Frame.Time with it.
func Monotonic() time.Duration { return time.Since(sessionStart) }

// ManualClock is a Clock that moves only when told to, for deterministic tests. Its zero
// value reads 0. It is safe for concurrent use.
type ManualClock struct{ t atomic.Int64 }

// Now reads the clock; pass c.Now where a Clock is wanted.
func (c *ManualClock) Now() time.Duration { return time.Duration(c.t.Load()) }

// Set moves the clock to t.
func (c *ManualClock) Set(t time.Duration) { c.t.Store(int64(t)) }

// Advance moves the clock forward by d and returns the new time.
func (c *ManualClock) Advance(d time.Duration) time.Duration {
	return time.Duration(c.t.Add(int64(d)))
}
