package daemon

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robotd/robotd/policy/steer"
	"github.com/robotd/robotd/telemetry"
)

// The parts of a steering step that are timed, the part label of
// robotd_steer_seconds and the keys of SteerSummary.Times.
const (
	partInfer = iota
	partWeak
	partNoise
	partValue
	partCoherence
	partContrast
	partPast
	partResidual
	partTotal
	numParts
)

var partNames = [numParts]string{"infer", "weak", "noise", "value", "coherence", "contrast", "past", "residual", "total"}

// steerMetrics are the steering stage's series and the summary's recorders, updated by
// the control loop (receive) without allocating.
type steerMetrics struct {
	steps, candidates, invalid        *telemetry.Counter
	resRows, resClipped, resNonFinite *telemetry.Counter
	noiseClipped, noiseNonFinite      *telemetry.Counter
	chosenH, spreadH, resMagH         *telemetry.Histogram
	partH                             [numParts]*telemetry.Histogram
	parts                             [numParts]telemetry.Quantiles

	chosen                  []uint64 // per candidate index
	spreadSum, spreadMax    float64
	resMagSum, resMagMax    float64
	resSteps                uint64
	samples, weakSamples    int
	residualRate, residualB string
}

func newSteerMetrics(r *telemetry.Registry, cfg steer.Config) *steerMetrics {
	n := cfg.Samples
	m := &steerMetrics{
		steps:          r.Counter("robotd_steer_steps_total", "Steered policy steps (a chunk selected from candidates)."),
		candidates:     r.Counter("robotd_steer_candidates_total", "Candidate chunks drawn."),
		invalid:        r.Counter("robotd_steer_candidates_rejected_total", "Candidates that failed validation (non-finite or out of bounds): never selected."),
		resRows:        r.Counter("robotd_steer_residual_actions_total", "Actions the residual corrected."),
		resClipped:     r.Counter("robotd_steer_residual_clipped_total", "Finite residual values beyond the bound, clipped to it (NaN and Inf count in robotd_steer_residual_nonfinite_total)."),
		resNonFinite:   r.Counter("robotd_steer_residual_nonfinite_total", "Residual values that were NaN or Inf (applied as 0)."),
		noiseClipped:   r.Counter("robotd_steer_noise_clipped_total", "Finite noise-policy values beyond the bound, clipped to it (NaN and Inf count in robotd_steer_noise_nonfinite_total)."),
		noiseNonFinite: r.Counter("robotd_steer_noise_nonfinite_total", "Noise-policy values that were NaN (replaced by 0) or Inf (clipped to the bound)."),
		chosenH:        r.Histogram("robotd_steer_chosen_index", "Index of the selected candidate.", telemetry.LinearBuckets(0, 1, max(n, 2))),
		spreadH:        r.Histogram("robotd_steer_score_spread", "Highest minus lowest finite combined score of a step.", telemetry.ExponentialBuckets(1e-4, 2, 20)),
		resMagH:        r.Histogram("robotd_steer_residual_magnitude", "Mean L2 norm of the applied residual per corrected action (normalized action units).", telemetry.ExponentialBuckets(1e-5, 2, 20)),
		chosen:         make([]uint64, n),
		samples:        n,
		residualRate:   cfg.Residual.Rate,
	}
	if cfg.Contrast.Bundle != "" {
		m.weakSamples = cfg.Contrast.Samples
	}
	for k, name := range partNames {
		m.partH[k] = r.Histogram("robotd_steer_seconds", "Steering step time by part (infer: the policy's batched step).",
			telemetry.ExponentialBuckets(1e-6, 2, 22), telemetry.Label{Name: "part", Value: name})
	}
	return m
}

