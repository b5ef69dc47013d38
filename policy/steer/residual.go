package steer

import (
	"errors"
	"fmt"
	"math"

	"github.com/robotd/robotd/policy"
)

// Residual rates: when a residual is computed (ResidualConfig.Rate).
const (
	// RateChunk corrects every executed action of a new chunk when it arrives, from the
	// observation the chunk was computed from: one batched model call per chunk.
	RateChunk = "chunk"
	// RateAction corrects each action when it becomes due, from the observation at that
	// time (the policy's control rate): one model call of one row per action.
	RateAction = "action"
)

// ResidualConfig is the launch file's steering.residual section: the residual policy.
type ResidualConfig struct {
	// Bundle is the steering bundle directory of kind residual; "" leaves the residual off.
	Bundle string `yaml:"bundle"`
	// Scale multiplies the model's output before clipping; default 1, must be > 0.
	Scale float64 `yaml:"scale"`
	// Bound is the hard clip of the scaled correction, per value, in normalized action
	// units (a min_max action spans [-1, 1]); default 0.1, must be > 0. Whatever the model
	// returns, no action value moves further than this from the base policy's.
	Bound float64 `yaml:"bound"`
	// Rate is RateChunk (default, "chunk") or RateAction ("action").
	Rate string `yaml:"rate"`
}

// Defaults of ResidualConfig's fields.
const (
	DefaultResidualScale = 1
	DefaultResidualBound = 0.1
)

// SetDefaults fills the zero fields with their defaults.
func (c *ResidualConfig) SetDefaults() {
	if c.Scale == 0 {
		c.Scale = DefaultResidualScale
	}
	if c.Bound == 0 {
		c.Bound = DefaultResidualBound
	}
	if c.Rate == "" {
		c.Rate = RateChunk
	}
}

// Validate checks the ranges (after SetDefaults); the error names the key,
// steering.residual.<key>.
func (c ResidualConfig) Validate() error {
	if !(c.Scale > 0) || math.IsInf(c.Scale, 0) {
		return fmt.Errorf("steering.residual.scale: must be > 0 and finite, got %v", c.Scale)
	}
	if !(c.Bound > 0) || math.IsInf(c.Bound, 0) {
		return fmt.Errorf("steering.residual.bound: must be > 0 and finite, got %v", c.Bound)
	}
	if c.Rate != RateChunk && c.Rate != RateAction {
		return fmt.Errorf("steering.residual.rate: unknown %q (chunk or action)", c.Rate)
	}
	return nil
}

// Residual is the residual policy (ResFiT: Ankile et al. 2025, "From Imitation to
// Refinement: Residual RL for Precise Assembly", arXiv:2407.16677, and "Residual
// Off-Policy RL for Finetuning Behavior Cloning Policies", arXiv:2509.19301; EXPO's
// edit): a model from the latest observation features and one base action to a
// correction of that action in the normalized action space, applied as
//
//	a_norm' = a_norm + clip(scale * r, -bound, bound)   per value (NaN or Inf r -> 0)
//
// and unnormalized back to dataset units. A value whose correction is 0 is left as it was,
// bit for bit (no round trip through the normalization), so a zero residual reproduces the
// base policy exactly; no model output moves a value further than bound.
//
// The base action is normalized with the bundle's own action statistics or the policy's,
// and corrected in that space. A Residual is used by one goroutine; after the first Apply
// with a given number of rows (which binds the model for that batch size), Apply allocates
// nothing.
type Residual struct {
	Bundle *Bundle

	cfg     ResidualConfig
	model   policy.Model
	axes    policy.ModelAxes
	obsNorm []*policy.Normalizer
	obsIdx  []int
	obs     [][]float32
	actNorm *policy.Normalizer
	moved   []float32 // one action: a_norm + correction, then unnormalized
	corr    []float64 // one action's correction
	maxRows int
	bound   []*residualBatch // by rows, nil until first used
}

