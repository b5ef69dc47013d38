package policy

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/robotd/robotd/policy/chunk"
)

// Observation is one time step of observation features in dataset units (images: float
// CHW in [0, 1]), one slice per feature in Bundle.Observations order.
type Observation struct {
	Time   time.Duration
	Values [][]float32
}

// StepOptions tune one policy step. The zero value draws one sample with the policy's
// seeded noise.
type StepOptions struct {
	// Samples is the number of action sequences drawn in one batched call (diffusion and
	// flow); 0 means 1.
	Samples int
	// Noise, when set, is the initial noise in the normalized action space, Samples x
	// horizon x action values (noise-space steering); otherwise it is drawn from Rand.
	Noise []float32
	// Rand supplies the initial and per-step noise; nil uses the policy's own generator.
	Rand Noise
	// Prefix holds actions in dataset units (a whole number of actions) that the new
	// chunk must start with: the actions that execute while it is computed. Diffusion and
	// flow policies freeze them at every denoising step (inpainting); chunked policies
	// reject a prefix.
	Prefix []float32
	// Normalized skips unnormalization and the finiteness check: Step returns nil actions
	// and Raw holds the N samples, normalized, whole horizon. Steering takes them this way,
	// so that one non-finite sample rejects that candidate only, not the whole batch.
	Normalized bool
}

// Policy runs a bundle: observation history, normalization, the network(s), the sampler
// and unnormalization. A Policy is used by one goroutine; Step allocates nothing once a
// batch size has been used.
type Policy struct {
	Bundle *Bundle

	models  []Model
	axes    []ModelAxes
	history *history

	// chunked
	net       Binding
	netInputs [][]float32

	// diffusion / flow
	sampler      *Sampler
	encoder      Binding
	encInputs    [][]float32
	cond         []float32 // encoder output (or the flattened history)
	denoiser     Model
	denoiserDims Dims // the denoiser's axes after the batch axis (Bind)
	denoisers    map[int]*netDenoiser
	condMask     bool    // the denoiser takes a cond_mask input
	guidance     float64 // classifier-free guidance weight w (SetGuidance), 1 unless set
	rand         Noise
	seed         uint64 // Options.Seed
	prefix       Prefix
	condSize     int
	x, scratch   []float32 // [N, H, A] sample and sampler scratch
	stepNoise    []float32
	rawLen       int       // values of x the last step produced
	out          []float32 // unnormalized result
}

// Options configure Load.
type Options struct {
	// Seed seeds the policy's noise generator (diffusion and flow).
	Seed uint64
}

// Load opens the bundle's models with open and checks them against the bundle: every
// input and output a contract names, with the element type and the shape the features
// imply. The error names the model, the tensor and what was expected.
func Load(dir string, open Open, opts Options) (*Policy, error) {
	b, err := LoadBundle(dir)
	if err != nil {
		return nil, err
	}
	p := &Policy{Bundle: b, history: newHistory(b), rand: NewSeededNoise(opts.Seed), seed: opts.Seed, denoisers: map[int]*netDenoiser{}, guidance: 1}
	if err := p.load(open); err != nil {
		p.Close()
		return nil, fmt.Errorf("policy %s: %w", dir, err)
	}
	return p, nil
}

func (p *Policy) open(open Open, file string) (Model, error) {
	m, err := open(p.Bundle.ModelPath(file))
	if err != nil {
		return nil, err
	}
	p.models = append(p.models, m)
	return m, nil
}

