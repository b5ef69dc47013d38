package steer_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/chunk"
	"github.com/robotd/robotd/policy/onnx"
	"github.com/robotd/robotd/policy/steer"
)

// refBundle is the reference diffusion policy the steering benchmarks run.
var refBundle = filepath.Join("..", "..", "models", "pickplace_diffusion")

// EnvValueBundle names a value bundle fitting the reference policy (observation.state
// and the executed chunk), written by tools/train/steer_bench.py --write-value DIR; without
// it the value and all sub-benchmarks are skipped.
const EnvValueBundle = "ROBOTD_STEER_VALUE_BUNDLE"

// benchThreads is ONNX Runtime's intra-op thread count: $ROBOTD_BENCH_THREADS, default 1
// (as policy/onnx's benchmarks; scripts/bench.d/steer.sh gives PyTorch the same count).
func benchThreads() int {
	if n, err := strconv.Atoi(os.Getenv("ROBOTD_BENCH_THREADS")); err == nil && n > 0 {
		return n
	}
	return 1
}

// steerBench is one steered policy step at the reference policy's shapes: the policy and
// its weak stand-in (the same bundle loaded again), their candidates, the scorers' inputs
// and the value model.
type steerBench struct {
	p, weak     *policy.Policy
	cand, weakC *steer.Candidates
	val         *steer.Value
	values      []float64
	obs         policy.Observation
	in          steer.Inputs
	t0, dt      time.Duration
}

func newSteerBench(b *testing.B, maxN int) *steerBench {
	b.Helper()
	open := onnx.Opener(onnx.Options{Threads: benchThreads()})
	load := func(seed uint64) *policy.Policy {
		p, err := policy.Load(refBundle, open, policy.Options{Seed: seed})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Close() })
		return p
	}
	sb := &steerBench{p: load(1), weak: load(2), t0: 10 * time.Second}
	sb.dt = sb.p.Dt()
	bd := sb.p.Bundle
	h, a, start := bd.Config.Horizon, bd.ActionDim(), sb.p.Start()

	// Two observations of seeded values: images in [0, 1], the state in [-0.5, 0.5].
	r := rand.New(rand.NewPCG(7, 0))
	for k := range 2 {
		o := policy.Observation{Time: sb.t0 - time.Duration(1-k)*sb.dt}
		for _, f := range bd.Observations {
			v := make([]float32, f.Size)
			for i := range v {
				v[i] = r.Float32()
				if len(f.Shape) == 1 {
					v[i] -= 0.5
				}
			}
			o.Values = append(o.Values, v)
		}
		for _, p := range []*policy.Policy{sb.p, sb.weak} {
			if err := p.Observe(o); err != nil {
				b.Fatal(err)
			}
		}
		sb.obs = o
	}

	sb.cand = steer.NewCandidates(steer.Shape{MaxN: maxN, Horizon: h, Start: start, Dim: a}, chunk.Bounds{})
	sb.weakC = steer.NewCandidates(steer.Shape{MaxN: maxN, Horizon: h, Start: start, Dim: a}, chunk.Bounds{})
	// The running plan started n_action_steps actions ago (the inpaint executor wants the
	// next chunk then); the history holds the actions executed up to t0.
	plan := &chunk.Chunk{T0: sb.t0 - time.Duration(bd.Config.NActionSteps)*sb.dt, Dt: sb.dt, Dim: a,
		Actions: make([]float64, (h-start)*a)}
	for i := range plan.Actions {
		plan.Actions[i] = 0.1 * r.NormFloat64()
	}
	hist := steer.NewHistory(64, a)
	for k := range 64 {
		act := make([]float64, a)
		for i := range act {
			act[i] = 0.1 * r.NormFloat64()
		}
		hist.Add(sb.t0-time.Duration(63-k)*sb.dt, act)
	}
	sb.in = steer.Inputs{Plan: plan, Weak: sb.weakC, History: hist}
	sb.values = make([]float64, maxN)

	if dir := os.Getenv(EnvValueBundle); dir != "" {
		vb, err := steer.LoadBundle(dir)
		if err != nil {
			b.Fatal(err)
		}
		if sb.val, err = steer.NewValue(vb, bd, open, maxN); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { sb.val.Close() })
	}
	return sb
}

// step is one steered policy step of n candidates with s: the policy's batched step
// (normalized, whole horizon), the candidates unnormalized and validated, the weak
// policy's n samples when contrast is on, the value model when value is on, then
// scoring and selection.
func (sb *steerBench) step(b *testing.B, s *steer.Steer, n int) {
	opt := policy.StepOptions{Samples: n, Normalized: true}
	if _, err := sb.p.Step(opt); err != nil {
		b.Fatal(err)
	}
	sb.cand.Unnormalize(sb.p.Raw(), n, &sb.p.Bundle.Action.Norm, sb.t0, sb.dt)
	cfg := s.Config()
	if cfg.Contrast.Weight != 0 {
		if _, err := sb.weak.Step(opt); err != nil {
			b.Fatal(err)
		}
		sb.weakC.Unnormalize(sb.weak.Raw(), n, &sb.weak.Bundle.Action.Norm, sb.t0, sb.dt)
	}
	in := sb.in
	if cfg.Value.Weight != 0 {
		if err := sb.val.Score(sb.values, sb.cand, sb.val.Observation(sb.obs)); err != nil {
			b.Fatal(err)
		}
		in.Values = sb.values[:n]
	}
	if _, err := s.Step(sb.cand, in); err != nil {
		b.Fatal(err)
	}
}

