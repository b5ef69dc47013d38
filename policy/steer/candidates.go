package steer

import (
	"fmt"
	"math"
	"time"

	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/chunk"
)

// Shape is the layout of one policy step's candidates, fixed at construction.
type Shape struct {
	// MaxN is the most candidates a step may hold (the largest StepOptions.Samples).
	MaxN int
	// Horizon is the number of actions each candidate predicts, H: the policy's horizon,
	// past steps included.
	Horizon int
	// Start is the index, within the horizon, of the action due at the observation's time
	// T0: n_obs_steps-1 (policy.Policy.Start). Actions [0, Start) are the predicted past,
	// [Start, Horizon) the window a chunk executes.
	Start int
	// Dim is the number of values per action, A.
	Dim int
}

func (s Shape) check() {
	if s.MaxN < 1 || s.Dim < 1 || s.Start < 0 || s.Horizon <= s.Start {
		panic(fmt.Sprintf("steer: shape %+v: want MaxN >= 1, Dim >= 1 and 0 <= Start < Horizon", s))
	}
}

// Candidates is one policy step's N candidate chunks, [N][Horizon][Dim] float32 values in
// dataset units (row-major, the layout policy.Policy.Raw has), with a validity mask.
// Action h of every candidate is due at T0 + (h-Start)*Dt. A candidate is valid when
// chunk.Validate accepts its executed window [Start, Horizon) with the bounds given to
// NewCandidates (the check a single chunk gets when the executor takes it) and its
// predicted past [0, Start) with no bounds (finite values only): scorers ignore invalid
// candidates and selection never returns one.
type Candidates struct {
	T0, Dt time.Duration

	shape   Shape
	n       int
	actions []float32 // the viewed values, n*Horizon*Dim
	own     []float32 // storage Unnormalize writes, MaxN*Horizon*Dim
	valid   []bool
	errs    []error
	nValid  int
	bounds  chunk.Bounds
	scratch chunk.Chunk // float64 copy of one window, for chunk.Validate
}

// NewCandidates allocates candidates of shape s whose executed windows must lie within b
// (nil slices: unbounded; non-nil ones have s.Dim values and are copied). It panics on a
// malformed shape or bounds: those are the caller's mistakes.
func NewCandidates(s Shape, b chunk.Bounds) *Candidates {
	s.check()
	cp := func(v []float64, side string) []float64 {
		if v == nil {
			return nil
		}
		if len(v) != s.Dim {
			panic(fmt.Sprintf("steer: %s bounds have %d values, want dim %d", side, len(v), s.Dim))
		}
		return append([]float64(nil), v...)
	}
	return &Candidates{
		shape:   s,
		own:     make([]float32, s.MaxN*s.Horizon*s.Dim),
		valid:   make([]bool, s.MaxN),
		errs:    make([]error, s.MaxN),
		bounds:  chunk.Bounds{Lower: cp(b.Lower, "lower"), Upper: cp(b.Upper, "upper")},
		scratch: chunk.Chunk{Dim: s.Dim, Actions: make([]float64, 0, s.Horizon*s.Dim)},
	}
}

// Shape returns the layout the candidates were made with.
func (c *Candidates) Shape() Shape { return c.shape }

// View makes c a view of n candidates in actions (n*Horizon*Dim values in dataset units,
// row-major), action Start due at t0 and consecutive actions dt apart, and validates
// each candidate. The caller keeps ownership of actions and must not change them while c
// is in use. It panics when n is outside [1, MaxN], actions has another length or dt <= 0.
func (c *Candidates) View(actions []float32, n int, t0, dt time.Duration) {
	per := c.shape.Horizon * c.shape.Dim
	if n < 1 || n > c.shape.MaxN || len(actions) != n*per || dt <= 0 {
		panic(fmt.Sprintf("steer: View of %d values as %d candidates of %d x %d (max %d), dt %v",
			len(actions), n, c.shape.Horizon, c.shape.Dim, c.shape.MaxN, dt))
	}
	c.actions, c.n, c.T0, c.Dt = actions, n, t0, dt
	c.validate()
}

