package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/robotd/robotd/internal/npy"
)

var policyTestdata = filepath.Join("..", "..", "policy", "testdata")

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestPolicyInfo(t *testing.T) {
	code, out, errOut := runCLI(t, "policy", "info", filepath.Join(policyTestdata, "unet"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"kind     diffusion", "observation.images.wrist     [3 48 48]", "sampler  ddim, 10 steps",
		"timesteps [90 80 70 60 50 40 30 20 10 0]", "in   sample float32[?,16,7]", "in   timestep int64[?]", "out  global_cond float32[?,78]"} {
		if !strings.Contains(out, want) {
			t.Errorf("info lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = runCLI(t, "policy", "info", filepath.Join(policyTestdata, "act", "policy.onnx"), "--threads", "2")
	if code != 0 || !strings.Contains(out, "in   observation.images.top float32[?,3,64,64]") || !strings.Contains(out, "out  action float32[?,20,14]") {
		t.Errorf("model info: exit %d\n%s%s", code, out, errOut)
	}
}

func TestPolicyRunModel(t *testing.T) {
	dir := filepath.Join(policyTestdata, "flow")
	out := filepath.Join(t.TempDir(), "sub", "out.npz")
	code, stdout, stderr := runCLI(t, "policy", "run", "--model", filepath.Join(dir, "denoiser.onnx"), "--inputs", filepath.Join(dir, "denoiser_inputs.npz"), "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "velocity float32[2 8 4]") {
		t.Errorf("stdout: %s", stdout)
	}
	got := arrayValues(t, out, "velocity")
	want := arrayValues(t, filepath.Join(dir, "denoiser_outputs.npz"), "velocity")
	if e := maxRel(got, want); e > 1e-4 {
		t.Errorf("velocity differs from PyTorch by %.2e", e)
	}
	// An existing output is kept unless --force.
	code, _, stderr = runCLI(t, "policy", "run", "--model", filepath.Join(dir, "denoiser.onnx"), "--inputs", filepath.Join(dir, "denoiser_inputs.npz"), "--out", out)
	if code != 1 || !strings.Contains(stderr, "exists; pass --force") {
		t.Errorf("overwrite: exit %d: %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "policy", "run", "--force", "--model", filepath.Join(dir, "denoiser.onnx"), "--inputs", filepath.Join(dir, "denoiser_inputs.npz"), "--out", out)
	if code != 0 {
		t.Errorf("--force: exit %d: %s", code, stderr)
	}
}

// TestPolicyRunBundle: one offline DDIM step from the fixture's observations and noise
// reproduces PyTorch's actions.
func TestPolicyRunBundle(t *testing.T) {
	dir := filepath.Join(policyTestdata, "unet")
	run, err := npy.ReadFile(filepath.Join(dir, "ddim_run.npz"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	obs := filepath.Join(tmp, "obs.npz")
	if err := npy.WriteNPZ(obs, []*npy.Array{npy.Find(run, "observation.state"), npy.Find(run, "observation.images.wrist")}); err != nil {
		t.Fatal(err)
	}
	noise := filepath.Join(tmp, "noise.npz")
	if err := npy.WriteNPZ(noise, []*npy.Array{npy.Find(run, "noise")}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "actions.npz")
	code, stdout, stderr := runCLI(t, "policy", "run", "--bundle", dir, "--inputs", obs, "--noise", noise, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "action float32[1 15 7]") {
		t.Errorf("stdout: %s", stdout)
	}
	want, _ := npy.Find(run, "actions").Float32()
	if e := maxRel(arrayValues(t, out, "action"), want[7:]); e > 1e-4 {
		t.Errorf("actions differ from PyTorch by %.2e", e)
	}
	// Seeded runs with 4 samples: same seed, same file contents.
	a, b := filepath.Join(tmp, "a.npz"), filepath.Join(tmp, "b.npz")
	for _, o := range []string{a, b} {
		if code, _, stderr := runCLI(t, "policy", "run", "--bundle", dir, "--inputs", obs, "--seed", "5", "--samples", "4", "--out", o); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	}
	if e := maxRel(arrayValues(t, a, "action"), arrayValues(t, b, "action")); e != 0 || len(arrayValues(t, a, "action")) != 4*15*7 {
		t.Errorf("seeded runs differ (%.2e) or wrong size", e)
	}
}

func TestPolicyCommandErrors(t *testing.T) {
	unet := filepath.Join(policyTestdata, "unet")
	tmp := t.TempDir()
	bogus := filepath.Join(tmp, "bogus.onnx")
	os.WriteFile(bogus, []byte("garbage"), 0o644)
	badBundle := filepath.Join(tmp, "bundle")
	os.Mkdir(badBundle, 0o755)
	for _, f := range []string{"stats.json", "encoder.onnx", "denoiser.onnx"} {
		data, _ := os.ReadFile(filepath.Join(unet, f))
		os.WriteFile(filepath.Join(badBundle, f), data, 0o644)
	}
	y, _ := os.ReadFile(filepath.Join(unet, "policy.yaml"))
	os.WriteFile(filepath.Join(badBundle, "policy.yaml"), []byte(strings.Replace(string(y), "sampler: ddim", "sampler: dpm_solver", 1)), 0o644)
	in := filepath.Join(unet, "denoiser_inputs.npz")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"policy"}, 2, "usage:"},
		{[]string{"policy", "frob"}, 2, `unknown subcommand "frob"`},
		{[]string{"policy", "info"}, 2, "want one BUNDLE_DIR or MODEL.onnx"},
		{[]string{"policy", "info", bogus}, 1, "bogus.onnx is not a model ONNX Runtime can load"},
		{[]string{"policy", "info", badBundle}, 1, `diffusion: sampler: unknown "dpm_solver" (one of ddpm, ddim, euler)`},
		{[]string{"policy", "run", "--inputs", in, "--out", "x.npz"}, 2, "exactly one of --model and --bundle"},
		{[]string{"policy", "run", "--model", bogus, "--out", "x.npz"}, 2, "--inputs is required"},
		{[]string{"policy", "run", "--model", filepath.Join(unet, "encoder.onnx"), "--inputs", in, "--out", filepath.Join(tmp, "o.npz")}, 1, `has no input "sample"`},
		{[]string{"policy", "run", "--model", filepath.Join(unet, "denoiser.onnx"), "--inputs", filepath.Join(tmp, "none.npz"), "--out", filepath.Join(tmp, "o.npz")}, 1, "no such file"},
		{[]string{"policy", "run", "--bundle", unet, "--inputs", in, "--out", filepath.Join(tmp, "o.npz")}, 1, `--inputs has no array "observation.images.wrist"`},
		{[]string{"policy", "run", "--bundle", unet, "--inputs", in, "--out", filepath.Join(tmp, "o.npz"), "--samples", "0"}, 1, "--samples 0: want >= 1"},
	}
	for _, c := range cases {
		code, stdout, stderr := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(stdout+stderr, c.want) {
			t.Errorf("robotd %s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", strings.Join(c.args, " "), code, c.code, c.want, stdout, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "o.npz")); err == nil {
		t.Error("a failed run wrote its output")
	}
}

func arrayValues(t *testing.T, path, name string) []float32 {
	t.Helper()
	arrays, err := npy.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := npy.Find(arrays, name)
	if a == nil {
		t.Fatalf("%s has no %q", path, name)
	}
	v, err := a.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func maxRel(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var d, s float64
	for i := range want {
		d = max(d, math.Abs(float64(got[i]-want[i])))
		s = max(s, math.Abs(float64(want[i])))
	}
	return d / max(s, 1e-12)
}
