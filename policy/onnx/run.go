package onnx

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/robotd/robotd/internal/npy"
	"github.com/robotd/robotd/policy"
)

// RunOnce evaluates the model on named arrays (any shapes the model accepts, any numeric
// type it declares) and returns its outputs in the model's output order. Every model
// input must be given exactly once, with the model's element type; extra arrays are an
// error too, so a misspelt name cannot go unnoticed.
func (m *Model) RunOnce(inputs []*npy.Array) ([]*npy.Array, error) {
	var values []ort.Value
	defer func() {
		for _, v := range values {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	var names []string
	for _, a := range inputs {
		if !slices.ContainsFunc(m.inputs, func(t policy.TensorInfo) bool { return t.Name == a.Name }) {
			return nil, fmt.Errorf("onnx: %s has no input %q (its inputs: %s)", m.path, a.Name, infoNames(m.inputs))
		}
	}
	for _, t := range m.inputs {
		a := npy.Find(inputs, t.Name)
		if a == nil {
			return nil, fmt.Errorf("onnx: input %q of %s is missing from the inputs (given: %s)", t.Name, m.path, arrayNames(inputs))
		}
		if a.DType() != t.DType {
			return nil, fmt.Errorf("onnx: input %q is %s, %s wants %s", t.Name, a.DType(), m.path, t.DType)
		}
		if err := shapeAccepts(t.Shape, a.Shape); err != nil {
			return nil, fmt.Errorf("onnx: input %q: shape %v: %w (model: %v)", t.Name, a.Shape, err, t)
		}
		v, err := newValue(a)
		if err != nil {
			return nil, fmt.Errorf("onnx: input %q: %w", t.Name, err)
		}
		values = append(values, v)
		names = append(names, t.Name)
	}
	outNames := make([]string, len(m.outputs))
	for i, t := range m.outputs {
		outNames[i] = t.Name
	}
	so, err := sessionOptions(m.opts)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	sess, err := ort.NewDynamicAdvancedSession(m.path, names, outNames, so)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: session: %w", m.path, err)
	}
	defer sess.Destroy()
	outs := make([]ort.Value, len(outNames))
	if err := sess.Run(values, outs); err != nil {
		for _, v := range outs {
			if v != nil {
				v.Destroy()
			}
		}
		return nil, fmt.Errorf("onnx: %s: %w", m.path, err)
	}
	result := make([]*npy.Array, len(outs))
	var errs []error
	for i, v := range outs {
		a, err := toArray(outNames[i], v)
		errs = append(errs, err, v.Destroy())
		result[i] = a
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("onnx: %s: outputs: %w", m.path, err)
	}
	return result, nil
}

func infoNames(ts []policy.TensorInfo) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

func arrayNames(as []*npy.Array) string {
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = a.Name
	}
	return strings.Join(names, ", ")
}

// shapeAccepts reports whether a concrete shape fits a model shape with -1 wildcards.
func shapeAccepts(model []int64, shape []int) error {
	if len(model) != len(shape) {
		return fmt.Errorf("%d dimensions, the model wants %d", len(shape), len(model))
	}
	for i, d := range model {
		if d >= 0 && int64(shape[i]) != d {
			return fmt.Errorf("dimension %d is %d, the model wants %d", i, shape[i], d)
		}
	}
	return nil
}

func newValue(a *npy.Array) (ort.Value, error) {
	shape := make(ort.Shape, len(a.Shape))
	for i, d := range a.Shape {
		shape[i] = int64(d)
	}
	switch d := a.Data.(type) {
	case []float32:
		return ort.NewTensor(shape, d)
	case []float64:
		return ort.NewTensor(shape, d)
	case []int64:
		return ort.NewTensor(shape, d)
	case []int32:
		return ort.NewTensor(shape, d)
	case []int16:
		return ort.NewTensor(shape, d)
	case []int8:
		return ort.NewTensor(shape, d)
	case []uint8:
		return ort.NewTensor(shape, d)
	case []uint16:
		return ort.NewTensor(shape, d)
	case []uint32:
		return ort.NewTensor(shape, d)
	case []uint64:
		return ort.NewTensor(shape, d)
	}
	return nil, fmt.Errorf("element type %s is not supported", a.DType())
}

func toArray(name string, v ort.Value) (*npy.Array, error) {
	dims := v.GetShape()
	shape := make([]int, len(dims))
	for i, d := range dims {
		shape[i] = int(d)
	}
	var data any
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		data = slices.Clone(t.GetData())
	case *ort.Tensor[float64]:
		data = slices.Clone(t.GetData())
	case *ort.Tensor[int64]:
		data = slices.Clone(t.GetData())
	case *ort.Tensor[int32]:
		data = slices.Clone(t.GetData())
	case *ort.Tensor[int16]:
		data = slices.Clone(t.GetData())
	case *ort.Tensor[int8]:
		data = slices.Clone(t.GetData())
	case *ort.Tensor[uint8]:
		data = slices.Clone(t.GetData())
	case *ort.Tensor[uint16]:
		data = slices.Clone(t.GetData())
	case *ort.Tensor[uint32]:
		data = slices.Clone(t.GetData())
	case *ort.Tensor[uint64]:
		data = slices.Clone(t.GetData())
	default:
		return nil, fmt.Errorf("output %q: unsupported value type %T", name, v)
	}
	return &npy.Array{Name: name, Shape: shape, Data: data}, nil
}