func (p *Policy) load(open Open) error {
	b, c := p.Bundle, &p.Bundle.Config
	if c.Kind == KindChunked {
		m, err := p.open(open, c.Models.Policy)
		if err != nil {
			return err
		}
		bd := newBinder(m, "1")
		if err := checkObservationInputs(bd, b); err != nil {
			return err
		}
		out, err := findInfo(m, false, ActionFeature)
		if err != nil {
			return err
		}
		if err := bd.bind(out, horizonAction(b)); err != nil {
			return err
		}
		p.axes = append(p.axes, bd.axes)
		if p.net, err = m.Bind(1, bd.axes.Dims); err != nil {
			return err
		}
		if err := tryRun(p.net, bd.axes); err != nil {
			return err
		}
		p.netInputs = observationBuffers(p.net, b)
		p.out = make([]float32, c.Horizon*b.ActionDim())
		return nil
	}

	var err error
	if p.sampler, err = NewSampler(c); err != nil {
		return err
	}
	if c.Models.Encoder != "" {
		m, err := p.open(open, c.Models.Encoder)
		if err != nil {
			return err
		}
		bd := newBinder(m, "1")
		if err := checkObservationInputs(bd, b); err != nil {
			return err
		}
		out, err := findInfo(m, false, "global_cond")
		if err != nil {
			return err
		}
		if len(out.Shape) != 2 || out.Shape[1] == 0 {
			return fmt.Errorf("%s: global_cond is %v, want [batch, C]", m.Path(), out)
		}
		if out.Shape[1] > 0 {
			p.condSize = int(out.Shape[1])
		} else if p.condSize, err = p.condFromDenoiser(open, m, out); err != nil {
			return err
		}
		if err := bd.bind(out, condition(p.condSize, "conditioning (the denoiser's global_cond)")); err != nil {
			return err
		}
		p.axes = append(p.axes, bd.axes)
		if p.encoder, err = m.Bind(1, bd.axes.Dims); err != nil {
			return err
		}
		if err := tryRun(p.encoder, bd.axes); err != nil {
			return err
		}
		p.encInputs = observationBuffers(p.encoder, b)
		p.cond = p.encoder.Float32("global_cond")
	} else {
		for _, f := range b.Observations {
			p.condSize += c.NObsSteps * f.Size
		}
		p.cond = make([]float32, p.condSize)
	}
	if p.denoiser == nil {
		if p.denoiser, err = p.open(open, c.Models.Denoiser); err != nil {
			return err
		}
	}
	return p.checkDenoiser()
}

// condFromDenoiser opens the denoiser early to size an encoder output enc whose
// conditioning axis is dynamic: the bundle does not say the conditioning size, the
// denoiser's global_cond does when it is fixed. The denoiser stays open for load.
func (p *Policy) condFromDenoiser(open Open, encoder Model, enc TensorInfo) (int, error) {
	m, err := p.open(open, p.Bundle.Config.Models.Denoiser)
	if err != nil {
		return 0, err
	}
	p.denoiser = m
	gc, err := findInfo(m, true, "global_cond")
	if err != nil {
		return 0, err
	}
	if len(gc.Shape) != 2 || gc.Shape[1] < 1 {
		return 0, fmt.Errorf("%s: %s: cannot bind dynamic axis 1: the bundle does not say the conditioning size, and the denoiser's %s does not either",
			encoder.Path(), enc, gc)
	}
	return int(gc.Shape[1]), nil
}

// condition is the expectation of a conditioning vector of c values.
func condition(c int, what string) Expect {
	return Expect{"float32", "the conditioning vector", [][]Span{{{int64(c), what}}}}
}

// checkDenoiser checks the denoiser against the bundle and keeps the Dims it is bound
// with at every batch size. The denoiser takes sample, timestep and global_cond, and
// optionally cond_mask (float32, [batch] or [batch, 1]) for classifier-free guidance
// (SetGuidance).
func (p *Policy) checkDenoiser() error {
	m, b, c := p.denoiser, p.Bundle, &p.Bundle.Config
	if n := len(m.Inputs()); n != 3 && n != 4 {
		return fmt.Errorf("%s: the denoiser takes sample, timestep and global_cond (and optionally %s); it has %d inputs: %s", m.Path(), CondMask, n, tensorNames(m.Inputs()))
	}
	bd := newBinder(m, "samples per step")
	in, err := findInfo(m, true, "sample")
	if err != nil {
		return err
	}
	if err := bd.bind(in, horizonAction(b)); err != nil {
		return err
	}
	ts, err := findInfo(m, true, "timestep")
	if err != nil {
		return err
	}
	wantT := "int64"
	if c.Kind == KindFlow || ts.DType == "float32" {
		wantT = "float32"
	}
	if err := bd.bind(ts, Expect{wantT, "one timestep", [][]Span{{}, {{1, "one timestep"}}}}); err != nil {
		return err
	}
	gc, err := findInfo(m, true, "global_cond")
	if err != nil {
		return err
	}
	what := "conditioning (n_obs_steps x observation values)"
	if p.encoder != nil {
		what = "conditioning (the encoder's global_cond)"
	}
	if err := bd.bind(gc, condition(p.condSize, what)); err != nil {
		return err
	}
	if len(m.Inputs()) == 4 {
		cm, err := findInfo(m, true, CondMask)
		if err != nil {
			return fmt.Errorf("%s: a denoiser's 4th input is the guidance mask: %w", m.Path(), err)
		}
		if err := bd.bind(cm, condMaskExpect); err != nil {
			return err
		}
		p.condMask = true
	}
	if len(m.Outputs()) != 1 {
		return fmt.Errorf("%s: the denoiser must have one output, it has %d: %s", m.Path(), len(m.Outputs()), tensorNames(m.Outputs()))
	}
	if err := bd.bind(m.Outputs()[0], horizonAction(b)); err != nil {
		return err
	}
	p.axes = append(p.axes, bd.axes)
	p.denoiserDims = bd.axes.Dims
	if len(bd.axes.Bound) == 0 {
		return nil // bound at the first step with its batch size
	}
	d, err := p.denoiserFor(1)
	if err != nil {
		return err
	}
	return tryRun(d.b, bd.axes)
}

