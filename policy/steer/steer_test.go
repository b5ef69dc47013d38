package steer

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/chunk"
)

const ms = time.Millisecond

// randomCandidates fills n candidates of h x a values around 0 with spread sd.
func randomCandidates(r *rand.Rand, n, h, a int, sd float64) []float32 {
	v := make([]float32, n*h*a)
	for i := range v {
		v[i] = float32(sd * r.NormFloat64())
	}
	return v
}

// TestInvalidNeverChosen: a candidate equal to the running plan has the best coherence
// of all; made invalid (a NaN in its predicted past, or one value above its bound in the
// executed window) it is never chosen, neither by argmax nor by 2000 softmax draws at a
// temperature that makes the others nearly equally likely. The same candidates without
// the spoiled value show that it would have won.
func TestInvalidNeverChosen(t *testing.T) {
	const n, h, a, start = 6, 8, 3, 1
	r := rand.New(rand.NewPCG(1, 2))
	plan := &chunk.Chunk{T0: time.Second, Dt: 100 * ms, Dim: a, Actions: make([]float64, (h-start)*a)}
	for i := range plan.Actions {
		plan.Actions[i] = r.NormFloat64() * 0.1
	}
	const best = 4
	for _, spoil := range []struct {
		name  string
		h, d  int
		value float32
	}{
		{"nan in the past", 0, 1, float32(math.NaN())},
		{"inf in the window", 5, 2, float32(math.Inf(1))},
		{"above the bound", 3, 0, 1.5},
	} {
		t.Run(spoil.name, func(t *testing.T) {
			vals := randomCandidates(r, n, h, a, 0.3)
			for k := 0; k < h-start; k++ {
				for d := 0; d < a; d++ {
					vals[(best*h+start+k)*a+d] = float32(plan.Actions[k*a+d])
				}
			}
			bounds := chunk.Bounds{Upper: []float64{1, 1, 1}}
			c := NewCandidates(Shape{MaxN: n, Horizon: h, Start: start, Dim: a}, bounds)
			for _, mode := range []string{Argmax, Softmax} {
				s, err := New(Config{Coherence: CoherenceConfig{Weight: 1},
					Select: SelectConfig{Mode: mode, Temperature: 100, Seed: 3}}, n)
				if err != nil {
					t.Fatal(err)
				}
				c.View(vals, n, plan.T0, plan.Dt)
				if i, _ := s.Step(c, Inputs{Plan: plan}); mode == Argmax && i != best {
					t.Fatalf("unspoiled: argmax chose %d, want %d (the plan's continuation)", i, best)
				}
				spoiled := append([]float32(nil), vals...)
				spoiled[(best*h+spoil.h)*a+spoil.d] = spoil.value
				c.View(spoiled, n, plan.T0, plan.Dt)
				if c.Valid(best) || c.NumValid() != n-1 {
					t.Fatalf("candidate %d valid %v, %d valid; want it refused and %d valid", best, c.Valid(best), c.NumValid(), n-1)
				}
				var ce *chunk.Error
				if !errors.As(c.Err(best), &ce) {
					t.Fatalf("Err(%d) = %v, want a *chunk.Error", best, c.Err(best))
				}
				if s.Coherence.Score(s.scores[0], c, plan); s.scores[0][best] != 0 {
					t.Fatalf("invalid candidate scored %v, want 0", s.scores[0][best])
				}
				seen := map[int]int{}
				for range 2000 {
					i, err := s.Step(c, Inputs{Plan: plan})
					if err != nil || i == best {
						t.Fatalf("%s chose %d (%v): the invalid candidate", mode, i, err)
					}
					seen[i]++
				}
				if mode == Softmax && len(seen) != n-1 {
					t.Fatalf("softmax at T=100 chose only %v of the %d valid candidates", seen, n-1)
				}
			}
		})
	}
}

// TestNoValidCandidate: every candidate refused is ErrNoCandidate, index -1.
func TestNoValidCandidate(t *testing.T) {
	c := NewCandidates(Shape{MaxN: 2, Horizon: 2, Start: 0, Dim: 1}, chunk.Bounds{Upper: []float64{1}})
	c.View([]float32{2, 0, 0, float32(math.NaN())}, 2, 0, ms)
	s, _ := New(Config{}, 2)
	if i, err := s.Step(c, Inputs{}); i != -1 || !errors.Is(err, ErrNoCandidate) {
		t.Fatalf("Step = %d, %v; want -1, ErrNoCandidate", i, err)
	}
}

