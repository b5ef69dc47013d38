package ros

import (
	"sync"
	"testing"
)

func TestTripleLatestValue(t *testing.T) {
	m := newTriple(func() *[2]int { return new([2]int) })
	if m.Take() {
		t.Fatal("Take on an empty mailbox reports a value")
	}
	for i := 1; i <= 3; i++ {
		*m.Back() = [2]int{i, -i}
		m.Publish()
	}
	if !m.Take() || *m.Front() != [2]int{3, -3} {
		t.Fatalf("after three publishes Front = %v, want the newest {3 -3}", *m.Front())
	}
	if m.Take() || *m.Front() != [2]int{3, -3} {
		t.Fatalf("a second Take without a publish changed Front to %v", *m.Front())
	}
}

// TestTripleConcurrent: under the race detector, a consumer never sees a torn value or
// an older value after a newer one.
func TestTripleConcurrent(t *testing.T) {
	m := newTriple(func() *[4]int { return new([4]int) })
	const n = 20000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= n; i++ {
			*m.Back() = [4]int{i, i, i, i}
			m.Publish()
		}
	}()
	last := 0
	for last < n {
		if !m.Take() {
			continue
		}
		v := *m.Front()
		if v[0] != v[1] || v[1] != v[2] || v[2] != v[3] || v[0] <= last {
			t.Fatalf("Front %v after %d: torn or out of order", v, last)
		}
		last = v[0]
	}
	wg.Wait()
}

func TestTripleNoAllocs(t *testing.T) {
	m := newTriple(func() []float64 { return make([]float64, 7) })
	if a := testing.AllocsPerRun(1000, func() { m.Back()[0]++; m.Publish(); m.Take() }); a != 0 {
		t.Errorf("Publish + Take allocate %v times", a)
	}
}

func TestRingFIFO(t *testing.T) {
	r := newRing(3, func() *int { return new(int) })
	if _, ok := r.Front(); ok {
		t.Fatal("Front on an empty ring reports a value")
	}
	for i := 1; i <= 3; i++ {
		b, ok := r.Back()
		if !ok {
			t.Fatalf("Back refused slot %d of 3", i)
		}
		*b = i
		r.Push()
	}
	if _, ok := r.Back(); ok {
		t.Fatal("Back on a full ring gave a slot")
	}
	for want := 1; want <= 5; want++ {
		f, ok := r.Front()
		if !ok || *f != want {
			t.Fatalf("Front = %v %v, want %d (oldest first)", ok, *f, want)
		}
		r.Pop()
		if want <= 2 { // refill behind the reader: the slots wrap around
			b, _ := r.Back()
			*b = want + 3
			r.Push()
		}
	}
	if _, ok := r.Front(); ok {
		t.Fatal("Front after popping everything reports a value")
	}
}

// TestRingConcurrent: under the race detector, a consumer sees every value exactly once,
// in order and never torn, while the producer retries when the ring is full.
func TestRingConcurrent(t *testing.T) {
	r := newRing(8, func() *[4]int { return new([4]int) })
	const n = 20000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= n; {
			if b, ok := r.Back(); ok {
				*b = [4]int{i, i, i, i}
				r.Push()
				i++
			}
		}
	}()
	for want := 1; want <= n; {
		f, ok := r.Front()
		if !ok {
			continue
		}
		if v := *f; v != [4]int{want, want, want, want} {
			t.Fatalf("Front %v, want %d: torn, lost or out of order", v, want)
		}
		r.Pop()
		want++
	}
	wg.Wait()
}

func TestRingNoAllocs(t *testing.T) {
	r := newRing(4, func() []float64 { return make([]float64, 7) })
	if a := testing.AllocsPerRun(1000, func() {
		b, _ := r.Back()
		b[0]++
		r.Push()
		r.Front()
		r.Pop()
	}); a != 0 {
		t.Errorf("Back + Push + Front + Pop allocate %v times", a)
	}
}