// tryRun runs a binding once on its zeroed inputs when its model has dynamic axes after
// the batch axis. The graph may not accept the sizes they were bound to (a U-Net's horizon
// must divide by its downsampling), and a bundle that does not fit is refused by Load,
// before anything moves, rather than at the first step.
func tryRun(bd Binding, a ModelAxes) error {
	if len(a.Bound) == 0 {
		return nil
	}
	if err := bd.Run(); err != nil {
		bound := make([]string, len(a.Bound))
		for i, x := range a.Bound {
			bound[i] = x.String()
		}
		return fmt.Errorf("%s does not run with its dynamic axes bound to the bundle's sizes, %s: %w", a.Model.Path(), strings.Join(bound, ", "), err)
	}
	return nil
}

func tensorNames(ts []TensorInfo) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.String()
	}
	return strings.Join(names, ", ")
}

// checkObservationInputs checks that a model takes exactly the bundle's observation
// features, each holding n_obs_steps steps, and binds their dynamic axes.
func checkObservationInputs(bd *binder, b *Bundle) error {
	m := bd.model
	for _, f := range b.Observations {
		t, err := findInfo(m, true, f.Name)
		if err != nil {
			return err
		}
		if err := bd.bind(t, observation(b, f)); err != nil {
			return err
		}
	}
	if len(m.Inputs()) != len(b.Observations) {
		return fmt.Errorf("%s: inputs %s; the bundle's observation features are %s", m.Path(), tensorNames(m.Inputs()), featureNames(b.Observations))
	}
	return nil
}

func featureNames(fs []Feature) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

func observationBuffers(bd Binding, b *Bundle) [][]float32 {
	bufs := make([][]float32, len(b.Observations))
	for i, f := range b.Observations {
		bufs[i] = bd.Float32(f.Name)
	}
	return bufs
}

// Close releases the models.
func (p *Policy) Close() error {
	var errs []error
	for _, m := range p.models {
		errs = append(errs, m.Close())
	}
	p.models = nil
	return errors.Join(errs...)
}

// Reseed restarts the policy's noise generator from its seed (Options.Seed) and episode:
// an episode's samples then depend on the two alone, not on how many steps earlier
// episodes drew.
func (p *Policy) Reseed(episode uint64) {
	p.rand = NewSeededNoise(p.seed ^ (episode * 0xbf58476d1ce4e5b9))
}

// Reset forgets the observation history (a new episode).
func (p *Policy) Reset() { p.history.reset() }

// Observe adds an observation to the history. The first observation after Reset fills
// the whole history (padding by repetition, as LeRobot does at episode start).
func (p *Policy) Observe(o Observation) error { return p.history.add(o) }

// Start is the index, within the horizon, of the action due at the latest observation's
// time: n_obs_steps - 1 (Diffusion Policy and LeRobot execute from there).
func (p *Policy) Start() int { return p.Bundle.Config.NObsSteps - 1 }

