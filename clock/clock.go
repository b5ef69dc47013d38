// Package clock is robotd's one notion of time: the [Clock] interface that every package
// which reads the time, measures an age, waits for a timeout or runs something
// periodically is given, instead of calling time.Now, time.Sleep or time.NewTimer itself.
// [Real] is the system's clock; a [Manual] clock moves only when a test advances it, and
// fires the timers, tickers and sleeps that fall due as it does, so timing behaviour
// (watchdogs, timeouts, periods) is tested deterministically and without real waiting.
//
// A reading is a time.Duration since the clock's epoch, the form every time base in robotd
// already takes (perception.Frame.Time, drivers.State.Time, the daemon's control clock):
// Real's epoch is the Unix epoch, read through Go's monotonic clock so that it never steps
// backwards with the system time (the time base of ROS header stamps); a Manual clock
// starts at 0 unless Set.
//
// Not on an injected Clock: the control loop's real-time pacing (daemon's
// clock_nanosleep on CLOCK_MONOTONIC, internal/rt), network deadlines (net.Conn takes
// wall-clock time.Time), and polls and pauses that only give other goroutines real time
// to run (drivers/ros's Flush and WaitState), which use Real by name.
//
// The package imports only the standard library.
package clock

import "time"

// Clock reads the time and waits on it. Implementations are safe for concurrent use, and
// Now and Since allocate nothing (they are called from the 1 kHz control loop).
type Clock interface {
	// Now is the time since the clock's epoch. It never goes backwards.
	Now() time.Duration
	// Since is Now() - t: the age of a reading t of the same clock.
	Since(t time.Duration) time.Duration
	// Sleep blocks until d has passed on the clock (at once for d <= 0).
	Sleep(d time.Duration)
	// After is NewTimer(d).C(); the timer cannot be stopped.
	After(d time.Duration) <-chan time.Time
	// NewTimer starts a timer that sends once on its channel after d.
	NewTimer(d time.Duration) Timer
	// NewTicker starts a ticker that sends every d (d > 0, else it panics), dropping ticks
	// a slow receiver misses, as time.Ticker does.
	NewTicker(d time.Duration) Ticker
}

// Timer is a one-shot timer of a Clock, with time.Timer's semantics (Go 1.23 and later: no
// stale value is received after Stop or Reset returns).
type Timer interface {
	// C delivers the clock's reading, as time since the Unix epoch, when the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it stopped a pending timer.
	Stop() bool
	// Reset makes the timer fire after d; it reports whether the timer was pending.
	Reset(d time.Duration) bool
}

// Ticker is a periodic timer of a Clock, with time.Ticker's semantics.
type Ticker interface {
	// C delivers the clock's reading, as time since the Unix epoch, at each tick.
	C() <-chan time.Time
	// Stop turns the ticker off; no tick is received after it returns.
	Stop()
	// Reset stops the ticker and restarts it with period d (d > 0).
	Reset(d time.Duration)
}

// Real is the system clock: Now is the time since the Unix epoch at the process's start
// plus the time elapsed since, on Go's monotonic clock (CLOCK_MONOTONIC on Linux); timers
// are Go's runtime timers. It is every Config's default Clock.
var Real Clock = realClock{}

// realBase is Real's origin: the wall-clock time when the package was initialised, with
// its monotonic reading.
var realBase = time.Now()

type realClock struct{}

func (realClock) Now() time.Duration {
	return time.Duration(realBase.UnixNano()) + time.Since(realBase)
}

func (c realClock) Since(t time.Duration) time.Duration { return c.Now() - t }

func (realClock) Sleep(d time.Duration) { time.Sleep(d) }

func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

func (realClock) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

// realTimer and realTicker hold one pointer, so they fit in an interface without an
// allocation.
type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time   { return r.t.C }
func (r realTicker) Stop()                 { r.t.Stop() }
func (r realTicker) Reset(d time.Duration) { r.t.Reset(d) }
