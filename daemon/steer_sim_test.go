package daemon_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/policy/steer"
	"github.com/robotd/robotd/system"
	"github.com/robotd/robotd/telemetry"
)

// steerFixture is a steering bundle written for the rig's policy (policy/testdata/unet)
// by policy/steer/testdata/gen_unet_bundles.py.
func steerFixture(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "policy", "steer", "testdata", "unet", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newSteeredSystem builds the rig with the policy's steering section set to cfg (nil:
// none).
func newSteeredSystem(t testing.TB, cfg *steer.Config) *system.System {
	t.Helper()
	return newSystemWith(t, func(f *launch.File) { f.Policy.Steering = cfg })
}

// runSteered runs the rig for d of simulated time and returns the final joint positions
// and the summary.
func runSteered(t *testing.T, cfg *steer.Config, d time.Duration, reg *telemetry.Registry) ([]float64, *daemon.Summary) {
	t.Helper()
	sys := newSteeredSystem(t, cfg)
	dm, err := sys.DaemonWith(reg, func(c *daemon.Config) { c.Duration = d })
	if err != nil {
		t.Fatal(err)
	}
	if err := dm.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := drivers.NewState(sys.SimArm.Info())
	if err := sys.SimArm.ReadState(st); err != nil {
		t.Fatal(err)
	}
	return st.Q, dm.Summary()
}

// A steering section that changes nothing runs the arm exactly as the policy alone: one
// sample without scorers, a zero residual (per chunk and per action), and a residual that
// returns NaN (applied as 0, counted) end the run in the same joint configuration, bit
// for bit.
func TestSteeringNeutralIsThePolicy(t *testing.T) {
	const d = 2 * time.Second
	q0, s0 := runSteered(t, nil, d, nil)
	if s0.Steering != nil || s0.Inference.Count < 3 {
		t.Fatalf("base run: steering %v, %d inferences", s0.Steering, s0.Inference.Count)
	}
	for _, tc := range []struct {
		name string
		cfg  steer.Config
	}{
		{"one sample", steer.Config{}},
		{"zero residual per chunk", steer.Config{Residual: steer.ResidualConfig{Bundle: steerFixture(t, "residual_zero")}}},
		{"zero residual per action", steer.Config{Residual: steer.ResidualConfig{Bundle: steerFixture(t, "residual_zero"), Rate: steer.RateAction}}},
		{"NaN residual per action", steer.Config{Residual: steer.ResidualConfig{Bundle: steerFixture(t, "residual_nan"), Rate: steer.RateAction}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, s := runSteered(t, &tc.cfg, d, nil)
			for i := range q0 {
				if q[i] != q0[i] {
					t.Fatalf("joint %d ends at %v, the policy alone at %v", i, q[i], q0[i])
				}
			}
			st := s.Steering
			if st == nil || st.Steps != s.Inference.Count || st.Steps != s0.Inference.Count {
				t.Fatalf("steering summary %+v over %d inferences (base %d)", st, s.Inference.Count, s0.Inference.Count)
			}
			if tc.cfg.Residual.Bundle != "" && st.ResidualActions == 0 {
				t.Errorf("the residual corrected no action")
			}
			if strings.Contains(tc.name, "NaN") && (st.ResidualNonFinite != 7*st.ResidualActions || st.ResidualClipped != 0) {
				t.Errorf("NaN residual: %d non-finite, %d clipped values counted", st.ResidualNonFinite, st.ResidualClipped)
			}
		})
	}
}

// A fully steered run (N candidates, coherence, past, a value model and a per-action
// residual whose output is huge) completes without a fault; every inference was a
// steered step, each part was timed, the residual hit its bound, and the summary, its
// JSON and the metrics say so.
func TestSteeringRun(t *testing.T) {
	reg := telemetry.NewRegistry()
	cfg := &steer.Config{Samples: 4,
		Coherence: steer.CoherenceConfig{Weight: 1},
		Past:      steer.PastConfig{Weight: 1},
		Value:     steer.ValueConfig{Weight: 0.5, Bundle: steerFixture(t, "value")},
		Residual:  steer.ResidualConfig{Bundle: steerFixture(t, "residual_huge"), Bound: 0.02, Rate: steer.RateAction},
	}
	_, s := runSteered(t, cfg, 2*time.Second, reg)
	if s.Fault != nil || s.SafeStops != 0 {
		t.Fatalf("fault %v, %d safe stops", s.Fault, s.SafeStops)
	}
	st := s.Steering
	if st == nil || st.Samples != 4 || st.Steps < 3 || st.Steps != s.Inference.Count {
		t.Fatalf("steering %+v over %d inferences", st, s.Inference.Count)
	}
	var chosen uint64
	for _, n := range st.Chosen {
		chosen += n
	}
	if chosen != st.Steps {
		t.Errorf("chosen counts %v sum to %d, %d steps", st.Chosen, chosen, st.Steps)
	}
	for _, part := range []string{"infer", "coherence", "past", "value", "total"} {
		if st.Times[part].Count != st.Steps {
			t.Errorf("part %s timed %d times, %d steps", part, st.Times[part].Count, st.Steps)
		}
	}
	// Per action: one correction per policy period while running (20 in 2 s, less the
	// periods before the first chunk).
	if st.ResidualActions < 10 || st.ResidualClipped == 0 || st.Times["residual"].Count != 0 {
		t.Errorf("residual: %d actions, %d values clipped, timed in steps %d (per action it is not part of a step)",
			st.ResidualActions, st.ResidualClipped, st.Times["residual"].Count)
	}
	var out bytes.Buffer
	if err := s.Write(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"steering candidates", "4 per step", "steering time", "steering residual", "rate action"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if j, ok := s.JSON()["steering"].(map[string]any); !ok || j["steps"] != st.Steps {
		t.Errorf("summary JSON steering %v", s.JSON()["steering"])
	}
	var prom bytes.Buffer
	reg.WriteText(&prom)
	for _, want := range []string{"robotd_steer_steps_total", "robotd_steer_seconds_bucket{part=\"value\"", "robotd_steer_residual_clipped_total"} {
		if !strings.Contains(prom.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A steered control tick allocates nothing, the policy goroutine's steered step included
// (lockstep runs it within the tick).
func TestSteeredTickNoAllocs(t *testing.T) {
	sys := newSteeredSystem(t, &steer.Config{Samples: 3,
		Coherence: steer.CoherenceConfig{Weight: 1},
		Past:      steer.PastConfig{Weight: 1},
		Value:     steer.ValueConfig{Weight: 1, Bundle: steerFixture(t, "value")},
		Residual:  steer.ResidualConfig{Bundle: steerFixture(t, "residual"), Rate: steer.RateAction},
	})
	d, tick := warmTicker(t, sys, nil)
	before := d.Inferences()
	if allocs := testing.AllocsPerRun(2000, tick); allocs != 0 {
		t.Fatalf("%.2f allocations per steered tick, want 0", allocs)
	}
	if d.Inferences()-before < 2 {
		t.Fatalf("%d steered inferences during the measurement", d.Inferences()-before)
	}
}
