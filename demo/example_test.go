package demo_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/robotd/robotd/demo"
)

// Run the demo briefly, without video, and write its summary, trace and plot.
func ExampleRun() {
	dir, err := os.MkdirTemp("", "demo")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg := demo.Config{Out: dir, Hold: 100 * time.Millisecond, Stiffness: 200, RotStiffness: 30}
	res, err := demo.Run(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := res.WriteFiles(dir); err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Legs), "legs,", res.Ticks, "ticks,", len(res.Trace), "trace rows,", len(res.Outputs(dir)), "files")
	// Output: 7 legs, 700 ticks, 70 trace rows, 3 files
}
