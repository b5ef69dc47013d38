//go:build matprofile

package cv

// Mat leak tests: run with `go test -tags matprofile ./perception/cv`. gocv then records
// every Mat it creates in gocv.MatProfile until it is closed.

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/robotd/robotd/perception"
)

// checkNoMatLeak runs f and fails if it leaves Mats open.
func checkNoMatLeak(t *testing.T, f func()) {
	t.Helper()
	before := gocv.MatProfile.Count()
	f()
	if after := gocv.MatProfile.Count(); after != before {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Fatalf("%d Mats open before, %d after:\n%s", before, after, b.String())
	}
}

func TestPipelineMatLeak(t *testing.T) {
	in := distortedIntrinsics()
	color := colorFrame(160, 120, perception.BGR8, func(x, y, c int) uint8 { return uint8(x + y + c) })
	depth := depthFrame(160, 120, perception.Depth16, func(x, y int) float64 { return 1 })
	crop := &perception.CropConfig{Width: 100, Height: 100}
	for _, tc := range []struct {
		name  string
		cfg   perception.PipelineConfig
		frame *perception.Frame
	}{
		{"area", perception.PipelineConfig{Crop: crop, Resize: &perception.ResizeConfig{Width: 30, Height: 30}}, color},
		{"undistort linear", perception.PipelineConfig{Undistort: true, Crop: crop, Resize: &perception.ResizeConfig{Width: 130, Height: 130}}, color},
		{"crop only", perception.PipelineConfig{Crop: crop}, color},
		{"depth undistort", perception.PipelineConfig{Undistort: true, Resize: &perception.ResizeConfig{Width: 80, Height: 60}}, depth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opened int
			checkNoMatLeak(t, func() {
				before := gocv.MatProfile.Count()
				p, err := NewPipeline(tc.cfg, 160, 120, tc.frame.Format, in)
				if err != nil {
					t.Fatal(err)
				}
				opened = gocv.MatProfile.Count() - before
				out := make([]float32, p.Len())
				for i := 0; i < 20; i++ {
					if err := p.Run(tc.frame, out); err != nil {
						t.Fatal(err)
					}
					if n := gocv.MatProfile.Count() - before; n != opened {
						t.Fatalf("frame %d: %d Mats open, %d after construction", i, n, opened)
					}
				}
				p.Close()
			})
			if opened == 0 {
				t.Fatal("the pipeline holds no Mats: is the profile counting?")
			}
		})
	}
	// a constructor that fails half-way frees what it allocated
	checkNoMatLeak(t, func() {
		if _, err := NewPipeline(perception.PipelineConfig{Undistort: true}, 160, 120, perception.BGR8,
			&perception.Intrinsics{Width: 160, Height: 120, K: in.K, D: in.D[:1]}); err == nil {
			t.Fatal("bad intrinsics accepted")
		}
	})
}

func TestSourceMatLeak(t *testing.T) {
	path := makeVideo(t, 5, 25)
	checkNoMatLeak(t, func() {
		v, err := OpenVideo("leak", path, VideoConfig{Loop: true})
		if err != nil {
			t.Fatal(err)
		}
		var f perception.Frame
		for i := 0; i < 12; i++ {
			if err := v.Read(context.Background(), &f); err != nil {
				t.Fatal(err)
			}
		}
		v.Close()
	})
	corrupt := filepath.Join(t.TempDir(), "corrupt.mp4")
	if err := os.WriteFile(corrupt, []byte("not a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkNoMatLeak(t, func() {
		if _, err := OpenVideo("leak", corrupt, VideoConfig{}); err == nil {
			t.Fatal("corrupt file opened")
		}
		if _, err := OpenDevice("leak", DeviceConfig{Device: "/dev/video99"}); err == nil {
			t.Fatal("missing device opened")
		}
	})
}