// TestCoherencePrefersRunningPlan drives a real async executor: a chunk pushed at t0 runs,
// two actions later the executor's Plan is the running plan, and of the next step's
// candidates the one continuing that chunk scores 0 (the best possible) and is chosen;
// the ranking of the others follows their distance to it.
func TestCoherencePrefersRunningPlan(t *testing.T) {
	const h, a, start, n = 10, 2, 1, 7
	dt := 100 * ms
	ex, err := chunk.New(chunk.Config{Strategy: chunk.Async, Horizon: h - start, Dim: a, Dt: dt, NActionSteps: 2})
	if err != nil {
		t.Fatal(err)
	}
	// A straight line: action k of the first chunk is (k, -k)/10, due at t0 + k*dt.
	first := &chunk.Chunk{T0: 0, Dt: dt, Dim: a}
	for k := 0; k < h-start; k++ {
		first.Actions = append(first.Actions, float64(k)/10, -float64(k)/10)
	}
	if err := ex.Push(10*ms, first); err != nil {
		t.Fatal(err)
	}
	t1 := 2 * dt
	plan := &chunk.Chunk{T0: t1, Dt: dt, Dim: a, Actions: make([]float64, (h-start)*a)}
	plan.Actions = plan.Actions[:ex.Plan(t1, h-start, plan.Actions)*a]
	if len(plan.Actions) != (h-start-2)*a {
		t.Fatalf("plan of %d actions, want %d", len(plan.Actions)/a, h-start-2)
	}

	// Candidate i continues the line with an offset of i*0.05 (candidate 3: none).
	vals := make([]float32, n*h*a)
	for i := range n {
		for k := range h {
			x := float64(k-start+2) / 10 // the line's value at this candidate action's due time
			off := float64(i-3) * 0.05
			vals[(i*h+k)*a], vals[(i*h+k)*a+1] = float32(x+off), float32(-x+off)
		}
	}
	c := NewCandidates(Shape{MaxN: n, Horizon: h, Start: start, Dim: a}, chunk.Bounds{})
	c.View(vals, n, t1, dt)
	s, err := New(Config{Coherence: CoherenceConfig{Weight: 1, Beta: 0.8}}, n)
	if err != nil {
		t.Fatal(err)
	}
	i, err := s.Step(c, Inputs{Plan: plan})
	if err != nil || i != 3 {
		t.Fatalf("chose %d (%v), want 3, the running plan's continuation", i, err)
	}
	sc := s.Scores(ScoreCoherence)
	if math.Abs(sc[3]) > 1e-6 {
		t.Errorf("continuation scored %v, want 0", sc[3])
	}
	// A constant offset d in both dimensions is a distance d*sqrt(2) at every step.
	for i, v := range sc {
		want := -math.Abs(float64(i-3)) * 0.05 * math.Sqrt2
		if math.Abs(v-want) > 1e-6 {
			t.Errorf("candidate %d scored %v, want %v", i, v, want)
		}
	}
	// No plan (the first step): every candidate scores 0 and argmax takes the first.
	if i, _ := s.Step(c, Inputs{}); i != 0 {
		t.Errorf("without a plan chose %d, want 0", i)
	}
}

