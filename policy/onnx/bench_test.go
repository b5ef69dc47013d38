package onnx_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/robotd/robotd/internal/npy"
	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/onnx"
)

// benchThreads is ONNX Runtime's intra-op thread count in benchmarks: $ROBOTD_BENCH_THREADS,
// default 1 (scripts/bench.sh gives PyTorch the same count).
func benchThreads() int {
	if n, err := strconv.Atoi(os.Getenv("ROBOTD_BENCH_THREADS")); err == nil && n > 0 {
		return n
	}
	return 1
}

// BenchmarkModel is one forward pass of each fixture network at batch 1, through a
// Binding (preallocated tensors): what the policy step pays per network call.
func BenchmarkModel(b *testing.B) {
	names := map[string]string{"unet/encoder": "unet-encoder", "unet/denoiser": "unet-denoiser", "act/policy": "act-policy", "flow/denoiser": "flow-denoiser"}
	for _, f := range fixtureModels {
		b.Run(names[f.bundle+"/"+f.model], func(b *testing.B) {
			dir := filepath.Join(testdata, f.bundle)
			m, err := onnx.Open(filepath.Join(dir, f.model+".onnx"), onnx.Options{Threads: benchThreads()})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			bd, err := m.Bind(1, nil)
			if err != nil {
				b.Fatal(err)
			}
			for _, a := range readNPZ(b, filepath.Join(dir, f.model+"_inputs.npz")) {
				firstRow(b, bd, a)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := bd.Run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func firstRow(b *testing.B, bd policy.Binding, a *npy.Array) {
	switch d := a.Data.(type) {
	case []float32:
		dst := bd.Float32(a.Name)
		copy(dst, d[:len(dst)])
	case []int64:
		dst := bd.Int64(a.Name)
		copy(dst, d[:len(dst)])
	default:
		b.Fatalf("input %s is %s", a.Name, a.DType())
	}
}

// BenchmarkStep is a full policy step from the observation history: normalize, the
// networks (for unet: encoder + 10 DDIM denoiser calls), the sampler, unnormalize.
func BenchmarkStep(b *testing.B) {
	for _, c := range []struct{ name, bundle, run string }{
		{"unet-ddim10", "unet", "ddim_run"},
		{"act", "act", "act_run"},
		{"flow-euler10", "flow", "euler_run"},
	} {
		b.Run(c.name, func(b *testing.B) {
			p, err := policy.Load(filepath.Join(testdata, c.bundle), onnx.Opener(onnx.Options{Threads: benchThreads()}), policy.Options{Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			observe(b, p, readNPZ(b, filepath.Join(testdata, c.bundle, c.run+".npz")))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Step(policy.StepOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
