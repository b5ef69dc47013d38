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
	// Bind returns preallocated tensors for a batch of n: the first dimension of every
	// input and output is n, the others the model's fixed dimensions.
	Bind(n int) (Binding, error)
	Close() error
}

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

// checkShape verifies that a model tensor holds [batch, want...] (or, for an observation
// with one step, also [batch, want[1:]...]): same element count per batch entry and a
// dynamic or matching batch dimension.
func checkShape(model Model, t TensorInfo, dtype string, per int, describe string) error {
	if t.DType != dtype {
		return fmt.Errorf("%s: %s is %s, want %s", model.Path(), t.Name, t.DType, dtype)
	}
	if len(t.Shape) == 0 {
		return fmt.Errorf("%s: %s is a scalar, want [batch, ...] holding %s", model.Path(), t.Name, describe)
	}
	n := int64(1)
	for i, d := range t.Shape[1:] {
		if d < 0 {
			return fmt.Errorf("%s: %s has a dynamic dimension %d; only the batch (first) dimension may be dynamic", model.Path(), t.Name, i+1)
		}
		n *= d
	}
	if n != int64(per) {
		return fmt.Errorf("%s: %s: %d values per batch entry, the bundle says %s (%d values)",
			model.Path(), t, n, describe, per)
	}
	return nil
}
