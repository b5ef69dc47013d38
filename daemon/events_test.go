package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/robotd/robotd/telemetry"
)

// recordHandler keeps every slog record, attributes resolved to strings.
type recordHandler struct {
	mu   sync.Mutex
	recs []logged
}

type logged struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	l := logged{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		l.attrs[a.Key] = fmt.Sprint(a.Value.Any())
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, l)
	h.mu.Unlock()
	return nil
}

// newEventsDaemon is a daemon on the embedded simulator's arm, logging to log, for tests
// of its events that never run its loop: white-box tests of unexported functions, which
// package daemon_test's system-built rig (sim_test.go) cannot reach, so only the arm and
// its robot model are built here, no cameras, policy or stepping.
func newEventsDaemon(t *testing.T, log *slog.Logger) *Daemon {
	t.Helper()
	arm, robot := SceneArm(t)
	d, err := New(Config{Logger: log, Metrics: telemetry.NewRegistry()}, Ports{Arm: arm, Robot: robot, Clock: arm.Now})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The events still queued when a run ends are logged as the live ones are: each at its
// own level, with its own fields (a transition's from, to and why; a note's attributes),
// never as a transition from state(-1). Checked for the drain itself and for logEvents
// with its context already done (which drains whatever its loop has not taken).
func TestEventsLoggedAtTheirLevel(t *testing.T) {
	for _, drain := range []bool{true, false} {
		t.Run(fmt.Sprintf("drain=%v", drain), func(t *testing.T) {
			h := &recordHandler{}
			d := newEventsDaemon(t, slog.New(h))
			d.transition(Homing, "start")
			d.note(slog.LevelWarn, "policy step failed", "err", errors.New("boom"), "max_failures", 3)
			d.note(slog.LevelInfo, "policy resumed")
			d.transition(Faulted, "policy failed")
			if drain {
				d.drainEvents()
			} else {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				d.logEvents(ctx)
			}
			want := []logged{
				{slog.LevelInfo, "state", map[string]string{"from": "idle", "to": "homing", "why": "start"}},
				{slog.LevelWarn, "policy step failed", map[string]string{"err": "boom", "max_failures": "3"}},
				{slog.LevelInfo, "policy resumed", map[string]string{}},
				{slog.LevelError, "state", map[string]string{"from": "homing", "to": "faulted", "why": "policy failed"}},
			}
			if len(h.recs) != len(want) {
				t.Fatalf("%d records logged, want %d: %+v", len(h.recs), len(want), h.recs)
			}
			for i, w := range want {
				got := h.recs[i]
				if got.level != w.level || got.msg != w.msg {
					t.Errorf("record %d: %v %q, want %v %q", i, got.level, got.msg, w.level, w.msg)
				}
				if _, ok := got.attrs["t"]; !ok || len(got.attrs) != len(w.attrs)+1 {
					t.Errorf("record %d: attributes %v, want %v and t", i, got.attrs, w.attrs)
				}
				for k, v := range w.attrs {
					if got.attrs[k] != v {
						t.Errorf("record %d: %s=%q, want %q", i, k, got.attrs[k], v)
					}
				}
			}
			if h.recs[0].attrs["t"] != time.Duration(0).String() {
				t.Errorf("first transition at t=%s, want 0s (the simulator has not stepped)", h.recs[0].attrs["t"])
			}
		})
	}
}
