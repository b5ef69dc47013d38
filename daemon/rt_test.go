package daemon

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/robotd/robotd/internal/rt"
)

// With SCHED_FIFO granted, realtime setup puts the control thread under SCHED_FIFO and
// every other thread of the process at otherNice, so the Go scheduler's hand-offs back to
// the control thread do not wait behind other processes.
func TestSetupRealtimeRenicesThreads(t *testing.T) {
	got := make(chan rtReport)
	policy := make(chan int)
	release := make(chan struct{})
	go func() {
		r := setupRealtime(10)
		got <- r
		attr, err := unix.SchedGetAttr(0, 0)
		if err != nil {
			policy <- -1
		} else {
			policy <- int(attr.Policy)
		}
		<-release
		// The goroutine exits locked: Go ends its thread, and the SCHED_FIFO with it.
	}()
	r := <-got
	p := <-policy
	defer close(release)
	defer func() { _ = rt.ReniceThreads(0) }() // the rest of the test binary at normal priority
	if r.FIFO == 0 {
		t.Skipf("SCHED_FIFO refused here (%s): nothing to check", r.Refused)
	}
	if p != unix.SCHED_FIFO || !r.Locked {
		t.Fatalf("control thread policy %d, locked %v; want SCHED_FIFO", p, r.Locked)
	}
	if r.Nice != otherNice || strings.Contains(r.Refused, "nice") {
		t.Fatalf("report %+v: want the other threads at nice %d", r, otherNice)
	}
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if n, ok := threadNice(t, e.Name()); ok && n != otherNice {
			t.Errorf("thread %s at nice %d, want %d", e.Name(), n, otherNice)
		}
	}
	if s := rtString(r); !strings.Contains(s, "nice -10") {
		t.Errorf("summary row %q does not say the threads' nice value", s)
	}
}

// threadNice is rt.ThreadNice failing the test on a read error.
func threadNice(t *testing.T, tid string) (nice int, ok bool) {
	t.Helper()
	id, err := strconv.Atoi(tid)
	if err != nil {
		t.Fatal(err)
	}
	n, ok, err := rt.ThreadNice(id)
	if err != nil {
		t.Fatal(err)
	}
	return n, ok
}