// residualBatch is the model bound for one batch size with its buffers.
type residualBatch struct {
	bd  policy.Binding
	obs [][]float32 // one per Bundle.Observations, rows
	act []float32   // rows x A, normalized base actions
	out []float32   // rows x A
}

// ResidualStep reports one Apply call.
type ResidualStep struct {
	// Rows is the number of actions corrected.
	Rows int
	// Clipped counts the values whose scaled correction exceeded the bound.
	Clipped int
	// NonFinite counts the values whose model output was NaN or infinite (corrected by 0).
	NonFinite int
	// Magnitude is the mean over rows of the L2 norm of the applied correction, in
	// normalized units.
	Magnitude float64
}

// NewResidual opens the residual model of b with open for at most maxRows actions per
// call. p is the policy bundle whose actions are corrected: b must fit it (Bundle.Fit),
// checked before the model is opened, and without statistics of its own b normalizes with
// p's. The model's tensors must fit what b declares and it is bound for a batch of
// maxRows; any mismatch is an error naming the tensor. cfg is taken with its defaults
// filled and must be valid (its Rate is the caller's business).
func NewResidual(b *Bundle, p *policy.Bundle, open policy.Open, maxRows int, cfg ResidualConfig) (*Residual, error) {
	if b.Config.Kind != KindResidual {
		return nil, fmt.Errorf("steering bundle %s: kind %s, want residual", b.Dir, b.Config.Kind)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if maxRows < 1 {
		return nil, fmt.Errorf("steer: residual: max rows %d, want >= 1", maxRows)
	}
	if p == nil {
		return nil, errors.New("steer: residual: no policy bundle to fit")
	}
	if err := b.Fit(p); err != nil {
		return nil, err
	}
	dim := b.Action.Size
	r := &Residual{Bundle: b, cfg: cfg, maxRows: maxRows, bound: make([]*residualBatch, maxRows+1),
		moved: make([]float32, dim), corr: make([]float64, dim)}
	r.obsNorm, r.obsIdx = observationMap(b, p)
	r.obs = make([][]float32, len(b.Observations))
	r.actNorm = b.Action.norm
	if r.actNorm == nil {
		r.actNorm = &p.Action.Norm
	}
	m, axes, err := openModel(b, open)
	if err != nil {
		return nil, err
	}
	r.model, r.axes = m, axes
	if _, err := r.batch(maxRows); err != nil {
		m.Close()
		return nil, err
	}
	return r, nil
}

// resolveResidual checks a residual model's tensors against b: one float32 input per
// observation feature and action [A], and the output [A].
func resolveResidual(b *Bundle, m policy.Model) (policy.ModelAxes, error) {
	act := expect([]policy.Span{{N: int64(b.Action.Size), What: "action dim 0"}})
	want := map[string]policy.Expect{policy.ActionFeature: act}
	var need []string
	for _, in := range b.Observations {
		want[in.Name] = expect(featureSpans(in))
		need = append(need, in.Name)
	}
	return resolveModel(b, m, "actions per call", want, append(need, policy.ActionFeature), act)
}

// batch returns the model bound for rows actions, binding it on first use.
func (r *Residual) batch(rows int) (*residualBatch, error) {
	if rb := r.bound[rows]; rb != nil {
		return rb, nil
	}
	bd, err := r.model.Bind(rows, r.axes.Dims)
	if err != nil {
		return nil, err
	}
	rb := &residualBatch{bd: bd, act: bd.Float32(policy.ActionFeature), out: bd.Float32(r.Bundle.Config.Output)}
	for _, in := range r.Bundle.Observations {
		rb.obs = append(rb.obs, bd.Float32(in.Name))
	}
	r.bound[rows] = rb
	return rb, nil
}

// Axes reports what the model's batch axis and dynamic axes are bound to.
func (r *Residual) Axes() policy.ModelAxes { return r.axes }

// Config is the configuration the Residual runs with, defaults filled.
func (r *Residual) Config() ResidualConfig { return r.cfg }

// Observation returns the features the model takes from o, an observation of the policy
// bundle NewResidual was given (one slice per feature in Bundle.Observations order): the
// obs argument of Apply. The slice is the Residual's, valid until the next call; it
// allocates nothing.
func (r *Residual) Observation(o policy.Observation) [][]float32 {
	for k, i := range r.obsIdx {
		r.obs[k] = o.Values[i]
	}
	return r.obs
}

// Apply corrects rows actions (rows x A values in dataset units) in place, all from the
// same observation obs (the latest value of each of Bundle.Observations, in order, in
// dataset units): one batched model run. It returns the model's error, leaving actions
// unchanged. It panics when rows is not in [1, maxRows] or obs or actions do not hold
// what the bundle takes: those are the caller's mistakes.
func (r *Residual) Apply(obs [][]float32, actions []float32, rows int) (ResidualStep, error) {
	st := ResidualStep{Rows: rows}
	b, dim := r.Bundle, r.Bundle.Action.Size
	if rows < 1 || rows > r.maxRows {
		panic(fmt.Sprintf("steer: residual: %d rows, want 1 to %d", rows, r.maxRows))
	}
	if len(obs) != len(b.Observations) || len(actions) < rows*dim {
		panic(fmt.Sprintf("steer: residual: %d observation features and %d action values; the bundle takes %d features and %d rows x action %d",
			len(obs), len(actions), len(b.Observations), rows, dim))
	}
	rb, err := r.batch(rows)
	if err != nil {
		return st, err
	}
	fillObservations("residual", b.Observations, r.obsNorm, obs, rb.obs, rows)
	for i := range rows {
		r.actNorm.Normalize(rb.act[i*dim:(i+1)*dim], actions[i*dim:(i+1)*dim])
	}
	if err := rb.bd.Run(); err != nil {
		return st, fmt.Errorf("steer: residual: %w", err)
	}
	total := 0.0
	for i := range rows {
		c, nf, l2 := boundCorrection(r.cfg, rb.out[i*dim:(i+1)*dim], rb.act[i*dim:(i+1)*dim], r.corr, r.moved)
		st.Clipped, st.NonFinite, total = st.Clipped+c, st.NonFinite+nf, total+l2
		row := actions[i*dim : (i+1)*dim]
		r.actNorm.Unnormalize(r.moved, r.moved)
		for j, c := range r.corr {
			if c != 0 {
				row[j] = r.moved[j]
			}
		}
	}
	st.Magnitude = total / float64(rows)
	return st, nil
}

// boundCorrection bounds one action's raw correction raw (normalized units, a model's or
// an agent's output) as the residual section says: each value's scale*raw is clipped to
// ±bound (NaN or Inf -> 0), written into applied, and added to the normalized base action
// base into moved (still normalized). A value whose applied correction is 0 must be left
// as it was, bit for bit: callers write back only where applied is not 0. It returns the
// values clipped, the non-finite ones and the L2 norm of the applied correction.
func boundCorrection(cfg ResidualConfig, raw, base []float32, applied []float64, moved []float32) (clipped, nonFinite int, l2 float64) {
	sq := 0.0
	for j, v := range raw {
		c := cfg.Scale * float64(v)
		switch {
		case math.IsNaN(c) || math.IsInf(float64(v), 0):
			c = 0
			nonFinite++
		case c > cfg.Bound || c < -cfg.Bound:
			c = math.Copysign(cfg.Bound, c)
			clipped++
		}
		applied[j] = c
		moved[j] = float32(float64(base[j]) + c)
		sq += c * c
	}
	return clipped, nonFinite, math.Sqrt(sq)
}

// Close releases the model and its bindings.
func (r *Residual) Close() error {
	var errs []error
	for _, rb := range r.bound {
		if rb != nil {
			errs = append(errs, rb.bd.Close())
		}
	}
	return errors.Join(append(errs, r.model.Close())...)
}