// step records a steered step.
func (m *steerMetrics) step(info *steer.StepInfo) {
	m.steps.Inc()
	m.candidates.Add(uint64(info.N))
	m.invalid.Add(uint64(info.N - info.Valid))
	if info.Chosen >= 0 && info.Chosen < len(m.chosen) {
		m.chosen[info.Chosen]++
		m.chosenH.Observe(float64(info.Chosen))
	}
	m.spreadH.Observe(info.Spread)
	m.spreadSum += info.Spread
	m.spreadMax = max(m.spreadMax, info.Spread)
	times := [numParts]time.Duration{partInfer: info.Infer, partWeak: info.Weak, partNoise: info.Noise, partValue: info.Value,
		partCoherence: info.Scorers[steer.ScoreCoherence], partContrast: info.Scorers[steer.ScoreContrast],
		partPast: info.Scorers[steer.ScorePast], partResidual: info.Residual, partTotal: info.Total}
	for k, d := range times {
		if d > 0 || k == partInfer || k == partTotal {
			m.partH[k].Observe(d.Seconds())
			m.parts[k].Record(d)
		}
	}
	m.noiseClipped.Add(uint64(info.NoiseStep.Clipped))
	m.noiseNonFinite.Add(uint64(info.NoiseStep.NonFinite))
	m.residual(&info.ResidualStep)
}

// residual records one application of the residual (a chunk's, or one action's).
func (m *steerMetrics) residual(r *steer.ResidualStep) {
	if r.Rows == 0 {
		return
	}
	m.resSteps++
	m.resRows.Add(uint64(r.Rows))
	m.resClipped.Add(uint64(r.Clipped))
	m.resNonFinite.Add(uint64(r.NonFinite))
	m.resMagH.Observe(r.Magnitude)
	m.resMagSum += r.Magnitude
	m.resMagMax = max(m.resMagMax, r.Magnitude)
}

// SteerSummary is what the steering stage did over a run (Summary.Steering).
type SteerSummary struct {
	// Samples is N, the candidates per step; WeakSamples the weak policy's (0: none).
	Samples     int    `json:"samples"`
	WeakSamples int    `json:"weak_samples,omitempty"`
	Steps       uint64 `json:"steps"`
	// Rejected counts candidates that failed validation (never selected).
	Rejected uint64 `json:"candidates_rejected"`
	// Chosen counts how often each candidate index was selected.
	Chosen []uint64 `json:"chosen"`
	// SpreadMean and SpreadMax are of the steps' score spread (highest minus lowest
	// finite combined score).
	SpreadMean float64 `json:"score_spread_mean"`
	SpreadMax  float64 `json:"score_spread_max"`
	// Times are the parts of a step (infer, weak, noise, value, coherence, contrast,
	// past, residual, total) that ran.
	Times map[string]telemetry.Snapshot `json:"-"`
	// Residual: how many actions it corrected, how many finite values its bound clipped,
	// how many were NaN or Inf (applied as 0), the mean and largest magnitude (mean L2
	// norm per action, normalized units).
	ResidualRate      string  `json:"residual_rate,omitempty"`
	ResidualActions   uint64  `json:"residual_actions"`
	ResidualClipped   uint64  `json:"residual_clipped"`
	ResidualNonFinite uint64  `json:"residual_nonfinite"`
	ResidualMagMean   float64 `json:"residual_magnitude_mean"`
	ResidualMagMax    float64 `json:"residual_magnitude_max"`
	NoiseClipped      uint64  `json:"noise_clipped"`
	NoiseNonFinite    uint64  `json:"noise_nonfinite"`
}

func (m *steerMetrics) summary() *SteerSummary {
	s := &SteerSummary{
		Samples: m.samples, WeakSamples: m.weakSamples, Steps: m.steps.Value(), Rejected: m.invalid.Value(),
		Chosen: slices.Clone(m.chosen), SpreadMax: m.spreadMax, Times: map[string]telemetry.Snapshot{},
		ResidualActions: m.resRows.Value(), ResidualClipped: m.resClipped.Value(), ResidualNonFinite: m.resNonFinite.Value(),
		ResidualMagMax: m.resMagMax, NoiseClipped: m.noiseClipped.Value(), NoiseNonFinite: m.noiseNonFinite.Value(),
	}
	if s.Steps > 0 {
		s.SpreadMean = m.spreadSum / float64(s.Steps)
	}
	if m.resSteps > 0 {
		s.ResidualMagMean = m.resMagSum / float64(m.resSteps)
		s.ResidualRate = m.residualRate
	}
	for k, name := range partNames {
		if snap := m.parts[k].Snapshot(); snap.Count > 0 {
			s.Times[name] = snap
		}
	}
	return s
}

