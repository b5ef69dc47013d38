package steer_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/robotd/robotd/policy/onnx"
	"github.com/robotd/robotd/policy/steer"
)

// TestLoadBundleOwnStats: a steering bundle's own stats.json is read and checked as a
// policy bundle's (policy.ReadStats, policy.NewFeature): a bare NaN, which Python's
// json.dump writes, is named by feature, statistic and index rather than reported as a
// JSON syntax error, and a missing statistic is named with its mode.
func TestLoadBundleOwnStats(t *testing.T) {
	cases := []struct {
		name, stats, want string
	}{
		{"bare NaN", `{"observation.state": {"mean": [NaN, 0, 0, 0, 0, 0], "std": [1, 1, 1, 1, 1, 1]},
			"action": {"min": [-1, -1, -1, -1], "max": [1, 1, 1, 1]}}`,
			"stats.json: observation.state.mean[0]: NaN: want a finite number"},
		{"no std", `{"observation.state": {"mean": [0, 0, 0, 0, 0, 0]},
			"action": {"min": [-1, -1, -1, -1], "max": [1, 1, 1, 1]}}`,
			`features: observation.state: stats.json has no "std" for normalization mean_std`},
		{"size", `{"observation.state": {"mean": [0, 0], "std": [1, 1]},
			"action": {"min": [-1, -1, -1, -1], "max": [1, 1, 1, 1]}}`,
			"features: observation.state: stats mean has 2 values (shape [2]), the feature has shape [6] (6 values)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyBundle(t, "value")
			if err := os.WriteFile(filepath.Join(dir, "stats.json"), []byte(c.stats), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := steer.LoadBundle(dir); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("LoadBundle: %v, want an error containing %q", err, c.want)
			}
		})
	}
	if _, err := steer.LoadBundle(copyBundle(t, "value")); err != nil {
		t.Fatalf("LoadBundle of the unchanged bundle: %v", err)
	}
}

// TestLoadBundleKinds: the noise and residual kinds load with their output's default
// name, a noise bundle's action entry reads no statistics (the noise fixture's own
// stats.json has none for it) and must take the policy's action normalization, and a
// residual bundle with its own statistics needs them for its action.
func TestLoadBundleKinds(t *testing.T) {
	for _, c := range []struct{ name, output string }{{"noise", "noise"}, {"residual", "residual"}} {
		b, err := steer.LoadBundle(copyBundle(t, c.name, "output: "+c.output+"\n", ""))
		if err != nil {
			t.Fatal(err)
		}
		if b.Config.Kind != c.name || b.Config.Output != c.output {
			t.Errorf("%s: kind %s, output %q", c.name, b.Config.Kind, b.Config.Output)
		}
	}
	dir := copyBundle(t, "residual")
	if err := os.WriteFile(filepath.Join(dir, "stats.json"), []byte(`{"observation.state": {"mean": [0, 0, 0, 0, 0, 0], "std": [1, 1, 1, 1, 1, 1]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := steer.LoadBundle(dir); err == nil || !strings.Contains(err.Error(), `features: action: normalization min_max: stats.json has no entry "action"`) {
		t.Errorf("residual without action statistics: %v", err)
	}
	b, err := steer.LoadBundle(filepath.Join("testdata", "noise"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Steps != 8 || b.Start != 1 {
		t.Errorf("noise: steps %d, start %d; want the horizon 8 from 1", b.Steps, b.Start)
	}
}

// TestWriteInfoKinds describes a noise and a residual bundle as robotd policy info
// prints them (policy/onnx.WriteInfo hands a directory with steer.yaml to
// steer.WriteInfo): the eps input or its absence, the action entry's role, the output.
func TestWriteInfoKinds(t *testing.T) {
	cases := map[string][]string{
		"noise": {
			"kind     noise",
			"normalized with own statistics stats.json",
			"observation.state            [6]            mean_std (latest observation)",
			"eps                          [8 4]          standard normal draws",
			"action                       [4]            min_max (no model input",
			"output   noise: the sampler's initial noise per candidate [horizon 8, action 4]",
			"axes     batch = candidates per step",
			"in   eps float32[?,8,4]",
		},
		"noise_det": {
			"(no eps input: a deterministic noise policy",
			"out  noise float32[?,32]",
		},
		"residual": {
			"kind     residual",
			"action                       [4]            min_max (the base action, one per row)",
			"output   residual: a correction per action [4] in normalized units",
			"axes     batch = actions per call",
			"in   action float32[?,4]",
		},
	}
	for name, wants := range cases {
		var buf bytes.Buffer
		if err := onnx.WriteInfo(&buf, filepath.Join("testdata", name), onnx.Options{}); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, want := range wants {
			if !strings.Contains(out, want) {
				t.Errorf("%s: info has no %q:\n%s", name, want, out)
			}
		}
	}
}
