package steer_test

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/chunk"
	"github.com/robotd/robotd/policy/steer"
)

// fixedAgent makes the same decision at every call: noise (when set), the chunk decision
// with a constant correction or replacement value, and a constant per-action correction.
type fixedAgent struct {
	noise    []float32 // nil: decline
	decision steer.AgentDecision
	value    float32 // each correction value (AgentCorrect, Action) or replacement (AgentReplace)
	action   bool    // correct each action
	calls    [3]int  // Noise, Chunk, Action
}

func (a *fixedAgent) Noise(_ policy.Observation, dst []float32) (bool, error) {
	a.calls[0]++
	if a.noise == nil {
		return false, nil
	}
	copy(dst, a.noise)
	return true, nil
}

func (a *fixedAgent) Chunk(_ policy.Observation, c *chunk.Chunk, prefix int, corr []float32) (steer.AgentDecision, error) {
	a.calls[1]++
	switch a.decision {
	case steer.AgentCorrect:
		for i := range corr {
			corr[i] = a.value
		}
	case steer.AgentReplace:
		for i := range c.Actions {
			c.Actions[i] = float64(a.value)
		}
	}
	return a.decision, nil
}

func (a *fixedAgent) Action(_ policy.Observation, _ []float64, corr []float32) (bool, error) {
	a.calls[2]++
	for i := range corr {
		corr[i] = a.value
	}
	return a.action, nil
}

// TestStageAgentZeroIsThePolicy: an agent that declines, or corrects by zero (per chunk
// and per action), or by NaN (applied as 0), leaves the stage's chunk the policy's own
// step bit for bit, with and without a prefix, and its per-action offset exact zeros.
func TestStageAgentZeroIsThePolicy(t *testing.T) {
	nan := float32(math.NaN())
	for _, prefix := range []int{0, 2} {
		obs, pre, want := policyReference(t, prefix)
		dim := want.Dim

		for _, tc := range []struct {
			name string
			a    *fixedAgent
		}{
			{"declines", &fixedAgent{}},
			{"zero", &fixedAgent{decision: steer.AgentCorrect, action: true}},
			{"nan", &fixedAgent{decision: steer.AgentCorrect, value: nan, action: true}},
		} {
			q := loadUnet(t, 11)
			st := newStage(t, steer.Config{}, q)
			if err := st.SetAgent(tc.a); err != nil {
				t.Fatal(err)
			}
			if !st.RatePerAction() {
				t.Errorf("%s: RatePerAction false with an agent", tc.name)
			}
			got, info := stepAsReference(t, st, obs, pre)
			if got.T0 != want.T0 || got.Dim != want.Dim || len(got.Actions) != len(want.Actions) {
				t.Fatalf("prefix %d, %s: chunk %v/%d/%d, want %v/%d/%d", prefix, tc.name, got.T0, got.Dim, len(got.Actions), want.T0, want.Dim, len(want.Actions))
			}
			for i := range want.Actions {
				if got.Actions[i] != want.Actions[i] {
					t.Fatalf("prefix %d, %s: action value %d is %v, the policy's %v", prefix, tc.name, i, got.Actions[i], want.Actions[i])
				}
			}
			rows := len(want.Actions)/dim - prefix
			if tc.a.decision == steer.AgentCorrect && info.ResidualStep.Rows != rows {
				t.Errorf("%s: corrected %d rows, want %d (the prefix is left alone)", tc.name, info.ResidualStep.Rows, rows)
			}
			if tc.name == "nan" && info.ResidualStep.NonFinite != rows*dim {
				t.Errorf("nan: %d non-finite values counted, want %d", info.ResidualStep.NonFinite, rows*dim)
			}
			offset := make([]float64, dim)
			for i := range offset {
				offset[i] = 7 // overwritten
			}
			base := want.Actions[:dim]
			rs, err := st.Correct(base, offset)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range offset {
				if v != 0 {
					t.Fatalf("%s: per-action offset[%d] = %v, want exact 0", tc.name, i, v)
				}
			}
			if tc.a.action && rs.Rows != 1 {
				t.Errorf("%s: per-action record %+v, want one row", tc.name, rs)
			}
			if tc.a.calls[0] == 0 || tc.a.calls[1] == 0 || tc.a.calls[2] != 1 {
				t.Errorf("%s: agent calls (noise, chunk, action) %v", tc.name, tc.a.calls)
			}
		}
	}
}

