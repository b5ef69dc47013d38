package telemetry_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/robotd/robotd/telemetry"
)

// Register metrics at start-up, update them from the control loop, scrape them as text.
func Example() {
	reg := telemetry.NewRegistry()
	ticks := reg.Counter("robotd_ticks_total", "Control ticks.")
	period := reg.Histogram("robotd_loop_period_seconds", "Control period.",
		[]float64{0.0009, 0.0011}, telemetry.Label{Name: "arm", Value: "sim"})

	for _, p := range []float64{0.001, 0.00102, 0.0013} { // in the loop: no allocation, no lock
		ticks.Inc()
		period.Observe(p)
	}
	reg.WriteText(os.Stdout)
	// Output:
	// # HELP robotd_loop_period_seconds Control period.
	// # TYPE robotd_loop_period_seconds histogram
	// robotd_loop_period_seconds_bucket{arm="sim",le="0.0009"} 0
	// robotd_loop_period_seconds_bucket{arm="sim",le="0.0011"} 2
	// robotd_loop_period_seconds_bucket{arm="sim",le="+Inf"} 3
	// robotd_loop_period_seconds_sum{arm="sim"} 0.00332
	// robotd_loop_period_seconds_count{arm="sim"} 3
	// # HELP robotd_ticks_total Control ticks.
	// # TYPE robotd_ticks_total counter
	// robotd_ticks_total 3
}

// The control loop records its jitter; the exit summary reads a snapshot.
func ExampleQuantiles() {
	var jitter telemetry.Quantiles
	for i := range 1000 {
		jitter.Record(time.Duration(i%100) * time.Microsecond)
	}
	s := jitter.Snapshot()
	fmt.Println(s.Count, s.Min, s.Max)
	fmt.Println(s.Quantile(0.5), s.Quantile(0.99))
	// Output:
	// 1000 0s 99µs
	// 49.024µs 98.048µs
}

// Serve the endpoints until the context ends.
func ExampleServe() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	running := false
	srv, err := telemetry.Serve(ctx, "127.0.0.1:0", telemetry.NewRegistry(), telemetry.Handlers{
		Ready: func() (bool, string) { return running, "state idle" },
		Stop:  func(reason string) { fmt.Println("stop requested") },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := http.Get("http://" + srv.Addr() + "/readyz")
	if err != nil {
		fmt.Println(err)
		return
	}
	res.Body.Close()
	fmt.Println(res.Status)
	cancel()
	fmt.Println(srv.Wait())
	// Output:
	// 503 Service Unavailable
	// <nil>
}

func ExampleNewLogger() {
	log, err := telemetry.NewLogger(io.Discard, "json", slog.LevelInfo) // os.Stderr in the daemon
	if err != nil {
		fmt.Println(err)
		return
	}
	log.Info("control loop started", "rate_hz", 1000)

	_, err = telemetry.NewLogger(io.Discard, "yaml", slog.LevelInfo)
	fmt.Println(err)
	// Output:
	// telemetry: log format "yaml": want "text" or "json"
}

func ExampleFormatSummary() {
	telemetry.FormatSummary(os.Stdout, []telemetry.SummaryRow{
		{Name: "ticks", Value: "60000"},
		{Name: "deadline misses", Value: "0"},
	})
	// Output:
	// ticks            60000
	// deadline misses  0
}
