package steer

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/robotd/robotd/policy"
)

// NoiseConfig is the launch file's steering.noise section: the noise policy.
type NoiseConfig struct {
	// Bundle is the steering bundle directory of kind noise; "" leaves the noise policy
	// off (the policy draws its own Gaussian noise).
	Bundle string `yaml:"bundle"`
	// Bound clips every noise value to [-Bound, Bound], in the normalized action space
	// (standard deviations of the sampler's Gaussian); default 3, must be > 0. It keeps a
	// noise policy that extrapolates from handing the sampler noise far outside what the
	// policy was trained on (DSRL bounds its latent actions the same way).
	Bound float64 `yaml:"bound"`
}

// DefaultNoiseBound is NoiseConfig.Bound's default.
const DefaultNoiseBound = 3

// SetDefaults fills the zero fields with their defaults.
func (c *NoiseConfig) SetDefaults() {
	if c.Bound == 0 {
		c.Bound = DefaultNoiseBound
	}
}

// Validate checks the ranges (after SetDefaults); the error names the key,
// steering.noise.bound.
func (c NoiseConfig) Validate() error {
	if !(c.Bound > 0) || math.IsInf(c.Bound, 0) {
		return fmt.Errorf("steering.noise.bound: must be > 0 and finite, got %v", c.Bound)
	}
	return nil
}

// CheckDeterministic returns nil when p's sampler maps the initial noise to the actions
// deterministically, which a noise policy needs (its choice of noise would otherwise be
// drowned by the sampler's own per-step noise): kind flow (Euler integration) and kind
// diffusion with sampler ddim and eta 0. Otherwise the error names the policy and its
// sampler.
func CheckDeterministic(p *policy.Config) error {
	const need = "steering.noise needs a deterministic sampler (ddim with eta 0, or flow)"
	switch {
	case p.Kind == policy.KindFlow:
		return nil
	case p.Kind == policy.KindChunked || p.Diffusion == nil:
		return fmt.Errorf("%s; policy %s is kind %s, which takes no noise", need, p.Name, p.Kind)
	case p.Diffusion.Sampler == "ddim" && p.Diffusion.Eta == 0:
		return nil
	case p.Diffusion.Sampler == "ddim":
		return fmt.Errorf("%s; policy %s uses ddim with eta %v", need, p.Name, p.Diffusion.Eta)
	default:
		return fmt.Errorf("%s; policy %s uses %s", need, p.Name, p.Diffusion.Sampler)
	}
}

// Noise is the noise policy (DSRL: Wagenmaker et al. 2025, "Steering Your Diffusion
// Policy with Latent Space Reinforcement Learning", arXiv:2506.15799): a model from the
// latest observation features to the initial noise of a frozen diffusion or flow policy's
// deterministic sampler, over the whole horizon in the normalized action space, which the
// caller passes as policy.StepOptions.Noise. The policy's weights are untouched; the
// noise policy is what was trained (by RL, in the noise space).
//
// The model takes each observation feature the bundle names, normalized as declared, and,
// when it has an input named eps, count x horizon x A standard normal draws from the
// caller: a stochastic noise policy in reparameterized form, so that N candidates get N
// different noises. Without eps every candidate gets the same noise. Its output is
// bounded per value (NoiseConfig.Bound). A Noise is used by one goroutine; after the first
// Sample with a given count (which binds the model for that batch size), Sample allocates
// nothing.
type Noise struct {
	Bundle *Bundle

	cfg     NoiseConfig
	model   policy.Model
	axes    policy.ModelAxes
	eps     bool // the model has an eps input
	obsNorm []*policy.Normalizer
	obsIdx  []int
	obs     [][]float32
	per     int // horizon x A
	maxN    int
	bound   []*noiseBatch // by count, nil until first used
}

// noiseBatch is the model bound for one batch size with its buffers.
type noiseBatch struct {
	bd  policy.Binding
	obs [][]float32 // one per Bundle.Observations, n rows
	eps []float32   // n x horizon x A; nil without an eps input
	out []float32   // n x horizon x A
}

