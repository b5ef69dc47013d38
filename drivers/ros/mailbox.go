package ros

import "sync/atomic"

// triple is a single-producer, single-consumer latest-value mailbox over three
// preallocated buffers (a triple buffer). The producer fills Back and Publishes it; the
// consumer calls Take and reads Front. Neither side blocks or allocates, and the consumer
// always sees the newest complete value; intermediate values may be skipped.
//
// Ownership: Back belongs to the producer, Front to the consumer; the third buffer is in
// the shared middle slot, handed over by one atomic swap.
type triple[T any] struct {
	buf   [3]T
	back  uint32        // producer's index
	front uint32        // consumer's index
	mid   atomic.Uint32 // index of the middle buffer | fresh
}

const fresh = 1 << 31

func newTriple[T any](mk func() T) *triple[T] {
	t := &triple[T]{back: 0, front: 1}
	for i := range t.buf {
		t.buf[i] = mk()
	}
	t.mid.Store(2)
	return t
}

// Back is the producer's buffer to fill.
func (t *triple[T]) Back() T { return t.buf[t.back] }

// Publish hands the filled Back to the consumer; the producer gets a new Back.
func (t *triple[T]) Publish() {
	t.back = t.mid.Swap(t.back|fresh) &^ fresh
}

// Take makes the newest published value the consumer's Front and reports whether it is
// new since the last Take.
func (t *triple[T]) Take() bool {
	if t.mid.Load()&fresh == 0 {
		return false
	}
	t.front = t.mid.Swap(t.front) &^ fresh
	return true
}

// Front is the consumer's buffer, valid until its next Take.
func (t *triple[T]) Front() T { return t.buf[t.front] }
