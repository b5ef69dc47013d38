// Package telemetry owns what robotd tells the outside world about itself while it runs:
// Prometheus metrics and their text exposition, fixed-memory latency quantiles for the
// exit summary, the HTTP endpoints (/metrics, /healthz, /readyz, POST /stop) and the
// log/slog setup.
//
// # Metrics
//
// A [Registry] holds counters, gauges and histograms. Registration happens at start-up and
// may allocate; the handles it returns ([Counter], [Gauge], [Histogram]) are then updated
// from the 1 kHz control loop with single atomic operations: lock-free, never blocking on a
// scrape, allocation-free (proven by tests with testing.AllocsPerRun).
//
// Registering the same name with the same labels again returns the same metric. Bad
// registrations are programming errors and panic at the call, naming what was wrong: a
// name or label name that breaks Prometheus' rules, a name registered before with another
// type, help text, label names or histogram buckets, or a name that collides with a
// histogram's _bucket, _sum or _count series.
//
// [Registry.WriteText] renders everything in the Prometheus text exposition format 0.0.4,
// families sorted by name and series by label values, so two scrapes of an idle registry
// are byte-identical.
//
// # Latency quantiles
//
// [Quantiles] records durations from one writer (the control loop) into log-linear buckets
// of fixed size (about 57 KiB); other goroutines take a [Snapshot] at any time. Quantiles
// are within 0.4 % of the exact nearest-rank value; Count, Min, Max and Sum are exact.
//
// # HTTP and logs
//
// [Serve] listens on an address and serves the registry and the health endpoints until
// its context ends; an address without a host (":9102", ":0") means loopback, because
// POST /stop has no authentication; [NewLogger] builds the daemon's slog.Logger; [FormatSummary] prints
// the one-screen summary at exit.
package telemetry
