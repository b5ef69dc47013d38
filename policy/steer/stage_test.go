package steer_test

import (
	"math"
	"math/rand/v2"
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

// The stage's fixtures (testdata/gen_unet_bundles.py) fit the policy fixture
// policy/testdata/unet: diffusion, ddim eta 0, horizon 16, n_obs_steps 2, state and
// action of 7 values, a 48x48 wrist image.
var (
	unetBundle = filepath.Join("..", "testdata", "unet")
	unetSteer  = filepath.Join("testdata", "unet")
)

func loadUnet(t testing.TB, seed uint64) *policy.Policy {
	t.Helper()
	p, err := policy.Load(unetBundle, onnx.Opener(onnx.Options{}), policy.Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func newStage(t testing.TB, cfg steer.Config, p *policy.Policy) *steer.Stage {
	t.Helper()
	st, err := steer.NewStage(cfg, p, steer.StageOptions{Open: onnx.Opener(onnx.Options{}), Seed: 3,
		Now: func() time.Duration { return time.Duration(time.Now().UnixNano()) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// unetObservations returns k observations of the unet fixture at 100 ms spacing,
// random but seeded.
func unetObservations(p *policy.Policy, k int, seed uint64) []policy.Observation {
	r := rand.New(rand.NewPCG(seed, 1))
	obs := make([]policy.Observation, k)
	for i := range obs {
		obs[i].Time = time.Duration(i) * 100 * time.Millisecond
		for _, f := range p.Bundle.Observations {
			v := make([]float32, f.Size)
			for j := range v {
				if f.IsImage() {
					v[j] = r.Float32()
				} else {
					v[j] = float32(r.NormFloat64() * 0.3)
				}
			}
			obs[i].Values = append(obs[i].Values, v)
		}
	}
	return obs
}

// stepStage feeds the observations and runs one step.
func stepStage(t testing.TB, st *steer.Stage, obs []policy.Observation, in steer.StepInput) (chunk.Chunk, steer.StepInfo) {
	t.Helper()
	for _, o := range obs {
		if err := st.Observe(o); err != nil {
			t.Fatal(err)
		}
	}
	var c chunk.Chunk
	info, err := st.Step(in, &c)
	if err != nil {
		t.Fatal(err)
	}
	return c, info
}

// policyReference runs the unet fixture alone (seed 11) on unetObservations(p, 3, 5): with
// a prefix of k actions, one step first, whose first k actions the reference step is
// inpainted onto. It returns the observations, the prefix and the reference chunk.
func policyReference(t *testing.T, prefix int) ([]policy.Observation, []float32, chunk.Chunk) {
	t.Helper()
	p := loadUnet(t, 11)
	obs := unetObservations(p, 3, 5)
	for _, o := range obs {
		if err := p.Observe(o); err != nil {
			t.Fatal(err)
		}
	}
	var pre []float32
	if prefix > 0 {
		base, err := p.Step(policy.StepOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pre = append([]float32(nil), base[:prefix*p.Bundle.ActionDim()]...)
	}
	actions, err := p.Step(policy.StepOptions{Prefix: pre})
	if err != nil {
		t.Fatal(err)
	}
	var want chunk.Chunk
	p.ToChunk(&want, actions, 0, p.ObservedAt())
	return obs, pre, want
}

// stepAsReference steps st (a stage of the unet fixture with seed 11) as policyReference
// stepped the policy: with a prefix, one step first (the same noise draws), then the step
// inpainted onto pre.
func stepAsReference(t *testing.T, st *steer.Stage, obs []policy.Observation, pre []float32) (chunk.Chunk, steer.StepInfo) {
	t.Helper()
	if len(pre) == 0 {
		return stepStage(t, st, obs, steer.StepInput{})
	}
	stepStage(t, st, obs, steer.StepInput{})
	return stepStage(t, st, nil, steer.StepInput{Prefix: pre})
}

// TestStageOneSampleIsThePolicy: without scorers or models, the stage's chunk is the
// policy's own step, bit for bit (same seed, same observations), with and without a
// prefix; a zero residual (rate chunk) changes nothing either, and neither does a
// residual returning NaN, which is applied as 0.
func TestStageOneSampleIsThePolicy(t *testing.T) {
	for _, prefix := range []int{0, 2} {
		obs, pre, want := policyReference(t, prefix)
		dim := want.Dim

		for _, res := range []string{"", "residual_zero", "residual_nan"} {
			q := loadUnet(t, 11)
			cfg := steer.Config{}
			if res != "" {
				cfg.Residual = steer.ResidualConfig{Bundle: filepath.Join(unetSteer, res)}
			}
			st := newStage(t, cfg, q)
			got, info := stepAsReference(t, st, obs, pre)
			if got.T0 != want.T0 || got.Dt != want.Dt || got.Dim != want.Dim || len(got.Actions) != len(want.Actions) {
				t.Fatalf("prefix %d, %q: chunk %v/%v/%d/%d, want %v/%v/%d/%d", prefix, res, got.T0, got.Dt, got.Dim, len(got.Actions), want.T0, want.Dt, want.Dim, len(want.Actions))
			}
			for i := range want.Actions {
				if got.Actions[i] != want.Actions[i] {
					t.Fatalf("prefix %d, %q: action value %d is %v, the policy's %v", prefix, res, i, got.Actions[i], want.Actions[i])
				}
			}
			if info.N != 1 || info.Chosen != 0 || info.Valid != 1 {
				t.Errorf("info %+v", info)
			}
			rows := len(want.Actions)/dim - prefix
			if res != "" && info.ResidualStep.Rows != rows {
				t.Errorf("%q: residual corrected %d rows, want %d (the prefix is left alone)", res, info.ResidualStep.Rows, rows)
			}
			if res == "residual_nan" && info.ResidualStep.NonFinite != rows*dim {
				t.Errorf("NaN residual: %d non-finite values counted, want %d", info.ResidualStep.NonFinite, rows*dim)
			}
		}
	}
}

// TestStageResidualBounded: a residual returning +-1e30 moves no normalized action value
// by more than the bound, and the bound is hit; rate action's Correct obeys the same
// bound, and a zero residual's correction is exactly 0.
func TestStageResidualBounded(t *testing.T) {
	const bound = 0.05
	p := loadUnet(t, 2)
	obs := unetObservations(p, 2, 9)
	base := newStage(t, steer.Config{}, p)
	want, _ := stepStage(t, base, obs, steer.StepInput{})

	q := loadUnet(t, 2)
	st := newStage(t, steer.Config{Residual: steer.ResidualConfig{Bundle: filepath.Join(unetSteer, "residual_huge"), Bound: bound}}, q)
	got, info := stepStage(t, st, obs, steer.StepInput{})
	norm := &p.Bundle.Action.Norm
	dim := p.Bundle.ActionDim()
	a, b := make([]float32, dim), make([]float32, dim)
	moved := 0
	for k := 0; k < len(want.Actions); k += dim {
		w32, g32 := make([]float32, dim), make([]float32, dim)
		for j := range dim {
			w32[j], g32[j] = float32(want.Actions[k+j]), float32(got.Actions[k+j])
		}
		norm.Normalize(a, w32)
		norm.Normalize(b, g32)
		for j := range dim {
			d := math.Abs(float64(b[j] - a[j]))
			if d > bound*(1+1e-4)+1e-6 {
				t.Fatalf("value %d of action %d moved %.6g in normalized units, bound %v", j, k/dim, d, bound)
			}
			if d > bound/2 {
				moved++
			}
		}
	}
	if moved == 0 || info.ResidualStep.Clipped == 0 {
		t.Errorf("the huge residual moved %d values by more than half the bound, %d clipped: the bound was not exercised", moved, info.ResidualStep.Clipped)
	}

	for _, tc := range []struct {
		name string
		zero bool
	}{{"residual_zero", true}, {"residual_huge", false}} {
		r := loadUnet(t, 2)
		cs := newStage(t, steer.Config{Residual: steer.ResidualConfig{Bundle: filepath.Join(unetSteer, tc.name), Bound: bound, Rate: steer.RateAction}}, r)
		if !cs.RatePerAction() {
			t.Fatal("rate action not reported")
		}
		for _, o := range obs {
			if err := cs.Observe(o); err != nil {
				t.Fatal(err)
			}
		}
		offset := make([]float64, dim)
		act := want.Actions[:dim]
		if _, err := cs.Correct(act, offset); err != nil {
			t.Fatal(err)
		}
		for j, v := range offset {
			if tc.zero && v != 0 {
				t.Fatalf("zero residual: offset %v", offset)
			}
			w32 := make([]float32, dim)
			c32 := make([]float32, dim)
			for i := range dim {
				w32[i], c32[i] = float32(act[i]), float32(act[i]+offset[i])
			}
			norm.Normalize(a, w32)
			norm.Normalize(b, c32)
			if d := math.Abs(float64(b[j] - a[j])); d > bound*(1+1e-4)+1e-6 {
				t.Fatalf("%s: Correct moved value %d by %.6g normalized, bound %v", tc.name, j, d, bound)
			}
		}
	}
}

// TestStageSteers: with N candidates, the value scorer and coherence, the chosen chunk
// is the candidate with the best combined score, the timings are filled, and a plan
// equal to one candidate makes coherence pick it.
func TestStageSteers(t *testing.T) {
	p := loadUnet(t, 4)
	obs := unetObservations(p, 2, 21)
	st := newStage(t, steer.Config{Samples: 6, Coherence: steer.CoherenceConfig{Weight: 1}}, p)
	_, info := stepStage(t, st, obs, steer.StepInput{})
	if info.N != 6 || info.Valid != 6 || info.Infer <= 0 || info.Total < info.Infer {
		t.Fatalf("info %+v", info)
	}
	// The next step, planned along candidate 4 of a fresh draw: coherence picks the
	// candidate nearest that plan, and a plan equal to a candidate scores 0 for it.
	st2 := newStage(t, steer.Config{Samples: 6, Coherence: steer.CoherenceConfig{Weight: 1}}, loadUnet(t, 4))
	stepStage(t, st2, obs, steer.StepInput{})
	q := loadUnet(t, 4)
	probe := newStage(t, steer.Config{Samples: 6}, q)
	stepStage(t, probe, obs, steer.StepInput{})
	_, _ = stepStage(t, probe, nil, steer.StepInput{}) // the second draw, as st2's next step
	cands := probe.Candidates()
	sh := cands.Shape()
	plan := chunk.Chunk{T0: cands.T0, Dt: cands.Dt, Dim: sh.Dim}
	for h := sh.Start; h < sh.Horizon; h++ {
		for _, v := range cands.At(4, h) {
			plan.Actions = append(plan.Actions, float64(v))
		}
	}
	var got chunk.Chunk
	info, err := st2.Step(steer.StepInput{Plan: &plan}, &got)
	if err != nil {
		t.Fatal(err)
	}
	if info.Chosen != 4 {
		t.Errorf("coherence with candidate 4's plan chose %d (scores %v)", info.Chosen, st2.Steer().Total())
	}
	if s := st2.Steer().Scores(steer.ScoreCoherence)[4]; s != 0 {
		t.Errorf("candidate 4's coherence with its own plan is %v, want 0", s)
	}

	vs := newStage(t, steer.Config{Samples: 5, Value: steer.ValueConfig{Weight: 1, Bundle: filepath.Join(unetSteer, "value")}}, loadUnet(t, 8))
	_, vinfo := stepStage(t, vs, obs, steer.StepInput{})
	total := vs.Steer().Total()
	for i, v := range total {
		if v > total[vinfo.Chosen] {
			t.Errorf("value: chose %d (%v), candidate %d scores %v", vinfo.Chosen, total[vinfo.Chosen], i, v)
		}
	}
	if vinfo.Value <= 0 || vinfo.Spread <= 0 {
		t.Errorf("value step info %+v", vinfo)
	}
}

// TestStageNoAllocs: a steered step with every part (N 4, coherence with a plan,
// contrast against a weak policy, past, value, the noise policy, the residual) allocates
// nothing after the first.
func TestStageNoAllocs(t *testing.T) {
	p := loadUnet(t, 1)
	cfg := steer.Config{Samples: 4,
		Coherence: steer.CoherenceConfig{Weight: 1},
		Contrast:  steer.ContrastConfig{Weight: 1, Bundle: unetBundle, Samples: 3},
		Past:      steer.PastConfig{Weight: 1},
		Value:     steer.ValueConfig{Weight: 1, Bundle: filepath.Join(unetSteer, "value")},
		Noise:     steer.NoiseConfig{Bundle: filepath.Join(unetSteer, "noise")},
		Residual:  steer.ResidualConfig{Bundle: filepath.Join(unetSteer, "residual")},
		Select:    steer.SelectConfig{Mode: steer.Softmax, Temperature: 0.1},
	}
	st := newStage(t, cfg, p)
	obs := unetObservations(p, 2, 3)
	var c chunk.Chunk
	_, info := stepStage(t, st, obs, steer.StepInput{})
	if info.Weak <= 0 || info.Noise <= 0 || info.Value <= 0 || info.Residual <= 0 {
		t.Fatalf("a part did not run: %+v", info)
	}
	plan := chunk.Chunk{Dt: p.Dt(), Dim: p.Bundle.ActionDim(), Actions: make([]float64, 8*p.Bundle.ActionDim())}
	exec := make([]float64, p.Bundle.ActionDim())
	step := 0
	run := func() {
		step++
		o := obs[step%2]
		o.Time = time.Duration(step) * 100 * time.Millisecond
		st.Executed(o.Time-50*time.Millisecond, exec)
		if err := st.Observe(o); err != nil {
			t.Fatal(err)
		}
		plan.T0 = o.Time
		if _, err := st.Step(steer.StepInput{Plan: &plan}, &c); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if n := testing.AllocsPerRun(20, run); n != 0 {
		t.Errorf("a steered step allocates %v times", n)
	}
}

// TestStageRefusesMisfits: what does not fit the policy is refused by NewStage, naming
// the key and the mismatch.
func TestStageRefusesMisfits(t *testing.T) {
	ddpm := t.TempDir()
	copyDir(t, unetBundle, ddpm)
	cfgPath := filepath.Join(ddpm, "policy.yaml")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(data), "sampler: ddim", "sampler: ddpm", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	act, err := policy.Load(filepath.Join("..", "testdata", "act"), onnx.Opener(onnx.Options{}), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer act.Close()
	ddpmPol, err := policy.Load(ddpm, onnx.Opener(onnx.Options{}), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ddpmPol.Close()
	for _, tc := range []struct {
		name string
		cfg  steer.Config
		pol  *policy.Policy
		want []string
	}{
		{"value for another policy", steer.Config{Value: steer.ValueConfig{Weight: 1, Bundle: filepath.Join("testdata", "value")}}, nil, []string{"value.bundle", "horizon"}},
		{"weak policy of another horizon", steer.Config{Contrast: steer.ContrastConfig{Weight: 1, Bundle: flowBundle}}, nil, []string{"contrast.bundle", "horizon 8"}},
		{"noise with ddpm", steer.Config{Noise: steer.NoiseConfig{Bundle: filepath.Join(unetSteer, "noise")}}, ddpmPol, []string{"noise", "ddpm"}},
		{"samples with a chunked policy", steer.Config{Samples: 4}, act, []string{"samples 4", "chunked"}},
		{"guidance without a mask", steer.Config{Guidance: steer.GuidanceConfig{Weight: 2}}, nil, []string{"guidance.weight", "cond_mask"}},
		{"residual for another policy", steer.Config{Residual: steer.ResidualConfig{Bundle: filepath.Join("testdata", "residual")}}, nil, []string{"residual.bundle"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := tc.pol
			if pol == nil {
				pol = loadUnet(t, 0)
			}
			st, err := steer.NewStage(tc.cfg, pol, steer.StageOptions{Open: onnx.Opener(onnx.Options{})})
			if err == nil {
				st.Close()
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStageGuidance: guidance.weight sets the policy's classifier-free guidance: the
// stage's chunk is the guided policy's own, and differs from the unguided one.
func TestStageGuidance(t *testing.T) {
	guided := filepath.Join("..", "testdata", "guided")
	load := func() *policy.Policy {
		p, err := policy.Load(guided, onnx.Opener(onnx.Options{}), policy.Options{Seed: 6})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	ref := load()
	if err := ref.SetGuidance(3); err != nil {
		t.Fatal(err)
	}
	obs := unetObservations(ref, 2, 4)
	for _, o := range obs {
		if err := ref.Observe(o); err != nil {
			t.Fatal(err)
		}
	}
	actions, err := ref.Step(policy.StepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want chunk.Chunk
	ref.ToChunk(&want, actions, 0, ref.ObservedAt())
	got, _ := stepStage(t, newStage(t, steer.Config{Guidance: steer.GuidanceConfig{Weight: 3}}, load()), obs, steer.StepInput{})
	plain, _ := stepStage(t, newStage(t, steer.Config{}, load()), obs, steer.StepInput{})
	same := true
	for i := range want.Actions {
		if got.Actions[i] != want.Actions[i] {
			t.Fatalf("action value %d: stage %v, guided policy %v", i, got.Actions[i], want.Actions[i])
		}
		same = same && plain.Actions[i] == want.Actions[i]
	}
	if same {
		t.Error("guidance weight 3 gave the unguided chunk")
	}
}

// TestValueWithImage: a value bundle may read image features (the policy's preprocessed
// tensor, normalized per channel): the fixture's CNN critic over the wrist image, the
// state and the executed window matches torch to 1e-5; the candidate with a NaN is not
// scored.
func TestValueWithImage(t *testing.T) {
	dir := filepath.Join(unetSteer, "value_image")
	b, err := steer.LoadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := policy.LoadBundle(unetBundle)
	if err != nil {
		t.Fatal(err)
	}
	v, err := steer.NewValue(b, pb, onnx.Opener(onnx.Options{}), 8)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ref, err := npy.ReadNPZ(filepath.Join(dir, "reference.npz"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) []float32 {
		a := npy.Find(ref, name)
		if a == nil {
			t.Fatalf("reference.npz has no %s", name)
		}
		x, err := a.Float32()
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	cands := steer.NewCandidates(steer.Shape{MaxN: 8, Horizon: 16, Start: 1, Dim: 7}, chunk.Bounds{})
	cands.View(get("candidates"), 5, 0, 100*time.Millisecond)
	if cands.Valid(3) || cands.NumValid() != 4 {
		t.Fatalf("validity: %d valid, candidate 3 valid %v", cands.NumValid(), cands.Valid(3))
	}
	// The bundle's observations are sorted by name: the image, then the state.
	obs := [][]float32{get("image"), get("state")}
	if b.Observations[0].Name != "observation.images.wrist" {
		t.Fatalf("observations %v", b.Observations)
	}
	got := make([]float64, 5)
	if err := v.Score(got, cands, obs); err != nil {
		t.Fatal(err)
	}
	for i, w := range get("values") {
		if math.Abs(got[i]-float64(w)) > 1e-5 {
			t.Errorf("candidate %d: value %v, torch %v", i, got[i], w)
		}
	}
}

// TestStageReseed: after Reseed(k) a step draws what a fresh stage reseeded with k draws,
// whatever was drawn before (the weak policy, noise policy and softmax included).
func TestStageReseed(t *testing.T) {
	cfg := steer.Config{Samples: 3,
		Contrast: steer.ContrastConfig{Weight: 1, Bundle: unetBundle},
		Noise:    steer.NoiseConfig{Bundle: filepath.Join(unetSteer, "noise")},
		Select:   steer.SelectConfig{Mode: steer.Softmax, Temperature: 0.05},
	}
	obs := unetObservations(loadUnet(t, 0), 2, 12)
	used := newStage(t, cfg, loadUnet(t, 5))
	for range 3 {
		stepStage(t, used, obs, steer.StepInput{})
	}
	used.Reset()
	used.Reseed(9)
	a, ai := stepStage(t, used, obs, steer.StepInput{})
	fresh := newStage(t, cfg, loadUnet(t, 5))
	fresh.Reseed(9)
	b, bi := stepStage(t, fresh, obs, steer.StepInput{})
	if ai.Chosen != bi.Chosen {
		t.Fatalf("chosen %d after earlier steps, %d fresh", ai.Chosen, bi.Chosen)
	}
	for i := range a.Actions {
		if a.Actions[i] != b.Actions[i] {
			t.Fatalf("action value %d: %v after earlier steps, %v fresh", i, a.Actions[i], b.Actions[i])
		}
	}
	other := newStage(t, cfg, loadUnet(t, 5))
	other.Reseed(10)
	c, _ := stepStage(t, other, obs, steer.StepInput{})
	if c.Actions[0] == a.Actions[0] && c.Actions[len(c.Actions)-1] == a.Actions[len(a.Actions)-1] {
		t.Error("episodes 9 and 10 drew the same chunk")
	}
}
