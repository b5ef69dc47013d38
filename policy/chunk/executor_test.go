package chunk

import (
	"errors"
	"math"
	"testing"
	"time"
)

func mustNew(t testing.TB, cfg Config) *Executor {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// ramp returns a chunk whose action i is (i + base, 10*(i + base), ...) over dim values.
func ramp(t0 time.Duration, n, dim int, base float64) *Chunk {
	c := &Chunk{T0: t0, Dt: 100 * ms, Dim: dim, Actions: make([]float64, n*dim)}
	for i := 0; i < n; i++ {
		for d := 0; d < dim; d++ {
			c.At(i)[d] = (float64(i) + base) * math.Pow(10, float64(d))
		}
	}
	return c
}

// constant returns a chunk of n actions all equal to v (dim 1).
func constant(t0 time.Duration, n int, v float64) *Chunk {
	c := &Chunk{T0: t0, Dt: 100 * ms, Dim: 1, Actions: make([]float64, n)}
	for i := range c.Actions {
		c.Actions[i] = v
	}
	return c
}

// at returns the 1-dimensional setpoint at t.
func at(t *testing.T, e *Executor, when time.Duration) float64 {
	t.Helper()
	out := make([]float64, e.cfg.Dim)
	if !e.Setpoint(when, out) {
		t.Fatalf("Setpoint(%v): no plan", when)
	}
	return out[0]
}

const tol = 1e-12

func near(a, b float64) bool { return math.Abs(a-b) <= tol }

func TestInterpolation(t *testing.T) {
	for _, tc := range []struct {
		interp Interp
		want   map[time.Duration][2]float64
	}{
		{Linear, map[time.Duration][2]float64{
			900 * ms:  {0, 0}, // before action 0 is due: action 0
			1000 * ms: {0, 0},
			1050 * ms: {0.5, 5},
			1100 * ms: {1, 10},
			1225 * ms: {2.25, 22.5},
			1300 * ms: {3, 30}, // the last action, held for its slot
			1399 * ms: {3, 30},
		}},
		{Hold, map[time.Duration][2]float64{
			900 * ms:  {0, 0},
			1050 * ms: {0, 0},
			1100 * ms: {1, 10},
			1299 * ms: {2, 20},
			1350 * ms: {3, 30},
		}},
	} {
		e := mustNew(t, Config{Strategy: Async, Blend: Latest, Horizon: 8, Dim: 2, Dt: 100 * ms,
			NActionSteps: 2, Interp: tc.interp})
		if err := e.Push(time.Second, ramp(time.Second, 4, 2, 0)); err != nil {
			t.Fatal(err)
		}
		out := make([]float64, 2)
		for when, want := range tc.want {
			e.Setpoint(when, out)
			if !near(out[0], want[0]) || !near(out[1], want[1]) {
				t.Errorf("%s at %v: %v, want %v", tc.interp, when, out, want)
			}
		}
		if s := e.Stats(); s.Starved != 0 {
			t.Errorf("%s: %d starved ticks inside the plan", tc.interp, s.Starved)
		}
		// The plan ends at T0 + 4*Dt = 1.4 s: from there on the last action is held, starved.
		for _, when := range []time.Duration{1400 * ms, 1401 * ms, 5 * time.Second} {
			e.Setpoint(when, out)
			if out[0] != 3 || out[1] != 30 {
				t.Errorf("%s at %v (starved): %v, want [3 30]", tc.interp, when, out)
			}
		}
		if s := e.Stats(); s.Starved != 3 {
			t.Errorf("%s: %d starved ticks, want 3", tc.interp, s.Starved)
		}
	}
}

func TestReceding(t *testing.T) {
	e := mustNew(t, Config{Strategy: Receding, Horizon: 8, Dim: 1, Dt: 100 * ms, NActionSteps: 3})
	if !e.Want(0) {
		t.Error("no chunk yet, but Want is false")
	}
	out := make([]float64, 1)
	if e.Setpoint(0, out) {
		t.Error("Setpoint true before the first chunk")
	}
	// Computed from the observation at 0, arriving 500 ms later: receding starts it now.
	if err := e.Push(500*ms, ramp(0, 8, 1, 0)); err != nil {
		t.Fatal(err)
	}
	for when, want := range map[time.Duration]float64{
		500 * ms: 0, 550 * ms: 0.5, 700 * ms: 2, 750 * ms: 2, 799 * ms: 2,
	} {
		if got := at(t, e, when); !near(got, want) {
			t.Errorf("at %v: %v, want %v", when, got, want)
		}
	}
	if e.Want(799 * ms) {
		t.Error("Want before the 3 actions have run")
	}
	if !e.Want(800 * ms) {
		t.Error("no Want after the 3 actions have run")
	}
	if got := at(t, e, 900*ms); got != 2 {
		t.Errorf("waiting for the next chunk: %v, want the last executed action 2", got)
	}
	if s := e.Stats(); s.Starved != 1 || s.Skipped != 0 || s.Pushed != 1 {
		t.Errorf("stats %+v, want 1 starved, 0 skipped, 1 pushed", s)
	}
	// The next chunk switches in at its push, again from its action 0.
	e.Push(950*ms, ramp(800*ms, 8, 1, 10))
	if got := at(t, e, 950*ms); got != 10 {
		t.Errorf("after the push: %v, want 10", got)
	}
}

func TestAsyncSkipAndWant(t *testing.T) {
	for _, tc := range []struct {
		push        time.Duration
		skipped     uint64
		setpoint    float64
		wantAt      time.Duration
		starvedFrom time.Duration
	}{
		{push: 0, skipped: 0, setpoint: 0, wantAt: 400 * ms},
		{push: 200 * ms, skipped: 2, setpoint: 2, wantAt: 400 * ms}, // action 2 is due at the push: not skipped
		{push: 250 * ms, skipped: 3, setpoint: 2.5, wantAt: 400 * ms},
		{push: 650 * ms, skipped: 7, setpoint: 6.5, wantAt: 650 * ms}, // too late: wanted at once
		{push: 2 * time.Second, skipped: 8, setpoint: 7, wantAt: 2 * time.Second},
	} {
		e := mustNew(t, Config{Strategy: Async, Blend: Latest, Horizon: 8, Dim: 1, Dt: 100 * ms, NActionSteps: 4})
		e.Push(tc.push, ramp(0, 8, 1, 0))
		if got := at(t, e, tc.push); !near(got, tc.setpoint) {
			t.Errorf("push at %v: setpoint %v, want %v", tc.push, got, tc.setpoint)
		}
		if s := e.Stats(); s.Skipped != tc.skipped {
			t.Errorf("push at %v: %d skipped, want %d", tc.push, s.Skipped, tc.skipped)
		}
		if tc.wantAt > tc.push && e.Want(tc.wantAt-1) {
			t.Errorf("push at %v: Want at %v", tc.push, tc.wantAt-1)
		}
		if !e.Want(tc.wantAt) {
			t.Errorf("push at %v: no Want at %v", tc.push, tc.wantAt)
		}
	}
}

func TestEnsembleWant(t *testing.T) {
	e := mustNew(t, Config{Strategy: Ensemble, Horizon: 8, Dim: 1, Dt: 100 * ms})
	if !e.Want(0) {
		t.Error("no chunk yet, but Want is false")
	}
	e.Push(1080*ms, constant(time.Second, 8, 1))
	if e.Want(1099 * ms) {
		t.Error("Want before Dt has passed since the chunk's observation")
	}
	if !e.Want(1100 * ms) {
		t.Error("no Want Dt after the chunk's observation")
	}
	if s := e.Stats(); s.Skipped != 1 {
		t.Errorf("%d skipped, want 1 (action 0, due 80 ms before the push)", s.Skipped)
	}
}

func TestEnsembleWeights(t *testing.T) {
	e := mustNew(t, Config{Strategy: Ensemble, Horizon: 4, Dim: 1, Dt: 100 * ms, EnsembleK: 1})
	for i := 0; i < 3; i++ {
		at := time.Duration(i) * 100 * ms
		if err := e.Push(at, constant(at, 4, float64(i))); err != nil {
			t.Fatal(err)
		}
	}
	w0, w1, w2 := 1.0, math.Exp(-1), math.Exp(-2)
	for when, want := range map[time.Duration]float64{
		50 * ms:  0,                                     // only chunk 0 covers t
		250 * ms: (0*w0 + 1*w1 + 2*w2) / (w0 + w1 + w2), // the oldest weighs most
		450 * ms: (1*w0 + 2*w1) / (w0 + w1),             // chunk 0 has ended: chunk 1 is now i = 0
		550 * ms: 2,                                     // only chunk 2
		650 * ms: 2,                                     // starved: the newest chunk's last action
	} {
		if got := at(t, e, when); !near(got, want) {
			t.Errorf("at %v: %v, want %v", when, got, want)
		}
	}
	if s := e.Stats(); s.Starved != 1 {
		t.Errorf("%d starved, want 1", s.Starved)
	}
	if k := mustNew(t, Config{Strategy: Ensemble, Horizon: 4, Dim: 1, Dt: ms}).Config().EnsembleK; k != 0.01 {
		t.Errorf("default ensemble_k %v, want 0.01", k)
	}
	// The ring keeps the Horizon most recent chunks: a fifth push evicts chunk 0.
	e.Push(300*ms, constant(300*ms, 4, 3))
	e.Push(350*ms, constant(350*ms, 4, 4))
	got := at(t, e, 380*ms)
	want := (1*w0 + 2*w1 + 3*w2 + 4*math.Exp(-3)) / (w0 + w1 + w2 + math.Exp(-3))
	if !near(got, want) {
		t.Errorf("after eviction: %v, want %v", got, want)
	}
}

func TestAsyncBlend(t *testing.T) {
	// The running chunk is 0 until 1 s; the new one, 1 from its observation at 400 ms, is
	// pushed at 500 ms.
	for _, tc := range []struct {
		blend Blend
		want  map[time.Duration]float64
	}{
		{Latest, map[time.Duration]float64{499 * ms: 0, 500 * ms: 1, 999 * ms: 1, 1500 * ms: 1}},
		{Average, map[time.Duration]float64{499 * ms: 0, 500 * ms: 0.5, 999 * ms: 0.5, 1000 * ms: 1}},
		{Weighted, map[time.Duration]float64{499 * ms: 0, 500 * ms: 0, 550 * ms: 0.25, 600 * ms: 0.5,
			700 * ms: 1, 1200 * ms: 1}},
	} {
		e := mustNew(t, Config{Strategy: Async, Blend: tc.blend, Horizon: 10, Dim: 1, Dt: 100 * ms,
			NActionSteps: 5})
		e.Push(0, constant(0, 10, 0))
		e.Push(500*ms, constant(400*ms, 10, 1))
		for when, want := range tc.want {
			if got := at(t, e, when); !near(got, want) {
				t.Errorf("%s at %v: %v, want %v", tc.blend, when, got, want)
			}
		}
	}
	// Weighted is continuous even when a chunk arrives in the middle of a crossfade.
	e := mustNew(t, Config{Strategy: Async, Horizon: 10, Dim: 1, Dt: 100 * ms, NActionSteps: 5})
	if e.Config().Blend != Weighted || e.Config().BlendWindow != 200*ms {
		t.Errorf("defaults: blend %q, window %v; want weighted, 200ms", e.Config().Blend, e.Config().BlendWindow)
	}
	e.Push(0, constant(0, 10, 0))
	e.Push(500*ms, constant(400*ms, 10, 1))
	e.Push(600*ms, constant(550*ms, 10, 3))
	for when, want := range map[time.Duration]float64{
		599 * ms: 0.495, 600 * ms: 0.5, 700 * ms: 0.5*1 + 0.5*3, 800 * ms: 3,
	} {
		if got := at(t, e, when); !near(got, want) {
			t.Errorf("weighted, third chunk at 600 ms: at %v: %v, want %v", when, got, want)
		}
	}
}

func TestInpaint(t *testing.T) {
	e := mustNew(t, Config{Strategy: Inpaint, Horizon: 8, Dim: 1, Dt: 100 * ms, NActionSteps: 4})
	e.Push(20*ms, ramp(0, 8, 1, 0)) // action i = i
	if !e.Want(400 * ms) {
		t.Fatal("no Want at T0 + 4*Dt")
	}
	// The request at 400 ms freezes the new chunk's first 3 actions to the plan; the rest
	// of the new chunk is 10 higher than the old one was.
	prefix := make([]float64, 3)
	if n := e.Plan(400*ms, 3, prefix); n != 3 || prefix[0] != 4 || prefix[1] != 5 || prefix[2] != 6 {
		t.Fatalf("Plan = %d, %v; want 3, [4 5 6]", n, prefix)
	}
	next := ramp(400*ms, 8, 1, 14)
	copy(next.Actions, prefix)
	// Pushed 80 ms after its observation: the switch happens at its action 1, due at 500 ms.
	e.Push(480*ms, next)
	prev := at(t, e, 470*ms)
	for when := 471 * ms; when <= 700*ms; when += ms {
		got := at(t, e, when)
		limit := 0.01 // the old plan's slope per tick
		if when > 600*ms {
			limit = (17 - 6) / 100.0 // the new chunk leaves its frozen prefix
		}
		if math.Abs(got-prev) > limit+1e-9 {
			t.Fatalf("jump %v -> %v at %v", prev, got, when)
		}
		prev = got
	}
	for when, want := range map[time.Duration]float64{480 * ms: 4.8, 500 * ms: 5, 600 * ms: 6, 650 * ms: 11.5} {
		if got := at(t, e, when); !near(got, want) {
			t.Errorf("at %v: %v, want %v", when, got, want)
		}
	}
	if s := e.Stats(); s.Skipped != 2 {
		t.Errorf("%d skipped, want 2 (the actions due at 0 and 400 ms)", s.Skipped)
	}
}

func TestPlan(t *testing.T) {
	e := mustNew(t, Config{Strategy: Async, Blend: Latest, Horizon: 8, Dim: 2, Dt: 100 * ms, NActionSteps: 4})
	out := make([]float64, 20)
	if n := e.Plan(0, 10, out); n != 0 {
		t.Errorf("Plan before the first chunk: %d", n)
	}
	e.Push(0, ramp(0, 8, 2, 0)) // ends at 800 ms
	if n := e.Plan(250*ms, 10, out); n != 6 {
		t.Errorf("Plan from 250 ms: %d actions, want 6 (up to the plan's end at 800 ms)", n)
	}
	sp := make([]float64, 2)
	for i := 0; i < 6; i++ {
		e.Setpoint(250*ms+time.Duration(i)*100*ms, sp)
		if !near(out[2*i], sp[0]) || !near(out[2*i+1], sp[1]) {
			t.Errorf("Plan[%d] = %v, Setpoint %v", i, out[2*i:2*i+2], sp)
		}
	}
	if n := e.Plan(0, 10, out[:5]); n != 2 {
		t.Errorf("Plan into room for 2.5 actions: %d, want 2", n)
	}
	if n := e.Plan(900*ms, 3, out); n != 0 {
		t.Errorf("Plan past the end: %d, want 0", n)
	}
	before := e.Stats()
	e.Plan(0, 10, out)
	if e.Stats() != before {
		t.Error("Plan changed the counters")
	}
}

func allConfigs() map[string]Config {
	base := Config{Horizon: 16, Dim: 3, Dt: 100 * ms, NActionSteps: 8,
		Bounds: Bounds{Lower: []float64{-5, -5, -5}, Upper: []float64{5, 5, 5}}}
	cfgs := map[string]Config{}
	for name, edit := range map[string]func(*Config){
		"receding":       func(c *Config) { c.Strategy = Receding },
		"ensemble":       func(c *Config) { c.Strategy = Ensemble },
		"async/latest":   func(c *Config) { c.Strategy, c.Blend = Async, Latest },
		"async/average":  func(c *Config) { c.Strategy, c.Blend = Async, Average },
		"async/weighted": func(c *Config) { c.Strategy, c.Blend = Async, Weighted },
		"inpaint":        func(c *Config) { c.Strategy = Inpaint },
	} {
		c := base
		edit(&c)
		cfgs[name] = c
	}
	return cfgs
}

func TestRejectedChunkKeepsPlan(t *testing.T) {
	for name, cfg := range allConfigs() {
		t.Run(name, func(t *testing.T) {
			e := mustNew(t, cfg)
			good := ramp(0, 16, 3, 0)
			for i := range good.Actions {
				good.Actions[i] *= 0.001 // within the bounds of ±5
			}
			if err := e.Push(20*ms, good); err != nil {
				t.Fatal(err)
			}
			before := make([]float64, 3)
			e.Setpoint(450*ms, before)
			wantBefore := e.Want(850 * ms)

			nan := ramp(400*ms, 16, 3, 0)
			for i := range nan.Actions {
				nan.Actions[i] *= 0.001
			}
			nan.Actions[7] = math.NaN()
			far := ramp(400*ms, 16, 3, 0) // action 0 dim 2 is 0, action 1 dim 2 is 100
			long := ramp(400*ms, 17, 3, 0)
			for i := range long.Actions {
				long.Actions[i] = 0
			}
			for _, bad := range []struct {
				c   *Chunk
				is  error
				msg string
			}{
				{nan, ErrNonFinite, "chunk: action 2, dim 1: NaN: non-finite action value"},
				{far, ErrOutOfBounds, "chunk: action 1, dim 1: 10 outside [-5, 5]: action value out of bounds"},
				{long, ErrMalformed, "chunk: 17 actions, want at most horizon 16: malformed chunk"},
				{ramp(400*ms, 4, 2, 0), ErrMalformed, "chunk: dim 2, want 3: malformed chunk"},
				{nil, ErrMalformed, "chunk: nil: malformed chunk"},
			} {
				err := e.Push(500*ms, bad.c)
				if !errors.Is(err, bad.is) || err.Error() != bad.msg {
					t.Errorf("Push: %v, want %q", err, bad.msg)
				}
			}
			after := make([]float64, 3)
			e.Setpoint(450*ms, after)
			for d := range after {
				if after[d] != before[d] {
					t.Errorf("setpoint changed by refused chunks: %v -> %v", before, after)
				}
			}
			if e.Want(850*ms) != wantBefore {
				t.Error("Want changed by refused chunks")
			}
			if s := e.Stats(); s.Pushed != 1 || s.Rejected != 5 {
				t.Errorf("stats %+v, want 1 pushed, 5 rejected", s)
			}
		})
	}
}

func TestNoAllocs(t *testing.T) {
	for name, cfg := range allConfigs() {
		t.Run(name, func(t *testing.T) {
			e := mustNew(t, cfg)
			c := ramp(0, 16, 3, 0)
			for i := range c.Actions {
				c.Actions[i] *= 0.001
			}
			bad := ramp(0, 16, 3, 0)
			bad.Actions[5] = math.Inf(-1)
			out := make([]float64, 3)
			plan := make([]float64, 4*3)
			now := time.Duration(0)
			allocs := testing.AllocsPerRun(200, func() {
				now += 37 * ms
				if e.Want(now) {
					c.T0 = now - 25*ms
					if e.Push(now, c) != nil {
						panic("good chunk refused")
					}
				}
				if e.Push(now, bad) == nil {
					panic("bad chunk accepted")
				}
				e.Setpoint(now, out)
				e.Plan(now, 4, plan)
				_ = e.Stats()
			})
			if allocs != 0 {
				t.Errorf("%v allocations per tick, want 0", allocs)
			}
			if s := e.Stats(); s.Pushed < 5 {
				t.Errorf("only %d chunks pushed: the test did not exercise Push", s.Pushed)
			}
		})
	}
}

func TestReset(t *testing.T) {
	e := mustNew(t, Config{Strategy: Ensemble, Horizon: 4, Dim: 1, Dt: 100 * ms})
	e.Push(0, constant(0, 4, 1))
	e.Reset()
	if e.Setpoint(10*ms, make([]float64, 1)) || !e.Want(10*ms) || e.Plan(0, 1, make([]float64, 1)) != 0 {
		t.Error("after Reset the executor still has a plan")
	}
	e.Push(20*ms, constant(20*ms, 4, 2))
	if got := at(t, e, 30*ms); got != 2 {
		t.Errorf("after Reset and Push: %v, want 2", got)
	}
	if s := e.Stats(); s.Pushed != 2 {
		t.Errorf("Pushed %d after Reset, want 2 (counters survive Reset)", s.Pushed)
	}
}

func TestConfigErrors(t *testing.T) {
	ok := Config{Strategy: Async, Horizon: 16, Dim: 2, Dt: 100 * ms, NActionSteps: 8}
	for _, tc := range []struct {
		edit func(c *Config)
		msg  string // "": valid
	}{
		{func(c *Config) {}, ""},
		{func(c *Config) { c.Strategy = Ensemble; c.NActionSteps = 0 }, ""},
		{func(c *Config) { c.Strategy = "" }, `chunk: strategy "": must be receding, ensemble, async or inpaint`},
		{func(c *Config) { c.Strategy = "act" }, `chunk: strategy "act": must be receding, ensemble, async or inpaint`},
		{func(c *Config) { c.Horizon = 0 }, "chunk: horizon 0: must be at least 1"},
		{func(c *Config) { c.Dim = -1 }, "chunk: dim -1: must be at least 1"},
		{func(c *Config) { c.Dt = 0 }, "chunk: dt 0s: must be positive"},
		{func(c *Config) { c.NActionSteps = 0 }, "chunk: n_action_steps 0: must be in [1, horizon 16]"},
		{func(c *Config) { c.Strategy = Receding; c.NActionSteps = 17 }, "chunk: n_action_steps 17: must be in [1, horizon 16]"},
		{func(c *Config) { c.EnsembleK = math.Inf(1) }, "chunk: ensemble_k +Inf: must be finite"},
		{func(c *Config) { c.Blend = "mean" }, `chunk: blend "mean": must be latest, average or weighted`},
		{func(c *Config) { c.BlendWindow = -ms }, "chunk: blend_window -1ms: must not be negative"},
		{func(c *Config) { c.Interp = "cubic" }, `chunk: interp "cubic": must be linear or hold`},
		{func(c *Config) { c.Bounds.Lower = []float64{0} }, "chunk: bounds.lower: 1 values, want dim 2"},
		{func(c *Config) { c.Bounds.Upper = []float64{0, math.NaN()} }, "chunk: bounds.upper[1] NaN: must be a number"},
		{func(c *Config) { c.Bounds = Bounds{Lower: []float64{0, 1}, Upper: []float64{1, 0.5}} },
			"chunk: bounds[1]: lower 1 above upper 0.5"},
	} {
		cfg := ok
		tc.edit(&cfg)
		_, err := New(cfg)
		switch {
		case tc.msg == "" && err != nil:
			t.Errorf("%+v: %v", cfg, err)
		case tc.msg != "" && (err == nil || err.Error() != tc.msg):
			t.Errorf("error %v, want %q", err, tc.msg)
		}
	}
	// Defaults, and bounds copied.
	lower := []float64{-1, -1}
	cfg := ok
	cfg.Bounds.Lower = lower
	e := mustNew(t, cfg)
	lower[0] = 7
	got := e.Config()
	if got.Blend != Weighted || got.BlendWindow != 200*ms || got.Interp != Linear || got.EnsembleK != 0.01 ||
		got.Bounds.Lower[0] != -1 {
		t.Errorf("defaults: %+v", got)
	}
}

// BenchmarkSetpoint is one control tick (Setpoint) of each strategy in steady state, with
// H = 16 actions of 7 values at 10 Hz and chunks arriving 80 ms after their observation.
func BenchmarkSetpoint(b *testing.B) {
	for name, cfg := range allConfigs() {
		b.Run(name, func(b *testing.B) {
			cfg.Dim, cfg.Bounds = 7, Bounds{}
			e := mustNew(b, cfg)
			c := ramp(0, 16, 7, 0)
			out := make([]float64, 7)
			var now time.Duration
			for ; now < 5*time.Second; now += ms {
				if e.Want(now) {
					c.T0 = now - 80*ms
					e.Push(now, c)
				}
				e.Setpoint(now, out)
			}
			base := now
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				e.Setpoint(base+time.Duration(i%100)*ms, out)
				i++
			}
		})
	}
}

