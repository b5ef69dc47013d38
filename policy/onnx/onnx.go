// Package onnx runs policy networks on ONNX Runtime (through onnxruntime_go, which
// dlopens libonnxruntime at run time). It implements policy.Model: sessions are built
// once per batch size with their input and output tensors allocated up front, so a
// forward pass is one cgo call and no Go allocation.
//
// The shared library is ONNX Runtime 1.24.3 from the npm package onnxruntime-node, put in
// .cache/onnxruntime/ of the repository by scripts/setup.sh. Library looks for it, in
// order: Options.Library, $ROBOTD_ONNXRUNTIME, then .cache/onnxruntime/libonnxruntime.so
// (or .so.1) in each of Options.Search (a launch file's directory), the working directory
// and the executable's directory, each walked up to the root: a robotd built into the
// repository (bin/robotd) or run from any directory of it finds the repository's copy.
// When none has it, the error names every place looked and the setup command.
package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/robotd/robotd/policy"
)

// EnvLibrary is the environment variable naming the ONNX Runtime shared library.
const EnvLibrary = "ROBOTD_ONNXRUNTIME"

// Options configure the runtime and the sessions.
type Options struct {
	// Library is the path of libonnxruntime.so; empty searches (see the package doc).
	Library string
	// Search are directories where the search starts, before the working directory and
	// the executable's (a launch file's directory). Each is walked up to the root.
	Search []string
	// Threads is ONNX Runtime's intra-op thread count; 0 means 1, which leaves the other
	// cores to the control loop and the cameras.
	Threads int
}

var (
	initOnce sync.Once
	initErr  error
	initLib  string
)

// libraryNames are the file names looked for in each .cache/onnxruntime: setup's symlink,
// then the name the npm package ships.
var libraryNames = []string{"libonnxruntime.so", "libonnxruntime.so.1"}

// Library resolves the shared library path without loading it: explicit when given, else
// $ROBOTD_ONNXRUNTIME, else the search of the package doc starting in search, then the
// working directory and the executable's directory.
func Library(explicit string, search ...string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("onnx: runtime library: %w", err)
		}
		return explicit, nil
	}
	if p := os.Getenv(EnvLibrary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("onnx: $%s: %w", EnvLibrary, err)
		}
		return p, nil
	}
	starts := searchStarts(search)
	for _, dir := range starts {
		for {
			for _, name := range libraryNames {
				p := filepath.Join(dir, ".cache", "onnxruntime", name)
				if st, err := os.Stat(p); err == nil && !st.IsDir() {
					return p, nil
				}
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("onnx: ONNX Runtime shared library not found: looked for .cache/onnxruntime/%s in %s and each of their parents, "+
		"and $%s is unset; run scripts/setup.sh (make setup) in the repository to install it there, "+
		"or set $%s or the launch file's policy.library to libonnxruntime.so",
		strings.Join(libraryNames, " or "), strings.Join(starts, ", "), EnvLibrary, EnvLibrary)
}

// searchStarts is search (made absolute), the working directory and the executable's
// directory (symlinks resolved), without repeats.
func searchStarts(search []string) []string {
	var out []string
	add := func(d string) {
		if d == "" {
			return
		}
		if a, err := filepath.Abs(d); err == nil && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	for _, d := range search {
		add(d)
	}
	if wd, err := os.Getwd(); err == nil {
		add(wd)
	}
	if exe, err := os.Executable(); err == nil {
		if r, err := filepath.EvalSymlinks(exe); err == nil {
			exe = r
		}
		add(filepath.Dir(exe))
	}
	return out
}

// Init loads ONNX Runtime once per process, from the library Library(library, search...)
// finds; later calls return the first call's result (a different library path is then an
// error).
func Init(library string, search ...string) error {
	path, err := Library(library, search...)
	if err != nil {
		return err
	}
	initOnce.Do(func() {
		initLib = path
		ort.SetSharedLibraryPath(path)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			initErr = fmt.Errorf("onnx: load %s: %w", path, err)
		}
	})
	if initErr == nil && library != "" && library != initLib {
		return fmt.Errorf("onnx: runtime already loaded from %s, cannot switch to %s", initLib, library)
	}
	return initErr
}

// Version reports the loaded runtime's version.
func Version() string { return ort.GetVersion() }

// Model is an ONNX file with its input and output descriptions.
type Model struct {
	path     string
	opts     Options
	inputs   []policy.TensorInfo
	outputs  []policy.TensorInfo
	bindings []*Binding
}

// Open reads the model's inputs and outputs (and so checks that ONNX Runtime can parse
// it). Sessions are created by Bind.
func Open(path string, opts Options) (*Model, error) {
	if err := Init(opts.Library, opts.Search...); err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("onnx: %s is a directory, not an .onnx file", path)
	}
	so, err := sessionOptions(opts)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	ins, outs, err := ort.GetInputOutputInfoWithOptions(path, so)
	if err != nil {
		return nil, fmt.Errorf("onnx: %s is not a model ONNX Runtime can load: %w", path, err)
	}
	m := &Model{path: path, opts: opts}
	if m.inputs, err = convertInfo(path, ins); err != nil {
		return nil, err
	}
	if m.outputs, err = convertInfo(path, outs); err != nil {
		return nil, err
	}
	return m, nil
}

// Opener returns a policy.Open for these options.
func Opener(opts Options) policy.Open {
	return func(path string) (policy.Model, error) { return Open(path, opts) }
}

func sessionOptions(opts Options) (*ort.SessionOptions, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnx: session options: %w", err)
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = 1
	}
	if err := errors.Join(so.SetIntraOpNumThreads(threads), so.SetInterOpNumThreads(1)); err != nil {
		so.Destroy()
		return nil, fmt.Errorf("onnx: session options: %w", err)
	}
	return so, nil
}

