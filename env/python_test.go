package env

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os/exec"
	"testing"

	"github.com/robotd/robotd/eval"
	"github.com/robotd/robotd/system"
)

// python is Debian's interpreter with numpy (tools/train's).
const python = "/usr/bin/python3"

// TestPythonClientMatchesEval runs the real Python client (tools/train/robotd_env.py)
// against the server: an episode in policy mode, one in residual mode with zero
// corrections per chunk and one per action, one replaying the base chunks in chunk mode,
// each on a fresh system, end exactly as a
// one-episode robotd eval of the same seed does (lockstep is deterministic): success,
// duration, time to success, lift and place error, to the bit.
func TestPythonClientMatchesEval(t *testing.T) {
	if err := exec.Command(python, "-c", "import numpy").Run(); err != nil {
		t.Skipf("%s with numpy: %v", python, err)
	}
	const seed = 3
	_, path := startServer(t)
	cmd := exec.Command(python, "../tools/train/robotd_env.py", "--socket", path, "--outcomes", "1",
		"--seed", "3", "--fresh", "--modes", "policy,residual,residual-action,chunk")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("robotd_env.py: %v\n%s", err, stderr.String())
	}

	ctx := context.Background()
	f, err := eval.Load(testLaunch, eval.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	sys, err := system.New(ctx, f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	ev, err := eval.New(ctx, sys, eval.Options{Episodes: 1, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ev.Run(ctx)
	ev.Close()
	if err != nil {
		t.Fatal(err)
	}
	e := rep.PerEpisode[0]
	want := Outcome{Seed: seed, Success: e.Success, Duration: e.Duration, TimeToSuccess: e.TimeToSuccess, MaxLift: e.MaxLift, PlaceError: e.PlaceError}

	sc := bufio.NewScanner(bytes.NewReader(out))
	var modes []string
	for sc.Scan() {
		var line struct {
			Mode, Rate, Fault string
			Steps             int
			Outcome           *Outcome
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("robotd_env.py line %q: %v", sc.Text(), err)
		}
		what := line.Mode + " at rate " + line.Rate
		modes = append(modes, what)
		if line.Outcome == nil || line.Fault != "" {
			t.Fatalf("%s: no outcome (fault %q)", what, line.Fault)
		}
		if *line.Outcome != want {
			t.Errorf("%s through the Python client: %+v after %d steps; robotd eval: %+v", what, *line.Outcome, line.Steps, want)
		}
		if line.Steps < 3 {
			t.Errorf("%s: %d steps", what, line.Steps)
		}
	}
	if len(modes) != 4 {
		t.Fatalf("robotd_env.py printed %d outcomes (%v), want 4\n%s", len(modes), modes, stderr.String())
	}
}