// Jump is the setpoint change where the newest chunk takes over: for receding at the
// push, for inpaint at its first action not yet due (where a prefix frozen to the plan
// makes it zero, and a chunk that ignores the plan shows its offset there).
func TestJump(t *testing.T) {
	out := make([]float64, 1)
	e := mustNew(t, Config{Strategy: Receding, Horizon: 8, Dim: 1, Dt: 100 * ms, NActionSteps: 4})
	e.Push(0, ramp(0, 8, 1, 0))
	if e.Jump(out) {
		t.Fatal("Jump after the first chunk: it replaced nothing")
	}
	e.Push(250*ms, constant(250*ms, 8, 10)) // the plan gives 2.5 at 250 ms
	if !e.Jump(out) || !near(out[0], 7.5) {
		t.Fatalf("receding jump %v, want 7.5", out[0])
	}
	e.Reset()
	if e.Jump(out) {
		t.Fatal("Jump after Reset")
	}

	in := mustNew(t, Config{Strategy: Inpaint, Horizon: 8, Dim: 1, Dt: 100 * ms, NActionSteps: 4})
	in.Push(20*ms, ramp(0, 8, 1, 0)) // action i = i
	prefix := make([]float64, 3)
	in.Plan(400*ms, 3, prefix)
	next := ramp(400*ms, 8, 1, 14)
	copy(next.Actions, prefix)
	in.Push(480*ms, next) // takes over at its action 1, due at 500 ms, frozen to the plan
	if !in.Jump(out) || !near(out[0], 0) {
		t.Fatalf("inpaint jump with the prefix frozen: %v, want 0", out[0])
	}
	in.Push(520*ms, ramp(500*ms, 8, 1, 9)) // ignores the plan: takes over at 600 ms with 10 where the plan has 6
	if !in.Jump(out) || !near(out[0], 4) {
		t.Fatalf("inpaint jump of an unfrozen chunk: %v, want 4", out[0])
	}
}

// Validate checks what a launch file's policy.executor sets and names the key; an empty
// strategy and zero n_action_steps are the caller's to fill (New refuses an empty
// strategy).
func TestConfigValidateNamesTheKey(t *testing.T) {
	cases := []struct {
		cfg Config
		key string
	}{
		{Config{Strategy: "greedy"}, "strategy"},
		{Config{NActionSteps: -1}, "n_action_steps"},
		{Config{EnsembleK: math.Inf(-1)}, "ensemble_k"},
		{Config{Blend: "mix"}, "blend"},
		{Config{BlendWindow: -time.Millisecond}, "blend_window"},
		{Config{Interp: "cubic"}, "interp"},
	}
	for _, c := range cases {
		var ce *ConfigError
		if err := c.cfg.Validate(); !errors.As(err, &ce) || ce.Key != c.key {
			t.Errorf("%+v: Validate() = %v, want a *ConfigError for %s", c.cfg, err, c.key)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("empty config: %v", err)
	}
	if _, err := New(Config{Horizon: 4, Dim: 2, Dt: time.Millisecond}); err == nil {
		t.Error("New accepted an empty strategy")
	}
}
