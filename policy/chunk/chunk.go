package chunk

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Chunk is a plan of H actions of Dim values at the policy rate. Action i is due at
// T0 + i*Dt; T0 is the time of the observation the chunk was computed from (session
// clock). Executors copy a pushed chunk, so its producer keeps ownership of Actions.
type Chunk struct {
	T0, Dt  time.Duration
	Dim     int
	Actions []float64 // H*Dim values, row-major: action i is Actions[i*Dim : (i+1)*Dim]
}

// Len returns H, the number of actions.
func (c *Chunk) Len() int {
	if c.Dim <= 0 {
		return 0
	}
	return len(c.Actions) / c.Dim
}

// At returns action i (a sub-slice of Actions, not a copy).
func (c *Chunk) At(i int) []float64 {
	return c.Actions[i*c.Dim : (i+1)*c.Dim : (i+1)*c.Dim]
}

// Due returns the time action i is due: T0 + i*Dt.
func (c *Chunk) Due(i int) time.Duration {
	return c.T0 + time.Duration(i)*c.Dt
}

// Bounds are per-dimension limits on action values, borders included. A nil slice leaves
// that side unbounded; a non-nil one has one value per dimension.
type Bounds struct {
	Lower, Upper []float64
}

// The reasons a chunk is refused, matched with errors.Is on the errors Validate and Push
// return (their concrete type is *Error).
var (
	ErrMalformed   = errors.New("malformed chunk")
	ErrNonFinite   = errors.New("non-finite action value")
	ErrOutOfBounds = errors.New("action value out of bounds")
)

// Error says why a chunk was refused. Err is ErrMalformed, ErrNonFinite or
// ErrOutOfBounds; for the last two, Action and Dim index the first offending value (in
// row-major order) and Lower and Upper are its bounds (±Inf where unbounded).
type Error struct {
	Err          error
	Action, Dim  int
	Value        float64
	Lower, Upper float64

	// ErrMalformed: which property was wrong, its value and the expected one.
	what      string
	got, want int64
}

// The malformed properties an Error can report.
const (
	badNil     = "nil"
	badDim     = "dim"
	badDt      = "dt"
	badValues  = "values"
	badEmpty   = "empty"
	badHorizon = "horizon"
)

func (e *Error) Error() string {
	switch e.Err {
	case ErrNonFinite:
		return fmt.Sprintf("chunk: action %d, dim %d: %v: %v", e.Action, e.Dim, e.Value, e.Err)
	case ErrOutOfBounds:
		return fmt.Sprintf("chunk: action %d, dim %d: %v outside [%v, %v]: %v",
			e.Action, e.Dim, e.Value, e.Lower, e.Upper, e.Err)
	}
	switch e.what {
	case badNil:
		return fmt.Sprintf("chunk: nil: %v", e.Err)
	case badDim:
		return fmt.Sprintf("chunk: dim %d, want %d: %v", e.got, e.want, e.Err)
	case badDt:
		return fmt.Sprintf("chunk: dt %v, want > 0: %v", time.Duration(e.got), e.Err)
	case badValues:
		return fmt.Sprintf("chunk: %d values, want a multiple of dim %d: %v", e.got, e.want, e.Err)
	case badEmpty:
		return fmt.Sprintf("chunk: 0 actions, want at least 1: %v", e.Err)
	case badHorizon:
		return fmt.Sprintf("chunk: %d actions, want at most horizon %d: %v", e.got, e.want, e.Err)
	}
	return fmt.Sprintf("chunk: %v", e.Err)
}

// Unwrap returns Err, so that errors.Is(err, ErrNonFinite) and the like work.
func (e *Error) Unwrap() error { return e.Err }

// Validate checks that c is a well-formed chunk of dim-sized actions whose values are
// finite and within b. It returns nil or an *Error naming the first problem: ErrMalformed
// for a nil chunk, a Dim other than dim, Dt <= 0, no actions or a length that is not a
// multiple of Dim; ErrNonFinite for NaN or ±Inf; ErrOutOfBounds for a value outside b.
// dim must be positive and the non-nil slices of b must have dim values (Validate panics
// otherwise: those are the caller's mistakes, not the chunk's).
func Validate(c *Chunk, dim int, b Bounds) error {
	if dim < 1 {
		panic(fmt.Sprintf("chunk: Validate: dim %d", dim))
	}
	if (b.Lower != nil && len(b.Lower) != dim) || (b.Upper != nil && len(b.Upper) != dim) {
		panic(fmt.Sprintf("chunk: Validate: bounds of %d lower and %d upper values for dim %d",
			len(b.Lower), len(b.Upper), dim))
	}
	var e Error
	if e.check(c, dim, 0, b) {
		return nil
	}
	err := new(Error)
	*err = e
	return err
}

// check fills e with the first problem of c and reports whether there is none. A
// positive horizon also bounds the number of actions. It allocates nothing, so that
// Push can refuse a chunk from the control loop.
func (e *Error) check(c *Chunk, dim, horizon int, b Bounds) bool {
	*e = Error{Action: -1, Dim: -1}
	malformed := func(what string, got, want int64) bool {
		e.Err, e.what, e.got, e.want = ErrMalformed, what, got, want
		return false
	}
	switch {
	case c == nil:
		return malformed(badNil, 0, 0)
	case c.Dim != dim:
		return malformed(badDim, int64(c.Dim), int64(dim))
	case c.Dt <= 0:
		return malformed(badDt, int64(c.Dt), 0)
	case len(c.Actions)%dim != 0:
		return malformed(badValues, int64(len(c.Actions)), int64(dim))
	case len(c.Actions) == 0:
		return malformed(badEmpty, 0, 0)
	case horizon > 0 && len(c.Actions)/dim > horizon:
		return malformed(badHorizon, int64(len(c.Actions)/dim), int64(horizon))
	}
	for k, v := range c.Actions {
		d := k % dim
		lo, hi := math.Inf(-1), math.Inf(1)
		if b.Lower != nil {
			lo = b.Lower[d]
		}
		if b.Upper != nil {
			hi = b.Upper[d]
		}
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			e.Err = ErrNonFinite
		case v < lo || v > hi:
			e.Err = ErrOutOfBounds
		default:
			continue
		}
		e.Action, e.Dim, e.Value, e.Lower, e.Upper = k/dim, d, v, lo, hi
		return false
	}
	return true
}
