package steer_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/robotd/robotd/internal/npy"
	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/chunk"
	"github.com/robotd/robotd/policy/onnx"
	"github.com/robotd/robotd/policy/steer"
)

// The value fixtures (testdata/gen_value.py) fit the policy fixture policy/testdata/flow.
var flowBundle = filepath.Join("..", "testdata", "flow")

func loadFlow(t testing.TB) *policy.Bundle {
	t.Helper()
	p, err := policy.LoadBundle(flowBundle)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// valueCase loads a value bundle for at most maxN candidates and its reference.npz: the
// observation, the candidates (viewed, candidate 2 invalid) and torch's scores.
func valueCase(t testing.TB, name string, maxN int) (*steer.Value, *steer.Candidates, [][]float32, []float64, []float32) {
	t.Helper()
	dir := filepath.Join("testdata", name)
	b, err := steer.LoadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := steer.NewValue(b, loadFlow(t), onnx.Opener(onnx.Options{}), maxN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	arrays, err := npy.ReadNPZ(filepath.Join(dir, "reference.npz"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) *npy.Array {
		a := npy.Find(arrays, name)
		if a == nil {
			t.Fatalf("reference.npz has no %s", name)
		}
		return a
	}
	obs, err := get("obs").Float32()
	if err != nil {
		t.Fatal(err)
	}
	cand, err := get("candidates").Float32()
	if err != nil {
		t.Fatal(err)
	}
	want, err := get("scores").Float64()
	if err != nil {
		t.Fatal(err)
	}
	c := steer.NewCandidates(steer.Shape{MaxN: maxN, Horizon: 8, Start: 1, Dim: 4}, chunk.Bounds{})
	c.View(cand, len(want), 0, 50*time.Millisecond)
	return v, c, [][]float32{obs}, want, cand
}

// TestValueMatchesTorch scores the fixture's candidates in one batched run and matches the
// torch model on the same inputs to 1e-5, with the bundle's own statistics over the
// executed chunk (value) and with the policy's statistics over the first action
// (value_first); the invalid candidate scores 0.
func TestValueMatchesTorch(t *testing.T) {
	for _, name := range []string{"value", "value_first"} {
		v, c, obs, want, cand := valueCase(t, name, 8)
		if c.Valid(2) {
			t.Fatalf("%s: candidate 2 holds a NaN and is valid", name)
		}
		got := make([]float64, 8)
		if err := v.Score(got, c, obs); err != nil {
			t.Fatal(err)
		}
		spread := 0.0
		for i, w := range want {
			if math.Abs(got[i]-w) > 1e-5 {
				t.Errorf("%s: candidate %d: value %.7f, torch %.7f", name, i, got[i], w)
			}
			spread = max(spread, math.Abs(w-want[0]))
		}
		if spread < 0.01 {
			t.Errorf("%s: reference scores %v barely differ: the fixture tests nothing", name, want)
		}
		// A smaller batch binds the model anew and gives the same values.
		c.View(cand[:2*8*4], 2, 0, 50*time.Millisecond)
		if err := v.Score(got, c, obs); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if math.Abs(got[i]-want[i]) > 1e-5 {
				t.Errorf("%s: batch of 2: candidate %d: value %.7f, torch %.7f", name, i, got[i], want[i])
			}
		}
	}
}

// TestValueNoAllocs: after the first Score with a batch size, scoring allocates nothing.
func TestValueNoAllocs(t *testing.T) {
	v, c, obs, _, _ := valueCase(t, "value", 8)
	dst := make([]float64, 8)
	score := func() {
		if err := v.Score(dst, c, obs); err != nil {
			t.Fatal(err)
		}
	}
	score()
	if n := testing.AllocsPerRun(20, score); n != 0 {
		t.Errorf("%v allocations per Score, want 0", n)
	}
}

// copyBundle copies the fixture bundle name into a temporary directory with steer.yaml's
// text edited by the replacements old, new, ... (each must apply).
func copyBundle(t *testing.T, name string, repl ...string) string {
	t.Helper()
	src, dst := filepath.Join("testdata", name), t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == steer.BundleFile {
			for i := 0; i < len(repl); i += 2 {
				if !bytes.Contains(data, []byte(repl[i])) {
					t.Fatalf("%s has no %q", e.Name(), repl[i])
				}
				data = bytes.Replace(data, []byte(repl[i]), []byte(repl[i+1]), 1)
			}
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestValueRefusesMismatch: a steering bundle that does not fit the policy (horizon,
// n_obs_steps, feature names, shapes, action dimension, normalization modes without
// statistics of its own) is refused by Fit before the model is opened, and one whose
// model does not fit its own declaration when the model is resolved; each error names
// the mismatch. Malformed steer.yaml files are refused by LoadBundle.
func TestValueRefusesMismatch(t *testing.T) {
	p := loadFlow(t)
	cases := []struct {
		name, bundle string
		repl         []string
		load         bool // refused by LoadBundle rather than NewValue
		opens        bool // the mismatch is the model's, found after opening it
		want         string
	}{
		{"horizon", "value", []string{"horizon: 8", "horizon: 16"}, false, false, "horizon 16, the policy's is 8"},
		{"n_obs_steps", "value", []string{"n_obs_steps: 2", "n_obs_steps: 1"}, false, false, "n_obs_steps 1, the policy's is 2"},
		{"feature name", "value_first", []string{"observation.state:", "observation.joints:"}, false, false,
			"features: observation.joints: the policy has no such feature (its observation features: observation.state)"},
		{"observation shape", "value_first", []string{"shape: [6]", "shape: [7]"}, false, false,
			"features: observation.state: shape [7], the policy's is [6]"},
		{"action dim", "value_first", []string{"shape: [4]", "shape: [3]"}, false, false,
			"features: action: action dimension: shape [3], the policy's is [4]"},
		{"action normalization", "value_first", []string{"[4], normalization: min_max", "[4], normalization: mean_std"}, false, false,
			"features: action: normalization mean_std, the policy's is min_max"},
		{"model span", "value", []string{"action_span: chunk", "action_span: first"}, false, true,
			"action float32[?,7,4]: 28 values per batch entry, the bundle says first action 1 x action dim 0 4 (4 values)"},
		{"output", "value", []string{"output: value", "output: q"}, false, true, `no output "q"`},
		{"kind", "value", []string{"kind: value", "kind: guidance"}, true, false, `kind: unknown "guidance" (value, noise or residual)`},
		{"span", "value", []string{"action_span: chunk", "action_span: all"}, true, false, `action_span: unknown "all"`},
		{"image shape", "value_first", []string{"observation.state:", "observation.images.top:"}, true, false,
			"features: observation.images.top: shape: an image is [channels, height, width], got [6]"},
		{"own stats", "value", []string{"observation.state:", "observation.velocity:"}, true, false,
			`features: observation.velocity: normalization mean_std: stats.json has no entry "observation.velocity"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := steer.LoadBundle(copyBundle(t, c.bundle, c.repl...))
			if c.load {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("LoadBundle: %v, want an error containing %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			opened := false
			open := func(path string) (policy.Model, error) {
				opened = true
				return onnx.Open(path, onnx.Options{})
			}
			v, err := steer.NewValue(b, p, open, 4)
			if err == nil {
				v.Close()
				t.Fatalf("NewValue accepted the bundle, want an error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("NewValue: %v\nwant an error containing %q", err, c.want)
			}
			if opened != c.opens {
				t.Errorf("model opened %v, want %v (%v)", opened, c.opens, err)
			}
		})
	}
}

// TestWriteInfo describes a steering bundle as robotd policy info prints it: through
// policy/onnx.WriteInfo, which hands a directory with steer.yaml to steer.WriteInfo.
func TestWriteInfo(t *testing.T) {
	var buf bytes.Buffer
	if err := onnx.WriteInfo(&buf, filepath.Join("testdata", "value"), onnx.Options{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"kind     value",
		"policy   horizon 8, n_obs_steps 2 (executed from index 1)",
		"normalized with own statistics stats.json",
		"observation.state            [6]            mean_std (latest observation)",
		"action                       [4]            min_max (7 executed actions [1, 8), span chunk)",
		"output   value: one score per candidate",
		"axes     batch = candidates per step",
		"in   action float32[?,7,4]",
		"onnxruntime ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("info has no %q:\n%s", want, out)
		}
	}
}

// TestSteerWithValue: the value scorer's scores enter Steer's combined score with their
// weight, argmax picks the candidate torch values most (never the invalid one), and a
// step (value model run, scoring, selection) allocates nothing after warm-up.
func TestSteerWithValue(t *testing.T) {
	v, c, obs, want, _ := valueCase(t, "value", 8)
	s, err := steer.New(steer.Config{Value: steer.ValueConfig{Weight: 2}}, 8)
	if err != nil {
		t.Fatal(err)
	}
	values := make([]float64, 8)
	var chosen int
	step := func() {
		if err := v.Score(values, c, v.Observation(policy.Observation{Values: obs})); err != nil {
			t.Fatal(err)
		}
		if chosen, err = s.Step(c, steer.Inputs{Values: values[:c.Len()]}); err != nil {
			t.Fatal(err)
		}
	}
	step()
	best := 0
	for i, w := range want {
		if i != 2 && w > want[best] {
			best = i
		}
	}
	if chosen != best {
		t.Errorf("chose %d, torch's best value is candidate %d (%v)", chosen, best, want)
	}
	total := s.Score(c, steer.Inputs{Values: values[:c.Len()]})
	for i, w := range want {
		if i == 2 {
			if !math.IsInf(total[i], -1) {
				t.Errorf("invalid candidate 2 scores %v, want -Inf", total[i])
			}
			continue
		}
		if math.Abs(total[i]-2*w) > 2e-5 || math.Abs(s.Scores(steer.ScoreValue)[i]-w) > 1e-5 {
			t.Errorf("candidate %d: total %v, value %v; want 2 x %v", i, total[i], s.Scores(steer.ScoreValue)[i], w)
		}
	}
	if n := testing.AllocsPerRun(20, step); n != 0 {
		t.Errorf("%v allocations per step, want 0", n)
	}
	if _, err := steer.New(steer.Config{Value: steer.ValueConfig{Weight: -1}}, 8); err == nil || !strings.Contains(err.Error(), "value.weight: -1") {
		t.Errorf("value weight -1: %v", err)
	}
}

// BenchmarkValue times one value-scorer step (normalize, one batched model run, read back)
// for N candidates of the fixture's shape (horizon 8, action 4, executed chunk 7 x 4).
func BenchmarkValue(b *testing.B) {
	for _, n := range []int{1, 4, 8, 16} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			v, c, obs, _, cand := valueCase(b, "value", 16)
			all := make([]float32, 0, n*8*4)
			for len(all) < n*8*4 {
				all = append(all, cand[:min(len(cand), n*8*4-len(all))]...)
			}
			c.View(all, n, 0, 50*time.Millisecond)
			dst := make([]float64, n)
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Score(dst, c, obs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestValueNonFinite: a Q that is NaN (here from a NaN observation) scores -Inf and is
// counted, so that no such candidate is selected: with every value NaN, Steer finds none.
func TestValueNonFinite(t *testing.T) {
	v, c, obs, _, _ := valueCase(t, "value", 8)
	bad := [][]float32{append([]float32(nil), obs[0]...)}
	bad[0][3] = float32(math.NaN())
	got := make([]float64, 8)
	if err := v.Score(got, c, bad); err != nil {
		t.Fatal(err)
	}
	for i := range c.Len() {
		if want := math.Inf(-1); c.Valid(i) && got[i] != want || !c.Valid(i) && got[i] != 0 {
			t.Errorf("candidate %d (valid %v): %v", i, c.Valid(i), got[i])
		}
	}
	if v.NonFinite() != c.NumValid() {
		t.Errorf("NonFinite %d, want %d", v.NonFinite(), c.NumValid())
	}
	s, err := steer.New(steer.Config{Value: steer.ValueConfig{Weight: 1}}, 8)
	if err != nil {
		t.Fatal(err)
	}
	if i, err := s.Step(c, steer.Inputs{Values: got[:c.Len()]}); !errors.Is(err, steer.ErrNoCandidate) {
		t.Errorf("Step chose %d (%v), want ErrNoCandidate", i, err)
	}
}
