package eval

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/robotd/robotd/policy/onnx"
	"github.com/robotd/robotd/system"
)

const bidLaunch = "../launch/pickplace_diffusion_bid.yaml"

// --steer off (Overrides.SteerOff) drops the launch file's steering and nothing else.
func TestLoadSteerOff(t *testing.T) {
	on, err := Load(bidLaunch, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	off, err := Load(bidLaunch, Overrides{SteerOff: true})
	if err != nil {
		t.Fatal(err)
	}
	if on.Policy.Steering == nil || on.Policy.Steering.Samples != 8 || off.Policy.Steering != nil {
		t.Fatalf("steering on %+v, off %+v", on.Policy.Steering, off.Policy.Steering)
	}
	if on.Policy.Bundle != off.Policy.Bundle || on.Policy.Executor.Strategy != off.Policy.Executor.Strategy || on.Policy.Seed != off.Policy.Seed {
		t.Errorf("--steer off changed more than the steering: %+v / %+v", on.Policy, off.Policy)
	}
}

// One steered lockstep episode of the reference policy: eval.json has the steering
// section (configuration with the launch keys, one steered step per inference, the parts
// timed) and the plot is written; --steer off on the same launch file has none.
func TestEvaluatorSteered(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a closed-loop episode")
	}
	if _, err := onnx.Library("", "../"); err != nil {
		t.Skipf("ONNX Runtime absent (%v): run scripts/setup.sh", err)
	}
	run := func(o Overrides) (*Report, string) {
		f, err := Load(bidLaunch, o)
		if err != nil {
			t.Fatal(err)
		}
		s, err := system.New(context.Background(), f, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		dir := t.TempDir()
		ev, err := New(context.Background(), s, Options{Episodes: 1, Seed: 2, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer ev.Close()
		rep, err := ev.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ev.WriteFiles(dir, rep); err != nil {
			t.Fatal(err)
		}
		return rep, dir
	}
	rep, dir := run(Overrides{})
	st := rep.Steering
	if st == nil || st.Samples != 8 || st.Steps == 0 || st.Steps != rep.Inference.Count || st.Time["infer"].Count != st.Steps || st.Time["coherence"].Count != st.Steps {
		t.Fatalf("steering %+v over %d inferences", st, rep.Inference.Count)
	}
	data, err := os.ReadFile(filepath.Join(dir, "eval.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Steering struct {
			Config struct {
				Samples   int `json:"samples"`
				Coherence struct {
					Weight float64 `json:"weight"`
					Beta   float64 `json:"beta"`
				} `json:"coherence"`
			} `json:"config"`
			Steps  uint64   `json:"steps"`
			Chosen []uint64 `json:"chosen"`
		} `json:"steering"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if c := raw.Steering.Config; c.Samples != 8 || c.Coherence.Weight != 1 || c.Coherence.Beta != 0.5 || raw.Steering.Steps != st.Steps || len(raw.Steering.Chosen) != 8 {
		t.Errorf("eval.json steering %+v", raw.Steering)
	}
	// Read back (as robotd eval merge does), the report still names its scorers.
	back, err := ReadJSON(filepath.Join(dir, "eval.json"))
	if err != nil {
		t.Fatal(err)
	}
	var screen strings.Builder
	back.Write(&screen)
	if !strings.Contains(screen.String(), "steering     N 8, coherence 1, contrast 1, select argmax") ||
		!strings.Contains(screen.String(), "p50/p99 ms: coherence") {
		t.Errorf("eval.json read back: its one-screen report lost the scorers or the times:\n%s", screen.String())
	}
	if fi, err := os.Stat(filepath.Join(dir, "eval.png")); err != nil || fi.Size() == 0 {
		t.Errorf("eval.png: %v", err)
	}
	off, _ := run(Overrides{SteerOff: true})
	if off.Steering != nil || off.Inference.Count == 0 {
		t.Errorf("--steer off: steering %+v, %d inferences", off.Steering, off.Inference.Count)
	}
}
