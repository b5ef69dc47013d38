package rt

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// SleepUntil wakes at its deadline, never before; late by at most a scheduling delay
// (1 s here: the test machines' cores are shared with other jobs, and stalls of 100-300
// ms were seen beside them; how late it wakes on a quiet machine is a benchmark's
// business, scripts/bench.d/daemon.sh).
func TestSleepUntil(t *testing.T) {
	for _, d := range []time.Duration{-time.Millisecond, 0, 2 * time.Millisecond, 20 * time.Millisecond} {
		deadline := MonoNow() + d
		SleepUntil(deadline)
		now := MonoNow()
		if now < deadline {
			t.Errorf("SleepUntil(now%+v) woke %v early", d, deadline-now)
		}
		if d > 0 && now-deadline > time.Second {
			t.Errorf("SleepUntil(now%+v) woke %v late", d, now-deadline)
		}
	}
}

// SleepUntilWall sleeps until a wall-clock instant, and returns at once for one past
// (bounds as TestSleepUntil's: a loaded machine's scheduling delay, not a benchmark).
func TestSleepUntilWall(t *testing.T) {
	t0 := time.Now()
	SleepUntilWall(t0.Add(-time.Second))
	if d := time.Since(t0); d > time.Second {
		t.Errorf("SleepUntilWall(past) took %v", d)
	}
	t0 = time.Now()
	SleepUntilWall(t0.Add(10 * time.Millisecond))
	if d := time.Since(t0); d < 10*time.Millisecond || d > 10*time.Millisecond+time.Second {
		t.Errorf("SleepUntilWall(now+10ms) took %v", d)
	}
}

// ReniceOtherThreads leaves the calling thread alone and sets every other one; ReniceThreads
// sets them all. Raising the nice value is always permitted; lowering it back needs
// CAP_SYS_NICE, without which the test is skipped before it changes anything.
func TestReniceOtherThreads(t *testing.T) {
	LockThread()
	defer func() {
		if err := ReniceThreads(0); err != nil {
			t.Errorf("restore nice 0: %v", err)
		}
	}()
	if err := ReniceThreads(-1); err != nil {
		t.Skipf("lowering the nice value refused here (%v): the test could not restore it", err)
	}
	if err := ReniceThreads(0); err != nil {
		t.Fatal(err)
	}
	if err := ReniceOtherThreads(5); err != nil {
		t.Fatal(err)
	}
	self := unix.Gettid()
	others := 0
	err := eachThread(false, func(tid int) error {
		n, ok := threadNice(t, tid)
		switch {
		case !ok:
		case tid == self && n != 0:
			t.Errorf("calling thread %d at nice %d, want 0 (left alone)", tid, n)
		case tid != self && n != 5:
			t.Errorf("thread %d at nice %d, want 5", tid, n)
		case tid != self:
			others++
		}
		return nil
	})
	if err != nil || others == 0 {
		t.Fatalf("%d other threads checked (%v); want some", others, err)
	}
}

// RoundRobinOtherThreads puts the other threads under SCHED_RR and leaves the calling
// one's policy; the test restores SCHED_NORMAL.
func TestRoundRobinOtherThreads(t *testing.T) {
	LockThread()
	defer eachThread(false, func(tid int) error { return setSched(tid, unix.SCHED_NORMAL, 0) }) //nolint:errcheck
	if err := RoundRobinOtherThreads(1); err != nil {
		t.Skipf("SCHED_RR refused here (%v): nothing to check", err)
	}
	self := unix.Gettid()
	rr := 0
	err := eachThread(false, func(tid int) error {
		attr, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			return err
		}
		switch {
		case tid == self && attr.Policy != unix.SCHED_NORMAL:
			t.Errorf("calling thread under policy %d, want SCHED_NORMAL (left alone)", attr.Policy)
		case tid != self && (attr.Policy != unix.SCHED_RR || attr.Priority != 1):
			t.Errorf("thread %d under policy %d priority %d, want SCHED_RR 1", tid, attr.Policy, attr.Priority)
		case tid != self:
			rr++
		}
		return nil
	})
	if err != nil || rr == 0 {
		t.Fatalf("%d other threads under SCHED_RR (%v); want some", rr, err)
	}
}

// threadNice is rt.ThreadNice failing the test on a read error.
func threadNice(t *testing.T, tid int) (nice int, ok bool) {
	t.Helper()
	id := tid
	n, ok, err := ThreadNice(id)
	if err != nil {
		t.Fatal(err)
	}
	return n, ok
}

// TuneRuntime raises GOMAXPROCS, turns proportional collection off for a heap limit
// (unless $GOGC / $GOMEMLIMIT say otherwise) and its restore puts every setting back.
func TestTuneRuntime(t *testing.T) {
	procs, gc, limit := runtime.GOMAXPROCS(0), debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(gc)
	restore := TuneRuntime(256 << 20)
	if p := runtime.GOMAXPROCS(0); p < 8 || p < 4*runtime.NumCPU() {
		t.Errorf("GOMAXPROCS %d, want max(8, 4 x %d)", p, runtime.NumCPU())
	}
	if os.Getenv("GOGC") == "" {
		if g := debug.SetGCPercent(-1); g != -1 {
			t.Errorf("GC percent %d, want -1 (off)", g)
		}
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if l := debug.SetMemoryLimit(-1); l != 256<<20 {
			t.Errorf("memory limit %d, want %d", l, 256<<20)
		}
	}
	restore()
	if p := runtime.GOMAXPROCS(0); p != procs {
		t.Errorf("GOMAXPROCS %d after restore, want %d", p, procs)
	}
	if g := debug.SetGCPercent(gc); g != gc {
		t.Errorf("GC percent %d after restore, want %d", g, gc)
	}
	if l := debug.SetMemoryLimit(-1); l != limit {
		t.Errorf("memory limit %d after restore, want %d", l, limit)
	}
}
