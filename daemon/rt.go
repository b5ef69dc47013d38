package daemon

import (
	"fmt"
	"strings"
	"time"

	"github.com/robotd/robotd/internal/rt"
)

// rtReport says what realtime setup the control thread got; fields are for the log.
type rtReport struct {
	Locked    bool   // the goroutine is locked to its OS thread
	Slack     bool   // timer slack set to 1 ns
	FIFO      int    // SCHED_FIFO priority obtained (0: none)
	MemLocked bool   // mlockall(MCL_CURRENT|MCL_FUTURE) succeeded
	Nice      int    // the nice value given to the process's other threads (0: left alone)
	Refused   string // what was refused and why
}

// setupRealtime prepares the calling goroutine's thread for the 1 kHz loop, following
// ../shared/SETUP.md ("A 1 kHz loop in Go"): lock it to its OS thread, set the timer slack
// to 1 ns so clock_nanosleep wakes on time, ask for SCHED_FIFO at prio (0 skips it) and lock
// the process's memory. Refusals (no CAP_SYS_NICE / CAP_IPC_LOCK) are reported, not fatal.
// With SCHED_FIFO it also raises every other thread of the process to nice otherNice:
// the control goroutine runs on its own thread, but Go's scheduler still preempts it
// about every 10 ms (sysmon) and another of the process's threads must hand it back its
// P; at normal priority that thread queues behind every other process's CPU time
// (measured on 2 loaded cores: 14 periods over 2 ms in 15 s and a 56 ms worst period
// without it, 2 and 5.5 ms with). Threads created later inherit the nice value.
// The caller must call runtime.UnlockOSThread (or exit the goroutine) when done.
func setupRealtime(prio int) rtReport {
	rt.LockThread()
	r := rtReport{Locked: true}
	var refused []string
	if err := rt.SetTimerSlack(time.Nanosecond); err == nil {
		r.Slack = true
	} else {
		refused = append(refused, "timer slack: "+err.Error())
	}
	if prio > 0 {
		if err := rt.SetFIFO(prio); err == nil {
			r.FIFO = prio
		} else {
			refused = append(refused, fmt.Sprintf("SCHED_FIFO %d: %v", prio, err))
		}
		if err := rt.LockMemory(); err == nil {
			r.MemLocked = true
		} else {
			refused = append(refused, "mlockall: "+err.Error())
		}
		if err := rt.ReniceThreads(otherNice); err == nil {
			r.Nice = otherNice
		} else {
			refused = append(refused, fmt.Sprintf("nice %d for the other threads: %v", otherNice, err))
		}
	}
	r.Refused = strings.Join(refused, "; ")
	return r
}

// otherNice is the nice value of the process's threads other than the control loop's in
// realtime mode (the highest CFS weight short of realtime scheduling is -20). The control
// thread gets it too (rt.ReniceThreads sets every thread), where SCHED_FIFO makes it moot.
const otherNice = -10

// monoNow reads CLOCK_MONOTONIC (the clock sleepUntil sleeps on) as a Duration.
func monoNow() time.Duration { return rt.MonoNow() }

// sleepUntil sleeps until CLOCK_MONOTONIC reaches t (absolute), restarting after signals,
// with clock_nanosleep rather than Go's timer wheel (rt.SleepUntil).
func sleepUntil(t time.Duration) { rt.SleepUntil(t) }
