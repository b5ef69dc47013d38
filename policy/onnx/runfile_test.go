package onnx_test

import (
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/robotd/robotd/internal/npy"
	"github.com/robotd/robotd/policy/onnx"
	"github.com/robotd/robotd/policy/steer"
)

// RunBundle on the fixture's observations and initial noise reproduces PyTorch's DDIM
// actions; seeded runs repeat; a noise file with two arrays is refused by name.
func TestRunBundle(t *testing.T) {
	dir := filepath.Join(testdata, "unet")
	run := readNPZ(t, filepath.Join(dir, "ddim_run.npz"))
	obs := []*npy.Array{npy.Find(run, "observation.state"), npy.Find(run, "observation.images.wrist")}
	noise := filepath.Join(t.TempDir(), "noise.npz")
	if err := npy.WriteNPZ(noise, []*npy.Array{npy.Find(run, "noise")}); err != nil {
		t.Fatal(err)
	}
	out, err := onnx.RunBundle(dir, onnx.Options{}, obs, 0, 1, noise)
	if err != nil {
		t.Fatal(err)
	}
	act := npy.Find(out, "action")
	if act == nil || !slices.Equal(act.Shape, []int{1, 15, 7}) {
		t.Fatalf("outputs %v: want action [1 15 7]", out)
	}
	got, _ := act.Float32()
	checkParity(t, "actions", got, float32s(t, run, "actions")[7:])

	var seeded [2][]float32
	for i := range seeded {
		out, err := onnx.RunBundle(dir, onnx.Options{}, obs, 5, 4, "")
		if err != nil {
			t.Fatal(err)
		}
		seeded[i], _ = npy.Find(out, "action").Float32()
	}
	if len(seeded[0]) != 4*15*7 || !slices.Equal(seeded[0], seeded[1]) {
		t.Errorf("seeded runs of 4 samples: %d values, equal %v: want %d, equal", len(seeded[0]), slices.Equal(seeded[0], seeded[1]), 4*15*7)
	}

	two := filepath.Join(t.TempDir(), "two.npz")
	if err := npy.WriteNPZ(two, []*npy.Array{npy.Find(run, "noise"), npy.Find(run, "actions")}); err != nil {
		t.Fatal(err)
	}
	if _, err := onnx.RunBundle(dir, onnx.Options{}, obs, 0, 1, two); err == nil || !strings.Contains(err.Error(), "want one array, found 2") {
		t.Errorf("two noise arrays: %v", err)
	}
	if _, err := onnx.RunBundle(dir, onnx.Options{}, obs[:1], 0, 1, ""); err == nil || !strings.Contains(err.Error(), `--inputs has no array "observation.images.wrist"`) {
		t.Errorf("missing input: %v", err)
	}
}

// WriteInfo describes a bundle (its configuration, then each model) and a lone model;
// a missing path is an error.
func TestWriteInfo(t *testing.T) {
	dir := filepath.Join(testdata, "unet")
	for _, c := range []struct {
		path string
		want []string
	}{
		{dir, []string{"thread(s)", "encoder.onnx", "denoiser.onnx"}},
		{filepath.Join(dir, "denoiser.onnx"), []string{"onnxruntime " + onnx.Version() + "\n", "model"}},
	} {
		var b strings.Builder
		if err := onnx.WriteInfo(&b, c.path, onnx.Options{Threads: 1}); err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		for _, w := range c.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", c.path, w, b.String())
			}
		}
	}
	if err := onnx.WriteInfo(io.Discard, filepath.Join(dir, "missing.onnx"), onnx.Options{}); err == nil {
		t.Error("missing model: no error")
	}
}

// RunSteered runs one steered step on the fixture's observations: the candidates, their
// validity and scores, and the chosen chunk, which is the chosen candidate's executed
// window; the value scorer's scores are written, the missing input is named.
func TestRunSteered(t *testing.T) {
	dir := filepath.Join(testdata, "unet")
	run := readNPZ(t, filepath.Join(dir, "ddim_run.npz"))
	obs := []*npy.Array{npy.Find(run, "observation.state"), npy.Find(run, "observation.images.wrist")}
	value, _ := filepath.Abs(filepath.Join("..", "steer", "testdata", "unet", "value"))
	cfg := steer.Config{Samples: 5, Value: steer.ValueConfig{Weight: 1, Bundle: value}}
	out, err := onnx.RunSteered(dir, onnx.Options{}, obs, 3, cfg)
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string, shape ...int) *npy.Array {
		a := npy.Find(out, name)
		if a == nil || !slices.Equal(a.Shape, shape) {
			t.Fatalf("%s: %v, want shape %v", name, a, shape)
		}
		return a
	}
	cands, _ := get("steer.candidates", 5, 16, 7).Float32()
	act, _ := get("action", 1, 15, 7).Float32()
	score, _ := get("steer.score", 5).Float32()
	value5, _ := get("steer.score.value", 5).Float32()
	get("steer.valid", 5)
	get("steer.probs", 5)
	chosen := int(get("steer.chosen", 1).Data.([]int64)[0])
	for i, s := range score {
		if s > score[chosen] {
			t.Errorf("chose %d (score %v), candidate %d scores %v", chosen, score[chosen], i, s)
		}
		if s != value5[i] {
			t.Errorf("candidate %d: score %v, value %v (value weight 1, the only scorer)", i, s, value5[i])
		}
	}
	if !slices.Equal(act, cands[(chosen*16+1)*7:(chosen+1)*16*7]) {
		t.Errorf("the chosen chunk is not candidate %d's executed window", chosen)
	}
	if _, err := onnx.RunSteered(dir, onnx.Options{}, obs[:1], 3, cfg); err == nil || !strings.Contains(err.Error(), `--inputs has no array "observation.images.wrist"`) {
		t.Errorf("missing input: %v", err)
	}
}