// Raw returns the last step's normalized network output, [N, horizon, A]; valid until
// the next Step.
func (p *Policy) Raw() []float32 {
	if p.Bundle.Config.Kind == KindChunked {
		return p.net.Float32(ActionFeature)
	}
	return p.x[:p.rawLen]
}

// Step computes action sequences from the observation history: [N, horizon - Start(), A]
// actions in dataset units, the first due at the latest observation's time. The result
// is valid until the next Step. An output holding NaN or Inf is an error.
func (p *Policy) Step(opt StepOptions) ([]float32, error) {
	if !p.history.ready() {
		return nil, errors.New("policy: step before any observation")
	}
	c, dim := &p.Bundle.Config, p.Bundle.ActionDim()
	n := max(opt.Samples, 1)
	if c.Kind == KindChunked {
		if n != 1 {
			return nil, fmt.Errorf("policy: kind chunked is deterministic; samples must be 1, got %d", n)
		}
		if len(opt.Prefix) > 0 || opt.Noise != nil {
			return nil, errors.New("policy: kind chunked takes no noise or prefix")
		}
		p.history.fill(p.netInputs)
		if err := p.net.Run(); err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		if opt.Normalized {
			return nil, nil
		}
		return p.finish(p.net.Float32(ActionFeature), 1)
	}

	// Guidance evaluates the conditional and the unconditional sample in one batch.
	rows, guided := n, p.condMask && p.guidance != 1 && p.guidance != 0
	if guided {
		rows = 2 * n
	}
	den, err := p.denoiserFor(rows)
	if err != nil {
		return nil, err
	}
	den.guide(n, p.guidance, guided)
	per := c.Horizon * dim
	x := p.x[:n*per]
	rnd := opt.Rand
	if rnd == nil {
		rnd = p.rand
	}
	if opt.Noise != nil {
		if len(opt.Noise) != len(x) {
			return nil, fmt.Errorf("policy: noise has %d values, want samples %d x horizon %d x action %d = %d", len(opt.Noise), n, c.Horizon, dim, len(x))
		}
		copy(x, opt.Noise)
	} else {
		rnd.Normal(x)
	}
	var prefix *Prefix
	if len(opt.Prefix) > 0 {
		if prefix, err = p.setPrefix(opt.Prefix); err != nil {
			return nil, err
		}
	}
	// Conditioning: the encoder once, or the flattened normalized history.
	if p.encoder != nil {
		p.history.fill(p.encInputs)
		if err := p.encoder.Run(); err != nil {
			return nil, fmt.Errorf("policy: encoder: %w", err)
		}
	} else {
		p.history.flatten(p.cond)
	}
	for i := range rows {
		copy(den.cond[i*p.condSize:(i+1)*p.condSize], p.cond)
	}
	if err := p.sampler.Sample(den, x, c.Horizon, dim, rnd, prefix, p.scratch[:len(x)], p.stepNoise[:len(x)]); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p.rawLen = len(x)
	if opt.Normalized {
		return nil, nil
	}
	return p.finish(x, n)
}

// finish unnormalizes the executed part of each sample, [start, horizon), into p.out.
func (p *Policy) finish(raw []float32, n int) ([]float32, error) {
	c, dim := &p.Bundle.Config, p.Bundle.ActionDim()
	start, keep := p.Start(), c.Horizon-p.Start()
	out := p.out[:n*keep*dim]
	for s := range n {
		for i := range keep {
			src := raw[((s*c.Horizon)+start+i)*dim:][:dim]
			dst := out[(s*keep+i)*dim:][:dim]
			p.Bundle.Action.Norm.Unnormalize(dst, src)
			for j, v := range dst {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return nil, fmt.Errorf("policy: sample %d action %d value %d is %v", s, i, j, v)
				}
			}
		}
	}
	return out, nil
}

