package steer

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// The selection modes.
const (
	// Argmax picks the valid candidate with the highest score, the lowest index on a tie
	// (BID picks its best candidate this way).
	Argmax = "argmax"
	// Softmax samples a valid candidate with probability proportional to
	// exp(score/Temperature) (V-GPS, Nakamoto et al. 2024, "Steering Your Generalists:
	// Improving Robotic Foundation Models via Value Guidance", arXiv:2410.13816, samples
	// its actions this way from Q-values).
	Softmax = "softmax"
)

// SelectConfig configures Selector.
type SelectConfig struct {
	// Mode is Argmax (the default) or Softmax.
	Mode string `yaml:"mode"`
	// Temperature divides the scores before the softmax, in score units (a distance in
	// dataset units for the BID scorers); it must be positive. Default 1, V-GPS's. Small
	// values approach argmax, large ones a uniform choice.
	Temperature float64 `yaml:"temperature"`
	// Seed seeds the generator softmax sampling draws from: a run is reproducible.
	Seed uint64 `yaml:"seed"`
}

func (c *SelectConfig) setDefaults() {
	if c.Mode == "" {
		c.Mode = Argmax
	}
	if c.Temperature == 0 {
		c.Temperature = 1
	}
}

// Validate checks the mode and the temperature (after defaults).
func (c SelectConfig) Validate() error {
	c.setDefaults()
	if c.Mode != Argmax && c.Mode != Softmax {
		return fmt.Errorf("steer: select.mode %q, want %q or %q", c.Mode, Argmax, Softmax)
	}
	if !(c.Temperature > 0) || math.IsInf(c.Temperature, 0) {
		return fmt.Errorf("steer: select.temperature %v, want a finite value > 0", c.Temperature)
	}
	return nil
}

// Selector picks one candidate from their scores. It holds a PCG generator seeded with
// Config.Seed; a softmax selection draws exactly one uniform number from it, an argmax
// none, so a run of selections is reproducible from the seed.
type Selector struct {
	cfg   SelectConfig
	pcg   *rand.PCG
	rng   *rand.Rand
	probs []float64
}

// NewSelector returns a selector for at most maxN candidates per step. It returns the
// error of cfg.Validate.
func NewSelector(cfg SelectConfig, maxN int) (*Selector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	pcg := rand.NewPCG(cfg.Seed, 0)
	return &Selector{cfg: cfg, pcg: pcg, rng: rand.New(pcg), probs: make([]float64, maxN)}, nil
}

// Reseed restarts the softmax draws from the configured seed and episode.
func (s *Selector) Reseed(episode uint64) { s.pcg.Seed(s.cfg.Seed, episode) }

// Select returns the index of the chosen candidate, or -1 when no candidate is valid. A
// candidate is eligible when c.Valid says so and its score is finite; scores holds
// c.Len() values.
func (s *Selector) Select(scores []float64, c *Candidates) int {
	u := 0.0
	if s.cfg.Mode == Softmax {
		u = s.rng.Float64()
	}
	return s.choose(scores[:c.Len()], c.valid, u)
}

// Probs returns the probabilities of the last selection, one per candidate (0 for the
// ineligible ones; argmax: 1 for the chosen one). Valid until the next Select.
func (s *Selector) Probs() []float64 { return s.probs }

// choose picks with the uniform number u in [0, 1): argmax ignores it; softmax returns the
// first eligible i whose cumulative probability exceeds u.
func (s *Selector) choose(scores []float64, valid []bool, u float64) int {
	if cap(s.probs) < len(scores) {
		s.probs = make([]float64, len(scores))
	}
	p := s.probs[:len(scores)]
	s.probs = p
	clear(p)
	best := -1
	for i, v := range scores {
		if valid[i] && finite(v) && (best < 0 || v > scores[best]) {
			best = i
		}
	}
	if best < 0 {
		return -1
	}
	if s.cfg.Mode == Argmax {
		p[best] = 1
		return best
	}
	var total float64
	for i, v := range scores {
		if valid[i] && finite(v) {
			p[i] = math.Exp((v - scores[best]) / s.cfg.Temperature)
			total += p[i]
		}
	}
	chosen, cum := -1, 0.0
	for i := range p {
		p[i] /= total
		if p[i] > 0 {
			cum += p[i]
			if chosen < 0 && cum > u {
				chosen = i
			}
		}
	}
	if chosen < 0 {
		// Rounding left the cumulative sum below u: the last eligible candidate.
		for i := range p {
			if p[i] > 0 {
				chosen = i
			}
		}
	}
	return chosen
}
