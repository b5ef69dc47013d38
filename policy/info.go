package policy

import (
	"fmt"
	"io"
	"path/filepath"
)

// WriteInfo prints what the policy's bundle is (robotd policy info): its directory, name
// and kind, rate, observation history and chunk, every feature with its shape and
// normalization, a diffusion policy's sampler with its schedule, whether its denoiser takes
// a cond_mask (classifier-free guidance, SetGuidance), and for each model what
// its batch axis and its dynamic axes bind to (Policy.Axes).
func (p *Policy) WriteInfo(w io.Writer) {
	b := p.Bundle
	c := &b.Config
	fmt.Fprintf(w, "bundle   %s\nname     %s\nkind     %s\n", b.Dir, c.Name, c.Kind)
	fmt.Fprintf(w, "rate     %g Hz (actions every %.1f ms)\n", c.ControlRateHz, 1000/c.ControlRateHz)
	fmt.Fprintf(w, "history  n_obs_steps %d\nchunk    horizon %d, executed from index %d (%d actions), n_action_steps %d\n",
		c.NObsSteps, c.Horizon, p.Start(), c.Horizon-p.Start(), c.NActionSteps)
	fmt.Fprintln(w, "features")
	for _, f := range append(append([]Feature(nil), b.Observations...), b.Action) {
		fmt.Fprintf(w, "  %-28s %-14s %s\n", f.Name, fmt.Sprint(f.Shape), f.Norm.Mode)
	}
	if d := c.Diffusion; d != nil {
		fmt.Fprintf(w, "sampler  %s, %d steps, prediction %s, clip %v", d.Sampler, d.NumInferenceSteps, d.PredictionType, d.ClipSample)
		if s := p.Sampler().Scheduler(); s != nil {
			fmt.Fprintf(w, ", %s schedule over %d train steps, eta %g\n         timesteps %v", d.BetaSchedule, d.NumTrainTimesteps, d.Eta, s.Timesteps())
		}
		fmt.Fprintln(w)
	}
	if g, ok := p.Guidance(); ok {
		fmt.Fprintf(w, "guidance the denoiser takes %s: classifier-free guidance supported (weight %g; 1 = conditional only)\n", CondMask, g)
	}
	for _, a := range p.axes {
		fmt.Fprintf(w, "axes     %s: %s\n", filepath.Base(a.Model.Path()), a)
	}
}

// WriteModel prints a model's path under label, and its inputs and outputs.
func WriteModel(w io.Writer, label string, m Model) {
	fmt.Fprintf(w, "%s %s\n", label, m.Path())
	for _, t := range m.Inputs() {
		fmt.Fprintf(w, "  in   %s\n", t)
	}
	for _, t := range m.Outputs() {
		fmt.Fprintf(w, "  out  %s\n", t)
	}
}
