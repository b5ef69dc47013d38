package steer

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/robotd/robotd/policy"
)

// fakeModel has the tensors it is given and cannot run: resolveValue only reads them.
type fakeModel struct{ in, out []policy.TensorInfo }

func (m *fakeModel) Path() string                                  { return "fake.onnx" }
func (m *fakeModel) Inputs() []policy.TensorInfo                   { return m.in }
func (m *fakeModel) Outputs() []policy.TensorInfo                  { return m.out }
func (m *fakeModel) Bind(int, policy.Dims) (policy.Binding, error) { panic("not bound") }
func (m *fakeModel) Close() error                                  { return nil }

// TestResolveDynamicAxes: a value model exported with more dynamic axes than the batch
// (the chunk's length, the state's size) binds them to the sizes the steering bundle
// implies, as policy.Dims; a fixed axis that disagrees is refused, naming it.
func TestResolveDynamicAxes(t *testing.T) {
	b, err := LoadBundle(filepath.Join("testdata", "value"))
	if err != nil {
		t.Fatal(err)
	}
	f32 := func(name string, shape ...int64) policy.TensorInfo {
		return policy.TensorInfo{Name: name, DType: "float32", Shape: shape}
	}
	m := &fakeModel{
		in:  []policy.TensorInfo{f32("observation.state", -1, -1), f32("action", -1, -1, 4)},
		out: []policy.TensorInfo{f32("value", -1, 1)},
	}
	a, err := resolveValue(b, m)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int64{"observation.state": {6}, "action": {7, 4}, "value": {1}}
	for name, dims := range want {
		if got := a.Dims[name]; len(got) != len(dims) || got[0] != dims[0] {
			t.Errorf("Dims[%s] = %v, want %v", name, got, dims)
		}
	}
	var bound []string
	for _, x := range a.Bound {
		bound = append(bound, x.String())
	}
	if got := strings.Join(bound, "; "); got != "observation.state[1] = 6 (observation.state dim 0); action[1] = 7 (executed actions)" {
		t.Errorf("bound %s", got)
	}

	m.in[1] = f32("action", -1, 5, -1)
	if _, err := resolveValue(b, m); err == nil || !strings.Contains(err.Error(), "axis 1 is fixed at 5, not executed actions 7") {
		t.Errorf("action [?,5,?]: %v, want the fixed axis named", err)
	}
	m.in[1] = policy.TensorInfo{Name: "action", DType: "int64", Shape: []int64{-1, 7, 4}}
	if _, err := resolveValue(b, m); err == nil || !strings.Contains(err.Error(), "action is int64, want float32") {
		t.Errorf("int64 action: %v", err)
	}
	m.in = m.in[:1]
	if _, err := resolveValue(b, m); err == nil || !strings.Contains(err.Error(), "no input action") {
		t.Errorf("no action input: %v", err)
	}
}
