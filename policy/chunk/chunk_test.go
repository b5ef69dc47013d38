package chunk

import (
	"errors"
	"math"
	"testing"
	"time"
)

const ms = time.Millisecond

func TestChunkAccessors(t *testing.T) {
	c := &Chunk{T0: time.Second, Dt: 100 * ms, Dim: 2, Actions: []float64{0, 1, 2, 3, 4, 5}}
	if c.Len() != 3 {
		t.Errorf("Len = %d, want 3", c.Len())
	}
	if a := c.At(1); len(a) != 2 || cap(a) != 2 || a[0] != 2 || a[1] != 3 {
		t.Errorf("At(1) = %v (cap %d), want [2 3] with cap 2", a, cap(a))
	}
	if d := c.Due(2); d != 1200*ms {
		t.Errorf("Due(2) = %v, want 1.2s", d)
	}
	if (&Chunk{}).Len() != 0 {
		t.Error("zero chunk has actions")
	}
}

func TestValidate(t *testing.T) {
	box := Bounds{Lower: []float64{-1, -2}, Upper: []float64{1, 2}}
	good := func() *Chunk {
		return &Chunk{Dt: 100 * ms, Dim: 2, Actions: []float64{0, 0, 0.5, -1.5, 1, 2}}
	}
	for _, tc := range []struct {
		name   string
		edit   func(c *Chunk)
		bounds Bounds
		is     error // nil: valid
		msg    string
		action int // for value errors
		dim    int
	}{
		{name: "valid", bounds: box},
		{name: "valid on the bounds", edit: func(c *Chunk) { c.Actions[4], c.Actions[5] = -1, -2 }, bounds: box},
		{name: "unbounded", edit: func(c *Chunk) { c.Actions[5] = 1e300 }},
		{name: "dim", edit: func(c *Chunk) { c.Dim = 3 }, bounds: box, is: ErrMalformed,
			msg: "chunk: dim 3, want 2: malformed chunk"},
		{name: "zero dt", edit: func(c *Chunk) { c.Dt = 0 }, is: ErrMalformed,
			msg: "chunk: dt 0s, want > 0: malformed chunk"},
		{name: "negative dt", edit: func(c *Chunk) { c.Dt = -ms }, is: ErrMalformed,
			msg: "chunk: dt -1ms, want > 0: malformed chunk"},
		{name: "ragged", edit: func(c *Chunk) { c.Actions = c.Actions[:5] }, is: ErrMalformed,
			msg: "chunk: 5 values, want a multiple of dim 2: malformed chunk"},
		{name: "empty", edit: func(c *Chunk) { c.Actions = nil }, is: ErrMalformed,
			msg: "chunk: 0 actions, want at least 1: malformed chunk"},
		{name: "NaN", edit: func(c *Chunk) { c.Actions[3] = math.NaN() }, bounds: box, is: ErrNonFinite,
			msg: "chunk: action 1, dim 1: NaN: non-finite action value", action: 1, dim: 1},
		{name: "Inf unbounded", edit: func(c *Chunk) { c.Actions[4] = math.Inf(1) }, is: ErrNonFinite,
			msg: "chunk: action 2, dim 0: +Inf: non-finite action value", action: 2},
		{name: "above", edit: func(c *Chunk) { c.Actions[2] = 1.5 }, bounds: box, is: ErrOutOfBounds,
			msg: "chunk: action 1, dim 0: 1.5 outside [-1, 1]: action value out of bounds", action: 1},
		{name: "below, lower bound only", edit: func(c *Chunk) { c.Actions[5] = -2.5 },
			bounds: Bounds{Lower: box.Lower}, is: ErrOutOfBounds,
			msg: "chunk: action 2, dim 1: -2.5 outside [-2, +Inf]: action value out of bounds", action: 2, dim: 1},
		{name: "first problem in row-major order",
			edit:   func(c *Chunk) { c.Actions[3], c.Actions[4] = 7, math.NaN() },
			bounds: box, is: ErrOutOfBounds,
			msg: "chunk: action 1, dim 1: 7 outside [-2, 2]: action value out of bounds", action: 1, dim: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			if tc.edit != nil {
				tc.edit(c)
			}
			err := Validate(c, 2, tc.bounds)
			if tc.is == nil {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.is) {
				t.Fatalf("Validate: %v, want errors.Is %v", err, tc.is)
			}
			if err.Error() != tc.msg {
				t.Errorf("message\n got %q\nwant %q", err.Error(), tc.msg)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("%T is not *Error", err)
			}
			if tc.is != ErrMalformed && (ce.Action != tc.action || ce.Dim != tc.dim) {
				t.Errorf("Action, Dim = %d, %d, want %d, %d", ce.Action, ce.Dim, tc.action, tc.dim)
			}
		})
	}
	if err := Validate(nil, 2, Bounds{}); !errors.Is(err, ErrMalformed) || err.Error() != "chunk: nil: malformed chunk" {
		t.Errorf("Validate(nil) = %v", err)
	}
}

func TestValidateBoundsShapePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Validate with 1 lower bound for dim 2 did not panic")
		}
	}()
	Validate(&Chunk{Dt: ms, Dim: 2, Actions: []float64{0, 0}}, 2, Bounds{Lower: []float64{0}})
}
