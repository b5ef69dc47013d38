package steer_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/robotd/robotd/internal/npy"
	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/onnx"
	"github.com/robotd/robotd/policy/steer"
)

// reference reads testdata/<name>/reference.npz (gen_noise_residual.py) and returns a
// getter of its arrays as float64 and float32.
func reference(t testing.TB, name string) (f64 func(string) []float64, f32 func(string) []float32) {
	t.Helper()
	arrays, err := npy.ReadNPZ(filepath.Join("testdata", name, "reference.npz"))
	if err != nil {
		t.Fatal(err)
	}
	find := func(key string) *npy.Array {
		a := npy.Find(arrays, key)
		if a == nil {
			t.Fatalf("%s/reference.npz has no %s", name, key)
		}
		return a
	}
	f64 = func(key string) []float64 {
		v, err := find(key).Float64()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	f32 = func(key string) []float32 {
		v, err := find(key).Float32()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	return f64, f32
}

// newNoise loads the noise bundle testdata/name for the flow policy fixture.
func newNoise(t testing.TB, name string, maxN int, cfg steer.NoiseConfig) *steer.Noise {
	t.Helper()
	b, err := steer.LoadBundle(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	n, err := steer.NewNoise(b, loadFlow(t), onnx.Opener(onnx.Options{}), maxN, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// TestNoiseMatchesTorch runs the noise fixtures on the reference observation (and eps)
// for 5 candidates in one batched call and matches torch's output, bounded in numpy, to
// 1e-5, with the same clipped count and RMS: noise (a stochastic policy with eps, its own
// statistics, [N, 8, 4] output: every candidate different) and noise_det (no eps, the
// policy's statistics, flat [N, 32] output: every candidate the same).
func TestNoiseMatchesTorch(t *testing.T) {
	const per = 8 * 4
	for _, name := range []string{"noise", "noise_det"} {
		t.Run(name, func(t *testing.T) {
			f64, f32 := reference(t, name)
			bound := f64("bound")[0]
			n := newNoise(t, name, 8, steer.NoiseConfig{Bound: bound})
			if n.Stochastic() != (name == "noise") {
				t.Fatalf("Stochastic() = %v", n.Stochastic())
			}
			obs, eps, want := f32("obs"), f32("eps"), f64("noise")
			count := len(want) / per
			var epsIn []float32
			if n.Stochastic() {
				epsIn = eps
			}
			dst := make([]float32, 8*per)
			st, err := n.Sample(n.Observation(policy.Observation{Values: [][]float32{obs}}), count, epsIn, dst)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range want {
				if math.Abs(float64(dst[i])-w) > 1e-5 {
					t.Fatalf("value %d: %v, torch %v", i, dst[i], w)
				}
				if math.Abs(float64(dst[i])) > bound {
					t.Fatalf("value %d: %v beyond the bound %v", i, dst[i], bound)
				}
			}
			if st.Clipped != int(f64("clipped")[0]) || st.NonFinite != 0 || math.Abs(st.RMS-f64("rms")[0]) > 1e-5 {
				t.Errorf("step %+v, want clipped %v, rms %v", st, f64("clipped")[0], f64("rms")[0])
			}
			if st.Clipped == 0 {
				t.Error("nothing clipped: the fixture does not test the bound")
			}
			same := slices.Equal(dst[:per], dst[per:2*per])
			if same != (name == "noise_det") {
				t.Errorf("candidates 0 and 1 equal: %v", same)
			}
			// A smaller batch binds the model anew and gives the first rows again.
			st2, err := n.Sample(n.Observation(policy.Observation{Values: [][]float32{obs}}), 2, epsIn, dst)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range want[:2*per] {
				if math.Abs(float64(dst[i])-w) > 1e-5 {
					t.Fatalf("batch of 2: value %d: %v, torch %v", i, dst[i], w)
				}
			}
			if st2.Clipped > st.Clipped {
				t.Errorf("batch of 2 clipped %d, more than the batch of %d (%d)", st2.Clipped, count, st.Clipped)
			}
		})
	}
}

// TestNoiseNonFinite: a NaN observation makes every output NaN: each becomes 0 and is
// counted, and the noise handed on is finite.
func TestNoiseNonFinite(t *testing.T) {
	_, f32 := reference(t, "noise")
	n := newNoise(t, "noise", 4, steer.NoiseConfig{})
	obs := f32("obs")
	obs[2] = float32(math.NaN())
	dst := make([]float32, 3*32)
	for i := range dst {
		dst[i] = 7
	}
	st, err := n.Sample([][]float32{obs}, 3, f32("eps"), dst)
	if err != nil {
		t.Fatal(err)
	}
	if st.NonFinite != 3*32 || st.Clipped != 0 || st.RMS != 0 {
		t.Errorf("step %+v, want 96 non-finite, RMS 0", st)
	}
	for i, v := range dst {
		if v != 0 {
			t.Fatalf("value %d: %v, want 0", i, v)
		}
	}
}

// TestNoiseNoAllocs: after the first Sample with a count, Sample allocates nothing.
func TestNoiseNoAllocs(t *testing.T) {
	_, f32 := reference(t, "noise")
	n := newNoise(t, "noise", 8, steer.NoiseConfig{})
	obs, eps := [][]float32{f32("obs")}, f32("eps")
	dst := make([]float32, 5*32)
	sample := func() {
		if _, err := n.Sample(obs, 5, eps, dst); err != nil {
			t.Fatal(err)
		}
	}
	sample()
	if a := testing.AllocsPerRun(20, sample); a != 0 {
		t.Errorf("%v allocations per Sample, want 0", a)
	}
}

// TestNoiseDrivesPolicy: the noise policy's output is the flow policy's initial noise
// (StepOptions.Noise): the sampler is deterministic, so the same observation gives the
// same actions at every step, and other noise gives other actions.
func TestNoiseDrivesPolicy(t *testing.T) {
	_, f32 := reference(t, "noise_det")
	n := newNoise(t, "noise_det", 2, steer.NoiseConfig{})
	p, err := policy.Load(flowBundle, onnx.Opener(onnx.Options{}), policy.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	o := policy.Observation{Values: [][]float32{f32("obs")}}
	if err := p.Observe(o); err != nil {
		t.Fatal(err)
	}
	noise := make([]float32, 2*32)
	if _, err := n.Sample(n.Observation(o), 2, nil, noise); err != nil {
		t.Fatal(err)
	}
	step := func(noise []float32) []float32 {
		out, err := p.Step(policy.StepOptions{Samples: 2, Noise: noise})
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(out)
	}
	a, b := step(noise), step(noise)
	if !slices.Equal(a, b) {
		t.Errorf("the same noise gave different actions:\n%v\n%v", a, b)
	}
	other := slices.Clone(noise)
	for i := range other {
		other[i] = -other[i]
	}
	if slices.Equal(a, step(other)) {
		t.Error("the negated noise gave the same actions")
	}
}

// TestCheckDeterministic: flow and ddim with eta 0 take a noise policy; ddpm, ddim with
// eta > 0 and a chunked policy are refused, the error naming the policy and its sampler.
// The policy fixtures unet (ddim, eta 0) and act (chunked) are checked as loaded.
func TestCheckDeterministic(t *testing.T) {
	diff := func(sampler string, eta float64) *policy.Config {
		return &policy.Config{Name: "pi", Kind: policy.KindDiffusion, Diffusion: &policy.DiffusionConfig{Sampler: sampler, Eta: eta}}
	}
	type detCase struct {
		name string
		cfg  *policy.Config
		want string // "" = accepted
	}
	cases := []detCase{
		{"flow", &policy.Config{Name: "pi", Kind: policy.KindFlow, Diffusion: &policy.DiffusionConfig{Sampler: "euler"}}, ""},
		{"ddim eta 0", diff("ddim", 0), ""},
		{"ddim eta 0.5", diff("ddim", 0.5), "steering.noise needs a deterministic sampler (ddim with eta 0, or flow); policy pi uses ddim with eta 0.5"},
		{"ddpm", diff("ddpm", 0), "steering.noise needs a deterministic sampler (ddim with eta 0, or flow); policy pi uses ddpm"},
		{"chunked", &policy.Config{Name: "pi", Kind: policy.KindChunked}, "policy pi is kind chunked, which takes no noise"},
	}
	for _, dir := range []string{"unet", "act"} {
		p, err := policy.LoadBundle(filepath.Join("..", "testdata", dir))
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, detCase{"fixture " + dir, &p.Config, map[string]string{"unet": "", "act": "is kind chunked"}[dir]})
	}
	for _, c := range cases {
		err := steer.CheckDeterministic(c.cfg)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// TestNoiseConfig: the bound defaults to 3 and must be positive and finite, the error
// naming steering.noise.bound.
func TestNoiseConfig(t *testing.T) {
	var c steer.NoiseConfig
	c.SetDefaults()
	if c.Bound != 3 || c.Validate() != nil {
		t.Errorf("defaults %+v: %v", c, c.Validate())
	}
	for _, bound := range []float64{-1, math.Inf(1), math.NaN()} {
		c := steer.NoiseConfig{Bound: bound}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "steering.noise.bound: must be > 0") {
			t.Errorf("bound %v: %v", bound, err)
		}
	}
}

// copyPolicy copies the policy fixture flow into a temporary directory with policy.yaml
// edited by the replacements old, new, ... (each must apply), and loads it.
func copyPolicy(t *testing.T, repl ...string) *policy.Bundle {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(flowBundle)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(flowBundle, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "policy.yaml" {
			for i := 0; i < len(repl); i += 2 {
				if !strings.Contains(string(data), repl[i]) {
					t.Fatalf("policy.yaml has no %q", repl[i])
				}
				data = []byte(strings.Replace(string(data), repl[i], repl[i+1], 1))
			}
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := policy.LoadBundle(dst)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNoiseRefuses: a noise bundle that does not fit the policy (action dimension,
// horizon, action normalization), whose model lacks the declared output, given a
// non-deterministic policy, or of another kind is refused by NewNoise, the error naming
// the mismatch; a value-only key is refused by LoadBundle.
func TestNoiseRefuses(t *testing.T) {
	flow := loadFlow(t)
	ddpm := copyPolicy(t, "kind: flow", "kind: diffusion", "sampler: euler", "sampler: ddpm",
		"prediction_type: velocity", "prediction_type: epsilon\n  beta_schedule: squaredcos_cap_v2")
	cases := []struct {
		name, bundle string
		repl         []string
		p            *policy.Bundle
		cfg          steer.NoiseConfig
		load         bool // refused by LoadBundle
		want         string
	}{
		{"action dim", "noise", []string{"shape: [4]", "shape: [3]"}, flow, steer.NoiseConfig{}, false,
			"features: action: action dimension: shape [3], the policy's is [4]"},
		{"horizon", "noise", []string{"horizon: 8", "horizon: 16"}, flow, steer.NoiseConfig{}, false, "horizon 16, the policy's is 8"},
		{"action normalization", "noise", []string{"[4], normalization: min_max", "[4], normalization: mean_std"}, flow, steer.NoiseConfig{}, false,
			"features: action: normalization mean_std, the policy's is min_max (a noise model's noise is in the policy's normalized action space)"},
		{"output", "noise", []string{"output: noise", "output: z"}, flow, steer.NoiseConfig{}, false, `model.onnx: no output "z"`},
		{"ddpm", "noise", nil, ddpm, steer.NoiseConfig{}, false,
			"steering.noise needs a deterministic sampler (ddim with eta 0, or flow); policy fixture_flow uses ddpm"},
		{"bound", "noise", nil, flow, steer.NoiseConfig{Bound: -2}, false, "steering.noise.bound: must be > 0"},
		{"kind", "value", nil, flow, steer.NoiseConfig{}, false, "kind value, want noise"},
		{"action_span", "noise", []string{"output: noise", "output: noise\naction_span: first"}, flow, steer.NoiseConfig{}, true,
			"action_span: only for kind value (kind noise)"},
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
			n, err := steer.NewNoise(b, c.p, onnx.Opener(onnx.Options{}), 4, c.cfg)
			if err == nil {
				n.Close()
				t.Fatalf("NewNoise accepted the bundle, want an error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("NewNoise: %v\nwant an error containing %q", err, c.want)
			}
		})
	}
}

// BenchmarkNoise times one noise-policy call (normalize, one batched model run, bound)
// for N candidates of the fixture's shape (horizon 8, action 4, with eps).
func BenchmarkNoise(b *testing.B) {
	_, f32 := reference(b, "noise")
	obs := [][]float32{f32("obs")}
	for _, n := range []int{1, 4, 8, 16} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			nz := newNoise(b, "noise", n, steer.NoiseConfig{})
			eps, dst := make([]float32, n*32), make([]float32, n*32)
			policy.NewSeededNoise(1).Normal(eps)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := nz.Sample(obs, n, eps, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
