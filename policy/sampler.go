package policy

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Denoiser is one evaluation of a diffusion or flow network on a batch of samples x
// ([B, H, A] flattened): t is the diffusion timestep (an integer in [0,
// num_train_timesteps)) or the flow time in [0, 1]. It writes the network output (noise,
// sample, v or velocity prediction) into out, the size of x.
type Denoiser interface {
	Denoise(x []float32, t float64, out []float32) error
}

// Noise fills dst with independent standard normal samples.
type Noise interface {
	Normal(dst []float32)
}

// SeededNoise is a Noise from a seeded PCG generator: the same seed gives the same samples.
type SeededNoise struct{ r *rand.Rand }

// NewSeededNoise returns a generator seeded with seed.
func NewSeededNoise(seed uint64) *SeededNoise {
	return &SeededNoise{r: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

// Normal implements Noise.
func (n *SeededNoise) Normal(dst []float32) {
	for i := range dst {
		dst[i] = float32(n.r.NormFloat64())
	}
}

// Prefix freezes actions [Start, Start+Len) of every sample in the batch to Values
// (normalized, Len*A) at every denoising step: Diffusion Policy's condition-mask
// inpainting, used to join a new chunk to the actions that execute while it is computed.
type Prefix struct {
	Start  int
	Len    int
	Values []float32
}

func (p *Prefix) apply(x []float32, horizon, dim int) {
	if p == nil || p.Len == 0 {
		return
	}
	for b := 0; b < len(x)/(horizon*dim); b++ {
		copy(x[(b*horizon+p.Start)*dim:(b*horizon+p.Start+p.Len)*dim], p.Values[:p.Len*dim])
	}
}

// Scheduler holds a diffusers-compatible noise schedule and the DDPM / DDIM update rules.
// Its tables follow diffusers: betas and their cumulative product in float32, timesteps
// with "leading" spacing (t_k = (n-1-k) * (T / n) + steps_offset), and the previous
// timestep t - T/n.
type Scheduler struct {
	cfg           DiffusionConfig
	alphasCumprod []float64 // float32-rounded, as diffusers computes them
	final         float64   // alpha_prod after the last step (DDIM set_alpha_to_one)
	timesteps     []int
	stepRatio     int
}

// NewScheduler builds the schedule of a validated diffusion section.
func NewScheduler(cfg *DiffusionConfig) (*Scheduler, error) {
	T, n := cfg.NumTrainTimesteps, cfg.NumInferenceSteps
	if T < 1 || n < 1 || n > T {
		return nil, fmt.Errorf("scheduler: num_inference_steps %d with num_train_timesteps %d", n, T)
	}
	betas := make([]float32, T)
	switch cfg.BetaSchedule {
	case "linear":
		linspace32(betas, cfg.BetaStart, cfg.BetaEnd)
	case "scaled_linear":
		linspace32(betas, math.Sqrt(cfg.BetaStart), math.Sqrt(cfg.BetaEnd))
		for i, b := range betas {
			betas[i] = b * b
		}
	case "squaredcos_cap_v2":
		// Nichol & Dhariwal's cosine schedule, each beta capped at 0.999.
		alphaBar := func(t float64) float64 {
			c := math.Cos((t + 0.008) / 1.008 * math.Pi / 2)
			return c * c
		}
		for i := range betas {
			b := 1 - alphaBar(float64(i+1)/float64(T))/alphaBar(float64(i)/float64(T))
			betas[i] = float32(min(b, 0.999))
		}
	default:
		return nil, fmt.Errorf("scheduler: beta_schedule: unknown %q", cfg.BetaSchedule)
	}
	s := &Scheduler{cfg: *cfg, alphasCumprod: make([]float64, T), stepRatio: T / n}
	prod := float32(1)
	for i, b := range betas {
		prod *= 1 - b
		s.alphasCumprod[i] = float64(prod)
	}
	s.final = s.alphasCumprod[0]
	if cfg.AlphaToOne() {
		s.final = 1
	}
	s.timesteps = make([]int, n)
	for k := range n {
		s.timesteps[k] = (n-1-k)*s.stepRatio + cfg.StepsOffset
	}
	return s, nil
}

// linspace32 fills dst with n evenly spaced values from a to b, rounded to float32.
func linspace32(dst []float32, a, b float64) {
	n := len(dst)
	for i := range dst {
		if n == 1 {
			dst[i] = float32(a)
			continue
		}
		dst[i] = float32(a + (b-a)*float64(i)/float64(n-1))
	}
}

// Timesteps returns the inference timesteps, from the noisiest to the last.
func (s *Scheduler) Timesteps() []int { return s.timesteps }

// AlphaCumprod returns alpha_bar at timestep t (float32-rounded, as diffusers stores it).
func (s *Scheduler) AlphaCumprod(t int) float64 { return s.alphasCumprod[t] }

// Step writes into prev the sample at the timestep after timesteps[k], from the current
// sample and the network output at timesteps[k]. noise (the size of sample) is read by
// DDPM when timesteps[k] > 0 and by DDIM when eta > 0; otherwise it may be nil. prev may
// alias sample.
func (s *Scheduler) Step(k int, out, sample, noise, prev []float32) {
	t := s.timesteps[k]
	tPrev := t - s.stepRatio
	aT := s.alphasCumprod[t]
	aPrev := s.final
	if tPrev >= 0 {
		aPrev = s.alphasCumprod[tPrev]
	} else if s.cfg.Sampler == "ddpm" {
		aPrev = 1
	}
	bT, bPrev := 1-aT, 1-aPrev
	sqA, sqB := math.Sqrt(aT), math.Sqrt(bT)
	clip := s.cfg.ClipSample
	r := s.cfg.ClipSampleRange

	if s.cfg.Sampler == "ddpm" {
		curA := aT / aPrev
		curB := 1 - curA
		cX0 := math.Sqrt(aPrev) * curB / bT // pred_original_sample_coeff
		cXt := math.Sqrt(curA) * bPrev / bT // current_sample_coeff
		std := 0.0
		if t > 0 {
			std = math.Sqrt(max(bPrev/bT*curB, 1e-20)) // fixed_small variance
		}
		for i, xt := range sample {
			x0, _ := s.predict(float64(out[i]), float64(xt), sqA, sqB)
			if clip {
				x0 = max(-r, min(r, x0))
			}
			v := cX0*x0 + cXt*float64(xt)
			if std > 0 {
				v += std * float64(noise[i])
			}
			prev[i] = float32(v)
		}
		return
	}

	// DDIM (Song et al. eq. 12), eta scales the injected noise.
	variance := bPrev / bT * (1 - aT/aPrev)
	std := s.cfg.Eta * math.Sqrt(variance)
	dir := math.Sqrt(max(1-aPrev-std*std, 0))
	sqAPrev := math.Sqrt(aPrev)
	for i, xt := range sample {
		x0, eps := s.predict(float64(out[i]), float64(xt), sqA, sqB)
		if clip {
			x0 = max(-r, min(r, x0))
		}
		v := sqAPrev*x0 + dir*eps
		if std > 0 {
			v += std * float64(noise[i])
		}
		prev[i] = float32(v)
	}
}

// predict converts a network output into the predicted clean sample and noise.
func (s *Scheduler) predict(out, xt, sqA, sqB float64) (x0, eps float64) {
	switch s.cfg.PredictionType {
	case "sample":
		return out, (xt - sqA*out) / sqB
	case "v_prediction":
		return sqA*xt - sqB*out, sqA*out + sqB*xt
	default: // epsilon
		return (xt - sqB*out) / sqA, out
	}
}

// Sampler runs a full reverse process: DDPM or DDIM over a Scheduler, or Euler steps of a
// flow-matching velocity field. It holds no buffers: the caller owns the sample and scratch.
type Sampler struct {
	sched     *Scheduler // nil for flow
	steps     int
	clip      bool
	clipRange float64
}

// NewSampler returns the sampler of a validated bundle configuration.
func NewSampler(cfg *Config) (*Sampler, error) {
	if cfg.Diffusion == nil {
		return nil, errors.New("sampler: bundle has no diffusion section")
	}
	d := cfg.Diffusion
	s := &Sampler{steps: d.NumInferenceSteps, clip: d.ClipSample, clipRange: d.ClipSampleRange}
	if cfg.Kind != KindFlow {
		sched, err := NewScheduler(d)
		if err != nil {
			return nil, err
		}
		s.sched = sched
	}
	return s, nil
}

// Scheduler returns the diffusion schedule (nil for flow matching).
func (s *Sampler) Scheduler() *Scheduler { return s.sched }

// Sample turns the initial noise in x ([B, horizon, dim]) into samples, in place. noise
// supplies the per-step noise of DDPM and DDIM with eta > 0 (nil otherwise is allowed);
// prefix, when not nil, is frozen at every step. out is scratch the size of x, and
// stepNoise too when noise is used.
func (s *Sampler) Sample(den Denoiser, x []float32, horizon, dim int, noise Noise, prefix *Prefix, out, stepNoise []float32) error {
	if len(out) < len(x) {
		return fmt.Errorf("sampler: scratch of %d for %d values", len(out), len(x))
	}
	out = out[:len(x)]
	if s.sched == nil {
		// Flow matching: x_t = (1 - t) noise + t action, dx/dt = v; Euler from t=0 to 1.
		dt := 1 / float64(s.steps)
		for k := range s.steps {
			prefix.apply(x, horizon, dim)
			if err := den.Denoise(x, float64(k)*dt, out); err != nil {
				return fmt.Errorf("sampler: step %d: %w", k, err)
			}
			for i, v := range out {
				x[i] += float32(dt * float64(v))
			}
		}
		if s.clip {
			r := float32(s.clipRange)
			for i, v := range x {
				x[i] = max(-r, min(r, v))
			}
		}
		prefix.apply(x, horizon, dim)
		return nil
	}
	needNoise := s.sched.cfg.Sampler == "ddpm" || s.sched.cfg.Eta > 0
	if needNoise {
		if noise == nil {
			return errors.New("sampler: ddpm and ddim with eta > 0 need a noise source")
		}
		if len(stepNoise) < len(x) {
			return fmt.Errorf("sampler: noise scratch of %d for %d values", len(stepNoise), len(x))
		}
		stepNoise = stepNoise[:len(x)]
	}
	for k, t := range s.sched.timesteps {
		prefix.apply(x, horizon, dim)
		if err := den.Denoise(x, float64(t), out); err != nil {
			return fmt.Errorf("sampler: step %d (timestep %d): %w", k, t, err)
		}
		var nz []float32
		if needNoise && (t > 0 || s.sched.cfg.Sampler == "ddim") {
			noise.Normal(stepNoise)
			nz = stepNoise
		}
		s.sched.Step(k, out, x, nz, x)
	}
	prefix.apply(x, horizon, dim)
	return nil
}
