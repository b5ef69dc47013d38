package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/robotd/robotd/internal/npy"
)

// ObservationArrays reads a history of observations from named arrays (an .npz file's,
// robotd policy run --inputs): one array per observation feature of the bundle, named as
// the feature, each shaped as the feature (one step) or [T, *shape] (T steps, oldest
// first), every feature with the same number of steps. A missing feature, a wrong shape
// and an array that is no feature are errors naming the array.
func (b *Bundle) ObservationArrays(in []*npy.Array) ([]Observation, error) {
	steps := -1
	values := make([][]float32, len(b.Observations))
	for i, f := range b.Observations {
		a := npy.Find(in, f.Name)
		if a == nil {
			return nil, fmt.Errorf("has no array %q (the bundle observes %s)", f.Name, b.ObservationNames())
		}
		var err error
		if values[i], err = a.Float32(); err != nil {
			return nil, err
		}
		n := len(values[i]) / f.Size
		if len(values[i]) != n*f.Size || n < 1 || (len(a.Shape) != len(f.Shape) && len(a.Shape) != len(f.Shape)+1) {
			return nil, fmt.Errorf("%s has shape %v; want %v or [steps, %v]", f.Name, a.Shape, f.Shape, strings.Trim(fmt.Sprint(f.Shape), "[]"))
		}
		if steps >= 0 && n != steps {
			return nil, fmt.Errorf("%s holds %d steps, other features %d", f.Name, n, steps)
		}
		steps = n
	}
	for _, a := range in {
		if !slices.ContainsFunc(b.Observations, func(f Feature) bool { return f.Name == a.Name }) {
			return nil, fmt.Errorf("array %q is not an observation feature of the bundle (%s)", a.Name, b.ObservationNames())
		}
	}
	obs := make([]Observation, max(steps, 0))
	for k := range obs {
		obs[k].Values = make([][]float32, len(values))
		for i, f := range b.Observations {
			obs[k].Values[i] = values[i][k*f.Size : (k+1)*f.Size]
		}
	}
	return obs, nil
}

// StepArrays feeds the observations (oldest first) and runs one step, offline: it
// returns the executed actions as "action" [samples, horizon - Start, action] and the
// sampler's normalized output as "action.normalized" [samples, horizon, action], copies
// the policy does not reuse.
func (p *Policy) StepArrays(obs []Observation, opt StepOptions) ([]*npy.Array, error) {
	for _, o := range obs {
		if err := p.Observe(o); err != nil {
			return nil, err
		}
	}
	actions, err := p.Step(opt)
	if err != nil {
		return nil, err
	}
	b := p.Bundle
	samples := max(opt.Samples, 1)
	return []*npy.Array{
		{Name: "action", Shape: []int{samples, b.Config.Horizon - p.Start(), b.ActionDim()}, Data: slices.Clone(actions)},
		{Name: "action.normalized", Shape: []int{samples, b.Config.Horizon, b.ActionDim()}, Data: slices.Clone(p.Raw())},
	}, nil
}