// NoiseStep reports one Sample call.
type NoiseStep struct {
	// Clipped counts the values whose magnitude exceeded the bound and were clipped to it.
	Clipped int
	// NonFinite counts the values that were NaN (replaced by 0) or infinite (clipped to
	// the bound with their sign); they are not counted in Clipped.
	NonFinite int
	// RMS is the root mean square of the noise written, after bounding.
	RMS float64
}

// NewNoise opens the noise model of b with open for at most maxN candidates per step. p is
// the policy bundle whose sampler the noise feeds: it must be deterministic
// (CheckDeterministic; a chunked policy takes no noise) and b must fit it (Bundle.Fit),
// both checked before the model is opened; without statistics of its own b normalizes the
// observation with p's. The model's tensors must fit what b declares and it is bound for
// a batch of maxN; any mismatch is an error naming the tensor. cfg is taken with its
// defaults filled and must be valid.
func NewNoise(b *Bundle, p *policy.Bundle, open policy.Open, maxN int, cfg NoiseConfig) (*Noise, error) {
	if b.Config.Kind != KindNoise {
		return nil, fmt.Errorf("steering bundle %s: kind %s, want noise", b.Dir, b.Config.Kind)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if maxN < 1 {
		return nil, fmt.Errorf("steer: noise: max candidates %d, want >= 1", maxN)
	}
	if p == nil {
		return nil, errors.New("steer: noise: no policy bundle to fit")
	}
	if err := CheckDeterministic(&p.Config); err != nil {
		return nil, err
	}
	if err := b.Fit(p); err != nil {
		return nil, err
	}
	n := &Noise{Bundle: b, cfg: cfg, maxN: maxN, bound: make([]*noiseBatch, maxN+1),
		per: b.Config.Horizon * b.Action.Size}
	n.obsNorm, n.obsIdx = observationMap(b, p)
	n.obs = make([][]float32, len(b.Observations))
	m, axes, err := openModel(b, open)
	if err != nil {
		return nil, err
	}
	n.model, n.axes, n.eps = m, axes, hasInput(m, EpsInput)
	if _, err := n.batch(maxN); err != nil {
		m.Close()
		return nil, err
	}
	return n, nil
}

// observationMap returns, for each of b's observation features, the normalizer it is
// normalized with (the bundle's own, or p's) and its index in p's observations (Fit has
// checked that p has it).
func observationMap(b *Bundle, p *policy.Bundle) ([]*policy.Normalizer, []int) {
	var norms []*policy.Normalizer
	var idx []int
	for _, in := range b.Observations {
		i := slices.IndexFunc(p.Observations, func(f policy.Feature) bool { return f.Name == in.Name })
		idx = append(idx, i)
		if in.norm != nil {
			norms = append(norms, in.norm)
		} else {
			norms = append(norms, &p.Observations[i].Norm)
		}
	}
	return norms, idx
}

// resolveNoise checks a noise model's tensors against b: one float32 input per
// observation feature, optionally eps [horizon, A], and the output [horizon, A] (either
// may be flattened).
func resolveNoise(b *Bundle, m policy.Model) (policy.ModelAxes, error) {
	chunk := []policy.Span{{N: int64(b.Config.Horizon), What: "horizon"}, {N: int64(b.Action.Size), What: "action dim 0"}}
	want := map[string]policy.Expect{EpsInput: expect(chunk)}
	var need []string
	for _, in := range b.Observations {
		want[in.Name] = expect(featureSpans(in))
		need = append(need, in.Name)
	}
	return resolveModel(b, m, "candidates per step", want, need, expect(chunk))
}

// batch returns the model bound for n candidates, binding it on first use.
func (n *Noise) batch(count int) (*noiseBatch, error) {
	if nb := n.bound[count]; nb != nil {
		return nb, nil
	}
	bd, err := n.model.Bind(count, n.axes.Dims)
	if err != nil {
		return nil, err
	}
	nb := &noiseBatch{bd: bd, out: bd.Float32(n.Bundle.Config.Output)}
	if n.eps {
		nb.eps = bd.Float32(EpsInput)
	}
	for _, in := range n.Bundle.Observations {
		nb.obs = append(nb.obs, bd.Float32(in.Name))
	}
	n.bound[count] = nb
	return nb, nil
}

// Axes reports what the model's batch axis and dynamic axes are bound to.
func (n *Noise) Axes() policy.ModelAxes { return n.axes }

// Stochastic reports whether the model takes eps: then Sample needs count x horizon x A
// standard normal draws, and each candidate gets its own noise.
func (n *Noise) Stochastic() bool { return n.eps }

// Observation returns the features the model takes from o, an observation of the policy
// bundle NewNoise was given (one slice per feature in Bundle.Observations order): the obs
// argument of Sample. The slice is the Noise's, valid until the next call; it allocates
// nothing.
func (n *Noise) Observation(o policy.Observation) [][]float32 {
	for k, i := range n.obsIdx {
		n.obs[k] = o.Values[i]
	}
	return n.obs
}

// Sample writes count x horizon x A bounded noise values into dst, in the normalized
// action space (policy.StepOptions.Noise for Samples = count): one batched model run.
// obs holds the latest value of each of Bundle.Observations, in order, in dataset units.
// eps holds count x horizon x A standard normal draws when the model has an eps input
// (Stochastic) and is ignored otherwise (it may be nil). A NaN value becomes 0, an
// infinite one ±Bound (both counted as NonFinite), any other beyond ±Bound is clipped to
// it (counted as Clipped). It returns the model's error. It panics when count is not in
// [1, maxN], obs does not hold the features, eps (when needed) or dst is too short: those
// are the caller's mistakes.
func (n *Noise) Sample(obs [][]float32, count int, eps []float32, dst []float32) (NoiseStep, error) {
	var st NoiseStep
	b, total := n.Bundle, count*n.per
	if count < 1 || count > n.maxN {
		panic(fmt.Sprintf("steer: noise: %d candidates, want 1 to %d", count, n.maxN))
	}
	if len(obs) != len(b.Observations) {
		panic(fmt.Sprintf("steer: noise: %d observation features, the bundle takes %d", len(obs), len(b.Observations)))
	}
	if len(dst) < total || n.eps && len(eps) < total {
		panic(fmt.Sprintf("steer: noise: dst has %d values, eps %d; %d candidates x horizon %d x action %d need %d",
			len(dst), len(eps), count, b.Config.Horizon, b.Action.Size, total))
	}
	nb, err := n.batch(count)
	if err != nil {
		return st, err
	}
	fillObservations("noise", b.Observations, n.obsNorm, obs, nb.obs, count)
	if n.eps {
		copy(nb.eps, eps[:total])
	}
	if err := nb.bd.Run(); err != nil {
		return st, fmt.Errorf("steer: noise: %w", err)
	}
	return boundNoise(dst[:total], nb.out[:total], n.cfg.Bound), nil
}

// boundNoise writes src (a noise model's or an agent's output, normalized action space)
// into dst bounded: NaN -> 0 and ±Inf -> ±bound (counted as NonFinite), any other value
// beyond ±bound clipped to it (counted as Clipped). dst may be src.
func boundNoise(dst, src []float32, bound float64) NoiseStep {
	var st NoiseStep
	sum := 0.0
	for i, v := range src {
		x := float64(v)
		switch {
		case math.IsNaN(x):
			x = 0
			st.NonFinite++
		case math.IsInf(x, 0):
			x = math.Copysign(bound, x)
			st.NonFinite++
		case x > bound || x < -bound:
			x = math.Copysign(bound, x)
			st.Clipped++
		}
		dst[i] = float32(x)
		sum += x * x
	}
	if len(src) > 0 {
		st.RMS = math.Sqrt(sum / float64(len(src)))
	}
	return st
}

// Close releases the model and its bindings.
func (n *Noise) Close() error {
	var errs []error
	for _, nb := range n.bound {
		if nb != nil {
			errs = append(errs, nb.bd.Close())
		}
	}
	return errors.Join(append(errs, n.model.Close())...)
}
