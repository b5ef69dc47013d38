package eval

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/policy/onnx"
	"github.com/robotd/robotd/system"
)

// Load applies the overrides on top of the launch file and refuses one without a policy.
func TestLoad(t *testing.T) {
	f, err := Load("../launch/pickplace_diffusion.yaml", Overrides{Bundle: "../models/pickplace_act", Latency: 70 * time.Millisecond, Executor: "receding", CameraNoise: 4})
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("../models/pickplace_act")
	if f.Duration != 0 || f.Policy.Bundle != abs || f.Policy.LockstepLatency != 70*time.Millisecond || string(f.Policy.Executor.Strategy) != "receding" {
		t.Errorf("duration %v, bundle %s, latency %v, executor %v", f.Duration, f.Policy.Bundle, f.Policy.LockstepLatency, f.Policy.Executor.Strategy)
	}
	for _, c := range f.Cameras {
		if c.Noise < 4 {
			t.Errorf("camera %s noise %v, want at least 4", c.Name, c.Noise)
		}
	}
	if _, err := Load("../launch/pickplace.yaml", Overrides{}); err == nil || !strings.Contains(err.Error(), "has no policy section") {
		t.Errorf("a launch file without a policy: %v", err)
	}
}

// One lockstep episode of the reference diffusion policy through the library: the
// callback hears of it, the report counts it, and the files are written.
func TestEvaluatorLockstep(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a closed-loop episode, about 10 s")
	}
	if _, err := onnx.Library("", "../"); err != nil {
		t.Skipf("ONNX Runtime absent (%v): run scripts/setup.sh", err)
	}
	f, err := Load("../launch/pickplace_diffusion.yaml", Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := system.New(context.Background(), f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var heard []Progress
	dir := t.TempDir()
	ev, err := New(context.Background(), s, Options{Episodes: 1, Seed: 1, Dir: dir, OnEpisode: func(p Progress) { heard = append(heard, p) }})
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	if h := ev.Header(); h.Executor != "inpaint" || h.Latency != "20ms" || h.Seed != 1 {
		t.Errorf("header %+v", h)
	}
	rep, err := ev.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(heard) != 1 || heard[0].Index != 0 || heard[0].Done != 1 || heard[0].Episode.Seed != 1 {
		t.Errorf("progress %+v, want one episode of seed 1", heard)
	}
	// Seed 1 is among those the reference policy solves (eval.json of seeds 0..4).
	e := rep.PerEpisode[0]
	if rep.Episodes != 1 || rep.Successes != 1 || !e.Success || e.TimeToSuccess < 3 || e.TimeToSuccess > 30 || rep.Inference.Count == 0 || rep.PeakSpeed <= 0 {
		t.Errorf("report %+v", rep)
	}
	files, err := ev.WriteFiles(dir, rep)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || filepath.Base(files[0]) != "eval.json" || filepath.Base(files[1]) != "eval.png" {
		t.Errorf("files %q, want eval.json and eval.png (no videos asked for)", files)
	}
	back, err := ReadJSON(files[0])
	if err != nil || back.Successes != 1 || back.PerEpisode[0].Seed != 1 {
		t.Errorf("eval.json read back: %+v, %v", back, err)
	}
	if st, err := os.Stat(files[1]); err != nil || st.Size() < 1000 {
		t.Errorf("eval.png: %v", err)
	}
}

// A system without a policy has nothing to evaluate: New says so before serving anything.
func TestNewWithoutPolicy(t *testing.T) {
	f, err := launch.Load("../launch/pickplace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := system.New(context.Background(), f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := New(context.Background(), s, Options{Episodes: 1}); err == nil || !strings.Contains(err.Error(), "has no policy section") {
		t.Errorf("error %v, want one saying the launch file has no policy", err)
	}
}