var dtypeNames = map[ort.TensorElementDataType]string{
	ort.TensorElementDataTypeFloat:  "float32",
	ort.TensorElementDataTypeDouble: "float64",
	ort.TensorElementDataTypeInt64:  "int64",
	ort.TensorElementDataTypeInt32:  "int32",
	ort.TensorElementDataTypeInt16:  "int16",
	ort.TensorElementDataTypeInt8:   "int8",
	ort.TensorElementDataTypeUint8:  "uint8",
	ort.TensorElementDataTypeUint16: "uint16",
	ort.TensorElementDataTypeUint32: "uint32",
	ort.TensorElementDataTypeUint64: "uint64",
	ort.TensorElementDataTypeBool:   "bool",
}

func convertInfo(path string, infos []ort.InputOutputInfo) ([]policy.TensorInfo, error) {
	out := make([]policy.TensorInfo, len(infos))
	for i, in := range infos {
		if in.OrtValueType != ort.ONNXTypeTensor {
			return nil, fmt.Errorf("onnx: %s: %s is a %v; robotd runs tensor inputs and outputs only", path, in.Name, in.OrtValueType)
		}
		name, ok := dtypeNames[in.DataType]
		if !ok {
			name = in.DataType.String()
		}
		out[i] = policy.TensorInfo{Name: in.Name, DType: name, Shape: append([]int64(nil), in.Dimensions...)}
	}
	return out, nil
}

// Path implements policy.Model.
func (m *Model) Path() string { return m.path }

// Inputs implements policy.Model.
func (m *Model) Inputs() []policy.TensorInfo { return m.inputs }

// Outputs implements policy.Model.
func (m *Model) Outputs() []policy.TensorInfo { return m.outputs }

// Close releases every binding made from the model.
func (m *Model) Close() error {
	var errs []error
	for _, b := range m.bindings {
		errs = append(errs, b.Close())
	}
	m.bindings = nil
	return errors.Join(errs...)
}

// Binding is a session over preallocated tensors for one batch size.
type Binding struct {
	session *ort.AdvancedSession
	values  []ort.Value
	f32     map[string][]float32
	i64     map[string][]int64
}

