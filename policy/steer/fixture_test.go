package steer

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/robotd/robotd/internal/npy"
	"github.com/robotd/robotd/policy/chunk"
)

// fixture is one case_*.npz written by tools/train/steer_ref.py: a step's inputs and the
// torch reference's scores, probabilities and choice.
type fixture map[string]*npy.Array

func loadFixture(t *testing.T, path string) fixture {
	t.Helper()
	arrays, err := npy.ReadNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{}
	for _, a := range arrays {
		f[a.Name] = a
	}
	return f
}

func (f fixture) get(t *testing.T, name string) *npy.Array {
	t.Helper()
	a, ok := f[name]
	if !ok {
		t.Fatalf("fixture has no %q", name)
	}
	return a
}

func (f fixture) f32(t *testing.T, name string) []float32 {
	t.Helper()
	v, err := f.get(t, name).Float32()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func (f fixture) f64(t *testing.T, name string) []float64 {
	t.Helper()
	v, err := f.get(t, name).Float64()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func (f fixture) int(t *testing.T, name string) int64 {
	t.Helper()
	return f.get(t, name).Data.([]int64)[0]
}

func (f fixture) ints(t *testing.T, name string) []int64 {
	t.Helper()
	return f.get(t, name).Data.([]int64)
}

func (f fixture) bools(t *testing.T, name string) []bool {
	t.Helper()
	return f.get(t, name).Data.([]bool)
}

const tol = 1e-5

// TestMatchesReference runs every fixture through Candidates, the three scorers, the
// combination and the selector (with the fixture's uniform number) and compares with the
// torch reference: scores to 1e-5, validity and choice exactly.
func TestMatchesReference(t *testing.T) {
	paths, err := filepath.Glob("testdata/case_*.npz")
	if err != nil || len(paths) < 6 {
		t.Fatalf("want the 6 fixtures of tools/train/steer_ref.py, found %d (%v)", len(paths), err)
	}
	for _, path := range paths {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "case_"), ".npz")
		t.Run(name, func(t *testing.T) {
			f := loadFixture(t, path)
			shape := f.get(t, "cand").Shape
			n, h, a := shape[0], shape[1], shape[2]
			start := int(f.int(t, "start"))
			t0, dt := time.Duration(f.int(t, "t0")), time.Duration(f.int(t, "dt"))

			c := NewCandidates(Shape{MaxN: n, Horizon: h, Start: start, Dim: a},
				chunk.Bounds{Lower: f.f64(t, "lower"), Upper: f.f64(t, "upper")})
			c.View(f.f32(t, "cand"), n, t0, dt)
			var weak *Candidates
			if m := f.get(t, "weak").Shape[0]; m > 0 {
				weak = NewCandidates(Shape{MaxN: m, Horizon: h, Dim: a}, chunk.Bounds{})
				weak.View(f.f32(t, "weak"), m, t0, dt)
			}
			var plan *chunk.Chunk
			if p := f.f64(t, "plan"); len(p) > 0 {
				plan = &chunk.Chunk{T0: time.Duration(f.int(t, "plan_t0")), Dt: dt, Dim: a, Actions: p}
			}
			ht := f.ints(t, "hist_t")
			hist := NewHistory(max(1, len(ht)), a)
			ha := f.f64(t, "hist_a")
			for q, tq := range ht {
				hist.Add(time.Duration(tq), ha[q*a:(q+1)*a])
			}

			wantValid := f.bools(t, "valid")
			for i := range n {
				if c.Valid(i) != wantValid[i] {
					t.Errorf("candidate %d: valid %v (%v), reference %v", i, c.Valid(i), c.Err(i), wantValid[i])
				}
			}

			w := f.f64(t, "weights")
			mode := Argmax
			if f.get(t, "softmax").Data.([]bool)[0] {
				mode = Softmax
			}
			s, err := New(Config{
				Coherence: CoherenceConfig{Weight: w[0], Beta: f.f64(t, "beta")[0]},
				Contrast:  ContrastConfig{Weight: w[1], K: int(f.int(t, "k"))},
				Past:      PastConfig{Weight: w[2], Steps: int(f.int(t, "steps"))},
				Select:    SelectConfig{Mode: mode, Temperature: f.f64(t, "temperature")[0]},
			}, n)
			if err != nil {
				t.Fatal(err)
			}
			// Every scorer on its own, whatever its weight in the sum.
			got := make([]float64, n)
			s.Coherence.Score(got, c, plan)
			compare(t, "coherence", got, f.f64(t, "coherence"))
			s.Contrast.Score(got, c, weak)
			compare(t, "contrast", got, f.f64(t, "contrast"))
			s.Past.Score(got, c, hist)
			compare(t, "past", got, f.f64(t, "past"))

			total := s.Score(c, Inputs{Plan: plan, Weak: weak, History: hist})
			compare(t, "total", total, f.f64(t, "total"))
			choice := s.sel.choose(total, c.valid[:n], f.f64(t, "u")[0])
			if want := int(f.int(t, "choice")); choice != want {
				t.Errorf("choice %d, reference %d (scores %v)", choice, want, total)
			}
			compare(t, "probs", s.Probs(), f.f64(t, "probs"))
		})
	}
}

func compare(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, reference %d", what, len(got), len(want))
	}
	for i := range got {
		if math.IsInf(want[i], -1) && math.IsInf(got[i], -1) {
			continue
		}
		if !(math.Abs(got[i]-want[i]) <= tol) {
			t.Errorf("%s[%d] = %.9g, reference %.9g (|diff| > %g)", what, i, got[i], want[i], tol)
		}
	}
}
