package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Axis is one axis of a model tensor and the size it binds to, with what the bundle says
// that size is ("horizon", "action", "n_obs_steps", ...). Policy info prints them.
type Axis struct {
	Tensor string
	Index  int    // 1 is the first axis after the batch axis
	Size   int64  // the bound size
	What   string // where the size comes from
}

// String reads "sample[1] = 16 (horizon)".
func (a Axis) String() string {
	return fmt.Sprintf("%s[%d] = %d (%s)", a.Tensor, a.Index, a.Size, a.What)
}

// ModelAxes are the dynamic axes of one of a policy's models and what they bind to.
type ModelAxes struct {
	Model Model
	// Batch says what the batch axis (axis 0 of every tensor) binds to: "1" for a network
	// run once per step, "samples per step" for the denoiser.
	Batch string
	// Dims is what the model is bound with (Model.Bind).
	Dims Dims
	// Bound lists the dynamic axes after the batch axis with the size each takes, in the
	// order Load checks the tensors (inputs, then outputs).
	Bound []Axis
}

// String reads "batch = samples per step; dynamic sample[1] = 16 (horizon), ...", the
// dynamic part only when an axis after the batch axis is dynamic.
func (a ModelAxes) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "batch = %s", a.Batch)
	for i, x := range a.Bound {
		sep := ", "
		if i == 0 {
			sep = "; dynamic "
		}
		fmt.Fprintf(&b, "%s%s", sep, x)
	}
	return b.String()
}

// Span is one axis of a layout: its size and what the bundle calls it ("horizon",
// "observation.state dim 0").
type Span struct {
	N    int64
	What string
}

// Expect is what a bundle implies for a model tensor: its element type and, after the
// batch axis, one of several layouts (e.g. an observation [n_obs_steps, *shape], or
// [*shape] when n_obs_steps is 1), all holding the same number of values per batch entry.
// Resolve binds a tensor against it.
type Expect struct {
	DType    string   // the element type, e.g. "float32"
	Describe string   // the layout in words, for errors: "horizon 16 x action 7"
	Layouts  [][]Span // the first one is the canonical layout
}

// per is the number of values per batch entry every layout holds.
func (e Expect) per() int64 {
	n := int64(1)
	for _, s := range e.Layouts[0] {
		n *= s.N
	}
	return n
}

// Flat returns the layout l as one axis holding its product, named by its axes' names
// joined with " x " ("horizon x action"): the flattened form a model may use instead.
func Flat(l []Span) []Span {
	n, what := int64(1), make([]string, len(l))
	for i, s := range l {
		n *= s.N
		what[i] = s.What
	}
	return []Span{{n, strings.Join(what, " x ")}}
}

// horizonAction is the expectation of a denoiser's sample and output and of a chunked
// policy's action: [horizon, action] or the two flattened into one axis.
func horizonAction(b *Bundle) Expect {
	c := &b.Config
	l := []Span{{int64(c.Horizon), "horizon"}, {int64(b.ActionDim()), "action"}}
	d := fmt.Sprintf("horizon %d x action %d", c.Horizon, b.ActionDim())
	return Expect{"float32", d, [][]Span{l, Flat(l)}}
}

// observation is the expectation of an observation input: [n_obs_steps, *shape], and when
// n_obs_steps is 1 also [*shape]; either may be flattened into one axis.
func observation(b *Bundle, f Feature) Expect {
	n := b.Config.NObsSteps
	l := []Span{{int64(n), "n_obs_steps"}}
	for i, d := range f.Shape {
		l = append(l, Span{int64(d), fmt.Sprintf("%s dim %d", f.Name, i)})
	}
	d := fmt.Sprintf("%d step(s) of %v", n, f.Shape)
	layouts := [][]Span{l}
	if n == 1 {
		layouts = append(layouts, l[1:])
	}
	layouts = append(layouts, Flat(l))
	return Expect{"float32", d, layouts}
}

// Resolve binds t's axes after the batch axis to the sizes e implies and returns them (for
// Dims) with the dynamic axes it bound. A tensor without dynamic axes is checked by its
// number of values per batch entry, whatever its layout; one with dynamic axes must have
// the rank of one of e's layouts and agree with it on every fixed axis, and its dynamic
// axes take that layout's sizes. The error names the model, the tensor, the axis and the
// layouts tried.
//
// path names the model file in errors. The returned sizes are what Model.Bind takes for t
// in Dims; the axes are for ModelAxes.Bound.
func Resolve(path string, t TensorInfo, e Expect) ([]int64, []Axis, error) {
	if t.DType != e.DType {
		return nil, nil, fmt.Errorf("%s: %s is %s, want %s", path, t.Name, t.DType, e.DType)
	}
	if len(t.Shape) == 0 {
		return nil, nil, fmt.Errorf("%s: %s is a scalar, want [batch, ...] holding %s", path, t.Name, e.Describe)
	}
	rest := t.Shape[1:]
	dynamic := slices.IndexFunc(rest, func(d int64) bool { return d < 0 })
	if dynamic < 0 {
		n := int64(1)
		for _, d := range rest {
			n *= d
		}
		if n != e.per() {
			return nil, nil, fmt.Errorf("%s: %s: %d values per batch entry, the bundle says %s (%d values)",
				path, t, n, e.Describe, e.per())
		}
		return slices.Clone(rest), nil, nil
	}
	var tried []string
	for _, l := range e.Layouts {
		if why := fits(rest, l); why != "" {
			tried = append(tried, fmt.Sprintf("%s: %s", layoutString(l), why))
			continue
		}
		dims := make([]int64, len(l))
		var bound []Axis
		for i, s := range l {
			dims[i] = s.N
			if rest[i] < 0 {
				bound = append(bound, Axis{Tensor: t.Name, Index: i + 1, Size: s.N, What: s.What})
			}
		}
		return dims, bound, nil
	}
	return nil, nil, fmt.Errorf("%s: %s: cannot bind dynamic axis %d to a size the bundle implies (%s); tried %s",
		path, t, dynamic+1, e.Describe, strings.Join(tried, "; "))
}

// fits says why the axes after the batch axis do not fit layout l, "" when they do.
func fits(rest []int64, l []Span) string {
	if len(rest) != len(l) {
		return fmt.Sprintf("%d axes after the batch axis, the tensor has %d", len(l), len(rest))
	}
	for i, d := range rest {
		if d >= 0 && d != l[i].N {
			return fmt.Sprintf("axis %d is fixed at %d, not %s %d", i+1, d, l[i].What, l[i].N)
		}
	}
	return ""
}

func layoutString(l []Span) string {
	parts := make([]string, len(l))
	for i, s := range l {
		parts[i] = fmt.Sprintf("%s %d", s.What, s.N)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// binder collects one model's Dims and bound axes while its tensors are resolved.
type binder struct {
	model Model
	axes  ModelAxes
}

func newBinder(m Model, batch string) *binder {
	return &binder{model: m, axes: ModelAxes{Model: m, Batch: batch, Dims: Dims{}}}
}

// bind resolves the model's input (or output) t against e and records its sizes.
func (b *binder) bind(t TensorInfo, e Expect) error {
	dims, bound, err := Resolve(b.model.Path(), t, e)
	if err != nil {
		return err
	}
	b.axes.Dims[t.Name] = dims
	b.axes.Bound = append(b.axes.Bound, bound...)
	return nil
}