// TestContrastPrefersStrongCluster: five candidates around mode A, three around mode B,
// and the weak policy's samples around B. Contrast ranks every A candidate above every B
// candidate; with the weak samples moved to A the ranking flips, which shows the negative
// term at work, and without weak samples the larger cluster wins once K exceeds the
// smaller one.
func TestContrastPrefersStrongCluster(t *testing.T) {
	const h, a = 6, 2
	r := rand.New(rand.NewPCG(7, 7))
	around := func(n int, x float64, sd float64) []float32 {
		v := randomCandidates(r, n, h, a, sd)
		for i := range v {
			v[i] += float32(x)
		}
		return v
	}
	vals := append(around(5, 0, 0.05), around(3, 1, 0.05)...)
	c := NewCandidates(Shape{MaxN: 8, Horizon: h, Start: 0, Dim: a}, chunk.Bounds{})
	c.View(vals, 8, 0, 100*ms)
	weak := NewCandidates(Shape{MaxN: 8, Horizon: h, Dim: a}, chunk.Bounds{})
	s := &Contrast{}
	dst := make([]float64, 8)
	check := func(name string, w *Candidates, aWins bool) {
		t.Helper()
		s.Score(dst, c, w)
		for i := 0; i < 5; i++ {
			for j := 5; j < 8; j++ {
				if (dst[i] > dst[j]) != aWins {
					t.Errorf("%s: A candidate %d scored %.3f, B candidate %d %.3f; want A higher %v", name, i, dst[i], j, dst[j], aWins)
				}
			}
		}
	}
	weak.View(around(6, 1, 0.1), 6, 0, 100*ms)
	check("weak near B", weak, true)
	weak.View(around(6, 0, 0.1), 6, 0, 100*ms)
	check("weak near A", weak, false)
	// Alone, the positive term favours the larger cluster once K reaches past the smaller
	// one (B has 2 other members; with K = 3 a B candidate's third neighbour is in A).
	s.K = 3
	check("no weak samples, K 3", nil, true)
}

// TestPastPrefersExecutedHistory: the candidate whose predicted past matches what was
// executed scores best; history entries further than Dt/2 from a due time are ignored.
func TestPastPrefersExecutedHistory(t *testing.T) {
	const h, a, start, n = 6, 2, 2, 4
	dt := 100 * ms
	t0 := 10 * time.Second
	hist := NewHistory(4, a)
	hist.Add(t0-2*dt+5*ms, []float64{0.1, 0.2}) // predicted past action 0
	hist.Add(t0-dt-3*ms, []float64{0.3, 0.4})   // predicted past action 1
	hist.Add(t0-dt/2+time.Millisecond, []float64{9, 9})
	vals := randomCandidates(rand.New(rand.NewPCG(3, 3)), n, h, a, 0.5)
	copy(vals[(2*h)*a:], []float32{0.1, 0.2, 0.3, 0.4})
	c := NewCandidates(Shape{MaxN: n, Horizon: h, Start: start, Dim: a}, chunk.Bounds{})
	c.View(vals, n, t0, dt)
	dst := make([]float64, n)
	(&Past{}).Score(dst, c, hist)
	if math.Abs(dst[2]) > 1e-6 {
		t.Fatalf("matching candidate scored %v, want 0", dst[2])
	}
	for i, v := range dst {
		if i != 2 && !(v < dst[2]) {
			t.Errorf("candidate %d scored %v, not below the match's %v", i, v, dst[2])
		}
	}
	// Steps: 1 compares only the last predicted past action.
	vals[(2*h)*a] = 5
	(&Past{Steps: 1}).Score(dst, c, hist)
	if math.Abs(dst[2]) > 1e-6 {
		t.Errorf("with steps 1 the match scored %v, want 0 (action 0 not compared)", dst[2])
	}
}

// TestHistoryNear: the ring keeps the newest entries; the nearest within tol wins, the
// newer of two equally near ones.
func TestHistoryNear(t *testing.T) {
	h := NewHistory(3, 1)
	for k := range 5 {
		h.Add(time.Duration(k)*10*ms, []float64{float64(k)})
	}
	if h.Len() != 3 {
		t.Fatalf("Len %d, want 3", h.Len())
	}
	for _, tc := range []struct {
		t, tol time.Duration
		want   float64 // -1: none
	}{
		{10 * ms, 4 * ms, -1}, // entry 1 was dropped
		{20 * ms, 0, 2},
		{26 * ms, 5 * ms, 3},
		{25 * ms, 5 * ms, 3}, // tie between 2 and 3: the newer
		{60 * ms, 15 * ms, -1},
		{55 * ms, 15 * ms, 4},
	} {
		v, ok := h.Near(tc.t, tc.tol)
		if got := -1.0; ok {
			got = v[0]
			if got != tc.want {
				t.Errorf("Near(%v, %v) = %v, want %v", tc.t, tc.tol, got, tc.want)
			}
		} else if tc.want != -1 {
			t.Errorf("Near(%v, %v) found nothing, want %v", tc.t, tc.tol, tc.want)
		}
	}
	h.Reset()
	if _, ok := h.Near(40*ms, time.Second); ok || h.Len() != 0 {
		t.Error("Reset kept entries")
	}
}

