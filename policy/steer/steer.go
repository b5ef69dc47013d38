package steer

import (
	"errors"
	"fmt"
	"math"

	"github.com/robotd/robotd/policy/chunk"
)

// CoherenceConfig configures the coherence scorer (BID backward).
type CoherenceConfig struct {
	// Weight multiplies the score in the sum; 0 (the default) turns the scorer off.
	Weight float64 `yaml:"weight"`
	// Beta is the weight decay per step of the overlap, in (0, 1]. Default 0.5, BID's
	// coherence_sampler default (its bidirectional sampler uses 0.99).
	Beta float64 `yaml:"beta"`
}

// ContrastConfig configures the contrast scorer (BID forward).
type ContrastConfig struct {
	// Weight multiplies the score in the sum; 0 (the default) turns the scorer off.
	Weight float64 `yaml:"weight"`
	// K is the number of nearest samples averaged on each side; 0 (the default) means
	// max(1, N/3), BID's N // num_mode with num_mode 3.
	K int `yaml:"k"`
}

// PastConfig configures the past-consistency scorer.
type PastConfig struct {
	// Weight multiplies the score in the sum; 0 (the default) turns the scorer off.
	Weight float64 `yaml:"weight"`
	// Steps is how many of the most recent predicted past actions are compared; 0 (the
	// default) means all n_obs_steps-1 of them.
	Steps int `yaml:"steps"`
}

// ValueConfig configures the value scorer's weight (V-GPS / EXPO): the scores come from a
// Value (a steering bundle's ONNX model) through Inputs.Values.
type ValueConfig struct {
	// Weight multiplies the score in the sum; 0 (the default) turns the scorer off.
	Weight float64 `yaml:"weight"`
}

// Config configures Steer: the scorers' weights and parameters and the selection. The
// zero value scores every candidate 0 and picks the first valid one.
type Config struct {
	Coherence CoherenceConfig `yaml:"coherence"`
	Contrast  ContrastConfig  `yaml:"contrast"`
	Past      PastConfig      `yaml:"past"`
	Value     ValueConfig     `yaml:"value"`
	Select    SelectConfig    `yaml:"select"`
}

func (c *Config) setDefaults() {
	if c.Coherence.Beta == 0 {
		c.Coherence.Beta = 0.5
	}
	c.Select.setDefaults()
}

// Validate checks every field's range (after defaults); the error names the field.
func (c Config) Validate() error {
	c.setDefaults()
	for _, w := range []struct {
		name string
		v    float64
	}{{"coherence.weight", c.Coherence.Weight}, {"contrast.weight", c.Contrast.Weight}, {"past.weight", c.Past.Weight}, {"value.weight", c.Value.Weight}} {
		if !(w.v >= 0) || math.IsInf(w.v, 0) {
			return fmt.Errorf("steer: %s %v, want a finite value >= 0", w.name, w.v)
		}
	}
	if !(c.Coherence.Beta > 0 && c.Coherence.Beta <= 1) {
		return fmt.Errorf("steer: coherence.beta %v, want (0, 1]", c.Coherence.Beta)
	}
	if c.Contrast.K < 0 {
		return fmt.Errorf("steer: contrast.k %d, want >= 0", c.Contrast.K)
	}
	if c.Past.Steps < 0 {
		return fmt.Errorf("steer: past.steps %d, want >= 0", c.Past.Steps)
	}
	return c.Select.Validate()
}

// Inputs are what the scorers compare candidates with at one step. Any may be nil: the
// scorer that needs it then scores 0.
type Inputs struct {
	// Plan holds the running plan's actions from the candidates' T0 on, as
	// chunk.Executor.Plan writes them (coherence).
	Plan *chunk.Chunk
	// Weak holds the weaker policy's samples for the same observation (contrast).
	Weak *Candidates
	// History holds the actions executed so far (past).
	History *History
	// Values holds the value scorer's scores of these candidates, one per candidate
	// (Value.Score writes them: the model run, which can fail, stays with the caller).
	Values []float64
}

