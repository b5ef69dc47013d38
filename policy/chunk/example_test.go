package chunk_test

import (
	"fmt"
	"time"

	"github.com/robotd/robotd/policy/chunk"
)

// A latency-aware executor: a chunk computed from the observation at t = 0 arrives 30 ms
// later, so it starts 30 % of the way from action 0 to action 1, and the next chunk is
// wanted once two actions have come due.
func ExampleNew() {
	const ms = time.Millisecond
	ex, err := chunk.New(chunk.Config{
		Strategy: chunk.Async, Blend: chunk.Weighted,
		Horizon: 4, Dim: 1, Dt: 100 * ms, NActionSteps: 2,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	c := &chunk.Chunk{T0: 0, Dt: 100 * ms, Dim: 1, Actions: []float64{0, 1, 2, 3}}
	if err := ex.Push(30*ms, c); err != nil {
		fmt.Println(err)
		return
	}
	out := make([]float64, 1)
	for _, t := range []time.Duration{30 * ms, 150 * ms, 200 * ms, 350 * ms, 400 * ms} {
		ex.Setpoint(t, out)
		fmt.Printf("t=%v setpoint %.2f want %v\n", t, out[0], ex.Want(t))
	}
	fmt.Printf("%+v\n", ex.Stats())
	// Output:
	// t=30ms setpoint 0.30 want false
	// t=150ms setpoint 1.50 want false
	// t=200ms setpoint 2.00 want true
	// t=350ms setpoint 3.00 want true
	// t=400ms setpoint 3.00 want true
	// {Pushed:1 Rejected:0 Starved:1 Skipped:1}
}
