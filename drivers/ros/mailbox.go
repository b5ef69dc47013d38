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

// ring is a bounded single-producer, single-consumer FIFO over preallocated buffers, for
// a consumer that must see every value in order (a robot-paced loop answering each
// state; see ArmConfig.Queue). The producer fills Back and Pushes it; the consumer reads
// Front and Pops it. Neither side blocks or allocates; a full ring refuses Back (the
// producer counts the drop).
//
// Ownership: slots from the consumer's index up to the producer's belong to the consumer,
// the rest to the producer; each index is published by one atomic store.
type ring[T any] struct {
	buf  []T
	head atomic.Uint64 // next slot to read; written by the consumer
	tail atomic.Uint64 // next slot to fill; written by the producer
}

func newRing[T any](n int, mk func() T) *ring[T] {
	r := &ring[T]{buf: make([]T, n)}
	for i := range r.buf {
		r.buf[i] = mk()
	}
	return r
}

// Back is the producer's next slot, or false when the ring is full.
func (r *ring[T]) Back() (T, bool) {
	t := r.tail.Load()
	if t-r.head.Load() == uint64(len(r.buf)) {
		var zero T
		return zero, false
	}
	return r.buf[t%uint64(len(r.buf))], true
}

// Push hands the slot returned by Back to the consumer.
func (r *ring[T]) Push() { r.tail.Add(1) }

// Front is the oldest value not yet popped, or false when the ring is empty. It stays
// the consumer's until Pop.
func (r *ring[T]) Front() (T, bool) {
	h := r.head.Load()
	if h == r.tail.Load() {
		var zero T
		return zero, false
	}
	return r.buf[h%uint64(len(r.buf))], true
}

// Pop gives the Front slot back to the producer.
func (r *ring[T]) Pop() { r.head.Add(1) }
