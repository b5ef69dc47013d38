package daemon

import "time"

// ObserveTick hands the tick just run to Ports.Observer, as the control loop does after
// each tick (Tick, driven by a test, does not).
func (d *Daemon) ObserveTick(now time.Duration) { d.observe(now) }
