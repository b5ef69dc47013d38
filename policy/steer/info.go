package steer

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/robotd/robotd/policy"
)

// openModel opens b's model and resolves its tensors against what b's kind declares.
func openModel(b *Bundle, open policy.Open) (policy.Model, policy.ModelAxes, error) {
	m, err := open(b.ModelPath())
	if err != nil {
		return nil, policy.ModelAxes{}, err
	}
	var axes policy.ModelAxes
	switch b.Config.Kind {
	case KindNoise:
		axes, err = resolveNoise(b, m)
	case KindResidual:
		axes, err = resolveResidual(b, m)
	default:
		axes, err = resolveValue(b, m)
	}
	if err != nil {
		m.Close()
		return nil, policy.ModelAxes{}, err
	}
	return m, axes, nil
}

// expect is the expectation of a tensor whose axes after the batch axis are l: that
// layout, or (with more than one axis) the same values flattened into one axis.
func expect(l []policy.Span) policy.Expect {
	layouts := [][]policy.Span{l}
	if len(l) > 1 {
		layouts = append(layouts, policy.Flat(l))
	}
	return policy.Expect{DType: "float32", Describe: describe(l), Layouts: layouts}
}

// featureSpans are the axes of the feature in, "observation.state dim 0 6".
func featureSpans(in Input) []policy.Span {
	l := make([]policy.Span, len(in.Shape))
	for i, d := range in.Shape {
		l[i] = policy.Span{N: int64(d), What: fmt.Sprintf("%s dim %d", in.Name, i)}
	}
	return l
}

// resolveModel checks m's tensors against the expectations of a noise or residual model:
// every input one of want (float32, resolved by policy.Resolve), every name of need an
// input, and the output b.Config.Output as out. batch says what the batch axis is.
func resolveModel(b *Bundle, m policy.Model, batch string, want map[string]policy.Expect, need []string, out policy.Expect) (policy.ModelAxes, error) {
	a := policy.ModelAxes{Model: m, Batch: batch, Dims: policy.Dims{}}
	var names []string
	for _, t := range m.Inputs() {
		names = append(names, t.Name)
		e, ok := want[t.Name]
		if !ok {
			return a, fmt.Errorf("%s: input %s is no input of a %s model (its inputs may be: %s)",
				m.Path(), t.Name, b.Config.Kind, strings.Join(slices.Sorted(maps.Keys(want)), ", "))
		}
		if err := bindTensor(&a, m.Path(), t, e); err != nil {
			return a, err
		}
	}
	for _, name := range need {
		if !slices.Contains(names, name) {
			return a, fmt.Errorf("%s: no input %s (its inputs: %s)", m.Path(), name, strings.Join(names, ", "))
		}
	}
	var outs []string
	for _, t := range m.Outputs() {
		outs = append(outs, t.Name)
		if t.Name == b.Config.Output {
			return a, bindTensor(&a, m.Path(), t, out)
		}
	}
	return a, fmt.Errorf("%s: no output %q (output: in steer.yaml; its outputs: %s)", m.Path(), b.Config.Output, strings.Join(outs, ", "))
}

// hasInput reports whether the model has an input named name.
func hasInput(m policy.Model, name string) bool {
	return slices.ContainsFunc(m.Inputs(), func(t policy.TensorInfo) bool { return t.Name == name })
}

// WriteInfo prints what robotd policy info shows for the steering bundle in dir: its kind,
// model, what the model's inputs take (features with shapes and normalization, the
// candidate actions, a noise model's eps, a residual's base action), its output and the
// axes the model binds (resolved as NewValue, NewNoise or NewResidual do, and bound for a
// batch of 1 to prove it), then the model's tensors. The fit with a policy is not checked
// here: that needs the policy bundle (the constructors check it).
func WriteInfo(w io.Writer, dir string, open policy.Open) error {
	b, err := LoadBundle(dir)
	if err != nil {
		return err
	}
	m, axes, err := openModel(b, open)
	if err != nil {
		return err
	}
	defer m.Close()
	bd, err := m.Bind(1, axes.Dims)
	if err != nil {
		return err
	}
	bd.Close()
	c := &b.Config
	stats := "the policy bundle's statistics"
	if c.Stats != "" {
		stats = "own statistics " + c.Stats
	}
	fmt.Fprintf(w, "steering bundle %s\nkind     %s\nmodel    %s\n", b.Dir, c.Kind, c.Model)
	fmt.Fprintf(w, "policy   horizon %d, n_obs_steps %d (executed from index %d)\n", c.Horizon, c.NObsSteps, b.Start)
	fmt.Fprintf(w, "inputs   normalized with %s\n", stats)
	for _, in := range b.Observations {
		fmt.Fprintf(w, "  %-28s %-14s %s (latest observation)\n", in.Name, fmt.Sprint(in.Shape), in.Mode)
	}
	act := func(what string) {
		fmt.Fprintf(w, "  %-28s %-14s %s (%s)\n", b.Action.Name, fmt.Sprint(b.Action.Shape), b.Action.Mode, what)
	}
	a := b.Action.Size
	switch c.Kind {
	case KindNoise:
		if hasInput(m, EpsInput) {
			fmt.Fprintf(w, "  %-28s %-14s standard normal draws, one per noise value (a stochastic noise policy, reparameterized)\n",
				EpsInput, fmt.Sprint([]int{c.Horizon, a}))
		} else {
			fmt.Fprintf(w, "  (no %s input: a deterministic noise policy, the same noise for every candidate)\n", EpsInput)
		}
		act("no model input: the action dimension, and the policy's normalization, whose space the noise is in")
		fmt.Fprintf(w, "output   %s: the sampler's initial noise per candidate [horizon %d, action %d], normalized action space, clipped to steering.noise.bound\n",
			c.Output, c.Horizon, a)
	case KindResidual:
		act("the base action, one per row")
		fmt.Fprintf(w, "output   %s: a correction per action [%d] in normalized units, scaled and clipped to steering.residual.bound\n", c.Output, a)
	default:
		what := fmt.Sprintf("%d executed actions [%d, %d)", b.Steps, b.Start, c.Horizon)
		if c.ActionSpan == SpanFirst {
			what = fmt.Sprintf("first executed action (index %d)", b.Start)
		}
		act(fmt.Sprintf("%s, span %s", what, c.ActionSpan))
		fmt.Fprintf(w, "output   %s: one score per candidate, higher is better\n", c.Output)
	}
	fmt.Fprintf(w, "axes     %s\n", axes)
	policy.WriteModel(w, "model", m)
	return nil
}
