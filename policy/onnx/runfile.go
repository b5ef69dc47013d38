package onnx

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/robotd/robotd/internal/npy"
	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/chunk"
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
	p, obs, err := loadWithInputs(dir, opts, in, seed)
	if err != nil {
		return nil, err
	}
	defer p.Close()
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

// loadWithInputs loads the policy bundle in dir and reads its observations from the named
// arrays in (robotd policy run's --inputs); the caller closes the policy.
func loadWithInputs(dir string, opts Options, in []*npy.Array, seed uint64) (*policy.Policy, []policy.Observation, error) {
	p, err := policy.Load(dir, Opener(opts), policy.Options{Seed: seed})
	if err != nil {
		return nil, nil, err
	}
	obs, err := p.Bundle.ObservationArrays(in)
	if err != nil {
		p.Close()
		return nil, nil, fmt.Errorf("--inputs %w", err)
	}
	return p, obs, nil
}

// RunSteered is RunBundle with the steering stage cfg (a launch file's policy.steering):
// it feeds the observations, runs one steered step and returns "action" (the chosen
// chunk, [1, horizon - Start, action], residual applied), "steer.candidates" (every
// candidate in dataset units, [N, horizon, action]), "steer.valid" [N] (1 or 0),
// "steer.score" [N] (combined; -Inf for an invalid candidate), "steer.score.<scorer>"
// [N] for each scorer with a weight, "steer.probs" [N] and "steer.chosen" [1].
func RunSteered(dir string, opts Options, in []*npy.Array, seed uint64, cfg steer.Config) ([]*npy.Array, error) {
	p, obs, err := loadWithInputs(dir, opts, in, seed)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	st, err := steer.NewStage(cfg, p, steer.StageOptions{Open: Opener(opts), Seed: seed})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	for _, o := range obs {
		if err := st.Observe(o); err != nil {
			return nil, err
		}
	}
	var c chunk.Chunk
	info, err := st.Step(steer.StepInput{}, &c)
	if err != nil {
		return nil, err
	}
	cands, sc := st.Candidates(), st.Steer()
	n, sh := cands.Len(), cands.Shape()
	f32 := func(v []float64) []float32 {
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out
	}
	all := make([]float32, 0, n*sh.Horizon*sh.Dim)
	valid := make([]float32, n)
	for i := range n {
		all = append(all, cands.Chunk(i)...)
		if cands.Valid(i) {
			valid[i] = 1
		}
	}
	out := []*npy.Array{
		{Name: "action", Shape: []int{1, len(c.Actions) / c.Dim, c.Dim}, Data: f32(c.Actions)},
		{Name: "steer.candidates", Shape: []int{n, sh.Horizon, sh.Dim}, Data: all},
		{Name: "steer.valid", Shape: []int{n}, Data: valid},
		{Name: "steer.score", Shape: []int{n}, Data: f32(sc.Total())},
		{Name: "steer.probs", Shape: []int{n}, Data: f32(sc.Probs()[:n])},
		{Name: "steer.chosen", Shape: []int{1}, Data: []int64{int64(info.Chosen)}},
	}
	c2 := st.Config()
	for _, x := range []struct {
		name   string
		w      float64
		scorer int
	}{{"coherence", c2.Coherence.Weight, steer.ScoreCoherence}, {"contrast", c2.Contrast.Weight, steer.ScoreContrast},
		{"past", c2.Past.Weight, steer.ScorePast}, {"value", c2.Value.Weight, steer.ScoreValue}} {
		if x.w > 0 {
			out = append(out, &npy.Array{Name: "steer.score." + x.name, Shape: []int{n}, Data: f32(sc.Scores(x.scorer))})
		}
	}
	return out, nil
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
