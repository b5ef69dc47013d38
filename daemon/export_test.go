package daemon

import (
	"context"
	"time"
)

// What the external tests (package daemon_test: the simulator tests, whose rig comes
// from package system, which imports this one) need of the daemon's internals.

// HoldRepeat is holdRepeat: how many times the release writes the hold command.
const HoldRepeat = holdRepeat

// SetDuration changes the Duration of d's next runs (Config.Duration).
func (d *Daemon) SetDuration(v time.Duration) { d.cfg.Duration = v }

// Inferences is the number of policy inferences d has made (robotd_policy_inferences_total).
func (d *Daemon) Inferences() uint64 { return d.m.inferences.Value() }

// RecordDropped is the number of samples the recorder could not take (robotd_record_dropped_total).
func (d *Daemon) RecordDropped() uint64 { return d.m.recordDropped.Value() }

// BeginHoming readies d for ticks driven by the test (Tick) as Run would, without Run's
// loop: the policy goroutine runs, the servo is in joint mode and homing begins at now on
// the control clock. stop ends the policy goroutine and waits for it.
func (d *Daemon) BeginHoming(now time.Duration) (stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.pol.run(ctx) }()
	stop = func() { cancel(); <-done }
	if err := d.servo.Start(ModeJoint); err != nil {
		stop()
		return nil, err
	}
	d.start = now
	d.transition(Homing, "test")
	return stop, nil
}

// Tick runs one control tick at now, dt seconds after the previous one; done reports the
// end of the run, with its error.
func (d *Daemon) Tick(now time.Duration, dt float64) (done bool, err error) { return d.tick(now, dt) }

// RecordHandler is recordHandler: a slog.Handler keeping every record.
type RecordHandler = recordHandler

// Attrs returns the attributes of the last record with message msg, as strings (nil: no
// such record).
func (h *recordHandler) Attrs(msg string) map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var attrs map[string]string
	for _, rec := range h.recs {
		if rec.msg == msg {
			attrs = rec.attrs
		}
	}
	return attrs
}
