package onnx

import (
	"strings"

	"github.com/robotd/robotd/internal/npy"
)

// RunFile opens the ONNX model at path, evaluates it once on named arrays (RunOnce) and
// closes it. A lone array whose name is no input of a one-input model (a bare .npy file,
// named after its file) is given to that input.
func RunFile(path string, opts Options, in []*npy.Array) ([]*npy.Array, error) {
	m, err := Open(path, opts)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if len(in) == 1 && len(m.Inputs()) == 1 && npy.Find(in, m.Inputs()[0].Name) == nil && !strings.Contains(in[0].Name, ".") {
		in[0].Name = m.Inputs()[0].Name
	}
	return m.RunOnce(in)
}