// steerScorers are the configurations the policy benchmarks run: no scorer (argmax of
// zeros: the first valid candidate), each scorer alone, and all four with softmax
// selection.
var steerScorers = []struct {
	name string
	cfg  steer.Config
}{
	{"plain", steer.Config{}},
	{"coherence", steer.Config{Coherence: steer.CoherenceConfig{Weight: 1}}},
	{"contrast", steer.Config{Contrast: steer.ContrastConfig{Weight: 1}}},
	{"past", steer.Config{Past: steer.PastConfig{Weight: 1}}},
	{"value", steer.Config{Value: steer.ValueConfig{Weight: 1}}},
	{"all", steer.Config{Coherence: steer.CoherenceConfig{Weight: 1}, Contrast: steer.ContrastConfig{Weight: 1},
		Past: steer.PastConfig{Weight: 1}, Value: steer.ValueConfig{Weight: 1},
		Select: steer.SelectConfig{Mode: steer.Softmax, Seed: 1}}},
}

// runSteps times b.N steps after one warm-up step (which binds the models for n) and
// reports the median and the 99th percentile of the per-step times in ms besides ns/op.
func runSteps(b *testing.B, sb *steerBench, s *steer.Steer, n int) {
	sb.step(b, s, n)
	times := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t := time.Now()
		sb.step(b, s, n)
		times = append(times, time.Since(t))
	}
	b.StopTimer()
	slices.Sort(times)
	q := func(p float64) float64 {
		return float64(times[min(len(times)-1, int(p*float64(len(times))))]) / 1e6
	}
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// BenchmarkPolicyStep times a steered step of the reference diffusion policy
// (models/pickplace_diffusion: two 96x96 cameras, 10 DDIM steps, horizon 16, 10 action
// values) with N = 1, 4, 8, 16 candidates drawn in one batched call, for each scorer
// configuration (steerScorers). contrast runs the weak stand-in's N samples as well (two
// policy steps); value and all need $ROBOTD_STEER_VALUE_BUNDLE:
//
//	/usr/bin/python3 tools/train/steer_bench.py --write-value /tmp/value
//	ROBOTD_STEER_VALUE_BUNDLE=/tmp/value go test -run '^$' -bench BenchmarkPolicyStep -benchtime 20x ./policy/steer/
//
// scripts/bench.d/steer.sh runs it beside its PyTorch peer (tools/train/steer_bench.py).
func BenchmarkPolicyStep(b *testing.B) {
	ns := []int{1, 4, 8, 16}
	sb := newSteerBench(b, slices.Max(ns))
	for _, n := range ns {
		for _, sc := range steerScorers {
			b.Run(fmt.Sprintf("N=%d/%s", n, sc.name), func(b *testing.B) {
				if sc.cfg.Value.Weight != 0 && sb.val == nil {
					b.Skipf("no value bundle: set $%s", EnvValueBundle)
				}
				s, err := steer.New(sc.cfg, n)
				if err != nil {
					b.Fatal(err)
				}
				runSteps(b, sb, s, n)
			})
		}
	}
}

// EnvBudgetN lists the candidate counts BenchmarkPolicyStepBudget tries (comma-separated;
// default 16,32,48,64).
const EnvBudgetN = "ROBOTD_STEER_BUDGET_N"

// BenchmarkPolicyStepBudget times the most expensive configuration (all four scorers, the
// weak stand-in sampled too) at larger N, to find the largest N whose p99 fits the
// executor's latency budget (scripts/bench.d/steer.sh says which budget and why):
//
//	ROBOTD_STEER_VALUE_BUNDLE=/tmp/value go test -run '^$' -bench BenchmarkPolicyStepBudget -benchtime 20x ./policy/steer/
func BenchmarkPolicyStepBudget(b *testing.B) {
	ns := []int{16, 32, 48, 64}
	if env := os.Getenv(EnvBudgetN); env != "" {
		ns = ns[:0]
		for _, f := range strings.Split(env, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				b.Fatalf("$%s: %q is not a candidate count", EnvBudgetN, f)
			}
			ns = append(ns, n)
		}
	}
	all := steerScorers[len(steerScorers)-1]
	sb := newSteerBench(b, slices.Max(ns))
	if sb.val == nil {
		b.Skipf("no value bundle: set $%s", EnvValueBundle)
	}
	for _, n := range ns {
		b.Run(fmt.Sprintf("N=%d/all", n), func(b *testing.B) {
			s, err := steer.New(all.cfg, n)
			if err != nil {
				b.Fatal(err)
			}
			runSteps(b, sb, s, n)
		})
	}
}
