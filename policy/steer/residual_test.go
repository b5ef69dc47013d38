package steer_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/onnx"
	"github.com/robotd/robotd/policy/steer"
)

// newResidual loads the residual bundle testdata/name for the flow policy fixture.
func newResidual(t testing.TB, name string, maxRows int, cfg steer.ResidualConfig) *steer.Residual {
	t.Helper()
	b, err := steer.LoadBundle(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	r, err := steer.NewResidual(b, loadFlow(t), onnx.Opener(onnx.Options{}), maxRows, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestResidualMatchesTorch corrects the fixture's 7 actions (rate chunk: one batched call)
// and matches the torch model's residual, scaled, clipped and applied in numpy, to 1e-5,
// with the same clipped count and magnitude; each action corrected alone (rate action:
// one row) gives the same result.
func TestResidualMatchesTorch(t *testing.T) {
	f64, f32 := reference(t, "residual")
	cfg := steer.ResidualConfig{Scale: f64("scale")[0], Bound: f64("bound")[0]}
	r := newResidual(t, "residual", 8, cfg)
	obs, base, want := [][]float32{f32("obs")}, f32("actions"), f64("corrected")
	rows := len(base) / 4
	got := slices.Clone(base)
	st, err := r.Apply(r.Observation(policy.Observation{Values: obs}), got, rows)
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for i, w := range want {
		if math.Abs(float64(got[i])-w) > 1e-5 {
			t.Errorf("value %d: %v, torch %v (base %v)", i, got[i], w, base[i])
		}
		if math.Abs(float64(got[i]-base[i])) > 1e-4 {
			moved++
		}
	}
	if moved < len(base)/2 {
		t.Errorf("only %d of %d values moved: the fixture tests little", moved, len(base))
	}
	if st.Rows != rows || st.Clipped != int(f64("clipped")[0]) || st.NonFinite != 0 || math.Abs(st.Magnitude-f64("magnitude")[0]) > 1e-5 {
		t.Errorf("step %+v, want rows %d, clipped %v, magnitude %v", st, rows, f64("clipped")[0], f64("magnitude")[0])
	}
	if st.Clipped == 0 {
		t.Error("nothing clipped: the fixture does not test the bound")
	}
	for i := range rows {
		one := slices.Clone(base[i*4 : (i+1)*4])
		if _, err := r.Apply(obs, one, 1); err != nil {
			t.Fatal(err)
		}
		for j, v := range one {
			if math.Abs(float64(v)-want[i*4+j]) > 1e-5 {
				t.Errorf("row %d alone: value %d: %v, torch %v", i, j, v, want[i*4+j])
			}
		}
	}
}

// randomActions returns rows x 4 action values drawn uniformly over [-1.5, 1.5], beyond
// the flow fixture's action range [-0.51, 0.85] too.
func randomActions(rng *rand.Rand, rows int) []float32 {
	a := make([]float32, rows*4)
	for i := range a {
		a[i] = float32(rng.Float64()*3 - 1.5)
	}
	return a
}

// TestResidualZeroExact: a model that outputs 0 (ResidualMLP as residual RL initializes
// it) leaves 2000 random actions bit for bit as they were, in batches and one at a time.
func TestResidualZeroExact(t *testing.T) {
	r := newResidual(t, "residual_zero", 16, steer.ResidualConfig{Scale: 3})
	rng := rand.New(rand.NewPCG(18, 1))
	obs := [][]float32{{0.1, -0.2, 0.3, 0.4, -0.5, 0.0}}
	for k := range 125 {
		rows := 1 + k%16
		base := randomActions(rng, rows)
		got := slices.Clone(base)
		st, err := r.Apply(obs, got, rows)
		if err != nil {
			t.Fatal(err)
		}
		for i := range base {
			if math.Float32bits(got[i]) != math.Float32bits(base[i]) {
				t.Fatalf("batch %d: value %d changed from %v to %v", k, i, base[i], got[i])
			}
		}
		if st.Magnitude != 0 || st.Clipped != 0 || st.NonFinite != 0 {
			t.Fatalf("batch %d: step %+v, want nothing", k, st)
		}
	}
}

// TestResidualBounded: a model that returns NaN changes nothing (each value counted), and
// one that returns ±1e30 moves every value by the bound, in normalized units, and no
// value further (with a scale of 5 and another bound too).
func TestResidualBounded(t *testing.T) {
	p := loadFlow(t)
	rng := rand.New(rand.NewPCG(18, 2))
	obs := [][]float32{{0.1, -0.2, 0.3, 0.4, -0.5, 0.0}}
	const rows = 12
	for _, c := range []struct {
		name string
		cfg  steer.ResidualConfig
	}{
		{"residual_nan", steer.ResidualConfig{}},
		{"residual_huge", steer.ResidualConfig{}},
		{"residual_huge", steer.ResidualConfig{Scale: 5, Bound: 0.02}},
	} {
		r := newResidual(t, c.name, rows, c.cfg)
		bound := c.cfg.Bound
		if bound == 0 {
			bound = 0.1
		}
		base := randomActions(rng, rows)
		got := slices.Clone(base)
		st, err := r.Apply(obs, got, rows)
		if err != nil {
			t.Fatal(err)
		}
		nb, ng := make([]float32, len(base)), make([]float32, len(base))
		for i := range rows {
			p.Action.Norm.Normalize(nb[i*4:(i+1)*4], base[i*4:(i+1)*4])
			p.Action.Norm.Normalize(ng[i*4:(i+1)*4], got[i*4:(i+1)*4])
		}
		for i := range base {
			d := math.Abs(float64(ng[i] - nb[i]))
			if d > bound+1e-5 {
				t.Errorf("%s: value %d moved by %v normalized, beyond the bound %v", c.name, i, d, bound)
			}
			switch {
			case c.name == "residual_nan":
				if math.Float32bits(got[i]) != math.Float32bits(base[i]) {
					t.Errorf("%s: value %d changed from %v to %v", c.name, i, base[i], got[i])
				}
			case d < bound-1e-5:
				t.Errorf("%s: value %d moved by %v, want the bound %v", c.name, i, d, bound)
			}
		}
		if c.name == "residual_nan" {
			if st.NonFinite != rows*4 || st.Clipped != 0 || st.Magnitude != 0 {
				t.Errorf("%s: step %+v, want %d non-finite", c.name, st, rows*4)
			}
			continue
		}
		// Every value clipped: each action's correction is (±bound) x 4, norm 2 x bound.
		if st.Clipped != len(base) || st.NonFinite != 0 || math.Abs(st.Magnitude-2*bound) > 1e-12 {
			t.Errorf("%s: step %+v, want %d clipped, magnitude %v", c.name, st, len(base), 2*bound)
		}
	}
}

// TestResidualNoAllocs: after the first Apply with a number of rows, Apply allocates
// nothing.
func TestResidualNoAllocs(t *testing.T) {
	_, f32 := reference(t, "residual")
	r := newResidual(t, "residual", 8, steer.ResidualConfig{})
	obs, base := [][]float32{f32("obs")}, f32("actions")
	buf := make([]float32, len(base))
	for _, rows := range []int{7, 1} {
		apply := func() {
			copy(buf, base)
			if _, err := r.Apply(obs, buf, rows); err != nil {
				t.Fatal(err)
			}
		}
		apply()
		if a := testing.AllocsPerRun(20, apply); a != 0 {
			t.Errorf("rows %d: %v allocations per Apply, want 0", rows, a)
		}
	}
}

// TestResidualConfig: defaults (scale 1, bound 0.1, rate chunk) and range errors naming
// steering.residual.<key>.
func TestResidualConfig(t *testing.T) {
	var c steer.ResidualConfig
	c.SetDefaults()
	if c.Scale != 1 || c.Bound != 0.1 || c.Rate != steer.RateChunk || c.Validate() != nil {
		t.Errorf("defaults %+v: %v", c, c.Validate())
	}
	cases := []struct {
		cfg  steer.ResidualConfig
		want string
	}{
		{steer.ResidualConfig{Scale: -1}, "steering.residual.scale: must be > 0"},
		{steer.ResidualConfig{Bound: -0.1}, "steering.residual.bound: must be > 0"},
		{steer.ResidualConfig{Bound: math.NaN()}, "steering.residual.bound: must be > 0"},
		{steer.ResidualConfig{Rate: "tick"}, `steering.residual.rate: unknown "tick" (chunk or action)`},
	}
	for _, c := range cases {
		c.cfg.SetDefaults()
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	if err := (steer.ResidualConfig{Scale: 1, Bound: 0.1, Rate: steer.RateAction}).Validate(); err != nil {
		t.Errorf("rate action: %v", err)
	}
}

// TestResidualRefuses: a residual bundle that does not fit the policy (action dimension,
// horizon), whose model lacks the declared output or input, of another kind, or given a
// bad configuration is refused by NewResidual, the error naming the mismatch.
func TestResidualRefuses(t *testing.T) {
	cases := []struct {
		name, bundle string
		repl         []string
		cfg          steer.ResidualConfig
		want         string
	}{
		{"action dim", "residual_zero", []string{"shape: [4]", "shape: [5]"}, steer.ResidualConfig{},
			"features: action: action dimension: shape [5], the policy's is [4]"},
		{"horizon", "residual", []string{"horizon: 8", "horizon: 10"}, steer.ResidualConfig{}, "horizon 10, the policy's is 8"},
		{"output", "residual", []string{"output: residual", "output: delta"}, steer.ResidualConfig{}, `model.onnx: no output "delta"`},
		{"observation input", "residual_zero", []string{"observation.state:", "observation.joints:"}, steer.ResidualConfig{},
			"features: observation.joints: the policy has no such feature"},
		{"kind", "noise", nil, steer.ResidualConfig{}, "kind noise, want residual"},
		{"bound", "residual", nil, steer.ResidualConfig{Bound: -1}, "steering.residual.bound"},
	}
	p := loadFlow(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := steer.LoadBundle(copyBundle(t, c.bundle, c.repl...))
			if err != nil {
				t.Fatal(err)
			}
			r, err := steer.NewResidual(b, p, onnx.Opener(onnx.Options{}), 4, c.cfg)
			if err == nil {
				r.Close()
				t.Fatalf("NewResidual accepted the bundle, want an error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("NewResidual: %v\nwant an error containing %q", err, c.want)
			}
		})
	}
}

// BenchmarkResidual times one residual call (normalize, one batched model run, clip and
// apply) for 1 row (rate action) and 7 rows (rate chunk: the flow fixture's executed
// actions).
func BenchmarkResidual(b *testing.B) {
	_, f32 := reference(b, "residual")
	obs, base := [][]float32{f32("obs")}, f32("actions")
	for _, rows := range []int{1, 7} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			r := newResidual(b, "residual", rows, steer.ResidualConfig{})
			buf := make([]float32, len(base))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, base)
				if _, err := r.Apply(obs, buf, rows); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
