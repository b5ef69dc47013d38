package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/trace"

	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/system"
	"github.com/robotd/robotd/telemetry"
	"github.com/robotd/robotd/viz"
)

// defaultLaunch is the launch file `robotd run` uses without --launch.
const defaultLaunch = "launch/sim.yaml"

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	path := fs.String("launch", defaultLaunch, "launch file (launch/*.yaml; keys documented in launch/launch.go)")
	duration := fs.Duration("duration", -1, "override the launch file's duration (0: until stopped)")
	listen := fs.String("listen", "", "override telemetry.listen (host:port, :0, or off; no host means 127.0.0.1, 0.0.0.0:PORT every interface)")
	summaryJSON := fs.String("summary-json", "", "also write the exit summary as JSON to this file")
	traceFile := fs.String("trace", "", "write a Go execution trace of the run to this file (go tool trace; for latency hunts)")
	foxAddr := fs.String("foxglove", "", "override telemetry.foxglove: serve the live Foxglove WebSocket here (host:port; no host means 127.0.0.1)")
	mcapFile := fs.String("mcap", "", "log the run to this MCAP file (joint states, torques, poses, plans, events, logs, JPEG cameras; docs/live.md)")
	var steerOff bool
	fs.Var(steerFlag{&steerOff}, "steer", "on: the launch file's policy.steering; off: run without it")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *traceFile != "" {
		tf, err := os.Create(*traceFile)
		if err != nil {
			return fmt.Errorf("--trace: %w", err)
		}
		defer tf.Close()
		if err := trace.Start(tf); err != nil {
			return fmt.Errorf("--trace: %w", err)
		}
		defer trace.Stop()
	}
	f, err := launch.Load(*path)
	if err != nil {
		return err
	}
	if *duration >= 0 {
		f.Duration = *duration
	}
	if *listen != "" {
		f.Telemetry.Listen = *listen
	}
	if *foxAddr != "" {
		f.Telemetry.Foxglove = *foxAddr
	}
	if steerOff && f.Policy != nil {
		f.Policy.Steering = nil
	}
	return runLaunch(ctx, f, runOutputs{summaryJSON: *summaryJSON, mcap: *mcapFile}, stdout, stderr)
}

// runOutputs are the files robotd run writes besides its report.
type runOutputs struct {
	summaryJSON string
	mcap        string // --mcap: the MCAP log
}

// runLaunch builds the launch file's system, runs it until the run ends and reports.
func runLaunch(ctx context.Context, f *launch.File, out runOutputs, stdout, stderr io.Writer) error {
	summaryJSON := out.summaryJSON
	sys, _, err := wireLogged(ctx, f, stderr, system.LogLevel(f))
	if err != nil {
		return err
	}
	defer sys.Close()
	reg := telemetry.NewRegistry()
	var hub *viz.Hub
	if out.mcap != "" || f.Telemetry.Foxglove != "" || f.Telemetry.Listen != "off" {
		if hub, err = sys.Viz(system.VizOptions{MCAP: out.mcap, Registry: reg}); err != nil {
			return err
		}
	}
	s, runErr := sys.Run(ctx, system.RunOptions{Telemetry: true, Registry: reg})
	if s == nil {
		return runErr
	}
	fmt.Fprintf(stdout, "\nrobotd run %s: %v wall\n", f.Name, s.Wall.Round(1e6))
	s.Write(stdout)
	if hub != nil && (out.mcap != "" || f.Telemetry.Foxglove != "") {
		fmt.Fprintln(stdout, hub.Summary())
	}
	if summaryJSON != "" {
		data, err := json.MarshalIndent(s.JSON(), "", "  ")
		if err == nil {
			err = os.WriteFile(summaryJSON, append(data, '\n'), 0o644)
		}
		if err != nil {
			return fmt.Errorf("--summary-json: %w", err)
		}
	}
	return faultExit(runErr)
}

// faultExit gives an error that is a daemon fault the fault's exit status.
func faultExit(err error) error {
	if err != nil && system.IsFault(err) {
		return exitError{code: system.ExitFault, err: err}
	}
	return err
}

// exitError carries a specific exit status.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// wireLogged makes the logger the launch file asks for (writing to stderr, at level) and
// builds the launch file's system with it.
func wireLogged(ctx context.Context, f *launch.File, stderr io.Writer, level slog.Level) (*system.System, *slog.Logger, error) {
	log, err := system.Logger(f, stderr, level)
	if err != nil {
		return nil, nil, err
	}
	s, err := system.New(ctx, f, log)
	return s, log, err
}
