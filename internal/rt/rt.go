// Package rt holds robotd's real-time thread setup on Linux, written once for its three
// real-time threads: the daemon's 1 kHz control loop (daemon), the Arm's joint-state
// receivers (drivers/ros) and the stepping loop of the simulated robot served over ROS
// (sim/rosbridge). It locks a goroutine to its OS thread, sets the timer slack, asks for
// SCHED_FIFO, locks the process's memory, sets the scheduling of the process's other
// threads and sleeps until an absolute time with clock_nanosleep.
//
// Every call acts on the calling OS thread or on the process's threads; each returns
// the kernel's refusal (no CAP_SYS_NICE, no CAP_IPC_LOCK) as an error for the caller to
// report, since running with normal scheduling is degraded, not broken. The recipe and
// its pitfalls are in ../shared/SETUP.md ("A 1 kHz loop in Go").
package rt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// LockThread locks the calling goroutine to its OS thread, so that the scheduling set by
// the calls below stays with the goroutine. The caller unlocks it
// (runtime.UnlockOSThread) when done, or exits the goroutine locked: Go then ends the
// thread, and its real-time policy with it.
func LockThread() { runtime.LockOSThread() }

// SetTimerSlack sets the calling thread's timer slack: how late the kernel may fire its
// timers to batch wake-ups (default 50 µs for normal threads). robotd's loops ask for
// 1 ns so that clock_nanosleep wakes them on time.
func SetTimerSlack(d time.Duration) error {
	return unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(max(d, 1)), 0, 0, 0)
}

// SetFIFO puts the calling thread under SCHED_FIFO at prio (1-99): it then runs ahead of
// every normal thread of the machine until it blocks.
func SetFIFO(prio int) error { return setSched(0, unix.SCHED_FIFO, prio) }

// LockMemory locks the process's current and future pages in memory
// (mlockall(MCL_CURRENT|MCL_FUTURE)), so that a real-time thread never waits for a page
// fault to read from swap.
func LockMemory() error { return unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE) }

// ReniceThreads sets the nice value of every thread of the process, the calling one
// included (Linux keeps one per thread; new threads inherit their creator's).
func ReniceThreads(nice int) error {
	return eachThread(false, func(tid int) error { return unix.Setpriority(unix.PRIO_PROCESS, tid, nice) })
}

// ReniceOtherThreads sets the nice value of every thread of the process but the calling
// one.
func ReniceOtherThreads(nice int) error {
	return eachThread(true, func(tid int) error { return unix.Setpriority(unix.PRIO_PROCESS, tid, nice) })
}

// RoundRobinOtherThreads puts every thread of the process but the calling one under
// SCHED_RR at prio (new threads inherit it).
func RoundRobinOtherThreads(prio int) error {
	return eachThread(true, func(tid int) error { return setSched(tid, unix.SCHED_RR, prio) })
}

func setSched(tid int, policy uint32, prio int) error {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: policy, Priority: uint32(prio)}
	return unix.SchedSetAttr(tid, &attr, 0)
}

// eachThread calls fn for each thread of the process listed in /proc/self/task (but the
// calling one with skipSelf); a thread that exited since it was listed (ESRCH) is skipped.
// It stops at the first other error.
func eachThread(skipSelf bool, fn func(tid int) error) error {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	self := unix.Gettid()
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil || (skipSelf && tid == self) {
			continue
		}
		if err := fn(tid); err != nil && err != unix.ESRCH {
			return err
		}
	}
	return nil
}

// MonoNow reads CLOCK_MONOTONIC (the clock SleepUntil sleeps on) as a Duration since an
// arbitrary origin (the machine's boot).
func MonoNow() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Sec)*time.Second + time.Duration(ts.Nsec)
}

// SleepUntil sleeps until CLOCK_MONOTONIC reaches t (absolute, as MonoNow reads it),
// restarting after signals. Unlike time.Sleep it does not go through Go's timer wheel,
// which overshoots by up to a millisecond on these machines.
func SleepUntil(t time.Duration) {
	ts := unix.NsecToTimespec(int64(t))
	for {
		err := unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil)
		if err != unix.EINTR {
			return
		}
	}
}

// SleepUntilWall sleeps until the wall-clock instant t with clock_nanosleep on
// CLOCK_MONOTONIC (t is turned into a monotonic deadline once, at the call), waking early
// when a signal interrupts it: a loop that checks its context after each wake then stops
// promptly.
func SleepUntilWall(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	var now unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &now) != nil {
		time.Sleep(d)
		return
	}
	ts := unix.NsecToTimespec(now.Nano() + int64(d))
	unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil) //nolint:errcheck // EINTR: wake early
}

// ThreadNice reads a thread of this process's nice value from /proc (field 19 of its
// stat line); ok is false when the thread has exited since it was listed.
func ThreadNice(tid int) (nice int, ok bool, err error) {
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	rest := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(rest) < 17 {
		return 0, false, fmt.Errorf("rt: stat of thread %d: %d fields after the name", tid, len(rest))
	}
	n, err := strconv.Atoi(rest[16])
	if err != nil {
		return 0, false, fmt.Errorf("rt: stat of thread %d: %w", tid, err)
	}
	return n, true, nil
}

// TuneRuntime sets the Go runtime up for a process with a real-time thread, and returns
// the function that puts back what it changed:
//   - more Ps than cores (max(8, 4 x NumCPU)): a busy goroutine must not keep the
//     real-time thread from getting a P after its wake-up (../shared/SETUP.md, "A 1 kHz
//     loop in Go");
//   - no proportional garbage collection: each collection stops the world, the real-time
//     thread included, and on loaded cores a stop waits for every thread to reach a safe
//     point (pauses of 20-300 ms were measured); the heap is collected when it reaches
//     heapLimit bytes instead.
//
// $GOGC and $GOMEMLIMIT, when set, win over the collection settings.
func TuneRuntime(heapLimit int64) (restore func()) {
	procs := runtime.GOMAXPROCS(max(8, 4*runtime.NumCPU()))
	gc, limit := -2, int64(-1) // -2: not changed
	if os.Getenv("GOGC") == "" {
		gc = debug.SetGCPercent(-1)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		limit = debug.SetMemoryLimit(heapLimit)
	}
	return func() {
		runtime.GOMAXPROCS(procs)
		if gc != -2 {
			debug.SetGCPercent(gc)
		}
		if limit >= 0 {
			debug.SetMemoryLimit(limit)
		}
	}
}
