package mcaplog_test

import (
	"context"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/viz"
	"github.com/robotd/robotd/viz/mcaplog"
)

// A hub logging to an MCAP file, fed three control ticks as the daemon's loop would
// (system.Viz does this wiring for robotd run --mcap).
func Example() {
	dir, _ := os.MkdirTemp("", "mcaplog-example-")
	defer os.RemoveAll(dir)
	hub, err := viz.New(viz.Config{Joints: []string{"j1", "j2"}})
	if err != nil {
		log.Fatal(err)
	}
	w, err := mcaplog.Create(filepath.Join(dir, "run.mcap"), 0)
	if err != nil {
		log.Fatal(err)
	}
	hub.SetLog(w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- hub.Run(ctx) }()

	rec := &daemon.TickRecord{Q: make([]float64, 2), DQ: make([]float64, 2), Tau: make([]float64, 2),
		Gripper: math.NaN(), GripperCommand: math.NaN()}
	for i := range 3 {
		rec.T = time.Duration(i) * time.Millisecond
		hub.Tick(rec) // the control loop's side: a copy into a free buffer, never blocking
	}
	if err := hub.Sync(ctx); err != nil {
		log.Fatal(err)
	}
	cancel()
	<-done
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	c := hub.Counts()
	fmt.Println(w.Messages(), c[viz.TopicJointStates], c[viz.TopicTool])
	// Output: 12 3 3
}
