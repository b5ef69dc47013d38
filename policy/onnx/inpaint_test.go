package onnx_test

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/chunk"
)

// loopResult is what a closed loop of policy steps and an executor produced.
type loopResult struct {
	maxJump  float64 // largest setpoint change between consecutive 1 ms ticks
	maxSlope float64 // largest per-tick change inside any chunk (linear interpolation)
	chunks   int
	stats    chunk.Stats
}

// runLoop drives the real diffusion policy (ONNX denoiser, DDIM in Go) and an executor
// for 6 s of 1 ms ticks: whenever the executor wants a chunk the policy observes at t,
// computes with fresh noise, and the chunk arrives latency later. With inpaint, the
// actions the executor will run during that latency are frozen into the new chunk.
func runLoop(t *testing.T, p *policy.Policy, cfg chunk.Config, inpaint bool, latency time.Duration) loopResult {
	t.Helper()
	ex, err := chunk.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	run := readNPZ(t, filepath.Join(testdata, "unet", "ddim_run.npz"))
	state := float32s(t, run, "observation.state")[:7]
	img := float32s(t, run, "observation.images.wrist")[:3*48*48]
	dim := cfg.Dim
	var (
		res      loopResult
		pending  *chunk.Chunk
		arrival  time.Duration
		seed     uint64
		plan     = make([]float64, cfg.Horizon*dim)
		prefix   = make([]float32, cfg.Horizon*dim)
		sp, prev = make([]float64, dim), make([]float64, dim)
		started  bool
	)
	nPrefix := int(latency/p.Dt()) + 2
	for now := time.Duration(0); now < 6*time.Second; now += time.Millisecond {
		if pending != nil && now >= arrival {
			if err := ex.Push(now, pending); err != nil {
				t.Fatal(err)
			}
			pending = nil
		}
		if pending == nil && (res.chunks == 0 || ex.Want(now)) {
			if err := p.Observe(policy.Observation{Time: now, Values: [][]float32{img, state}}); err != nil {
				t.Fatal(err)
			}
			seed++
			opt := policy.StepOptions{Rand: policy.NewSeededNoise(seed)}
			if inpaint && res.chunks > 0 {
				n := ex.Plan(now, nPrefix, plan)
				for i, v := range plan[:n*dim] {
					prefix[i] = float32(v)
				}
				opt.Prefix = prefix[:n*dim]
			}
			actions, err := p.Step(opt)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range opt.Prefix {
				if math.Abs(float64(actions[i]-v)) > 1e-4*(1+math.Abs(float64(v))) {
					t.Fatalf("inpainted action value %d is %v, the frozen prefix %v", i, actions[i], v)
				}
			}
			pending = &chunk.Chunk{}
			p.ToChunk(pending, actions, 0, p.ObservedAt())
			for i := 1; i < pending.Len(); i++ {
				for j := range dim {
					slope := math.Abs(pending.At(i)[j]-pending.At(i - 1)[j]) * float64(time.Millisecond) / float64(pending.Dt)
					res.maxSlope = max(res.maxSlope, slope)
				}
			}
			arrival = now + latency
			res.chunks++
		}
		if !ex.Setpoint(now, sp) {
			continue
		}
		if started {
			for j := range dim {
				res.maxJump = max(res.maxJump, math.Abs(sp[j]-prev[j]))
			}
		}
		copy(prev, sp)
		started = true
	}
	res.stats = ex.Stats()
	return res
}

// TestInpaintedChunksJoin runs the fixture diffusion policy closed loop with 150 ms of
// inference latency. Consecutive chunks come from independent noise, so switching to a
// new chunk (async latest) jumps; with the executed prefix inpainted into every denoising
// step, the switch is no larger than the chunks' own per-tick motion.
func TestInpaintedChunksJoin(t *testing.T) {
	p := load(t, "unet", 0)
	base := chunk.Config{Horizon: p.Bundle.Config.Horizon - p.Start(), Dim: p.Bundle.ActionDim(), Dt: p.Dt(), NActionSteps: p.Bundle.Config.NActionSteps}
	latency := 150 * time.Millisecond
	with := func(s chunk.Strategy, b chunk.Blend) chunk.Config { c := base; c.Strategy, c.Blend = s, b; return c }
	results := map[string]loopResult{
		"receding":     runLoop(t, p, with(chunk.Receding, ""), false, latency),
		"async latest": runLoop(t, p, with(chunk.Async, chunk.Latest), false, latency),
		"inpaint":      runLoop(t, p, with(chunk.Inpaint, ""), true, latency),
	}
	t.Logf("%-13s %9s %9s %7s %8s %8s", "strategy", "max jump", "max slope", "chunks", "starved", "skipped")
	for _, name := range []string{"receding", "async latest", "inpaint"} {
		r := results[name]
		t.Logf("%-13s %9.4f %9.4f %7d %8d %8d", name, r.maxJump, r.maxSlope, r.chunks, r.stats.Starved, r.stats.Skipped)
		if r.chunks < 6 {
			t.Errorf("%s: only %d chunks in 6 s", name, r.chunks)
		}
	}
	in, latest := results["inpaint"], results["async latest"]
	if in.maxJump > in.maxSlope*1.001+1e-5 {
		t.Errorf("inpainted chunks jump %.4f per tick, more than their own motion %.4f", in.maxJump, in.maxSlope)
	}
	if latest.maxJump < 10*in.maxJump {
		t.Errorf("switching to independent chunks jumps only %.4f, inpainted %.4f: the comparison shows nothing", latest.maxJump, in.maxJump)
	}
	if in.stats.Starved != 0 {
		t.Errorf("inpaint starved %d ticks", in.stats.Starved)
	}
}
