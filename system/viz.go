package system

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/telemetry"
	"github.com/robotd/robotd/viz"
	"github.com/robotd/robotd/viz/foxglove"
	"github.com/robotd/robotd/viz/mcaplog"
	"github.com/robotd/robotd/viz/page"
)

// VizOptions says which parts of the live view and log a run has (docs/live.md).
type VizOptions struct {
	// MCAP, when set, is the MCAP file the run is logged to (robotd run --mcap).
	MCAP string
	// Registry receives robotd_viz_* (pass the run's registry so that /metrics has them).
	// Default: a new registry.
	Registry *telemetry.Registry
	// Hub configures the hub; Joints, Cameras and Metrics are filled from the system, and
	// in lockstep Wait is set (simulated time waits for the encoder: the log is complete)
	// unless Drop.
	Hub viz.Config
	// Drop keeps the realtime rule in lockstep too: a full queue drops (tests of that path).
	Drop bool
}

// Viz makes a viz.Hub the daemon's Observer, runs it as an actor, sends the system's log
// records to it (/robotd/log), serves the operator page on the telemetry server (GET /,
// viz/page), with o.MCAP logs to that file (closed by Close, after the
// actors have drained the hub), and with telemetry.foxglove serves the channels live there. Call it after New and before Run or Serve.
func (s *System) Viz(o VizOptions) (*viz.Hub, error) {
	if s.Ports.Observer != nil {
		return nil, fmt.Errorf("system: Viz called twice")
	}
	cfg := o.Hub
	cfg.Joints = s.Ports.Robot.JointNames()
	cfg.Cameras = s.Cameras
	cfg.Metrics = o.Registry
	cfg.Wait = s.File.Mode == launch.ModeLockstep && !o.Drop
	hub, err := viz.New(cfg)
	if err != nil {
		return nil, err
	}
	if o.MCAP != "" {
		w, err := mcaplog.Create(o.MCAP, 0)
		if err != nil {
			return nil, err
		}
		hub.SetLog(w)
		s.addCloser(func() {
			if err := hub.LogErr(); err != nil {
				s.Log.Error("mcap: the log stopped early", "err", err)
			}
			if err := w.Close(); err != nil {
				s.Log.Error("mcap: close", "err", err)
			}
		})
	}
	pg := page.New(hub.Channels())
	hub.AddLive(pg)
	s.page = pg
	if addr := s.File.Telemetry.Foxglove; addr != "" {
		srv, err := foxglove.Listen(addr, hub.Channels(), foxglove.Options{Metrics: o.Registry, Logger: s.Log})
		if err != nil {
			return nil, err
		}
		hub.AddLive(srv)
		s.Log.Info("foxglove: live server", "url", "ws://"+srv.Addr())
		if !srv.Loopback() {
			s.Log.Warn("foxglove: listening beyond loopback: anyone who reaches this address sees the robot's state and cameras", "listen", srv.Addr())
		}
		s.actors = append(s.actors, actor{name: "foxglove", run: srv.Serve})
	}
	s.Log = slog.New(hub.LogHandler(s.Log.Handler()))
	s.Ports.Observer = hub
	s.actors = append(s.actors, actor{name: "viz", run: func(ctx context.Context) error { return hub.Run(ctx) }})
	return hub, nil
}
