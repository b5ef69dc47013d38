package steer

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/robotd/robotd/policy"
)

// Value is the value scorer (V-GPS, Nakamoto et al. 2024, "Steering Your Generalists:
// Improving Robotic Foundation Models via Value Guidance", arXiv:2410.13816; EXPO's
// critic): a learned Q(observation features, actions) from a steering bundle of kind
// value, evaluated for all N candidates in one batched model call. Higher is better; the
// score is the model's output as it is (no sign change, no scaling besides the weight).
//
// The model's inputs are each observation feature the bundle names (the latest
// observation, the same for every candidate) and the candidate's actions (the executed
// window or its first action, ActionSpan), normalized with the bundle's own statistics or
// the policy bundle's. A Value is used by one goroutine; after the first Score with a
// given N (which binds the model for that batch size), Score allocates nothing.
type Value struct {
	Bundle *Bundle

	model   policy.Model
	axes    policy.ModelAxes
	obsNorm []*policy.Normalizer
	obsIdx  []int // index of each of Bundle.Observations in the policy bundle's
	obs     [][]float32
	actNorm *policy.Normalizer
	maxN    int
	bound   []*valueBatch // by batch size, nil until first used
	// nonFinite counts the candidates whose value was NaN or infinite.
	nonFinite int
}

// valueBatch is the model bound for one batch size with its buffers.
type valueBatch struct {
	bd  policy.Binding
	obs [][]float32 // one per Bundle.Observations, n rows
	act []float32   // n x Steps x Dim
	out []float32   // n
}

// NewValue opens the value model of b with open for at most maxN candidates per step. p is
// the policy bundle the candidates come from: b must fit it (Bundle.Fit), checked before the
// model is opened, and without statistics of its own b normalizes with p's. The model's
// tensors must fit what b declares (resolved as Axes reports) and it is bound for a batch
// of maxN; any mismatch is an error naming the tensor and the axis.
func NewValue(b *Bundle, p *policy.Bundle, open policy.Open, maxN int) (*Value, error) {
	if b.Config.Kind != KindValue {
		return nil, fmt.Errorf("steering bundle %s: kind %s, want value", b.Dir, b.Config.Kind)
	}
	if maxN < 1 {
		return nil, fmt.Errorf("steer: value: max candidates %d, want >= 1", maxN)
	}
	if p == nil {
		return nil, errors.New("steer: value: no policy bundle to fit")
	}
	if err := b.Fit(p); err != nil {
		return nil, err
	}
	v := &Value{Bundle: b, maxN: maxN, bound: make([]*valueBatch, maxN+1)}
	v.obsNorm, v.obsIdx = observationMap(b, p)
	v.obs = make([][]float32, len(b.Observations))
	v.actNorm = b.Action.norm
	if v.actNorm == nil {
		v.actNorm = &p.Action.Norm
	}
	m, axes, err := openModel(b, open)
	if err != nil {
		return nil, err
	}
	v.model, v.axes = m, axes
	if _, err := v.batch(maxN); err != nil {
		m.Close()
		return nil, err
	}
	return v, nil
}

// resolveValue checks the model's inputs and output against b: exactly one float32 input
// per feature, named after it, and the output; it returns the Dims to bind with and the
// dynamic axes after the batch axis that they resolve.
func resolveValue(b *Bundle, m policy.Model) (policy.ModelAxes, error) {
	a := policy.ModelAxes{Model: m, Batch: "candidates per step", Dims: policy.Dims{}}
	want := map[string]policy.Expect{}
	for _, in := range append(append([]Input(nil), b.Observations...), b.Action) {
		var l []policy.Span
		if in.Name == policy.ActionFeature {
			what := "executed actions"
			if b.Config.ActionSpan == SpanFirst {
				what = "first action"
			}
			l = append(l, policy.Span{N: int64(b.Steps), What: what})
		}
		for i, d := range in.Shape {
			l = append(l, policy.Span{N: int64(d), What: fmt.Sprintf("%s dim %d", in.Name, i)})
		}
		layouts := [][]policy.Span{l}
		if in.Name == policy.ActionFeature && b.Steps == 1 {
			layouts = append(layouts, l[1:])
		}
		if len(l) > 1 {
			layouts = append(layouts, policy.Flat(l))
		}
		want[in.Name] = policy.Expect{DType: "float32", Describe: describe(l), Layouts: layouts}
	}
	var names []string
	for _, t := range m.Inputs() {
		names = append(names, t.Name)
		e, ok := want[t.Name]
		if !ok {
			return a, fmt.Errorf("%s: input %s is no feature of the steering bundle (its features: %s)",
				m.Path(), t.Name, strings.Join(inputNames(b), ", "))
		}
		if err := bindTensor(&a, m.Path(), t, e); err != nil {
			return a, err
		}
	}
	for _, name := range inputNames(b) {
		if !slices.Contains(names, name) {
			return a, fmt.Errorf("%s: no input %s (its inputs: %s)", m.Path(), name, strings.Join(names, ", "))
		}
	}
	var outs []string
	for _, t := range m.Outputs() {
		outs = append(outs, t.Name)
		if t.Name == b.Config.Output {
			score := []policy.Span{{N: 1, What: "one score"}}
			return a, bindTensor(&a, m.Path(), t, policy.Expect{DType: "float32", Describe: "one score",
				Layouts: [][]policy.Span{{}, score}})
		}
	}
	return a, fmt.Errorf("%s: no output %q (output: in steer.yaml; its outputs: %s)", m.Path(), b.Config.Output, strings.Join(outs, ", "))
}