// TestStageAgentBounded: the agent's corrections are bounded as a residual model's (no
// normalized value moves beyond the bound, per chunk and per action), its replacement is
// the chunk, and its noise is what the policy samples from, clipped to the noise bound.
func TestStageAgentBounded(t *testing.T) {
	const bound = 0.05
	p := loadUnet(t, 11)
	obs := unetObservations(p, 3, 5)
	base, _ := stepStage(t, newStage(t, steer.Config{}, p), obs, steer.StepInput{})
	norm := &p.Bundle.Action.Norm
	dim := base.Dim
	normalized := func(a []float64) []float32 {
		f := make([]float32, len(a))
		for i, v := range a {
			f[i] = float32(v)
		}
		out := make([]float32, len(a))
		norm.Normalize(out, f)
		return out
	}

	for _, v := range []float32{1e30, -1e30, float32(math.Inf(1))} {
		q := loadUnet(t, 11)
		st := newStage(t, steer.Config{Residual: steer.ResidualConfig{Bound: bound}}, q)
		a := &fixedAgent{decision: steer.AgentCorrect, value: v, action: true}
		if err := st.SetAgent(a); err != nil {
			t.Fatal(err)
		}
		got, info := stepStage(t, st, obs, steer.StepInput{})
		moved := 0
		for i := 0; i < len(base.Actions); i += dim {
			g, w := normalized(got.Actions[i:i+dim]), normalized(base.Actions[i:i+dim])
			for j := range g {
				d := math.Abs(float64(g[j]) - float64(w[j]))
				if d > bound+1e-5 {
					t.Fatalf("value %v: action %d value %d moved %v normalized, bound %v", v, i/dim, j, d, bound)
				}
				if d > bound/2 {
					moved++
				}
			}
		}
		inf := math.IsInf(float64(v), 0)
		if !inf && (moved == 0 || info.ResidualStep.Clipped == 0) {
			t.Errorf("value %v: %d values moved, %d clipped: the bound should be hit", v, moved, info.ResidualStep.Clipped)
		}
		if inf && (moved != 0 || info.ResidualStep.NonFinite == 0) {
			t.Errorf("Inf correction: %d values moved, %d counted non-finite; want none moved", moved, info.ResidualStep.NonFinite)
		}
		offset := make([]float64, dim)
		if _, err := st.Correct(base.Actions[:dim], offset); err != nil {
			t.Fatal(err)
		}
		corrected := make([]float64, dim)
		for j := range corrected {
			corrected[j] = base.Actions[j] + offset[j]
		}
		g, w := normalized(corrected), normalized(base.Actions[:dim])
		for j := range g {
			if d := math.Abs(float64(g[j]) - float64(w[j])); d > bound+1e-5 || !inf && d < bound/2 {
				t.Errorf("value %v: per-action value %d moved %v normalized, want about the bound %v", v, j, d, bound)
			}
		}
	}

	// Replacement: the chunk is the agent's.
	q := loadUnet(t, 11)
	st := newStage(t, steer.Config{}, q)
	if err := st.SetAgent(&fixedAgent{decision: steer.AgentReplace, value: 0.25}); err != nil {
		t.Fatal(err)
	}
	got, _ := stepStage(t, st, obs, steer.StepInput{})
	for i, v := range got.Actions {
		if v != 0.25 {
			t.Fatalf("replaced chunk: value %d is %v, want 0.25", i, v)
		}
	}

	// Noise: the chunk is the policy's from that noise; values beyond the bound clipped.
	h := p.Bundle.Config.Horizon
	z := make([]float32, h*dim)
	for i := range z {
		z[i] = float32(math.Sin(float64(i))) * 0.9
	}
	z[3] = 50
	zc := append([]float32(nil), z...)
	zc[3] = steer.DefaultNoiseBound
	ref := loadUnet(t, 11)
	for _, o := range obs {
		if err := ref.Observe(o); err != nil {
			t.Fatal(err)
		}
	}
	actions, err := ref.Step(policy.StepOptions{Noise: zc})
	if err != nil {
		t.Fatal(err)
	}
	var want chunk.Chunk
	ref.ToChunk(&want, actions, 0, ref.ObservedAt())
	q = loadUnet(t, 11)
	st = newStage(t, steer.Config{}, q)
	if err := st.SetAgent(&fixedAgent{noise: z}); err != nil {
		t.Fatal(err)
	}
	got, info := stepStage(t, st, obs, steer.StepInput{})
	for i := range want.Actions {
		if got.Actions[i] != want.Actions[i] {
			t.Fatalf("agent noise: action value %d is %v, the policy's from the clipped noise %v", i, got.Actions[i], want.Actions[i])
		}
	}
	if info.NoiseStep.Clipped != 1 {
		t.Errorf("agent noise: %d values clipped, want 1", info.NoiseStep.Clipped)
	}
}

// signAgent corrects each value by sign(its normalized base) x 1e30: what the residual_huge
// fixture's model (action x 1e30) returns.
type signAgent struct{ norm *policy.Normalizer }

func (a signAgent) signs(base []float64, corr []float32) {
	f := make([]float32, len(base))
	for i, v := range base {
		f[i] = float32(v)
	}
	a.norm.Normalize(f, f)
	for i, v := range f {
		switch {
		case v > 0:
			corr[i] = 1e30
		case v < 0:
			corr[i] = -1e30
		default:
			corr[i] = 0
		}
	}
}

