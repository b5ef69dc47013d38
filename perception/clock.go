package perception

import (
	"time"

	"github.com/robotd/robotd/clock"
)

// Clock reads the session's time base: the time of Frame.Time, of the arm's joint states
// and of observation times. It is a reading only, the Now method of a [clock.Clock] (a
// [clock.Manual]'s in tests) or a simulator's time in lockstep (sim/mujoco's Arm.Now),
// so that any source of time fits without an adapter; what waits on time takes a
// clock.Clock. A Clock must be safe to call from any goroutine and must never go
// backwards.
type Clock func() time.Duration

// sessionStart is the origin of [Monotonic].
var sessionStart = clock.Real.Now()

// Monotonic is the real session clock: the time elapsed on [clock.Real] since the process
// started this package (immune to wall-clock steps). Real cameras stamp Frame.Time with it.
func Monotonic() time.Duration { return clock.Real.Since(sessionStart) }
