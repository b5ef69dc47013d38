package policy

import (
	"fmt"
	"strings"
)

// TensorInfo describes one input or output of a model.
type TensorInfo struct {
	Name  string
	DType string  // "float32", "int64", ...
	Shape []int64 // -1 marks a dynamic dimension
}

func (t TensorInfo) String() string {
	dims := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		if d < 0 {
			dims[i] = "?"
		} else {
			dims[i] = fmt.Sprint(d)
		}
	}
	return fmt.Sprintf("%s %s[%s]", t.Name, t.DType, strings.Join(dims, ","))
}

// Model is a loaded network: the port a backend (policy/onnx) implements.
type Model interface {
	Path() string
	Inputs() []TensorInfo
	Outputs() []TensorInfo
	// Bind returns preallocated tensors for a batch of n: the first axis of every input and
	// output is n (a fixed first axis must be n), the others come from dims (see Dims) or,
	// for a tensor dims does not name, are the model's fixed sizes. An axis that is dynamic
	// and has no size in dims, a size that disagrees with a fixed axis, or dims naming a
	// tensor the model does not have is an error naming the tensor and the axis.
	Bind(n int, dims Dims) (Binding, error)
	Close() error
}

// Dims are the sizes of the axes after the batch axis of a model's tensors, by tensor name:
// Dims{"sample": {16, 7}} binds sample as [n, 16, 7]. They resolve a model's dynamic axes
// (a PyTorch export with a dynamic horizon has sample [?, ?, 7]) at Bind; a fixed axis must
// agree with them. A tensor not named binds its fixed sizes, and a nil Dims binds a model
// whose only dynamic axis is the batch axis. Load derives each model's Dims from the
// bundle (the horizon, the action dimension, n_obs_steps, the feature shapes, the
// conditioning size) and Policy.Axes reports them.
type Dims map[string][]int64

// Binding is a model with its input and output tensors allocated once. Writing into the
// input slices and calling Run evaluates the model without allocating.
type Binding interface {
	// Float32 and Int64 return the buffer of the named input or output, nil when there is
	// no such tensor of that element type.
	Float32(name string) []float32
	Int64(name string) []int64
	Run() error
	Close() error
}

// Open opens a model file with a backend; Load receives one so that policy does not
// depend on a C library.
type Open func(path string) (Model, error)

// findInfo returns the tensor named name, or an error listing the names there are.
func findInfo(model Model, inputs bool, name string) (TensorInfo, error) {
	list, what := model.Outputs(), "output"
	if inputs {
		list, what = model.Inputs(), "input"
	}
	names := make([]string, len(list))
	for i, t := range list {
		if t.Name == name {
			return t, nil
		}
		names[i] = t.Name
	}
	return TensorInfo{}, fmt.Errorf("%s has no %s %q (its %ss: %s)", model.Path(), what, name, what, strings.Join(names, ", "))
}
