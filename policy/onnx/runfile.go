package onnx

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/robotd/robotd/internal/npy"
	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/steer"
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

// RunBundle loads the policy bundle in dir, feeds it the observations in (each array
// named after its observation feature, [*shape] or a history [T, *shape], oldest
// first) and runs one step: samples action sequences drawn with the seeded noise
// generator, or from the initial noise of the .npy file at noisePath ([samples,
// horizon, action] in the normalized space) when it is not "". It returns the step's
// arrays (policy.StepArrays). Errors about the inputs and the noise name robotd policy
// run's --inputs and --noise flags.
func RunBundle(dir string, opts Options, in []*npy.Array, seed uint64, samples int, noisePath string) ([]*npy.Array, error) {
	p, err := policy.Load(dir, Opener(opts), policy.Options{Seed: seed})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	obs, err := p.Bundle.ObservationArrays(in)
	if err != nil {
		return nil, fmt.Errorf("--inputs %w", err)
	}
	opt := policy.StepOptions{Samples: samples}
	if noisePath != "" {
		na, err := npy.ReadFile(noisePath)
		if err != nil {
			return nil, err
		}
		if len(na) != 1 {
			return nil, fmt.Errorf("--noise %s: want one array, found %d", noisePath, len(na))
		}
		if opt.Noise, err = na[0].Float32(); err != nil {
			return nil, err
		}
	}
	return p.StepArrays(obs, opt)
}

// WriteInfo writes what robotd policy info prints about path: for a policy bundle
// directory its configuration (policy.Policy.WriteInfo) and each model's inputs and
// outputs, for a steering bundle (a directory with steer.yaml) steer.WriteInfo's
// description, for a model file that model's, after the ONNX Runtime version.
func WriteInfo(w io.Writer, path string, opts Options) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		m, err := Open(path, opts)
		if err != nil {
			return err
		}
		defer m.Close()
		fmt.Fprintf(w, "onnxruntime %s\n", Version())
		policy.WriteModel(w, "model", m)
		return nil
	}
	if steer.IsBundle(path) {
		if err := steer.WriteInfo(w, path, Opener(opts)); err != nil {
			return err
		}
		fmt.Fprintf(w, "onnxruntime %s, %d thread(s)\n", Version(), opts.Threads)
		return nil
	}
	p, err := policy.Load(path, Opener(opts), policy.Options{})
	if err != nil {
		return err
	}
	defer p.Close()
	p.WriteInfo(w)
	fmt.Fprintf(w, "onnxruntime %s, %d thread(s)\n", Version(), opts.Threads)
	for _, m := range p.Models() {
		policy.WriteModel(w, filepath.Base(m.Path()), m)
	}
	return nil
}