// Bind implements policy.Model: a new session whose tensors have batch n and, after the
// batch axis, the sizes dims gives (policy.Dims: a dynamic axis takes its size from there,
// a fixed one must agree). Only float32 and int64 tensors are supported here (run other
// models with RunOnce).
func (m *Model) Bind(n int, dims policy.Dims) (policy.Binding, error) {
	if n < 1 {
		return nil, fmt.Errorf("onnx: %s: batch %d: must be >= 1", m.path, n)
	}
	for name := range dims {
		if !slices.ContainsFunc(m.inputs, func(t policy.TensorInfo) bool { return t.Name == name }) &&
			!slices.ContainsFunc(m.outputs, func(t policy.TensorInfo) bool { return t.Name == name }) {
			return nil, fmt.Errorf("onnx: %s: dims name %q, which is none of its inputs (%s) or outputs (%s)",
				m.path, name, infoNames(m.inputs), infoNames(m.outputs))
		}
	}
	b := &Binding{f32: map[string][]float32{}, i64: map[string][]int64{}}
	var inNames, outNames []string
	var ins, outs []ort.Value
	add := func(t policy.TensorInfo, names *[]string, vals *[]ort.Value) error {
		shape, err := concreteShape(m.path, t, n, dims[t.Name])
		if err != nil {
			return err
		}
		if slices.Contains(inNames, t.Name) || slices.Contains(outNames, t.Name) {
			return fmt.Errorf("onnx: %s: tensor name %q used twice", m.path, t.Name)
		}
		var v ort.Value
		switch t.DType {
		case "float32":
			tt, err := ort.NewEmptyTensor[float32](shape)
			if err != nil {
				return fmt.Errorf("onnx: %s: %s: %w", m.path, t.Name, err)
			}
			b.f32[t.Name], v = tt.GetData(), tt
		case "int64":
			tt, err := ort.NewEmptyTensor[int64](shape)
			if err != nil {
				return fmt.Errorf("onnx: %s: %s: %w", m.path, t.Name, err)
			}
			b.i64[t.Name], v = tt.GetData(), tt
		default:
			return fmt.Errorf("onnx: %s: %s is %s; bound sessions take float32 and int64 tensors", m.path, t.Name, t.DType)
		}
		*names = append(*names, t.Name)
		*vals = append(*vals, v)
		b.values = append(b.values, v)
		return nil
	}
	for _, t := range m.inputs {
		if err := add(t, &inNames, &ins); err != nil {
			b.Close()
			return nil, err
		}
	}
	for _, t := range m.outputs {
		if err := add(t, &outNames, &outs); err != nil {
			b.Close()
			return nil, err
		}
	}
	so, err := sessionOptions(m.opts)
	if err != nil {
		b.Close()
		return nil, err
	}
	defer so.Destroy()
	b.session, err = ort.NewAdvancedSession(m.path, inNames, outNames, ins, outs, so)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("onnx: %s: session: %w", m.path, err)
	}
	m.bindings = append(m.bindings, b)
	return b, nil
}

// concreteShape is t's shape for batch n, with the sizes after the batch axis from dims
// (nil: t's own, which must then be fixed).
func concreteShape(path string, t policy.TensorInfo, n int, dims []int64) (ort.Shape, error) {
	if len(t.Shape) == 0 {
		return nil, fmt.Errorf("onnx: %s: %s is a scalar; bound sessions need a batch dimension", path, t.Name)
	}
	if dims != nil && len(dims) != len(t.Shape)-1 {
		return nil, fmt.Errorf("onnx: %s: %s: dims give %d sizes %v, the tensor has %d axes after the batch axis", path, t, len(dims), dims, len(t.Shape)-1)
	}
	shape := make(ort.Shape, len(t.Shape))
	for i, d := range t.Shape {
		switch {
		case i == 0 && d < 0:
			shape[i] = int64(n)
		case i == 0 && d != int64(n):
			return nil, fmt.Errorf("onnx: %s: %s has a fixed batch dimension %d; cannot bind batch %d", path, t.Name, d, n)
		case i == 0:
			shape[i] = d
		case dims == nil && d < 0:
			return nil, fmt.Errorf("onnx: %s: %s has a dynamic dimension %d and dims give it no size; only the batch dimension binds without one", path, t, i)
		case dims == nil:
			shape[i] = d
		case dims[i-1] < 1:
			return nil, fmt.Errorf("onnx: %s: %s: dims give dimension %d size %d; want >= 1", path, t, i, dims[i-1])
		case d >= 0 && d != dims[i-1]:
			return nil, fmt.Errorf("onnx: %s: %s: dimension %d is fixed at %d, dims give %d", path, t, i, d, dims[i-1])
		default:
			shape[i] = dims[i-1]
		}
	}
	return shape, nil
}

// Float32 implements policy.Binding.
func (b *Binding) Float32(name string) []float32 { return b.f32[name] }

// Int64 implements policy.Binding.
func (b *Binding) Int64(name string) []int64 { return b.i64[name] }

// Run implements policy.Binding.
func (b *Binding) Run() error {
	if b.session == nil {
		return errors.New("onnx: run on a closed binding")
	}
	return b.session.Run()
}

// Close implements policy.Binding; it is safe to call twice.
func (b *Binding) Close() error {
	var errs []error
	if b.session != nil {
		errs = append(errs, b.session.Destroy())
		b.session = nil
	}
	for _, v := range b.values {
		errs = append(errs, v.Destroy())
	}
	b.values = nil
	return errors.Join(errs...)
}