func (p *Policy) setPrefix(actions []float32) (*Prefix, error) {
	c, dim := &p.Bundle.Config, p.Bundle.ActionDim()
	if len(actions)%dim != 0 {
		return nil, fmt.Errorf("policy: prefix has %d values, not a whole number of %d-value actions", len(actions), dim)
	}
	k := len(actions) / dim
	if k > c.Horizon-p.Start() {
		return nil, fmt.Errorf("policy: prefix of %d actions is longer than the %d actions a chunk holds", k, c.Horizon-p.Start())
	}
	if cap(p.prefix.Values) < len(actions) {
		p.prefix.Values = make([]float32, c.Horizon*dim)
	}
	p.prefix.Start, p.prefix.Len, p.prefix.Values = p.Start(), k, p.prefix.Values[:len(actions)]
	for i := range k {
		p.Bundle.Action.Norm.Normalize(p.prefix.Values[i*dim:(i+1)*dim], actions[i*dim:(i+1)*dim])
	}
	return &p.prefix, nil
}

// denoiserFor returns the denoiser bound for batch n, binding it on first use.
func (p *Policy) denoiserFor(n int) (*netDenoiser, error) {
	if d := p.denoisers[n]; d != nil {
		return d, nil
	}
	bd, err := p.denoiser.Bind(n, p.denoiserDims)
	if err != nil {
		return nil, err
	}
	d := &netDenoiser{
		b:      bd,
		sample: bd.Float32("sample"),
		cond:   bd.Float32("global_cond"),
		mask:   bd.Float32(CondMask),
		tI64:   bd.Int64("timestep"),
		tF32:   bd.Float32("timestep"),
		out:    bd.Float32(p.denoiser.Outputs()[0].Name),
	}
	p.denoisers[n] = d
	size := n * p.Bundle.Config.Horizon * p.Bundle.ActionDim()
	if len(p.x) < size {
		p.x = make([]float32, size)
		p.scratch = make([]float32, size)
		p.stepNoise = make([]float32, size)
		p.out = make([]float32, size)
	}
	return d, nil
}

// netDenoiser adapts a bound denoiser network to the sampler. Guided (guide), its batch
// holds each sample twice, conditioned then unconditional, and Denoise combines the two
// outputs (guidance.go).
type netDenoiser struct {
	b                       Binding
	sample, cond, mask, out []float32 // mask is nil without a cond_mask input
	tI64                    []int64
	tF32                    []float32
	guided                  bool
	w                       float32 // guidance weight when guided
}

func (d *netDenoiser) Denoise(x []float32, t float64, out []float32) error {
	copy(d.sample, x)
	if d.guided {
		copy(d.sample[len(x):], x)
	}
	for i := range d.tI64 {
		d.tI64[i] = int64(t)
	}
	for i := range d.tF32 {
		d.tF32[i] = float32(t)
	}
	if err := d.b.Run(); err != nil {
		return err
	}
	if d.guided {
		combine(out, d.out[:len(x)], d.out[len(x):2*len(x)], d.w)
		return nil
	}
	copy(out, d.out)
	return nil
}

// Models returns the opened models (for inspection).
func (p *Policy) Models() []Model { return p.models }

// Axes returns, for each model the policy binds (the chunked network, or the encoder then
// the denoiser), the Dims it is bound with and the dynamic axes the bundle's sizes
// resolved.
func (p *Policy) Axes() []ModelAxes { return p.axes }

// Sampler returns the diffusion or flow sampler (nil for chunked policies).
func (p *Policy) Sampler() *Sampler { return p.sampler }

// Dt is the spacing of a chunk's actions: 1 / control_rate_hz.
func (p *Policy) Dt() time.Duration {
	return time.Duration(float64(time.Second) / p.Bundle.Config.ControlRateHz)
}

// ObservedAt is the time of the latest observation: the T0 of the chunk the next Step
// computes.
func (p *Policy) ObservedAt() time.Duration { return p.history.time }

// ToChunk writes sample s of a Step's result into c, action 0 due at t0 (normally
// ObservedAt()). c.Actions is reused when it has the capacity.
func (p *Policy) ToChunk(c *chunk.Chunk, actions []float32, s int, t0 time.Duration) {
	dim := p.Bundle.ActionDim()
	per := (p.Bundle.Config.Horizon - p.Start()) * dim
	src := actions[s*per : (s+1)*per]
	if cap(c.Actions) < per {
		c.Actions = make([]float64, per)
	}
	c.Actions = c.Actions[:per]
	for i, v := range src {
		c.Actions[i] = float64(v)
	}
	c.T0, c.Dt, c.Dim = t0, p.Dt(), dim
}