// The scorers, indexing Steer.Scores.
const (
	ScoreCoherence = iota
	ScoreContrast
	ScorePast
	ScoreValue
	numScorers
)

// ErrNoCandidate is returned by Step when every candidate is invalid.
var ErrNoCandidate = errors.New("steer: no valid candidate")

// Steer scores candidates with the configured scorers and selects one. The combined
// score is higher-is-better:
//
//	score(a) = coherence.weight * coherence(a) + contrast.weight * contrast(a) + past.weight * past(a)
//	         + value.weight * value(a)
//
// with -Inf for an invalid candidate. With weight 1 each this is the negation of BID's
// bidirectional criterion (dist_prior + dist_pos - dist_neg) over all N candidates. A
// Steer is used by one goroutine; Score and Step allocate nothing.
type Steer struct {
	Coherence Coherence
	Contrast  Contrast
	Past      Past

	cfg    Config
	sel    *Selector
	scores [numScorers][]float64
	total  []float64
	n      int // candidates of the last Score
}

// New returns a Steer for at most maxN candidates per step, cfg's defaults filled. It
// returns cfg.Validate's error.
func New(cfg Config, maxN int) (*Steer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if maxN < 1 {
		return nil, fmt.Errorf("steer: max candidates %d, want >= 1", maxN)
	}
	cfg.setDefaults()
	sel, err := NewSelector(cfg.Select, maxN)
	if err != nil {
		return nil, err
	}
	s := &Steer{
		Coherence: Coherence{Beta: cfg.Coherence.Beta},
		Contrast:  Contrast{K: cfg.Contrast.K, row: make([]float64, maxN)},
		Past:      Past{Steps: cfg.Past.Steps},
		cfg:       cfg,
		sel:       sel,
		total:     make([]float64, maxN),
	}
	for i := range s.scores {
		s.scores[i] = make([]float64, maxN)
	}
	return s, nil
}

// Config returns the configuration in use, defaults filled.
func (s *Steer) Config() Config { return s.cfg }

// Score computes every enabled scorer and returns the combined scores, one per candidate
// (valid until the next Score). A scorer with weight 0 is not run.
func (s *Steer) Score(c *Candidates, in Inputs) []float64 {
	n := c.Len()
	if cap(s.total) < n {
		panic(fmt.Sprintf("steer: %d candidates, Steer made for %d", n, cap(s.total)))
	}
	s.n = n
	total := s.total[:n]
	clear(total)
	add := func(k int, w float64, score func(dst []float64)) {
		dst := s.scores[k][:n]
		if w == 0 {
			clear(dst)
			return
		}
		score(dst)
		for i, v := range dst {
			total[i] += w * v
		}
	}
	add(ScoreCoherence, s.cfg.Coherence.Weight, func(dst []float64) { s.Coherence.Score(dst, c, in.Plan) })
	add(ScoreContrast, s.cfg.Contrast.Weight, func(dst []float64) { s.Contrast.Score(dst, c, in.Weak) })
	add(ScorePast, s.cfg.Past.Weight, func(dst []float64) { s.Past.Score(dst, c, in.History) })
	add(ScoreValue, s.cfg.Value.Weight, func(dst []float64) {
		if in.Values == nil {
			clear(dst)
			return
		}
		copy(dst, in.Values[:n])
	})
	for i := range total {
		if !c.Valid(i) {
			total[i] = math.Inf(-1)
		}
	}
	return total
}

// Scores returns one scorer's unweighted scores of the last Score (ScoreCoherence,
// ScoreContrast, ScorePast or ScoreValue; zeros for a scorer that is off).
func (s *Steer) Scores(scorer int) []float64 { return s.scores[scorer][:s.n] }

// Step scores the candidates and selects one: it returns the chosen index, or
// ErrNoCandidate when none is valid.
func (s *Steer) Step(c *Candidates, in Inputs) (int, error) {
	i := s.sel.Select(s.Score(c, in), c)
	if i < 0 {
		return -1, ErrNoCandidate
	}
	return i, nil
}

// Probs returns the selection probabilities of the last Step (see Selector.Probs).
func (s *Steer) Probs() []float64 { return s.sel.Probs() }
