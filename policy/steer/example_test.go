package steer_test

import (
	"fmt"
	"time"

	"github.com/robotd/robotd/policy/chunk"
	"github.com/robotd/robotd/policy/steer"
)

// Three candidate chunks of a 1-D policy with n_obs_steps 2 (one predicted past action,
// then three to execute), scored by coherence with the running plan and consistency with
// what was executed, and chosen by argmax.
func ExampleSteer() {
	const dt = 100 * time.Millisecond
	t0 := 2 * time.Second
	c := steer.NewCandidates(steer.Shape{MaxN: 3, Horizon: 4, Start: 1, Dim: 1},
		chunk.Bounds{Lower: []float64{-1}, Upper: []float64{1}})
	c.View([]float32{
		0.0, 0.25, 0.5, 0.75, // continues the plan, past as executed
		0.5, 0.25, 0.5, 0.75, // continues the plan, past wrong
		0.0, 0.25, 0.5, 1.5, // 1.5 is out of bounds: never chosen
	}, 3, t0, dt)

	plan := &chunk.Chunk{T0: t0, Dt: dt, Dim: 1, Actions: []float64{0.25, 0.5, 0.75}}
	hist := steer.NewHistory(8, 1)
	hist.Add(t0-dt, []float64{0.0})

	s, err := steer.New(steer.Config{
		Coherence: steer.CoherenceConfig{Weight: 1},
		Past:      steer.PastConfig{Weight: 1},
	}, 3)
	if err != nil {
		fmt.Println(err)
		return
	}
	i, err := s.Step(c, steer.Inputs{Plan: plan, History: hist})
	fmt.Println("chosen:", i, err)
	fmt.Printf("coherence %.2f, past %.2f\n", s.Scores(steer.ScoreCoherence), s.Scores(steer.ScorePast))
	fmt.Println("candidate 2:", c.Err(2))
	// Output:
	// chosen: 0 <nil>
	// coherence [0.00 0.00 0.00], past [0.00 -0.50 0.00]
	// candidate 2: chunk: action 2, dim 0: 1.5 outside [-1, 1]: action value out of bounds
}
