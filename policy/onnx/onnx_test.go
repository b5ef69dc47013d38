package onnx_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/robotd/robotd/internal/npy"
	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/onnx"
)

// tol is the parity bound against PyTorch: the largest element error relative to the
// largest reference magnitude.
const tol = 1e-4

var testdata = filepath.Join("..", "testdata")

func open(t testing.TB, path string) *onnx.Model {
	t.Helper()
	m, err := onnx.Open(path, onnx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func readNPZ(t testing.TB, path string) []*npy.Array {
	t.Helper()
	a, err := npy.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func float32s(t testing.TB, arrays []*npy.Array, name string) []float32 {
	t.Helper()
	a := npy.Find(arrays, name)
	if a == nil {
		t.Fatalf("fixture has no array %q", name)
	}
	v, err := a.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// relErr is max|got-want| / max|want|.
func relErr(t testing.TB, got, want []float32) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d values, want %d", len(got), len(want))
	}
	var diff, scale float64
	for i := range want {
		diff = max(diff, math.Abs(float64(got[i])-float64(want[i])))
		scale = max(scale, math.Abs(float64(want[i])))
	}
	if math.IsNaN(diff) {
		return math.Inf(1)
	}
	return diff / max(scale, 1e-12)
}

func checkParity(t *testing.T, what string, got, want []float32) {
	t.Helper()
	e := relErr(t, got, want)
	t.Logf("%s: relative error %.2e", what, e)
	if e > tol {
		t.Errorf("%s: relative error %.2e > %g", what, e, tol)
	}
}

var fixtureModels = []struct{ bundle, model string }{
	{"unet", "encoder"}, {"unet", "denoiser"}, {"act", "policy"}, {"flow", "denoiser"},
	{"dynamic", "denoiser"},
}

// TestModelParity runs each fixture network on its recorded inputs, through RunOnce
// (dynamic shapes) and through a Binding (preallocated tensors, every axis after the batch
// axis bound to the recorded arrays' sizes), and compares with PyTorch.
func TestModelParity(t *testing.T) {
	for _, f := range fixtureModels {
		t.Run(f.bundle+"/"+f.model, func(t *testing.T) {
			dir := filepath.Join(testdata, f.bundle)
			m := open(t, filepath.Join(dir, f.model+".onnx"))
			in := readNPZ(t, filepath.Join(dir, f.model+"_inputs.npz"))
			want := readNPZ(t, filepath.Join(dir, f.model+"_outputs.npz"))
			got, err := m.RunOnce(in)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range want {
				g := npy.Find(got, w.Name)
				if g == nil {
					t.Fatalf("no output %q", w.Name)
				}
				gv, _ := g.Float32()
				checkParity(t, "RunOnce "+w.Name, gv, float32s(t, want, w.Name))
			}

			batch := in[0].Shape[0]
			dims := policy.Dims{}
			for _, a := range append(append([]*npy.Array(nil), in...), want...) {
				for _, d := range a.Shape[1:] {
					dims[a.Name] = append(dims[a.Name], int64(d))
				}
				if len(a.Shape) == 1 {
					dims[a.Name] = []int64{}
				}
			}
			b, err := m.Bind(batch, dims)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range in {
				switch d := a.Data.(type) {
				case []float32:
					copy(b.Float32(a.Name), d)
				case []int64:
					copy(b.Int64(a.Name), d)
				default:
					t.Fatalf("input %s is %s", a.Name, a.DType())
				}
			}
			if err := b.Run(); err != nil {
				t.Fatal(err)
			}
			for _, w := range want {
				checkParity(t, "Bind "+w.Name, b.Float32(w.Name), float32s(t, want, w.Name))
			}
		})
	}
}

func load(t testing.TB, bundle string, seed uint64) *policy.Policy {
	t.Helper()
	p, err := policy.Load(filepath.Join(testdata, bundle), onnx.Opener(onnx.Options{}), policy.Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// observe feeds a recorded raw observation history ([steps, *shape] per feature, or one
// step [*shape]) to the policy.
func observe(t testing.TB, p *policy.Policy, run []*npy.Array) {
	t.Helper()
	b := p.Bundle
	steps := 0
	vals := make([][]float32, len(b.Observations))
	for i, f := range b.Observations {
		vals[i] = float32s(t, run, f.Name)
		steps = len(vals[i]) / f.Size
	}
	for k := range steps {
		o := policy.Observation{Values: make([][]float32, len(vals))}
		for i, f := range b.Observations {
			o.Values[i] = vals[i][k*f.Size : (k+1)*f.Size]
		}
		if err := p.Observe(o); err != nil {
			t.Fatal(err)
		}
	}
}

// recordedNoise replays PyTorch's per-step noise: call k returns step k's draw.
type recordedNoise struct {
	steps [][]float32
	k     int
}

func (r *recordedNoise) Normal(dst []float32) {
	copy(dst, r.steps[r.k])
	r.k++
}

// TestSamplingParity runs complete policy steps (normalize, encoder, K denoiser calls,
// the sampler in Go, unnormalize) from PyTorch's noise and compares every result.
func TestSamplingParity(t *testing.T) {
	cases := []struct {
		name, bundle, run string
		samples           int
		sampler           string
	}{
		{"ddim", "unet", "ddim_run", 1, ""},
		{"ddim batch of 3", "unet", "ddim_batch_run", 3, ""},
		{"ddpm", "unet", "ddpm_run", 1, "ddpm"},
		{"flow euler", "flow", "euler_run", 1, ""},
		{"ddim inpainted prefix", "unet", "ddim_inpaint_run", 1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(testdata, c.bundle)
			if c.sampler != "" {
				dir = copyBundle(t, dir, "sampler: ddim", "sampler: "+c.sampler)
			}
			p, err := policy.Load(dir, onnx.Opener(onnx.Options{}), policy.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			run := readNPZ(t, filepath.Join(testdata, c.bundle, c.run+".npz"))
			observe(t, p, run)
			opt := policy.StepOptions{Samples: c.samples, Noise: float32s(t, run, "noise")}
			if a := npy.Find(run, "step_noise"); a != nil {
				all, _ := a.Float32()
				per := len(all) / a.Shape[0]
				rn := &recordedNoise{}
				for k := range a.Shape[0] {
					rn.steps = append(rn.steps, all[k*per:(k+1)*per])
				}
				opt.Rand = rn
			}
			if a := npy.Find(run, "prefix"); a != nil {
				// The fixture freezes normalized actions from the first executed one on.
				if st := npy.Find(run, "prefix_start"); st == nil || st.Data.([]int64)[0] != int64(p.Start()) {
					t.Fatalf("fixture prefix_start %v, policy executes from %d", st, p.Start())
				}
				norm := float32s(t, run, "prefix")
				dim := p.Bundle.ActionDim()
				opt.Prefix = make([]float32, len(norm))
				for i := 0; i < len(norm); i += dim {
					p.Bundle.Action.Norm.Unnormalize(opt.Prefix[i:i+dim], norm[i:i+dim])
				}
			}
			actions, err := p.Step(opt)
			if err != nil {
				t.Fatal(err)
			}
			if len(opt.Prefix) > 0 {
				checkParity(t, "frozen prefix", actions[:len(opt.Prefix)], opt.Prefix)
			}
			checkParity(t, "normalized sample", p.Raw(), float32s(t, run, "normalized_actions"))
			want := float32s(t, run, "actions")
			checkParity(t, "actions", actions, executed(p, want, c.samples))
			// Normalized: the same samples in Raw, no unnormalized actions.
			opt.Normalized = true
			if rn, ok := opt.Rand.(*recordedNoise); ok {
				rn.k = 0
			}
			if a, err := p.Step(opt); err != nil || a != nil {
				t.Fatalf("Normalized step: actions %v, err %v; want nil, nil", a, err)
			}
			checkParity(t, "normalized sample (Normalized)", p.Raw(), float32s(t, run, "normalized_actions"))
		})
	}
}

// executed keeps the actions from index Start() on of each [samples, horizon, A] sample.
func executed(p *policy.Policy, full []float32, samples int) []float32 {
	h, a, s := p.Bundle.Config.Horizon, p.Bundle.ActionDim(), p.Start()
	var out []float32
	for i := range samples {
		out = append(out, full[(i*h+s)*a:(i+1)*h*a]...)
	}
	return out
}

func TestChunkedParity(t *testing.T) {
	p := load(t, "act", 0)
	run := readNPZ(t, filepath.Join(testdata, "act", "act_run.npz"))
	observe(t, p, run)
	actions, err := p.Step(policy.StepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkParity(t, "normalized actions", p.Raw(), float32s(t, run, "normalized_actions"))
	checkParity(t, "actions", actions, float32s(t, run, "actions"))
	if _, err := p.Step(policy.StepOptions{Samples: 2}); err == nil || !strings.Contains(err.Error(), "deterministic") {
		t.Errorf("2 samples of a chunked policy: %v", err)
	}
}

// copyBundle copies a bundle directory with its policy.yaml edited (old, new pairs).
func copyBundle(t testing.TB, src string, replace ...string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "policy.yaml" {
			data = []byte(strings.NewReplacer(replace...).Replace(string(data)))
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestBadModels(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join(testdata, "unet", "denoiser.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.onnx")
	os.WriteFile(truncated, good[:len(good)/3], 0o644)
	text := filepath.Join(dir, "text.onnx")
	os.WriteFile(text, []byte("not a model\n"), 0o644)
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.onnx"), "no such file"},
		{truncated, "truncated.onnx is not a model ONNX Runtime can load"},
		{text, "text.onnx is not a model ONNX Runtime can load"},
		{dir, "is a directory"},
	} {
		_, err := onnx.Open(c.path, onnx.Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%s): error %v, want %q", filepath.Base(c.path), err, c.want)
		}
	}
	if _, err := onnx.Library(filepath.Join(dir, "libonnxruntime.so")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing library: %v", err)
	}
	t.Setenv(onnx.EnvLibrary, filepath.Join(dir, "nope.so"))
	if _, err := onnx.Library(""); err == nil || !strings.Contains(err.Error(), "$"+onnx.EnvLibrary) {
		t.Errorf("missing $%s library: %v", onnx.EnvLibrary, err)
	}
}

func TestRunOnceBadInputs(t *testing.T) {
	m := open(t, filepath.Join(testdata, "unet", "denoiser.onnx"))
	in := readNPZ(t, filepath.Join(testdata, "unet", "denoiser_inputs.npz"))
	sample, timestep, cond := npy.Find(in, "sample"), npy.Find(in, "timestep"), npy.Find(in, "global_cond")
	ts32, _ := timestep.Float32()
	s, _ := sample.Float32()
	cases := []struct {
		name   string
		inputs []*npy.Array
		want   string
	}{
		{"misspelt", []*npy.Array{{Name: "samples", Shape: sample.Shape, Data: sample.Data}, timestep, cond}, `has no input "samples" (its inputs: sample, timestep, global_cond)`},
		{"missing", []*npy.Array{sample, cond}, `input "timestep" of`},
		{"wrong dtype", []*npy.Array{sample, {Name: "timestep", Shape: timestep.Shape, Data: ts32}, cond}, `input "timestep" is float32,`},
		{"wrong shape", []*npy.Array{{Name: "sample", Shape: []int{2, 14, 7}, Data: s[:2*14*7]}, timestep, cond}, "dimension 1 is 14, the model wants 16"},
		{"wrong rank", []*npy.Array{{Name: "sample", Shape: []int{224}, Data: s}, timestep, cond}, "1 dimensions, the model wants 3"},
	}
	for _, c := range cases {
		_, err := m.RunOnce(c.inputs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v\nwant it to contain %q", c.name, err, c.want)
		}
	}
}

func TestBundleModelMismatch(t *testing.T) {
	cases := []struct {
		name, bundle string
		replace      []string
		want         string
	}{
		{"state size", "act", []string{"observation.state:      {shape: [14], normalization: mean_std}", "observation.state: {shape: [13], normalization: identity}"}, "observation.state float32[?,14]: 14 values per batch entry, the bundle says 1 step(s) of [13] (13 values)"},
		{"extra feature", "flow", []string{"  action:", "  observation.env: {shape: [2], normalization: identity}\n  action:"}, "global_cond float32[?,12]: 12 values per batch entry, the bundle says the conditioning vector (16 values)"},
		{"horizon", "unet", []string{"horizon: 16", "horizon: 12"}, "the bundle says horizon 12 x action 7 (84 values)"},
		{"encoder as denoiser", "unet", []string{"denoiser: denoiser.onnx", "denoiser: encoder.onnx"}, "the denoiser takes sample, timestep and global_cond"},
		{"n_obs_steps", "flow", []string{"n_obs_steps: 2", "n_obs_steps: 3"}, "global_cond float32[?,12]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyBundle(t, filepath.Join(testdata, c.bundle), c.replace...)
			_, err := policy.Load(dir, onnx.Opener(onnx.Options{}), policy.Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}

func TestStepBadInputs(t *testing.T) {
	p := load(t, "unet", 1)
	if _, err := p.Step(policy.StepOptions{}); err == nil || !strings.Contains(err.Error(), "before any observation") {
		t.Errorf("step without observation: %v", err)
	}
	run := readNPZ(t, filepath.Join(testdata, "unet", "ddim_run.npz"))
	state := float32s(t, run, "observation.state")[:7]
	img := float32s(t, run, "observation.images.wrist")[:3*48*48]
	if err := p.Observe(policy.Observation{Values: [][]float32{img, state[:6]}}); err == nil || !strings.Contains(err.Error(), "observation.state has 6 values, want 7") {
		t.Errorf("short state: %v", err)
	}
	bad := append([]float32(nil), state...)
	bad[3] = float32(math.NaN())
	if err := p.Observe(policy.Observation{Values: [][]float32{img, bad}}); err == nil || !strings.Contains(err.Error(), "observation.state[3] is NaN") {
		t.Errorf("NaN state: %v", err)
	}
	if err := p.Observe(policy.Observation{Values: [][]float32{img}}); err == nil || !strings.Contains(err.Error(), "observation has 1 features, the bundle has 2") {
		t.Errorf("missing feature: %v", err)
	}
	if err := p.Observe(policy.Observation{Values: [][]float32{img, state}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Step(policy.StepOptions{Noise: make([]float32, 10)}); err == nil || !strings.Contains(err.Error(), "noise has 10 values, want samples 1 x horizon 16 x action 7 = 112") {
		t.Errorf("short noise: %v", err)
	}
	if _, err := p.Step(policy.StepOptions{Prefix: make([]float32, 10)}); err == nil || !strings.Contains(err.Error(), "not a whole number of 7-value actions") {
		t.Errorf("ragged prefix: %v", err)
	}
	if _, err := p.Step(policy.StepOptions{Prefix: make([]float32, 16*7)}); err == nil || !strings.Contains(err.Error(), "prefix of 16 actions is longer than the 15") {
		t.Errorf("long prefix: %v", err)
	}
	// Seeded steps repeat; different seeds differ.
	a1, _ := p.Step(policy.StepOptions{Rand: policy.NewSeededNoise(7)})
	a1 = append([]float32(nil), a1...)
	a2, _ := p.Step(policy.StepOptions{Rand: policy.NewSeededNoise(7)})
	if relErr(t, a2, a1) != 0 {
		t.Error("same seed, different actions")
	}
	a3, _ := p.Step(policy.StepOptions{Rand: policy.NewSeededNoise(8)})
	if relErr(t, a3, a1) < 1e-3 {
		t.Error("different seeds, same actions")
	}
}

// TestStepAllocs: after the first step with a batch size, a step allocates nothing.
func TestStepAllocs(t *testing.T) {
	for _, name := range []string{"unet", "act", "flow"} {
		p := load(t, name, 3)
		run := readNPZ(t, filepath.Join(testdata, name, map[string]string{"unet": "ddim_run", "act": "act_run", "flow": "euler_run"}[name]+".npz"))
		observe(t, p, run)
		step := func() {
			if _, err := p.Step(policy.StepOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		step()
		if n := testing.AllocsPerRun(5, step); n != 0 {
			t.Errorf("%s: %v allocations per step, want 0", name, n)
		}
	}
}

// Library finds .cache/onnxruntime from a search directory's parents whatever the
// working directory, and from the working directory's parents; when nothing has it the
// error names every place looked and the setup command.
func TestLibrarySearch(t *testing.T) {
	t.Setenv(onnx.EnvLibrary, "")
	repo := t.TempDir()
	lib := filepath.Join(repo, ".cache", "onnxruntime", "libonnxruntime.so")
	nested := filepath.Join(repo, "deploy", "launch")
	for _, d := range []string{filepath.Dir(lib), nested} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(lib, nil, 0o644); err != nil { // Library only looks, it does not load
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	if got, err := onnx.Library("", nested); err != nil || got != lib {
		t.Errorf("Library(\"\", %s) = %q, %v; want %s", nested, got, err, lib)
	}
	t.Chdir(nested)
	if got, err := onnx.Library(""); err != nil || got != lib {
		t.Errorf("Library(\"\") from %s = %q, %v; want %s", nested, got, err, lib)
	}
	t.Chdir(elsewhere)
	search := filepath.Join(elsewhere, "launch")
	_, err := onnx.Library("", search)
	if err == nil {
		t.Fatal("Library found a runtime where there is none")
	}
	exe, _ := os.Executable()
	for _, want := range []string{search, elsewhere, filepath.Dir(exe), "scripts/setup.sh", "$" + onnx.EnvLibrary, "policy.library"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not name %s", err, want)
		}
	}
}
