package policy

import (
	"math"
	"testing"
)

// oracle is a denoiser that knows the clean sample x0 (and, for flow, the starting
// noise): it returns the exact epsilon, sample, v or velocity for any x at timestep t.
type oracle struct {
	sched      *Scheduler
	prediction string
	x0, noise  []float32
}

func (o *oracle) Denoise(x []float32, t float64, out []float32) error {
	if o.sched == nil { // flow: the straight path's velocity
		for i := range x {
			out[i] = o.x0[i] - o.noise[i]
		}
		return nil
	}
	a := o.sched.AlphaCumprod(int(t))
	sa, sb := math.Sqrt(a), math.Sqrt(1-a)
	for i, xt := range x {
		eps := (float64(xt) - sa*float64(o.x0[i])) / sb
		switch o.prediction {
		case "epsilon":
			out[i] = float32(eps)
		case "sample":
			out[i] = o.x0[i]
		case "v_prediction":
			out[i] = float32(sa*eps - sb*float64(o.x0[i]))
		}
	}
	return nil
}

// TestSamplersRecoverOracleSample: with a denoiser that predicts perfectly, every sampler,
// schedule and prediction type must end exactly on the clean sample.
func TestSamplersRecoverOracleSample(t *testing.T) {
	const h, a = 4, 3
	x0 := make([]float32, 2*h*a) // a batch of two
	for i := range x0 {
		x0[i] = float32(math.Sin(float64(i))) * 0.9
	}
	for _, sampler := range []string{"ddpm", "ddim"} {
		for _, sched := range betaSchedules {
			for _, pred := range predictionTypes {
				for _, eta := range []float64{0, 0.5} {
					if sampler == "ddpm" && eta > 0 {
						continue
					}
					cfg := &Config{Kind: KindDiffusion, Diffusion: &DiffusionConfig{
						NumTrainTimesteps: 100, BetaSchedule: sched, BetaStart: 1e-4, BetaEnd: 0.02,
						PredictionType: pred, Sampler: sampler, NumInferenceSteps: 7, ClipSample: true, ClipSampleRange: 1, Eta: eta,
					}}
					if err := cfg.Diffusion.validate(cfg.Kind); err != nil {
						t.Fatal(err)
					}
					s, err := NewSampler(cfg)
					if err != nil {
						t.Fatal(err)
					}
					x := make([]float32, len(x0))
					noise := NewSeededNoise(1)
					noise.Normal(x)
					scratch, stepNoise := make([]float32, len(x)), make([]float32, len(x))
					o := &oracle{sched: s.Scheduler(), prediction: pred, x0: x0}
					if err := s.Sample(o, x, h, a, noise, nil, scratch, stepNoise); err != nil {
						t.Fatal(err)
					}
					for i := range x {
						if math.Abs(float64(x[i]-x0[i])) > 2e-5 {
							t.Errorf("%s %s %s eta %g: x[%d] = %v, want %v", sampler, sched, pred, eta, i, x[i], x0[i])
							break
						}
					}
				}
			}
		}
	}
}

func TestFlowEulerRecoversOracle(t *testing.T) {
	cfg := &Config{Kind: KindFlow, Diffusion: &DiffusionConfig{Sampler: "euler", NumInferenceSteps: 5}}
	s, err := NewSampler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	x0 := []float32{0.5, -0.25, 0.75, 0.1, 0.2, -0.3}
	x := make([]float32, len(x0))
	NewSeededNoise(2).Normal(x)
	o := &oracle{x0: x0, noise: append([]float32(nil), x...)}
	prefix := &Prefix{Start: 0, Len: 1, Values: []float32{0.5, -0.25, 0.75}}
	if err := s.Sample(o, x, 2, 3, nil, prefix, make([]float32, len(x)), nil); err != nil {
		t.Fatal(err)
	}
	for i := range x {
		if math.Abs(float64(x[i]-x0[i])) > 1e-6 {
			t.Errorf("x[%d] = %v, want %v", i, x[i], x0[i])
		}
	}
}

// TestSchedulerTables checks the schedules against values computed by diffusers
// (scheduling_ddim.py at 58eb52c; policy/testdata/README.md).
func TestSchedulerTables(t *testing.T) {
	s, err := NewScheduler(&DiffusionConfig{NumTrainTimesteps: 100, BetaSchedule: "squaredcos_cap_v2", NumInferenceSteps: 10, Sampler: "ddim"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Timesteps(); len(got) != 10 || got[0] != 90 || got[9] != 0 {
		t.Errorf("timesteps %v, want 90 80 ... 0", got)
	}
	// At t = 90 the cosine schedule's alpha_bar is 0.0195 (the fixture generator's note).
	if a := s.AlphaCumprod(90); math.Abs(a-0.0195) > 5e-4 {
		t.Errorf("alpha_bar(90) = %v, want about 0.0195", a)
	}
	lin, _ := NewScheduler(&DiffusionConfig{NumTrainTimesteps: 1000, BetaSchedule: "linear", BetaStart: 1e-4, BetaEnd: 0.02, NumInferenceSteps: 50, StepsOffset: 1, Sampler: "ddim"})
	if got := lin.Timesteps(); got[0] != 981 || got[49] != 1 {
		t.Errorf("linear timesteps start %d end %d, want 981 and 1 (leading spacing + steps_offset)", got[0], got[49])
	}
	// alpha_bar(0) = 1 - beta_start.
	if a := lin.AlphaCumprod(0); math.Abs(a-(1-1e-4)) > 1e-7 {
		t.Errorf("alpha_bar(0) = %v", a)
	}
}