func (signAgent) Noise(policy.Observation, []float32) (bool, error) { return false, nil }

func (a signAgent) Chunk(_ policy.Observation, c *chunk.Chunk, prefix int, corr []float32) (steer.AgentDecision, error) {
	for i := 0; i < len(corr)/c.Dim; i++ {
		k := (prefix + i) * c.Dim
		a.signs(c.Actions[k:k+c.Dim], corr[i*c.Dim:(i+1)*c.Dim])
	}
	return steer.AgentCorrect, nil
}

func (a signAgent) Action(_ policy.Observation, base []float64, corr []float32) (bool, error) {
	a.signs(base, corr)
	return true, nil
}

// TestStageAgentIsTheResidual: the agent's corrections are bounded exactly as a residual
// model's: an agent returning what the residual_huge model returns gives the same chunk
// (rate chunk) and the same per-action offset (rate action) as that model, bit for bit,
// and the same counts.
func TestStageAgentIsTheResidual(t *testing.T) {
	const bound = 0.05
	for _, rate := range []string{steer.RateChunk, steer.RateAction} {
		p := loadUnet(t, 2)
		obs := unetObservations(p, 2, 9)
		model := newStage(t, steer.Config{Residual: steer.ResidualConfig{
			Bundle: filepath.Join(unetSteer, "residual_huge"), Bound: bound, Rate: rate}}, p)
		want, winfo := stepStage(t, model, obs, steer.StepInput{})

		q := loadUnet(t, 2)
		st := newStage(t, steer.Config{Residual: steer.ResidualConfig{Bound: bound}}, q)
		if err := st.SetAgent(signAgent{&q.Bundle.Action.Norm}); err != nil {
			t.Fatal(err)
		}
		got, ginfo := stepStage(t, st, obs, steer.StepInput{})
		for i := range want.Actions {
			if rate == steer.RateChunk && got.Actions[i] != want.Actions[i] {
				t.Fatalf("rate chunk: value %d is %v, the residual model's %v", i, got.Actions[i], want.Actions[i])
			}
		}
		if rate == steer.RateChunk && (ginfo.ResidualStep.Clipped != winfo.ResidualStep.Clipped || ginfo.ResidualStep.Clipped == 0 ||
			ginfo.ResidualStep.Magnitude != winfo.ResidualStep.Magnitude) {
			t.Errorf("rate chunk: agent's record %+v, the model's %+v", ginfo.ResidualStep, winfo.ResidualStep)
		}
		dim := want.Dim
		base := want.Actions[3*dim : 4*dim]
		wo, go_ := make([]float64, dim), make([]float64, dim)
		wrs, err := model.Correct(base, wo)
		if err != nil {
			t.Fatal(err)
		}
		grs, err := st.Correct(base, go_)
		if err != nil {
			t.Fatal(err)
		}
		if rate != steer.RateAction {
			continue
		}
		for j := range wo {
			if go_[j] != wo[j] {
				t.Fatalf("rate action: offset %d is %v, the residual model's %v", j, go_[j], wo[j])
			}
		}
		if grs.Clipped != wrs.Clipped || grs.Clipped == 0 {
			t.Errorf("rate action: agent's record %+v, the model's %+v", grs, wrs)
		}
	}
}

// TestStageAgentNoAllocs: a step consulted by an agent (its noise, then its correction of
// the chunk) and a per-action correction allocate nothing.
func TestStageAgentNoAllocs(t *testing.T) {
	p := loadUnet(t, 1)
	obs := unetObservations(p, 2, 3)
	st := newStage(t, steer.Config{Samples: 2}, p)
	z := make([]float32, 2*p.Bundle.Config.Horizon*p.Bundle.ActionDim())
	for i := range z {
		z[i] = float32(i%7)/7 - 0.5
	}
	a := &fixedAgent{noise: z, decision: steer.AgentCorrect, value: 0.01, action: true}
	if err := st.SetAgent(a); err != nil {
		t.Fatal(err)
	}
	var c chunk.Chunk
	_, info := stepStage(t, st, obs, steer.StepInput{})
	if info.ResidualStep.Rows == 0 || info.NoiseStep.RMS == 0 {
		t.Fatalf("the agent was not consulted: %+v", info)
	}
	offset := make([]float64, p.Bundle.ActionDim())
	step := 0
	run := func() {
		step++
		o := obs[step%2]
		o.Time = time.Duration(step) * 100 * time.Millisecond
		if err := st.Observe(o); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Step(steer.StepInput{}, &c); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Correct(c.Actions[:c.Dim], offset); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if n := testing.AllocsPerRun(20, run); n != 0 {
		t.Errorf("a step and a correction with an agent allocate %v times", n)
	}
	if a.calls[2] < 20 {
		t.Errorf("Correct consulted the agent %d times", a.calls[2])
	}
}
