package clock_test

import (
	"context"
	"fmt"
	"time"

	"github.com/robotd/robotd/clock"
)

// A watchdog written against clock.Clock, tested on a Manual clock: the test moves time
// by hand, and the watchdog's timer fires exactly when the clock passes its deadline.
func ExampleManual() {
	clk := clock.NewManual(0)
	fired := make(chan time.Duration)
	go func() { // the code under test: waits 100 ms on its clock
		<-clk.After(100 * time.Millisecond)
		fired <- clk.Now()
	}()
	_ = clk.BlockUntil(context.Background(), 1) // the goroutine is waiting on the clock
	clk.Advance(99 * time.Millisecond)
	select {
	case <-fired:
		fmt.Println("fired early")
	default:
		fmt.Println("not yet at 99ms")
	}
	clk.Advance(time.Millisecond)
	fmt.Println("fired at", <-fired)
	// Output:
	// not yet at 99ms
	// fired at 100ms
}