// describe names the sizes of layout l for errors, "first action 1 x action dim 0 4".
func describe(l []policy.Span) string {
	parts := make([]string, len(l))
	for i, s := range l {
		parts[i] = fmt.Sprintf("%s %d", s.What, s.N)
	}
	return strings.Join(parts, " x ")
}

func inputNames(b *Bundle) []string {
	var names []string
	for _, in := range b.Observations {
		names = append(names, in.Name)
	}
	return append(names, b.Action.Name)
}

// bindTensor resolves t against e (policy.Resolve) and records its sizes and dynamic
// axes in a.
func bindTensor(a *policy.ModelAxes, path string, t policy.TensorInfo, e policy.Expect) error {
	dims, bound, err := policy.Resolve(path, t, e)
	if err != nil {
		return err
	}
	a.Dims[t.Name] = dims
	a.Bound = append(a.Bound, bound...)
	return nil
}

// batch returns the model bound for n candidates, binding it on first use.
func (v *Value) batch(n int) (*valueBatch, error) {
	if vb := v.bound[n]; vb != nil {
		return vb, nil
	}
	bd, err := v.model.Bind(n, v.axes.Dims)
	if err != nil {
		return nil, err
	}
	vb := &valueBatch{bd: bd, act: bd.Float32(policy.ActionFeature), out: bd.Float32(v.Bundle.Config.Output)}
	for _, in := range v.Bundle.Observations {
		vb.obs = append(vb.obs, bd.Float32(in.Name))
	}
	v.bound[n] = vb
	return vb, nil
}

// Axes reports what the model's batch axis and dynamic axes are bound to.
func (v *Value) Axes() policy.ModelAxes { return v.axes }

// NonFinite returns how many candidates' values have been NaN or infinite so far.
func (v *Value) NonFinite() int { return v.nonFinite }

// Score writes each candidate's value into dst[:c.Len()]: one batched model run. obs holds
// the latest value of each of Bundle.Observations, in order, in dataset units. An invalid
// candidate scores 0 (its model inputs are zeros); a valid one whose value is NaN or
// infinite scores -Inf, so that it is never selected, and is counted (NonFinite). It
// returns the model's error. It panics when c's horizon, start or action dimension is not
// the bundle's, or obs does not hold the features: those are the caller's mistakes.
func (v *Value) Score(dst []float64, c *Candidates, obs [][]float32) error {
	b := v.Bundle
	sh := c.shape
	n := c.Len()
	dst = dst[:n]
	clear(dst)
	if sh.Horizon != b.Config.Horizon || sh.Start != b.Start || sh.Dim != b.Action.Size || n > v.maxN {
		panic(fmt.Sprintf("steer: value: %d candidates of horizon %d from %d, dim %d; the bundle takes horizon %d from %d, dim %d, at most %d",
			n, sh.Horizon, sh.Start, sh.Dim, b.Config.Horizon, b.Start, b.Action.Size, v.maxN))
	}
	if len(obs) != len(b.Observations) {
		panic(fmt.Sprintf("steer: value: %d observation features, the bundle takes %d", len(obs), len(b.Observations)))
	}
	vb, err := v.batch(n)
	if err != nil {
		return err
	}
	fillObservations("value", b.Observations, v.obsNorm, obs, vb.obs, n)
	dim, per := sh.Dim, b.Steps*sh.Dim
	for i := range n {
		row := vb.act[i*per : (i+1)*per]
		if !c.valid[i] {
			clear(row)
			continue
		}
		for k := range b.Steps {
			v.actNorm.Normalize(row[k*dim:(k+1)*dim], c.At(i, sh.Start+k))
		}
	}
	if err := vb.bd.Run(); err != nil {
		return fmt.Errorf("steer: value: %w", err)
	}
	for i := range n {
		if !c.valid[i] {
			continue
		}
		q := float64(vb.out[i])
		if math.IsNaN(q) || math.IsInf(q, 0) {
			q = math.Inf(-1)
			v.nonFinite++
		}
		dst[i] = q
	}
	return nil
}

// fillObservations normalizes each observation feature obs[k] of ins with norms[k] into
// the first row of bufs[k] and repeats it for all rows of the batch: every candidate (or
// action) is judged from the same latest observation. It panics, naming the model kind
// and the feature, when a feature has another size than declared: the caller's mistake.
func fillObservations(kind string, ins []Input, norms []*policy.Normalizer, obs, bufs [][]float32, rows int) {
	for k, in := range ins {
		if len(obs[k]) != in.Size {
			panic(fmt.Sprintf("steer: %s: %s has %d values, want %d", kind, in.Name, len(obs[k]), in.Size))
		}
		buf := bufs[k]
		norms[k].Normalize(buf[:in.Size], obs[k])
		for i := 1; i < rows; i++ {
			copy(buf[i*in.Size:(i+1)*in.Size], buf[:in.Size])
		}
	}
}

// Observation returns the features the model takes from o, an observation of the policy
// bundle NewValue was given (one slice per feature in its Observations order): the obs
// argument of Score. The slice is the Value's, valid until the next call; it allocates
// nothing.
func (v *Value) Observation(o policy.Observation) [][]float32 {
	for k, i := range v.obsIdx {
		v.obs[k] = o.Values[i]
	}
	return v.obs
}

// Close releases the model and its bindings.
func (v *Value) Close() error {
	var errs []error
	for _, vb := range v.bound {
		if vb != nil {
			errs = append(errs, vb.bd.Close())
		}
	}
	return errors.Join(append(errs, v.model.Close())...)
}