// TestSoftmaxSeeded: the same seed gives the same choices, another seed other ones, and
// the frequencies over 20000 draws match Probs (binomial sd <= 0.0036: 0.015 is 4 sd).
func TestSoftmaxSeeded(t *testing.T) {
	scores := []float64{0.1, -0.3, 0.5, 0.2, math.Inf(-1)}
	valid := []bool{true, true, true, true, false}
	c := NewCandidates(Shape{MaxN: 5, Horizon: 1, Dim: 1}, chunk.Bounds{})
	c.View(make([]float32, 5), 5, 0, ms)
	copy(c.valid, valid)
	run := func(seed uint64, n int) ([]int, *Selector) {
		s, err := NewSelector(SelectConfig{Mode: Softmax, Temperature: 0.5, Seed: seed}, 5)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]int, n)
		for i := range out {
			out[i] = s.Select(scores, c)
		}
		return out, s
	}
	a, _ := run(42, 200)
	b, _ := run(42, 200)
	d, _ := run(43, 200)
	same, differ := true, false
	for i := range a {
		same = same && a[i] == b[i]
		differ = differ || a[i] != d[i]
	}
	if !same || !differ {
		t.Fatalf("seed 42 twice equal %v, seed 43 different %v; want true, true", same, differ)
	}
	draws, s := run(9, 20000)
	freq := make([]float64, 5)
	for _, i := range draws {
		freq[i] += 1.0 / 20000
	}
	var z float64
	for _, v := range scores[:4] {
		z += math.Exp((v - 0.5) / 0.5)
	}
	for i, p := range s.Probs() {
		want := 0.0
		if valid[i] {
			want = math.Exp((scores[i]-0.5)/0.5) / z
		}
		if math.Abs(p-want) > 1e-12 || math.Abs(freq[i]-want) > 0.015 {
			t.Errorf("candidate %d: probability %v, frequency %v, want %v", i, p, freq[i], want)
		}
	}
}

// TestConfigValidate: each out-of-range field is refused, naming it; defaults pass.
func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	s, _ := New(Config{}, 1)
	if cfg := s.Config(); cfg.Coherence.Beta != 0.5 || cfg.Select.Mode != Argmax || cfg.Select.Temperature != 1 {
		t.Errorf("defaults %+v", cfg)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Coherence: CoherenceConfig{Weight: -1}}, "coherence.weight"},
		{Config{Contrast: ContrastConfig{Weight: math.NaN()}}, "contrast.weight"},
		{Config{Past: PastConfig{Weight: math.Inf(1)}}, "past.weight"},
		{Config{Coherence: CoherenceConfig{Beta: 1.5}}, "coherence.beta"},
		{Config{Contrast: ContrastConfig{K: -1}}, "contrast.k"},
		{Config{Past: PastConfig{Steps: -2}}, "past.steps"},
		{Config{Select: SelectConfig{Mode: "best"}}, "select.mode"},
		{Config{Select: SelectConfig{Mode: Softmax, Temperature: -1}}, "select.temperature"},
		{Config{Samples: -1}, "samples"},
		{Config{Samples: MaxSamples + 1}, "samples"},
		{Config{Contrast: ContrastConfig{Samples: -3}}, "contrast.samples"},
		{Config{Contrast: ContrastConfig{Bundle: "weak"}}, "contrast.bundle"},
		{Config{Value: ValueConfig{Weight: 1}}, "value.bundle"},
		{Config{Value: ValueConfig{Bundle: "v"}}, "value.bundle"},
		{Config{Guidance: GuidanceConfig{Weight: math.NaN()}}, "guidance.weight"},
		{Config{Noise: NoiseConfig{Bundle: "n", Bound: -1}}, "noise.bound"},
		{Config{Residual: ResidualConfig{Bundle: "r", Rate: "tick"}}, "residual.rate"},
		{Config{Residual: ResidualConfig{Bundle: "r", Bound: math.Inf(1)}}, "residual.bound"},
	} {
		err := tc.cfg.Validate()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.want {
			t.Errorf("%+v: %v, want a ConfigError with key %s", tc.cfg, err, tc.want)
		}
		if _, err := New(tc.cfg, 4); err == nil && tc.want != "value.bundle" { // Steer takes values from its caller
			t.Errorf("New accepted %+v", tc.cfg)
		}
	}
}