// TimeNames returns the timed parts present in Times, in step order.
func (s *SteerSummary) TimeNames() []string {
	var out []string
	for _, name := range partNames {
		if _, ok := s.Times[name]; ok {
			out = append(out, name)
		}
	}
	return out
}

// rows are the summary's steering lines.
func (s *SteerSummary) rows() []telemetry.SummaryRow {
	if s == nil {
		return nil
	}
	cand := fmt.Sprintf("%d per step over %d steps, %d rejected; chosen index %s", s.Samples, s.Steps, s.Rejected, chosenString(s.Chosen))
	if s.WeakSamples > 0 {
		cand += fmt.Sprintf("; %d weak samples per step", s.WeakSamples)
	}
	rows := []telemetry.SummaryRow{
		{Name: "steering candidates", Value: cand},
		{Name: "steering score spread", Value: fmt.Sprintf("mean %.4g, max %.4g", s.SpreadMean, s.SpreadMax)},
	}
	var b strings.Builder
	for _, name := range s.TimeNames() {
		t := s.Times[name]
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s p50 %v p99 %v", name, t.Quantile(0.5).Round(time.Microsecond), t.Quantile(0.99).Round(time.Microsecond))
	}
	rows = append(rows, telemetry.SummaryRow{Name: "steering time", Value: b.String()})
	if s.ResidualActions > 0 {
		rows = append(rows, telemetry.SummaryRow{Name: "steering residual", Value: fmt.Sprintf("rate %s, %d actions, magnitude mean %.4g max %.4g, %d values clipped to the bound, %d NaN/Inf applied as 0",
			s.ResidualRate, s.ResidualActions, s.ResidualMagMean, s.ResidualMagMax, s.ResidualClipped, s.ResidualNonFinite)})
	}
	if s.NoiseClipped > 0 || s.NoiseNonFinite > 0 {
		rows = append(rows, telemetry.SummaryRow{Name: "steering noise", Value: fmt.Sprintf("%d values clipped to the bound, %d NaN/Inf", s.NoiseClipped, s.NoiseNonFinite)})
	}
	return rows
}

// chosenString prints the selection counts: "0:12 1:3 ...", at most 16 of them.
func chosenString(c []uint64) string {
	var b strings.Builder
	for i, n := range c {
		if i == 16 {
			b.WriteString(" ...")
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(i) + ":" + strconv.FormatUint(n, 10))
	}
	return b.String()
}

// JSON is the steering summary for --summary-json: times in microseconds.
func (s *SteerSummary) JSON() map[string]any {
	times := map[string]map[string]float64{}
	for name, t := range s.Times {
		us := func(d time.Duration) float64 { return float64(d) / 1e3 }
		times[name] = map[string]float64{"n": float64(t.Count), "p50": us(t.Quantile(0.5)), "p99": us(t.Quantile(0.99)), "max": us(t.Max), "mean": us(t.Mean())}
	}
	return map[string]any{
		"samples": s.Samples, "weak_samples": s.WeakSamples, "steps": s.Steps, "candidates_rejected": s.Rejected, "chosen": s.Chosen,
		"score_spread_mean": s.SpreadMean, "score_spread_max": s.SpreadMax, "time_us": times,
		"residual_rate": s.ResidualRate, "residual_actions": s.ResidualActions, "residual_clipped": s.ResidualClipped,
		"residual_nonfinite": s.ResidualNonFinite, "residual_magnitude_mean": s.ResidualMagMean, "residual_magnitude_max": s.ResidualMagMax,
		"noise_clipped": s.NoiseClipped, "noise_nonfinite": s.NoiseNonFinite,
	}
}
