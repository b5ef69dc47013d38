package policy

import (
	"fmt"
	"math"
	"time"
)

// history keeps the last n_obs_steps normalized observations of every feature in a ring.
type history struct {
	b     *Bundle
	steps int
	slots [][][]float32 // [feature][slot] normalized values
	head  int           // slot of the newest observation
	count int           // observations since reset
	time  time.Duration // of the newest observation
}

func newHistory(b *Bundle) *history {
	h := &history{b: b, steps: b.Config.NObsSteps}
	h.slots = make([][][]float32, len(b.Observations))
	for i, f := range b.Observations {
		h.slots[i] = make([][]float32, h.steps)
		for s := range h.steps {
			h.slots[i][s] = make([]float32, f.Size)
		}
	}
	return h
}

func (h *history) reset()      { h.count, h.head = 0, 0 }
func (h *history) ready() bool { return h.count > 0 }

// add normalizes o into the next slot; the first observation fills every slot.
func (h *history) add(o Observation) error {
	if len(o.Values) != len(h.b.Observations) {
		return fmt.Errorf("policy: observation has %d features, the bundle has %d (%s)", len(o.Values), len(h.b.Observations), featureNames(h.b.Observations))
	}
	for i, f := range h.b.Observations {
		v := o.Values[i]
		if len(v) != f.Size {
			return fmt.Errorf("policy: observation %s has %d values, want %d (shape %v)", f.Name, len(v), f.Size, f.Shape)
		}
		for j, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("policy: observation %s[%d] is %v", f.Name, j, x)
			}
		}
	}
	next := (h.head + 1) % h.steps
	if h.count == 0 {
		next = 0
	}
	for i, f := range h.b.Observations {
		f.Norm.Normalize(h.slots[i][next], o.Values[i])
		if h.count == 0 {
			for s := 1; s < h.steps; s++ {
				copy(h.slots[i][s], h.slots[i][0])
			}
		}
	}
	h.head = next
	if h.count == 0 {
		h.head = h.steps - 1 // every slot holds the first observation; the ring ends anywhere
	}
	h.count++
	h.time = o.Time
	return nil
}

// at returns feature i's k-th observation of the history, oldest first (k = 0 is the
// oldest, k = n_obs_steps-1 the newest).
func (h *history) at(i, k int) []float32 {
	return h.slots[i][(h.head+1+k)%h.steps]
}

// fill writes each feature's history, oldest first, into dst[feature] (n_obs_steps x size).
func (h *history) fill(dst [][]float32) {
	for i, f := range h.b.Observations {
		for k := range h.steps {
			copy(dst[i][k*f.Size:(k+1)*f.Size], h.at(i, k))
		}
	}
}

// flatten writes the history step-major, the features of each step in name order
// (Diffusion Policy's and LeRobot's global_cond for low-dimensional observations).
func (h *history) flatten(dst []float32) {
	o := 0
	for k := range h.steps {
		for i, f := range h.b.Observations {
			copy(dst[o:o+f.Size], h.at(i, k))
			o += f.Size
		}
	}
}
