package steer

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/robotd/robotd/policy/chunk"
)

// BenchmarkStep times one steering step (view and validate N candidates, score, select)
// at the reference diffusion policy's shape (models/pickplace_diffusion: horizon 16,
// n_obs_steps 2, 10 action values), for N = 1, 4, 8, 16 and each scorer alone or all
// three, with as many weak samples as candidates:
//
//	go test -run '^$' -bench BenchmarkStep ./policy/steer/
func BenchmarkStep(b *testing.B) {
	const h, a, start = 16, 10, 1
	dt, t0 := 100*time.Millisecond, 10*time.Second
	for _, n := range []int{1, 4, 8, 16} {
		r := rand.New(rand.NewPCG(uint64(n), 1))
		vals := randomCandidates(r, n, h, a, 0.2)
		weakVals := randomCandidates(r, n, h, a, 0.3)
		plan := &chunk.Chunk{T0: t0 - 8*dt, Dt: dt, Dim: a, Actions: make([]float64, (h-start)*a)}
		hist := NewHistory(64, a)
		for k := range 64 {
			hist.Add(t0-time.Duration(63-k)*dt, make([]float64, a))
		}
		c := NewCandidates(Shape{MaxN: n, Horizon: h, Start: start, Dim: a}, chunk.Bounds{})
		weak := NewCandidates(Shape{MaxN: n, Horizon: h, Dim: a}, chunk.Bounds{})
		for _, sc := range []struct {
			name string
			cfg  Config
		}{
			{"coherence", Config{Coherence: CoherenceConfig{Weight: 1}}},
			{"contrast", Config{Contrast: ContrastConfig{Weight: 1}}},
			{"past", Config{Past: PastConfig{Weight: 1}}},
			{"all", Config{Coherence: CoherenceConfig{Weight: 1}, Contrast: ContrastConfig{Weight: 1},
				Past: PastConfig{Weight: 1}, Select: SelectConfig{Mode: Softmax}}},
		} {
			s, err := New(sc.cfg, n)
			if err != nil {
				b.Fatal(err)
			}
			in := Inputs{Plan: plan, Weak: weak, History: hist}
			b.Run(fmt.Sprintf("N=%d/%s", n, sc.name), func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					c.View(vals, n, t0, dt)
					weak.View(weakVals, n, t0, dt)
					if _, err := s.Step(c, in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