// Unnormalize writes n candidates given in the normalized action space (raw, as
// policy.Policy.Raw returns them: n*Horizon*Dim values, the whole horizon) into c's own
// storage in dataset units with the bundle's action normalizer, then views them (View).
func (c *Candidates) Unnormalize(raw []float32, n int, norm *policy.Normalizer, t0, dt time.Duration) {
	per, dim := c.shape.Horizon*c.shape.Dim, c.shape.Dim
	if n < 1 || n > c.shape.MaxN || len(raw) != n*per {
		panic(fmt.Sprintf("steer: Unnormalize of %d values as %d candidates of %d x %d (max %d)",
			len(raw), n, c.shape.Horizon, dim, c.shape.MaxN))
	}
	dst := c.own[:n*per]
	for k := 0; k < len(dst); k += dim {
		norm.Unnormalize(dst[k:k+dim], raw[k:k+dim])
	}
	c.View(dst, n, t0, dt)
}

// validate fills the mask with chunk.Validate's verdict on each candidate.
func (c *Candidates) validate() {
	s := c.shape
	c.nValid = 0
	c.scratch.T0, c.scratch.Dt = c.T0, c.Dt
	for i := 0; i < c.n; i++ {
		ch := c.Chunk(i)
		err := c.check(ch[s.Start*s.Dim:], c.bounds)
		if err == nil && s.Start > 0 {
			err = c.check(ch[:s.Start*s.Dim], chunk.Bounds{})
		}
		c.errs[i], c.valid[i] = err, err == nil
		if err == nil {
			c.nValid++
		}
	}
}

func (c *Candidates) check(values []float32, b chunk.Bounds) error {
	c.scratch.Actions = c.scratch.Actions[:len(values)]
	for k, v := range values {
		c.scratch.Actions[k] = float64(v)
	}
	return chunk.Validate(&c.scratch, c.shape.Dim, b)
}

// Len returns the number of candidates viewed, N.
func (c *Candidates) Len() int { return c.n }

// Chunk returns candidate i's whole horizon, Horizon*Dim values (a sub-slice, not a copy).
func (c *Candidates) Chunk(i int) []float32 {
	per := c.shape.Horizon * c.shape.Dim
	return c.actions[i*per : (i+1)*per : (i+1)*per]
}

// At returns action h of candidate i, Dim values (a sub-slice, not a copy).
func (c *Candidates) At(i, h int) []float32 {
	k := (i*c.shape.Horizon + h) * c.shape.Dim
	return c.actions[k : k+c.shape.Dim : k+c.shape.Dim]
}

// Due returns the time action h of every candidate is due: T0 + (h-Start)*Dt.
func (c *Candidates) Due(h int) time.Duration {
	return c.T0 + time.Duration(h-c.shape.Start)*c.Dt
}

// Valid reports whether candidate i passed validation.
func (c *Candidates) Valid(i int) bool { return c.valid[i] }

// Err returns why candidate i is invalid (a *chunk.Error; its Action indexes the
// executed window for a bounds or finiteness failure there, the predicted past
// otherwise), or nil.
func (c *Candidates) Err(i int) error { return c.errs[i] }

// NumValid returns how many candidates are valid.
func (c *Candidates) NumValid() int { return c.nValid }

// ToChunk writes candidate i's executed window [Start, Horizon) into dst as a chunk,
// action 0 due at T0 (what policy.Policy.ToChunk does for a Step result). dst.Actions is
// reused when it has the capacity.
func (c *Candidates) ToChunk(dst *chunk.Chunk, i int) {
	s := c.shape
	src := c.Chunk(i)[s.Start*s.Dim:]
	if cap(dst.Actions) < len(src) {
		dst.Actions = make([]float64, len(src))
	}
	dst.Actions = dst.Actions[:len(src)]
	for k, v := range src {
		dst.Actions[k] = float64(v)
	}
	dst.T0, dst.Dt, dst.Dim = c.T0, c.Dt, s.Dim
}

// dist returns the Euclidean distance between two actions, in float64.
func dist(a, b []float32) float64 {
	var s float64
	for k, v := range a {
		d := float64(v) - float64(b[k])
		s += d * d
	}
	return math.Sqrt(s)
}

// dist64 is dist against an action held in float64.
func dist64(a []float32, b []float64) float64 {
	var s float64
	for k, v := range a {
		d := float64(v) - b[k]
		s += d * d
	}
	return math.Sqrt(s)
}