// TestUnnormalize: candidates given in the normalized space (as Policy.Raw holds them)
// come out in dataset units through the bundle's own normalizer, whole horizon included.
func TestUnnormalize(t *testing.T) {
	b, err := policy.LoadBundle("../testdata/unet")
	if err != nil {
		t.Fatal(err)
	}
	h, a, start := b.Config.Horizon, b.ActionDim(), b.Config.NObsSteps-1
	raw := randomCandidates(rand.New(rand.NewPCG(5, 5)), 3, h, a, 0.5)
	c := NewCandidates(Shape{MaxN: 4, Horizon: h, Start: start, Dim: a}, chunk.Bounds{})
	c.Unnormalize(raw, 3, &b.Action.Norm, time.Second, 100*ms)
	want := make([]float32, a)
	for i := range 3 {
		for k := range h {
			b.Action.Norm.Unnormalize(want, raw[(i*h+k)*a:(i*h+k+1)*a])
			for d, v := range c.At(i, k) {
				if v != want[d] {
					t.Fatalf("candidate %d action %d dim %d: %v, want %v", i, k, d, v, want[d])
				}
			}
		}
	}
	var ch chunk.Chunk
	c.ToChunk(&ch, 2)
	if ch.Len() != h-start || ch.T0 != time.Second || ch.At(0)[0] != float64(c.At(2, start)[0]) {
		t.Errorf("ToChunk: %d actions at %v starting %v", ch.Len(), ch.T0, ch.At(0))
	}
	if err := chunk.Validate(&ch, a, chunk.Bounds{}); err != nil {
		t.Error(err)
	}
}

// TestStepAllocatesNothing: after the first step, viewing and validating N candidates,
// running all three scorers and a softmax selection allocates nothing; a refused
// candidate costs exactly its error.
func TestStepAllocatesNothing(t *testing.T) {
	const n, h, a, start = 16, 16, 7, 1
	r := rand.New(rand.NewPCG(11, 11))
	vals := randomCandidates(r, n, h, a, 0.2)
	raw := randomCandidates(r, n, h, a, 0.2)
	weakVals := randomCandidates(r, n, h, a, 0.3)
	dt := 100 * ms
	t0 := 3 * time.Second
	plan := &chunk.Chunk{T0: t0 - 2*dt, Dt: dt, Dim: a, Actions: make([]float64, 12*a)}
	hist := NewHistory(32, a)
	for k := range 32 {
		hist.Add(t0-time.Duration(31-k)*dt, make([]float64, a))
	}
	lim := make([]float64, a)
	for i := range lim {
		lim[i] = 10
	}
	c := NewCandidates(Shape{MaxN: n, Horizon: h, Start: start, Dim: a}, chunk.Bounds{Upper: lim})
	weak := NewCandidates(Shape{MaxN: n, Horizon: h, Dim: a}, chunk.Bounds{})
	s, err := New(Config{
		Coherence: CoherenceConfig{Weight: 1}, Contrast: ContrastConfig{Weight: 1}, Past: PastConfig{Weight: 1},
		Select: SelectConfig{Mode: Softmax, Temperature: 0.1},
	}, n)
	if err != nil {
		t.Fatal(err)
	}
	var norm policy.Normalizer
	step := func() {
		c.View(vals, n, t0, dt)
		weak.View(weakVals, n, t0, dt)
		if _, err := s.Step(c, Inputs{Plan: plan, Weak: weak, History: hist}); err != nil {
			t.Fatal(err)
		}
		c.Unnormalize(raw, n, &norm, t0, dt)
	}
	if got := testing.AllocsPerRun(100, step); got != 0 {
		t.Fatalf("%v allocations per step, want 0", got)
	}
	// A refused candidate costs the one *chunk.Error chunk.Validate returns, nothing more.
	vals[5*h*a+7] = 11
	c.View(vals, n, t0, dt)
	if c.Valid(5) {
		t.Fatal("candidate 5 above its bound was accepted")
	}
	got := testing.AllocsPerRun(100, func() {
		c.View(vals, n, t0, dt)
		if _, err := s.Step(c, Inputs{Plan: plan, Weak: weak, History: hist}); err != nil {
			t.Fatal(err)
		}
	})
	if got != 1 {
		t.Fatalf("%v allocations per step with one refused candidate, want 1 (its error)", got)
	}
}
