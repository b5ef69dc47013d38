package policy

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodYAML = `name: test
kind: diffusion
control_rate_hz: 10
n_obs_steps: 2
horizon: 16
n_action_steps: 8
features:
  observation.state: {shape: [3], normalization: mean_std}
  observation.images.cam: {shape: [3, 2, 2], normalization: mean_std}
  action: {shape: [2], normalization: min_max}
stats: stats.json
models:
  encoder: encoder.onnx
  denoiser: denoiser.onnx
diffusion:
  num_train_timesteps: 100
  beta_schedule: squaredcos_cap_v2
  beta_start: 0.0001
  beta_end: 0.02
  prediction_type: epsilon
  sampler: ddim
  num_inference_steps: 10
  clip_sample: true
  clip_sample_range: 1.0
`

const goodStats = `{
 "observation.state": {"mean": [1, 2, 3], "std": [1, 2, 4], "min": [0, 0, 0], "max": [2, 4, 6], "count": [7]},
 "observation.images.cam": {"mean": [[[0.5]], [[0.4]], [[0.3]]], "std": [[[0.25]], [[0.2]], [[0.1]]]},
 "action": {"min": [-1, 0], "max": [1, 10]}
}`

// writeBundle writes a bundle directory whose policy.yaml is yaml with the replacements
// applied (old, new pairs) and whose stats.json is stats.
func writeBundle(t *testing.T, yaml, stats string, replace ...string) string {
	t.Helper()
	dir := t.TempDir()
	yaml = strings.NewReplacer(replace...).Replace(yaml)
	for name, data := range map[string]string{"policy.yaml": yaml, "stats.json": stats, "encoder.onnx": "x", "denoiser.onnx": "x", "policy.onnx": "x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadBundle(t *testing.T) {
	b, err := LoadBundle(writeBundle(t, goodYAML, goodStats))
	if err != nil {
		t.Fatal(err)
	}
	if got := featureNames(b.Observations); got != "observation.images.cam, observation.state" {
		t.Errorf("observations %q, want name order", got)
	}
	if b.ActionDim() != 2 || b.Config.Diffusion.AlphaToOne() != true {
		t.Errorf("action dim %d, alpha to one %v", b.ActionDim(), b.Config.Diffusion.AlphaToOne())
	}
	// Per-channel image stats broadcast over height and width.
	img := b.Observations[0]
	x := []float32{0.5, 0.5, 0.5, 0.5, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.6}
	y := make([]float32, len(x))
	img.Norm.Normalize(y, x)
	for i, v := range y[:11] {
		if math.Abs(float64(v)) > 1e-6 && i < 8 {
			t.Errorf("image[%d] normalized to %v, want 0 (value = channel mean)", i, v)
		}
	}
	if want := float32((0.6 - 0.3) / (0.1 + 1e-8)); math.Abs(float64(y[11]-want)) > 1e-5 {
		t.Errorf("image[11] = %v, want %v", y[11], want)
	}
	// min_max maps [min, max] to [-1, 1] and back.
	a := b.Action.Norm
	out := make([]float32, 2)
	a.Normalize(out, []float32{-1, 10})
	if math.Abs(float64(out[0]+1)) > 1e-6 || math.Abs(float64(out[1]-1)) > 1e-6 {
		t.Errorf("min_max of [min, max] = %v, want [-1, 1]", out)
	}
	back := make([]float32, 2)
	a.Unnormalize(back, []float32{0, 0})
	if math.Abs(float64(back[0])) > 1e-6 || math.Abs(float64(back[1]-5)) > 1e-6 {
		t.Errorf("unnormalize(0) = %v, want the midpoints [0 5]", back)
	}
}

func TestLoadBundleJSON(t *testing.T) {
	dir := writeBundle(t, goodYAML, goodStats)
	os.Remove(filepath.Join(dir, "policy.yaml"))
	js := `{"name": "j", "kind": "chunked", "control_rate_hz": 50, "n_obs_steps": 1, "horizon": 4, "n_action_steps": 4,
	 "features": {"observation.state": {"shape": [3], "normalization": "mean_std"}, "action": {"shape": [2], "normalization": "identity"}},
	 "stats": "stats.json", "models": {"policy": "policy.onnx"}}`
	if err := os.WriteFile(filepath.Join(dir, "policy.json"), []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := LoadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b.Config.Kind != KindChunked || b.Action.Norm.Mode != NormIdentity {
		t.Errorf("loaded %+v", b.Config)
	}
	os.WriteFile(filepath.Join(dir, "policy.json"), []byte(strings.Replace(js, `"horizon"`, `"horizon_typo": 1, "horizon"`, 1)), 0o644)
	if _, err := LoadBundle(dir); err == nil || !strings.Contains(err.Error(), "horizon_typo") {
		t.Errorf("unknown JSON key: err %v", err)
	}
}

func TestLoadBundleErrors(t *testing.T) {
	cases := []struct {
		name    string
		stats   string
		replace []string
		want    string
	}{
		{"unknown key", goodStats, []string{"horizon: 16", "horizon: 16\nhorizonn: 3"}, "field horizonn not found"},
		{"unknown sampler", goodStats, []string{"sampler: ddim", "sampler: dpm"}, `sampler: unknown "dpm" (one of ddpm, ddim, euler)`},
		{"euler for diffusion", goodStats, []string{"sampler: ddim", "sampler: euler"}, "euler is the flow-matching integrator"},
		{"unknown schedule", goodStats, []string{"squaredcos_cap_v2", "cosine"}, `beta_schedule: unknown "cosine"`},
		{"unknown prediction", goodStats, []string{"prediction_type: epsilon", "prediction_type: x0"}, "prediction_type: unknown"},
		{"unknown kind", goodStats, []string{"kind: diffusion", "kind: vla"}, `kind: unknown "vla"`},
		{"zero rate", goodStats, []string{"control_rate_hz: 10", "control_rate_hz: 0"}, "control_rate_hz: must be > 0"},
		{"short horizon", goodStats, []string{"horizon: 16", "horizon: 1"}, "horizon: must be >= n_obs_steps"},
		{"too many action steps", goodStats, []string{"n_action_steps: 8", "n_action_steps: 16"}, "n_action_steps: must be in [1, horizon - n_obs_steps + 1 = 15], got 16"},
		{"too many inference steps", goodStats, []string{"num_inference_steps: 10", "num_inference_steps: 101"}, "num_inference_steps: 101 is more than num_train_timesteps 100"},
		{"bad normalization", goodStats, []string{"normalization: min_max", "normalization: minmax"}, `features: action: normalization: unknown "minmax"`},
		{"missing model file", goodStats, []string{"denoiser.onnx", "nope.onnx"}, "models: denoiser: stat"},
		{"policy model for diffusion", goodStats, []string{"  encoder: encoder.onnx", "  policy: policy.onnx"}, "models: policy: not used by kind diffusion"},
		{"no diffusion section", goodStats, []string{"diffusion:", "unused:"}, "field unused not found"},
		{"2d action", goodStats, []string{"action: {shape: [2]", "action: {shape: [2, 1]"}, "action: shape must be one-dimensional"},
		{"image shape", goodStats, []string{"shape: [3, 2, 2]", "shape: [12]"}, "an image is [channels, height, width]"},
		{"stats wrong length", strings.Replace(goodStats, `"mean": [1, 2, 3]`, `"mean": [1, 2]`, 1), nil,
			"features: observation.state: stats mean has 2 values (shape [2]), the feature has shape [3] (3 values)"},
		{"stats missing feature", strings.Replace(goodStats, `"action"`, `"actions"`, 1), nil, `features: action: normalization min_max: stats.json has no entry "action"`},
		{"stats missing key", strings.Replace(goodStats, `"min": [-1, 0], `, ``, 1), nil, `features: action: stats.json has no "min"`},
		{"stats corrupt", goodStats[:40], nil, "stats: "},
		{"stats max below min", strings.Replace(goodStats, `"max": [1, 10]`, `"max": [1, -10]`, 1), nil, "stats max[1] = -10 is below min[1] = 0"},
		{"stats string", strings.Replace(goodStats, `"std": [1, 2, 4]`, `"std": ["a", 2, 4]`, 1), nil, "observation.state.std[0]: want a (nested) list of numbers"},
		// Python's json.dump writes NaN and ±Infinity bare; the error names the feature,
		// the statistic and the element.
		{"stats NaN", strings.Replace(goodStats, `"mean": [1, 2, 3]`, `"mean": [1, 2, NaN]`, 1), nil, "stats.json: observation.state.mean[2]: NaN: want a finite number"},
		{"stats Infinity", strings.Replace(goodStats, `"max": [1, 10]`, `"max": [1, Infinity]`, 1), nil, "stats.json: action.max[1]: Infinity: want a finite number"},
		{"stats -Infinity nested", strings.Replace(goodStats, `[[0.4]]`, `[[-Infinity]]`, 1), nil, "stats.json: observation.images.cam.mean[1][0][0]: -Infinity: want a finite number"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadBundle(writeBundle(t, goodYAML, c.stats, c.replace...))
			if err == nil {
				t.Fatalf("loaded; want an error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, c.want)
			}
		})
	}
}

// A string that merely reads NaN stays a string (quoteNonFinite skips strings, escaped
// quotes included), and a NaN in a statistic robotd does not read (LeRobot's count) is
// ignored like any other such entry.
func TestStatsNonFiniteOnlyOutsideStrings(t *testing.T) {
	stats := strings.Replace(goodStats, `"count": [7]`, `"count": [NaN], "note \" NaN": ["NaN \"Infinity"]`, 1)
	if _, err := LoadBundle(writeBundle(t, goodYAML, stats)); err != nil {
		t.Fatalf("stats %s: %v", stats, err)
	}
	for in, want := range map[string]string{
		`{"a": "NaN"}`:         `{"a": "NaN"}`,
		`{"a": "x\"NaN"}`:      `{"a": "x\"NaN"}`,
		`[1, 2e3, true, null]`: `[1, 2e3, true, null]`,
		`[NaN,-Infinity]`:      `["\u0000non-finite NaN","\u0000non-finite -Infinity"]`,
		`{"b\\": [Infinity]}`:  `{"b\\": ["\u0000non-finite Infinity"]}`,
	} {
		if got := string(quoteNonFinite([]byte(in))); got != want {
			t.Errorf("quoteNonFinite(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestLoadBundleMissing(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadBundle(dir); err == nil || !strings.Contains(err.Error(), "no policy.yaml or policy.json") {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := LoadBundle(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing dir: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "policy.yaml"), nil, 0o644)
	if _, err := LoadBundle(dir); err == nil || !strings.Contains(err.Error(), "empty file") {
		t.Errorf("empty yaml: %v", err)
	}
}
