package policy

import (
	"slices"
	"testing"
	"time"
)

// TestHistory: the first observation pads the whole history; later ones shift it, oldest
// first; flatten is step-major with features in name order.
func TestHistory(t *testing.T) {
	dir := writeBundle(t, goodYAML, goodStats,
		"observation.state: {shape: [3], normalization: mean_std}", "observation.state: {shape: [3], normalization: identity}",
		"observation.images.cam: {shape: [3, 2, 2], normalization: mean_std}", "observation.images.cam: {shape: [3, 1, 1], normalization: identity}",
		"n_obs_steps: 2", "n_obs_steps: 3")
	b, err := LoadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := newHistory(b)
	obs := func(k float32) Observation {
		return Observation{Time: time.Duration(k) * time.Second, Values: [][]float32{{k, k, k}, {k + 0.1, k + 0.2, k + 0.3}}}
	}
	if err := h.add(obs(1)); err != nil {
		t.Fatal(err)
	}
	img, state := make([]float32, 9), make([]float32, 9)
	h.fill([][]float32{img, state})
	if want := []float32{1.1, 1.2, 1.3, 1.1, 1.2, 1.3, 1.1, 1.2, 1.3}; !slices.Equal(state, want) {
		t.Errorf("after one observation state history %v, want it repeated: %v", state, want)
	}
	h.add(obs(2))
	h.add(obs(3))
	h.add(obs(4))
	h.fill([][]float32{img, state})
	if want := []float32{2, 2, 2, 3, 3, 3, 4, 4, 4}; !slices.Equal(img, want) {
		t.Errorf("image history %v, want oldest first %v", img, want)
	}
	flat := make([]float32, 18)
	h.flatten(flat)
	if want := []float32{2, 2, 2, 2.1, 2.2, 2.3, 3, 3, 3, 3.1, 3.2, 3.3, 4, 4, 4, 4.1, 4.2, 4.3}; !slices.Equal(flat, want) {
		t.Errorf("flattened %v\nwant step-major %v", flat, want)
	}
	if h.time != 4*time.Second {
		t.Errorf("time %v", h.time)
	}
	h.reset()
	h.add(obs(7))
	h.fill([][]float32{img, state})
	if want := []float32{7, 7, 7, 7, 7, 7, 7, 7, 7}; !slices.Equal(img, want) {
		t.Errorf("after reset %v, want padding by the first observation", img)
	}
}
