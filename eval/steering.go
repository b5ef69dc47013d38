package eval

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
	"gonum.org/v1/plot/plotter"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/internal/plot"
	"github.com/robotd/robotd/policy/steer"
)

// Steering is eval.json's "steering" section: the launch file's steering configuration
// and what the stage did over every episode (absent without steering, and with --steer
// off).
type Steering struct {
	// Config is the policy.steering section as the evaluation ran it, defaults filled,
	// with the launch file's keys.
	Config map[string]any `json:"config"`
	cfg    steer.Config
	daemon.SteerSummary
	// Time is each timed part of a step (infer: the policy's batched call; weak, noise,
	// value, residual: the models; coherence, contrast, past: the scorers; total).
	Time map[string]Latency `json:"time"`
}

func newSteering(cfg steer.Config, s *daemon.SteerSummary) *Steering {
	st := &Steering{Config: yamlMap(cfg), cfg: cfg, SteerSummary: *s, Time: map[string]Latency{}}
	for name, t := range s.Times {
		st.Time[name] = latencyOf(t)
	}
	return st
}

// write prints the steering lines of the one-screen report.
func (s *Steering) write(w io.Writer) {
	if s == nil {
		return
	}
	var scorers []string
	c := s.config()
	for _, x := range []struct {
		name string
		w    float64
	}{{"coherence", c.Coherence.Weight}, {"contrast", c.Contrast.Weight}, {"past", c.Past.Weight}, {"value", c.Value.Weight}} {
		if x.w > 0 {
			scorers = append(scorers, fmt.Sprintf("%s %g", x.name, x.w))
		}
	}
	if len(scorers) == 0 {
		scorers = append(scorers, "no scorer")
	}
	fmt.Fprintf(w, "steering     N %d, %s, select %s; %d steps, %d candidates rejected, score spread mean %.4g\n",
		s.Samples, strings.Join(scorers, ", "), c.Select.Mode, s.Steps, s.Rejected, s.SpreadMean)
	var parts []string
	names := s.TimeNames()
	if len(names) == 0 { // read back from eval.json, which keeps Time only
		for name := range s.Time {
			names = append(names, name)
		}
		sort.Strings(names)
	}
	for _, name := range names {
		t := s.Time[name]
		parts = append(parts, fmt.Sprintf("%s %.2f/%.2f", name, t.P50, t.P99))
	}
	fmt.Fprintf(w, "steer time   p50/p99 ms: %s\n", strings.Join(parts, ", "))
	if s.ResidualActions > 0 {
		fmt.Fprintf(w, "residual     rate %s, %d actions, magnitude mean %.4g (max %.4g), %d values clipped to the bound, %d NaN/Inf applied as 0\n",
			s.ResidualRate, s.ResidualActions, s.ResidualMagMean, s.ResidualMagMax, s.ResidualClipped, s.ResidualNonFinite)
	}
	if s.NoiseClipped > 0 || s.NoiseNonFinite > 0 {
		fmt.Fprintf(w, "noise policy %d values clipped to the bound, %d NaN/Inf\n", s.NoiseClipped, s.NoiseNonFinite)
	}
}

// config is the steering configuration the evaluation ran: the one it was built with, or,
// for a report read back from eval.json (robotd eval merge, compare), the one its Config map
// holds under the launch file's keys.
func (s *Steering) config() steer.Config {
	if s.cfg.Samples > 0 || s.Config == nil {
		return s.cfg
	}
	var c steer.Config
	if err := yamlCopy(s.Config, &c); err != nil {
		return s.cfg
	}
	return c
}

// steeringPanels are the eval plot's steering panels: how often each candidate index was
// chosen, and the latency distribution of each timed part of a step.
func steeringPanels(s *daemon.SteerSummary) []plot.Panel {
	if s == nil || s.Steps == 0 {
		return nil
	}
	var chosen plotter.XYs
	for i, n := range s.Chosen {
		chosen = append(chosen, plotter.XY{X: float64(i), Y: 100 * float64(n) / float64(s.Steps)})
	}
	panels := []plot.Panel{{Title: fmt.Sprintf("steering: candidate chosen, %d steps of N %d", s.Steps, s.Samples),
		XLabel: "candidate index", YLabel: "% of steps", Lines: []plot.Series{{Name: "chosen", XY: chosen}}}}
	tp := plot.Panel{Title: "steering: time per part of a step (wall clock)", XLabel: "ms", YLabel: "% of steps at or below"}
	for _, name := range s.TimeNames() {
		t := s.Times[name]
		var cdf plotter.XYs
		for q := 0.0; q <= 1.0001; q += 0.02 {
			cdf = append(cdf, plotter.XY{X: float64(t.Quantile(min(q, 1))) / 1e6, Y: 100 * q})
		}
		tp.Lines = append(tp.Lines, plot.Series{Name: name, XY: cdf})
	}
	return append(panels, tp)
}

// yamlMap is v as the generic map its YAML keys make (the launch file's names).
func yamlMap(v any) map[string]any {
	var m map[string]any
	if err := yamlCopy(v, &m); err != nil {
		return map[string]any{"error": err.Error()}
	}
	return m
}

// yamlCopy decodes src's YAML into dst: the same keys in another Go type.
func yamlCopy(src, dst any) error {
	data, err := yaml.Marshal(src)
	if err != nil {
		return err
	}
	return yaml.Unmarshal(data, dst)
}
