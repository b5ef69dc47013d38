package steer

import (
	"fmt"
	"time"
)

// History keeps the actions actually executed, each with the session-clock time it was
// commanded at, in a ring of fixed capacity: the newest Capacity entries are kept. The
// daemon adds the commanded action at least once per policy period (the Past scorer looks
// up the entry nearest each predicted past action's due time); a capacity of a few
// horizons is plenty. Add and Near allocate nothing.
type History struct {
	dim     int
	times   []time.Duration
	actions []float64 // capacity*dim
	n, next int
}

// NewHistory allocates a history of capacity entries of dim values. It panics when
// either is below 1.
func NewHistory(capacity, dim int) *History {
	if capacity < 1 || dim < 1 {
		panic(fmt.Sprintf("steer: NewHistory(%d, %d): want capacity and dim >= 1", capacity, dim))
	}
	return &History{dim: dim, times: make([]time.Duration, capacity), actions: make([]float64, capacity*dim)}
}

// Add records that action (dim values, copied) was commanded at t, dropping the oldest
// entry when the history is full. It panics on a wrong-sized action.
func (h *History) Add(t time.Duration, action []float64) {
	if len(action) != h.dim {
		panic(fmt.Sprintf("steer: History.Add of %d values, want dim %d", len(action), h.dim))
	}
	h.times[h.next] = t
	copy(h.actions[h.next*h.dim:(h.next+1)*h.dim], action)
	h.next = (h.next + 1) % len(h.times)
	h.n = min(h.n+1, len(h.times))
}

// Reset forgets every entry (a new episode).
func (h *History) Reset() { h.n, h.next = 0, 0 }

// Len returns the number of entries held.
func (h *History) Len() int { return h.n }

// Near returns the action commanded nearest to t, if one was commanded within tol of it
// (|time - t| <= tol); of two equally near entries, the one added later. The slice is the
// history's own storage, valid until the next Add.
func (h *History) Near(t, tol time.Duration) ([]float64, bool) {
	best, bestD := -1, tol
	for k := 0; k < h.n; k++ {
		// Oldest to newest, so that a tie goes to the newer entry.
		j := (h.next - h.n + k + len(h.times)) % len(h.times)
		d := h.times[j] - t
		if d < 0 {
			d = -d
		}
		if d <= bestD {
			best, bestD = j, d
		}
	}
	if best < 0 {
		return nil, false
	}
	return h.actions[best*h.dim : (best+1)*h.dim], true
}
