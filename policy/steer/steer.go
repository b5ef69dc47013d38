package steer

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

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
	// Bundle is the weaker policy's bundle directory (e.g. an earlier checkpoint of the
	// same recipe); it must take the same observations and produce the same horizon and
	// actions. Empty: no weak samples, only the positive term (BID's "positive" variant).
	Bundle string `yaml:"bundle"`
	// Samples is the number of weak samples drawn per step; 0 (the default) means the
	// strong candidates' N.
	Samples int `yaml:"samples"`
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
	// Bundle is the steering bundle (kind value) holding the model; required with a
	// weight, refused without one.
	Bundle string `yaml:"bundle"`
}

// GuidanceConfig configures classifier-free guidance of a denoiser that takes a
// conditioning mask (policy.Policy.SetGuidance).
type GuidanceConfig struct {
	// Weight is w in out_u + w (out_c - out_u); 0 (the default) and 1 leave the policy
	// as it is (one conditioned pass).
	Weight float64 `yaml:"weight"`
}

// Config is the launch file's policy.steering section: the number of candidates, the
// scorers' weights and parameters, the selection, and the models that steer the policy
// (noise policy, residual, guidance). Steer uses the scorers and the selection; Stage all
// of it. The zero value scores every candidate 0 and picks the first valid one of one.
type Config struct {
	// Samples is N, the candidates drawn per policy step in one batched call; 0 (the
	// default) means 1. More than 1 needs a diffusion or flow policy.
	Samples   int             `yaml:"samples"`
	Coherence CoherenceConfig `yaml:"coherence"`
	Contrast  ContrastConfig  `yaml:"contrast"`
	Past      PastConfig      `yaml:"past"`
	Value     ValueConfig     `yaml:"value"`
	Select    SelectConfig    `yaml:"select"`
	Noise     NoiseConfig     `yaml:"noise"`
	Residual  ResidualConfig  `yaml:"residual"`
	Guidance  GuidanceConfig  `yaml:"guidance"`
}

// SetDefaults fills the defaults the comments name.
func (c *Config) SetDefaults() { c.setDefaults() }

func (c *Config) setDefaults() {
	if c.Samples == 0 {
		c.Samples = 1
	}
	if c.Coherence.Beta == 0 {
		c.Coherence.Beta = 0.5
	}
	if c.Contrast.Samples == 0 {
		c.Contrast.Samples = c.Samples
	}
	c.Select.setDefaults()
	if c.Noise.Bundle != "" {
		c.Noise.SetDefaults()
	}
	if c.Residual.Bundle != "" {
		c.Residual.SetDefaults()
	}
}

// MaxSamples is the largest N a launch file may ask for: beyond it a step of the
// reference policy takes longer than its chunk executes (BENCHMARKS.md, Steering).
const MaxSamples = 256

// ConfigError is an invalid steering setting: Key names it as the launch file's
// policy.steering section does (e.g. "contrast.k").
type ConfigError struct{ Key, Msg string }

func (e *ConfigError) Error() string { return "steer: " + e.Key + ": " + e.Msg }

// ConfigField returns the key and the message (the interface launch looks for).
func (e *ConfigError) ConfigField() (key, msg string) { return e.Key, e.Msg }

// sectionError turns a sub-section's error into a ConfigError under key, keeping a
// more precise key the message starts with ("steering.noise.bound: ...").
func sectionError(key string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "steer: ")
	if k, m, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(k, "steering."+key) {
		return &ConfigError{strings.TrimPrefix(k, "steering."), m}
	}
	if k, m, ok := strings.Cut(msg, " "); ok && strings.HasPrefix(k, key+".") {
		return &ConfigError{k, m} // "select.mode \"best\", want ..."
	}
	return &ConfigError{key, msg}
}

// Validate checks every field's range (after defaults) and that a scorer with a model
// names its bundle; the error is a *ConfigError naming the field.
func (c Config) Validate() error { return c.validate(true) }

