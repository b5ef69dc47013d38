package ros

import (
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/robotd/robotd/clock"
)

// A second reset to the same seed within TaskDuplicateWindow (on the server's clock) is a
// re-sent copy and ignored; at the window's end, or to another seed, it is a new request.
// On a manual clock the window's edges are checked exactly, without waiting 3 s.
func TestTaskResetDuplicateWindow(t *testing.T) {
	clk := clock.NewManual(time.Hour)
	s := &TaskServer{cfg: TaskServerConfig{Clock: clk}.WithDefaults()}
	reset := func(seed int64) (int64, bool) {
		s.onReset(&std_msgs.Int64{Data: seed})
		return s.TakeReset()
	}
	steps := []struct {
		advance time.Duration
		seed    int64
		taken   bool
	}{
		{0, 7, true}, // the first request
		{TaskDuplicateWindow - time.Nanosecond, 7, false}, // a copy, just inside the window
		{0, 8, true}, // another seed: taken at once
		{TaskDuplicateWindow - time.Nanosecond, 8, false},
		{time.Nanosecond, 8, true}, // the window after the last reset taken has passed
	}
	dups := 0
	for i, st := range steps {
		clk.Advance(st.advance)
		seed, ok := reset(st.seed)
		if ok != st.taken || (ok && seed != st.seed) {
			t.Fatalf("step %d: reset to %d at %v: TakeReset = %d, %v; want taken %v", i, st.seed, clk.Now()-time.Hour, seed, ok, st.taken)
		}
		if !st.taken {
			dups++
		}
	}
	if got := s.Stats(); got.Requests != uint64(len(steps)) || got.Duplicates != uint64(dups) {
		t.Fatalf("stats %+v, want %d requests, %d duplicates", got, len(steps), dups)
	}
}
