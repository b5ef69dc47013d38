package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/robotd/robotd/env"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/system"
)

const envUsage = `robotd env [--launch FILE] [--socket PATH | --tcp 127.0.0.1:PORT]

Serves the lockstep pick-and-place task through the exact deploy path (the launch file's
daemon, policy and steering stage, as robotd eval runs it) to a learner over a local
socket, one client at a time: seeded reset, the policy's observation features, sparse
reward, done and success; per step the client lets the base policy act or gives a chunk,
the sampler's initial noise, or a bounded residual (per chunk or per action). The
protocol and the Python client (tools/train/robotd_env.py) are in docs/env.md.
`

// envFlags are robotd env's flags.
type envFlags struct {
	launch, socket, tcp string
}

func (c *envFlags) parse(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("env", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), envUsage, "\nFlags:\n"); fs.PrintDefaults() }
	fs.StringVar(&c.launch, "launch", env.DefaultLaunch, "launch file (lockstep pick-and-place scene with a policy section)")
	fs.StringVar(&c.socket, "socket", "out/robotd_env.sock", "Unix socket path to serve on")
	fs.StringVar(&c.tcp, "tcp", "", "serve on this loopback TCP address instead (host:port; port 0 picks one)")
	return parseFlags(fs, args, stderr)
}

// listen opens the socket: a Unix socket (a stale socket file at the path is removed,
// any other file is refused) or a loopback TCP address.
func (c *envFlags) listen() (net.Listener, string, error) {
	if c.tcp != "" {
		host, _, err := net.SplitHostPort(c.tcp)
		if err != nil {
			return nil, "", fmt.Errorf("env: --tcp %q: %w", c.tcp, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, "", fmt.Errorf("env: --tcp %q: only a loopback address is served (the protocol has no authentication)", c.tcp)
		}
		ln, err := net.Listen("tcp", c.tcp)
		if err != nil {
			return nil, "", fmt.Errorf("env: %w", err)
		}
		return ln, "tcp:" + ln.Addr().String(), nil
	}
	if err := os.MkdirAll(filepath.Dir(c.socket), 0o755); err != nil {
		return nil, "", fmt.Errorf("env: --socket %s: %w", c.socket, err)
	}
	if fi, err := os.Lstat(c.socket); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, "", fmt.Errorf("env: --socket %s exists and is not a socket", c.socket)
		}
		os.Remove(c.socket)
	}
	ln, err := net.Listen("unix", c.socket)
	if err != nil {
		return nil, "", fmt.Errorf("env: %w", err)
	}
	return ln, "unix:" + c.socket, nil
}

func envCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c envFlags
	if err := c.parse(args, stderr); err != nil {
		return err
	}
	f, err := launch.Load(c.launch)
	if err != nil {
		return err
	}
	log, err := system.Logger(f, stderr, slog.LevelWarn)
	if err != nil {
		return err
	}
	srv, err := env.New(ctx, env.Config{Launch: c.launch, Log: log})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, addr, err := c.listen()
	if err != nil {
		return err
	}
	if c.tcp == "" {
		defer os.Remove(c.socket)
	}
	info := srv.Info()
	fmt.Fprintf(stdout, "serving %s (%s, policy %s: action %d x %d rows per chunk, %d candidate(s)) on %s\n",
		info.Launch, info.Action, info.Bundle, info.ActionDim, info.ChunkRows, info.Samples, addr)
	where := "--socket " + c.socket
	if c.tcp != "" {
		where = "--tcp " + ln.Addr().String()
	}
	fmt.Fprintf(stdout, "client: python3 tools/train/robotd_env.py %s --bench\n", where)
	err = srv.Serve(ctx, ln)
	if err == nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		fmt.Fprintln(stdout, "stopped")
	}
	return err
}