// validate checks c; bundles says whether the value scorer's bundle is required (Stage's
// and the launch file's configuration) or not (Steer's, whose values come from the
// caller).
func (c Config) validate(bundles bool) error {
	c.setDefaults()
	bad := func(key, format string, a ...any) error { return &ConfigError{key, fmt.Sprintf(format, a...)} }
	for _, w := range []struct {
		name string
		v    float64
	}{{"coherence.weight", c.Coherence.Weight}, {"contrast.weight", c.Contrast.Weight}, {"past.weight", c.Past.Weight}, {"value.weight", c.Value.Weight}} {
		if !(w.v >= 0) || math.IsInf(w.v, 0) {
			return bad(w.name, "%v, want a finite value >= 0", w.v)
		}
	}
	switch {
	case c.Samples < 1 || c.Samples > MaxSamples:
		return bad("samples", "%d, want 1..%d", c.Samples, MaxSamples)
	case !(c.Coherence.Beta > 0 && c.Coherence.Beta <= 1):
		return bad("coherence.beta", "%v, want (0, 1]", c.Coherence.Beta)
	case c.Contrast.K < 0:
		return bad("contrast.k", "%d, want >= 0", c.Contrast.K)
	case c.Contrast.Samples < 1 || c.Contrast.Samples > MaxSamples:
		return bad("contrast.samples", "%d, want 1..%d", c.Contrast.Samples, MaxSamples)
	case c.Contrast.Bundle != "" && c.Contrast.Weight == 0:
		return bad("contrast.bundle", "set but contrast.weight is 0: give the scorer a weight or drop the bundle")
	case c.Past.Steps < 0:
		return bad("past.steps", "%d, want >= 0", c.Past.Steps)
	case bundles && c.Value.Weight > 0 && c.Value.Bundle == "":
		return bad("value.bundle", "required with value.weight (a steering bundle of kind value)")
	case c.Value.Bundle != "" && c.Value.Weight == 0:
		return bad("value.bundle", "set but value.weight is 0: give the scorer a weight or drop the bundle")
	case !(c.Guidance.Weight >= 0) || math.IsInf(c.Guidance.Weight, 0):
		return bad("guidance.weight", "%v, want a finite value >= 0", c.Guidance.Weight)
	}
	if c.Noise.Bundle != "" {
		if err := c.Noise.Validate(); err != nil {
			return sectionError("noise", err)
		}
	}
	if c.Residual.Bundle != "" {
		if err := c.Residual.Validate(); err != nil {
			return sectionError("residual", err)
		}
	}
	if err := c.Select.Validate(); err != nil {
		return sectionError("select", err)
	}
	return nil
}

// Scoring reports whether any scorer has a weight: without one, every candidate scores 0
// and the first valid one is taken.
func (c Config) Scoring() bool {
	return c.Coherence.Weight > 0 || c.Contrast.Weight > 0 || c.Past.Weight > 0 || c.Value.Weight > 0
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
	NumScorers
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
	// Now, when set, times each scorer (Times); a monotonic clock reading.
	Now func() time.Duration

	cfg    Config
	times  [NumScorers]time.Duration
	sel    *Selector
	scores [NumScorers][]float64
	total  []float64
	n      int // candidates of the last Score
}

// New returns a Steer for at most maxN candidates per step, cfg's defaults filled. It
// returns cfg.Validate's error.
func New(cfg Config, maxN int) (*Steer, error) {
	if err := cfg.validate(false); err != nil {
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
		s.times[k] = 0
		if w == 0 {
			clear(dst)
			return
		}
		if s.Now != nil {
			t0 := s.Now()
			score(dst)
			s.times[k] = s.Now() - t0
		} else {
			score(dst)
		}
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

// Total returns the combined scores of the last Score, one per candidate (-Inf for an
// invalid one).
func (s *Steer) Total() []float64 { return s.total[:s.n] }

// Scores returns one scorer's unweighted scores of the last Score (ScoreCoherence,
// ScoreContrast, ScorePast or ScoreValue; zeros for a scorer that is off).
func (s *Steer) Scores(scorer int) []float64 { return s.scores[scorer][:s.n] }

// Times returns how long each scorer took in the last Score (0 for a scorer that is off,
// and for all without Now), indexed like Scores. The value scorer's time is that of
// copying its scores; the model run is the caller's.
func (s *Steer) Times() [NumScorers]time.Duration { return s.times }

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
