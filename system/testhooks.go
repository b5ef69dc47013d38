package system

import (
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/telemetry"
)

// DaemonWith is Daemon with the daemon's configuration passed through edit (when not nil)
// before the daemon is built: for tests and benchmarks that need what a launch file does
// not express (no homing, a 5 ms state_stale, an injected clock or logger). edit sees the
// configuration Daemon would use (the launch file's values, Metrics set to reg or a fresh
// registry); whatever it leaves zero takes daemon.Config's defaults.
func (s *System) DaemonWith(reg *telemetry.Registry, edit func(*daemon.Config)) (*daemon.Daemon, error) {
	if reg == nil {
		reg = telemetry.NewRegistry()
	}
	cfg := s.daemonConfig(reg)
	if edit != nil {
		edit(&cfg)
	}
	d, err := daemon.New(cfg, s.Ports)
	if err != nil {
		return nil, err
	}
	for _, fn := range s.onStop {
		fn(d.Stop)
	}
	for _, fn := range s.onReg {
		fn(d.Metrics())
	}
	return d, nil
}
