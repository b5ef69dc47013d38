package cv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/robotd/robotd/perception"
)

// colorFrame returns a w x h frame of format f whose pixel (x, y) channel c is pix(x, y, c).
func colorFrame(w, h int, f perception.Format, pix func(x, y, c int) uint8) *perception.Frame {
	fr := &perception.Frame{Camera: "test", Seq: 1, Format: f, Width: w, Height: h}
	n := f.Channels()
	fr.Data = make([]byte, w*h*n)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < n; c++ {
				fr.Data[(y*w+x)*n+c] = pix(x, y, c)
			}
		}
	}
	return fr
}

func newPipeline(t testing.TB, cfg perception.PipelineConfig, w, h int, f perception.Format, in *perception.Intrinsics) *Pipeline {
	t.Helper()
	p, err := NewPipeline(cfg, w, h, f, in)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func runPipeline(t testing.TB, p *Pipeline, f *perception.Frame) []float32 {
	t.Helper()
	out := make([]float32, p.Len())
	if err := p.Run(f, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// compareTensor checks got against want element by element within tol.
func compareTensor(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	worst, at := 0.0, -1
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		if d > worst {
			worst, at = d, i
		}
	}
	if worst > tol {
		t.Fatalf("%s: max |diff| %g at %d (got %v, want %v), tolerance %g", what, worst, at, got[at], want[at], tol)
	}
}

// TestPipelineReference checks the whole colour path against values computed by hand: a
// 12x8 BGR image, box crop 8x8 at (3, 0), INTER_AREA resize to 4x4 (a factor of 2, so each
// output pixel is the mean of a 2x2 block; the blocks are built so the means are integers),
// BGR -> RGB, CHW, /255, mean/std.
func TestPipelineReference(t *testing.T) {
	const cropX = 3
	// block value of output pixel (bx, by), input channel c (B, G, R)
	block := func(bx, by, c int) int { return 20 + 10*bx + 50*by + 3*c }
	// offsets inside each 2x2 block sum to zero: the block mean is exactly block()
	offs := [2][2]int{{-4, 4}, {1, -1}} // [dy][dx]
	fr := colorFrame(12, 8, perception.BGR8, func(x, y, c int) uint8 {
		if x < cropX || x >= cropX+8 {
			return 255 // outside the crop: must not leak into the output
		}
		cx := x - cropX
		return uint8(block(cx/2, y/2, c) + offs[y%2][cx%2])
	})
	mean := []float64{0.5, 0.4, 0.3}
	std := []float64{0.25, 0.2, 0.1}
	cfg := perception.PipelineConfig{
		Crop:   &perception.CropConfig{Mode: perception.CropBox, X: cropX, Y: 0, Width: 8, Height: 8},
		Resize: &perception.ResizeConfig{Width: 4, Height: 4},
		Mean:   mean, Std: std,
	}
	p := newPipeline(t, cfg, 12, 8, perception.BGR8, nil)
	if c, h, w := p.Shape(); c != 3 || h != 4 || w != 4 {
		t.Fatalf("shape %dx%dx%d", c, h, w)
	}
	want := make([]float32, 3*4*4)
	for oc := 0; oc < 3; oc++ { // output channel: R, G, B
		ic := 2 - oc // input channel in BGR
		for by := 0; by < 4; by++ {
			for bx := 0; bx < 4; bx++ {
				v := float64(block(bx, by, ic)) / 255
				want[oc*16+by*4+bx] = float32((v - mean[oc]) / std[oc])
			}
		}
	}
	compareTensor(t, "bgr8 crop+area+rgb+mean/std", runPipeline(t, p, fr), want, 1e-5)

	// The same image delivered as RGB8 with rgb: false must give the same planes reversed.
	rgbFrame := colorFrame(12, 8, perception.RGB8, func(x, y, c int) uint8 { return fr.Data[(y*12+x)*3+2-c] })
	cfg.RGB = new(bool)
	cfg.Mean, cfg.Std = nil, nil
	p2 := newPipeline(t, cfg, 12, 8, perception.RGB8, nil)
	got := runPipeline(t, p2, rgbFrame)
	for oc := 0; oc < 3; oc++ { // output B, G, R = input channel oc of the BGR image
		for i := 0; i < 16; i++ {
			w := float32(float64(block(i%4, i/4, oc)) / 255)
			if math.Abs(float64(got[oc*16+i]-w)) > 1e-6 {
				t.Fatalf("rgb8 -> bgr order: channel %d pixel %d: %v, want %v", oc, i, got[oc*16+i], w)
			}
		}
	}
}

// TestPipelineCropLayout checks crop offsets and the CHW layout without resampling: every
// output value must be the exact input byte / 255 from the expected position and channel.
func TestPipelineCropLayout(t *testing.T) {
	pix := func(x, y, c int) uint8 { return uint8((x*7 + y*31 + c*85) % 256) }
	const w, h = 13, 9
	for _, tc := range []struct {
		name   string
		f      perception.Format
		crop   *perception.CropConfig
		rgb    bool
		x0, y0 int
		cw, ch int
	}{
		{"center bgr->rgb", perception.BGR8, &perception.CropConfig{Width: 6, Height: 4}, true, 4, 2, 6, 4}, // (7/2, 5/2) -> (4, 2)
		{"box keep bgr", perception.BGR8, &perception.CropConfig{Mode: perception.CropBox, X: 1, Y: 3, Width: 5, Height: 6}, false, 1, 3, 5, 6},
		{"whole rgb8", perception.RGB8, nil, true, 0, 0, w, h},
		{"mono center", perception.Mono8, &perception.CropConfig{Width: 3, Height: 3}, true, 5, 3, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := colorFrame(w, h, tc.f, pix)
			rgb := tc.rgb
			p := newPipeline(t, perception.PipelineConfig{Crop: tc.crop, RGB: &rgb}, w, h, tc.f, nil)
			n := tc.f.Channels()
			want := make([]float32, 0, n*tc.cw*tc.ch)
			for oc := 0; oc < n; oc++ {
				ic := oc
				if n == 3 && (tc.f == perception.BGR8) == tc.rgb {
					ic = 2 - oc
				}
				for y := 0; y < tc.ch; y++ {
					for x := 0; x < tc.cw; x++ {
						want = append(want, float32(pix(tc.x0+x, tc.y0+y, ic))/255)
					}
				}
			}
			compareTensor(t, tc.name, runPipeline(t, p, fr), want, 1e-7)
		})
	}
}

// TestPipelineMatchesOpenCVSteps checks the benchmark's operation (crop, non-integer area
// resize, BGR -> RGB, /255, mean/std) against the same steps done one by one with gocv
// calls. cv::resize rounds the area mean to 8 bits, the pipeline does not: they agree to
// half a grey level (plus the pipeline's 0.03), scaled by 1/std.
func TestPipelineMatchesOpenCVSteps(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fr := colorFrame(640, 480, perception.BGR8, func(x, y, c int) uint8 { return uint8(rng.IntN(256)) })
	mean := []float64{0.485, 0.456, 0.406}
	std := []float64{0.229, 0.224, 0.225}
	for _, size := range []int{96, 224} {
		cfg := perception.PipelineConfig{
			Crop:   &perception.CropConfig{Width: 480, Height: 480},
			Resize: &perception.ResizeConfig{Width: size, Height: size},
			Mean:   mean, Std: std,
		}
		p := newPipeline(t, cfg, 640, 480, perception.BGR8, nil)
		got := runPipeline(t, p, fr)

		src, err := gocv.NewMatFromBytes(480, 640, gocv.MatTypeCV8UC3, fr.Data)
		if err != nil {
			t.Fatal(err)
		}
		roi := src.Region(rect(80, 0, 480, 480))
		small := gocv.NewMat()
		gocv.Resize(roi, &small, pt(size, size), 0, 0, gocv.InterpolationArea)
		rgb := gocv.NewMat()
		gocv.CvtColor(small, &rgb, gocv.ColorBGRToRGB)
		b, _ := rgb.DataPtrUint8()
		want := make([]float32, 3*size*size)
		for i := 0; i < size*size; i++ {
			for c := 0; c < 3; c++ {
				want[c*size*size+i] = (float32(b[i*3+c])/255 - float32(mean[c])) / float32(std[c])
			}
		}
		for _, m := range []*gocv.Mat{&src, &roi, &small, &rgb} {
			m.Close()
		}
		compareTensor(t, "640x480 -> crop 480 -> area "+itoa(size), got, want, 0.53/255/0.224+1e-6)
	}
}

// areaReference is the area resize by its definition, in float64: output pixel (x, y) is
// the mean of the source over the square [x*sx, (x+1)*sx) x [y*sy, (y+1)*sy), each source
// pixel weighted by the part of it inside.
func areaReference(src func(x, y int) float64, n, m int) func(x, y int) float64 {
	s := float64(n) / float64(m)
	weight := func(i, j int) float64 { // overlap of pixel i with footprint j, / s
		lo, hi := max(float64(i), float64(j)*s), min(float64(i+1), float64(j+1)*s)
		return max(hi-lo, 0) / s
	}
	return func(x, y int) float64 {
		sum := 0.0
		for sy := 0; sy < n; sy++ {
			wy := weight(sy, y)
			if wy == 0 {
				continue
			}
			for sx := 0; sx < n; sx++ {
				if wx := weight(sx, x); wx != 0 {
					sum += wx * wy * src(sx, sy)
				}
			}
		}
		return sum
	}
}

// TestPipelineAreaExact checks the fused area path against the definition for factors
// that are not integers, output widths that are not multiples of 4 (the SIMD blocks' tails),
// both channel orders and one-channel input.
func TestPipelineAreaExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const n = 37 // a 37x37 center crop of a 41x39 frame
	for _, tc := range []struct {
		f   perception.Format
		rgb bool
		m   int
	}{
		{perception.BGR8, true, 7}, {perception.BGR8, false, 15}, {perception.RGB8, true, 36},
		{perception.Mono8, true, 5}, {perception.BGR8, true, 37}, {perception.BGR8, true, 1},
	} {
		fr := colorFrame(41, 39, tc.f, func(x, y, c int) uint8 { return uint8(rng.IntN(256)) })
		rgb := tc.rgb
		cfg := perception.PipelineConfig{Crop: &perception.CropConfig{Width: n, Height: n},
			Resize: &perception.ResizeConfig{Width: tc.m, Height: tc.m, Interpolation: perception.InterpArea}, RGB: &rgb}
		p := newPipeline(t, cfg, 41, 39, tc.f, nil)
		got := runPipeline(t, p, fr)
		x0, y0, _, _ := cfg.CropRect(41, 39)
		cn := tc.f.Channels()
		want := make([]float32, cn*tc.m*tc.m)
		for oc := 0; oc < cn; oc++ {
			ic := oc
			if cn == 3 && (tc.f == perception.BGR8) == tc.rgb {
				ic = 2 - oc
			}
			ref := areaReference(func(x, y int) float64 { return float64(fr.Data[((y0+y)*41+x0+x)*cn+ic]) }, n, tc.m)
			for y := 0; y < tc.m; y++ {
				for x := 0; x < tc.m; x++ {
					want[(oc*tc.m+y)*tc.m+x] = float32(ref(x, y) / 255)
				}
			}
		}
		compareTensor(t, fmt.Sprintf("%s rgb=%v 37->%d", tc.f, tc.rgb, tc.m), got, want, 0.03/255)
	}
}

func TestAreaTaps(t *testing.T) {
	for _, tc := range []struct{ n, m int }{{480, 96}, {480, 224}, {37, 7}, {10, 10}, {5, 1}, {7, 3}} {
		k, first, cover := areaTaps(tc.n, tc.m)
		if len(first) != tc.m || len(cover) != tc.m*k {
			t.Fatalf("%v: sizes", tc)
		}
		for j := 0; j < tc.m; j++ {
			sum := 0
			for _, c := range cover[j*k : (j+1)*k] {
				sum += c
			}
			if sum != tc.n {
				t.Errorf("%v: output %d: coverage sums to %d/%d", tc, j, sum, tc.n)
			}
			q := fixedWeights(cover[j*k:(j+1)*k], tc.n, areaFracBits)
			qs := 0
			for i, w := range q {
				qs += int(w)
				if exact := float64(cover[j*k+i]) / float64(tc.n) * (1 << areaFracBits); math.Abs(float64(w)-exact) > 1 {
					t.Errorf("%v: output %d tap %d: %d, exact %g", tc, j, i, w, exact)
				}
			}
			if qs != 1<<areaFracBits {
				t.Errorf("%v: output %d: fixed-point weights sum to %d", tc, j, qs)
			}
		}
		if tc.n%tc.m == 0 && k != tc.n/tc.m {
			t.Errorf("%v: integer factor with %d taps", tc, k)
		}
	}
}

// TestPipelineOpenCVResize checks the steps that go through cv::resize (enlarging,
// explicit linear, cubic, nearest) against gocv calls doing the same.
func TestPipelineOpenCVResize(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	fr := colorFrame(64, 48, perception.BGR8, func(x, y, c int) uint8 { return uint8(rng.IntN(256)) })
	for _, tc := range []struct {
		mode   string
		w, h   int
		interp gocv.InterpolationFlags
	}{
		{perception.InterpAuto, 100, 60, gocv.InterpolationLinear}, // enlarging: auto is linear
		{perception.InterpLinear, 30, 20, gocv.InterpolationLinear},
		{perception.InterpCubic, 50, 70, gocv.InterpolationCubic},
		{perception.InterpNearest, 21, 13, interNearestExact},
	} {
		cfg := perception.PipelineConfig{Crop: &perception.CropConfig{Mode: perception.CropBox, X: 5, Y: 6, Width: 40, Height: 30},
			Resize: &perception.ResizeConfig{Width: tc.w, Height: tc.h, Interpolation: tc.mode}}
		p := newPipeline(t, cfg, 64, 48, perception.BGR8, nil)
		got := runPipeline(t, p, fr)

		src, _ := gocv.NewMatFromBytes(48, 64, gocv.MatTypeCV8UC3, fr.Data)
		roi := src.Region(rect(5, 6, 40, 30))
		rs := gocv.NewMat()
		gocv.Resize(roi, &rs, pt(tc.w, tc.h), 0, 0, tc.interp)
		b, _ := rs.DataPtrUint8()
		want := make([]float32, 3*tc.w*tc.h)
		for i := 0; i < tc.w*tc.h; i++ {
			for c := 0; c < 3; c++ {
				want[c*tc.w*tc.h+i] = float32(b[i*3+2-c]) / 255
			}
		}
		for _, m := range []*gocv.Mat{&src, &roi, &rs} {
			m.Close()
		}
		compareTensor(t, tc.mode, got, want, 1e-7)
	}
}

// distortedIntrinsics is a 160x120 camera with strong barrel distortion.
func distortedIntrinsics() *perception.Intrinsics {
	return &perception.Intrinsics{Width: 160, Height: 120,
		K: [9]float64{110, 0, 78.5, 0, 105, 61.25, 0, 0, 1},
		D: []float64{-0.3, 0.08, 0.002, -0.001, 0.01}, DistortionModel: "plumb_bob"}
}

// TestPipelineUndistort compares the undistort step (maps computed once, cut to the crop)
// with gocv.Undistort on the whole image followed by the same crop.
func TestPipelineUndistort(t *testing.T) {
	in := distortedIntrinsics()
	fr := colorFrame(160, 120, perception.BGR8, func(x, y, c int) uint8 {
		// a smooth pattern plus a grid, different per channel
		v := 128 + 60*math.Sin(float64(x)/9+float64(c)) + 40*math.Cos(float64(y)/7)
		if x%16 == 0 || y%16 == 0 {
			v = 255 - v
		}
		return uint8(v)
	})
	src, err := gocv.NewMatFromBytes(120, 160, gocv.MatTypeCV8UC3, fr.Data)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	k := gocv.NewMatWithSize(3, 3, gocv.MatTypeCV64F)
	defer k.Close()
	for i, v := range in.K {
		k.SetDoubleAt(i/3, i%3, v)
	}
	d := gocv.NewMatWithSize(1, len(in.D), gocv.MatTypeCV64F)
	defer d.Close()
	for i, v := range in.D {
		d.SetDoubleAt(0, i, v)
	}
	ref := gocv.NewMat()
	defer ref.Close()
	gocv.Undistort(src, &ref, k, d, k)
	refBytes, _ := ref.DataPtrUint8()

	// the undistortion must actually move pixels, or the comparison proves nothing
	moved := 0
	for i := range fr.Data {
		if fr.Data[i] != refBytes[i] {
			moved++
		}
	}
	if moved < len(fr.Data)/2 {
		t.Fatalf("only %d of %d bytes changed by undistortion", moved, len(fr.Data))
	}

	keep := false
	for _, crop := range []*perception.CropConfig{nil, {Mode: perception.CropBox, X: 30, Y: 10, Width: 90, Height: 70}} {
		cfg := perception.PipelineConfig{Undistort: true, Crop: crop, RGB: &keep}
		p := newPipeline(t, cfg, 160, 120, perception.BGR8, in)
		got := runPipeline(t, p, fr)
		x0, y0, cw, ch := cfg.CropRect(160, 120)
		want := make([]float32, 3*cw*ch)
		for c := 0; c < 3; c++ {
			for y := 0; y < ch; y++ {
				for x := 0; x < cw; x++ {
					want[c*cw*ch+y*cw+x] = float32(refBytes[((y0+y)*160+x0+x)*3+c]) / 255
				}
			}
		}
		// Same maps, same bilinear fixed-point remap: identical up to the last bit is
		// expected; allow one grey level.
		compareTensor(t, "undistort", got, want, 1.0/255+1e-7)
	}
}

func depthFrame(w, h int, f perception.Format, metres func(x, y int) float64) *perception.Frame {
	fr := &perception.Frame{Camera: "depth", Seq: 1, Format: f, Width: w, Height: h}
	fr.Data = make([]byte, w*h*f.BytesPerPixel())
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			m := metres(x, y)
			if f == perception.Depth16 {
				mm := uint16(0)
				if !math.IsNaN(m) {
					mm = uint16(math.Round(m * 1000))
				}
				binary.LittleEndian.PutUint16(fr.Data[2*i:], mm)
			} else {
				binary.LittleEndian.PutUint32(fr.Data[4*i:], math.Float32bits(float32(m)))
			}
		}
	}
	return fr
}

// TestPipelineDepth checks that depth goes through crop and a nearest resize unblended, in
// metres: a 12x8 image, center crop 9x6 at (2, 1), a third of it (3x2), so output (x, y) is
// input (2 + 3x + 1, 1 + 3y + 1), the pixel under the output pixel's centre (INTER_NEAREST
// would take the block's first pixel, 2 + 3x).
func TestPipelineDepth(t *testing.T) {
	metres := func(x, y int) float64 {
		if x == 3 && y == 2 {
			return math.NaN() // no reading, sampled by output (0, 0)
		}
		return 0.5 + 0.1*float64(x) + 0.01*float64(y)
	}
	cfg := perception.PipelineConfig{
		Crop:   &perception.CropConfig{Width: 9, Height: 6},
		Resize: &perception.ResizeConfig{Width: 3, Height: 2},
	}
	for _, f := range []perception.Format{perception.Depth16, perception.Depth32F} {
		t.Run(string(f), func(t *testing.T) {
			p := newPipeline(t, cfg, 12, 8, f, nil)
			if c, h, w := p.Shape(); c != 1 || h != 2 || w != 3 {
				t.Fatalf("shape %dx%dx%d", c, h, w)
			}
			got := runPipeline(t, p, depthFrame(12, 8, f, metres))
			want := make([]float32, 6)
			for y := 0; y < 2; y++ {
				for x := 0; x < 3; x++ {
					m := metres(2+3*x+1, 1+3*y+1)
					if math.IsNaN(m) {
						m = 0 // no reading comes out as 0 in both formats
					}
					want[y*3+x] = float32(m)
				}
			}
			compareTensor(t, string(f), got, want, 1e-6)
		})
	}

	// mean/std apply to metres; a no-reading pixel is 0 m before normalization
	cfg.Mean, cfg.Std = []float64{1}, []float64{0.5}
	p := newPipeline(t, cfg, 12, 8, perception.Depth32F, nil)
	got := runPipeline(t, p, depthFrame(12, 8, perception.Depth32F, metres))
	if want := float32((0 - 1) / 0.5); got[0] != want {
		t.Errorf("depth no reading with mean/std: %v, want %v", got[0], want)
	}
	if want := float32((metres(6, 2) - 1) / 0.5); math.Abs(float64(got[1]-want)) > 1e-6 {
		t.Errorf("depth mean/std: %v, want %v", got[1], want)
	}
}

// TestPipelineDepthUndistort checks that depth is undistorted without blending: every
// output value is one of the input values (or 0 outside the image).
func TestPipelineDepthUndistort(t *testing.T) {
	in := distortedIntrinsics()
	rng := rand.New(rand.NewPCG(3, 4))
	values := map[int]bool{0: true} // millimetres
	fr := depthFrame(160, 120, perception.Depth16, func(x, y int) float64 {
		mm := 500 + rng.IntN(3000)
		values[mm] = true
		return float64(mm) / 1000
	})
	p := newPipeline(t, perception.PipelineConfig{Undistort: true,
		Resize: &perception.ResizeConfig{Width: 80, Height: 60}}, 160, 120, perception.Depth16, in)
	for i, v := range runPipeline(t, p, fr) {
		mm := math.Round(float64(v) * 1000)
		if !values[int(mm)] || math.Abs(float64(v)*1000-mm) > 1e-3 {
			t.Fatalf("value %d = %v is not an input depth: blended", i, v)
		}
	}
}

func TestPipelineErrors(t *testing.T) {
	cfg := perception.PipelineConfig{Crop: &perception.CropConfig{Width: 8, Height: 8}}
	p := newPipeline(t, cfg, 16, 12, perception.BGR8, nil)
	good := colorFrame(16, 12, perception.BGR8, func(x, y, c int) uint8 { return 1 })
	out := make([]float32, p.Len())
	for _, tc := range []struct {
		name     string
		frame    *perception.Frame
		dst      []float32
		want     string
		mismatch bool
	}{
		{"size", colorFrame(8, 12, perception.BGR8, func(x, y, c int) uint8 { return 0 }), out, "8x12 bgr8, want 16x12 bgr8", true},
		{"format", colorFrame(16, 12, perception.Mono8, func(x, y, c int) uint8 { return 0 }), out, "16x12 mono8, want 16x12 bgr8", true},
		{"data length", &perception.Frame{Camera: "test", Seq: 7, Format: perception.BGR8, Width: 16, Height: 12, Data: good.Data[:100]}, out, "frame 7: 100 bytes", true},
		{"output length", good, out[:10], "output has 10 values, want 192", false},
	} {
		err := p.Run(tc.frame, tc.dst)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		} else if errors.Is(err, perception.ErrFrameMismatch) != tc.mismatch {
			t.Errorf("%s: errors.Is(ErrFrameMismatch) = %v", tc.name, !tc.mismatch)
		}
	}
	if err := p.Run(good, out); err != nil {
		t.Fatalf("a good frame after bad ones: %v", err)
	}

	in := distortedIntrinsics()
	for _, tc := range []struct {
		name string
		cfg  perception.PipelineConfig
		in   *perception.Intrinsics
		want string
	}{
		{"invalid config", perception.PipelineConfig{Crop: &perception.CropConfig{Width: 200, Height: 10}}, nil, "crop.width"},
		{"no intrinsics", perception.PipelineConfig{Undistort: true}, nil, "no intrinsics"},
		{"intrinsics size", perception.PipelineConfig{Undistort: true}, &perception.Intrinsics{Width: 320, Height: 240, K: in.K, D: in.D}, "intrinsics are for 320x240 images, frames are 160x120"},
		{"intrinsics invalid", perception.PipelineConfig{Undistort: true}, &perception.Intrinsics{Width: 160, Height: 120, K: in.K, D: in.D[:2]}, "plumb_bob takes 4 or 5"},
	} {
		p, err := NewPipeline(tc.cfg, 160, 120, perception.BGR8, tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
		if p != nil {
			t.Errorf("%s: pipeline returned with an error", tc.name)
		}
	}

	p.Close()
	p.Close()
	if err := p.Run(good, out); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("run after close: %v", err)
	}
}

func TestPipelineRunAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	color := colorFrame(640, 480, perception.BGR8, func(x, y, c int) uint8 { return uint8(rng.IntN(256)) })
	depth := depthFrame(640, 480, perception.Depth32F, func(x, y int) float64 { return rng.Float64() })
	in := &perception.Intrinsics{Width: 640, Height: 480, K: [9]float64{500, 0, 320, 0, 500, 240, 0, 0, 1},
		D: []float64{-0.2, 0.05, 0, 0, 0}}
	for _, tc := range []struct {
		name  string
		cfg   perception.PipelineConfig
		frame *perception.Frame
	}{
		{"bgr crop resize mean/std", perception.PipelineConfig{Crop: &perception.CropConfig{Width: 480, Height: 480},
			Resize: &perception.ResizeConfig{Width: 96, Height: 96}, Mean: []float64{0.5, 0.5, 0.5}, Std: []float64{0.2, 0.2, 0.2}}, color},
		{"bgr undistort crop resize", perception.PipelineConfig{Undistort: true, Crop: &perception.CropConfig{Width: 480, Height: 480},
			Resize: &perception.ResizeConfig{Width: 224, Height: 224}}, color},
		{"depth undistort resize", perception.PipelineConfig{Undistort: true, Resize: &perception.ResizeConfig{Width: 160, Height: 120}}, depth},
	} {
		p := newPipeline(t, tc.cfg, 640, 480, tc.frame.Format, in)
		out := make([]float32, p.Len())
		allocs := testing.AllocsPerRun(50, func() {
			if err := p.Run(tc.frame, out); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Run, want 0", tc.name, allocs)
		}
	}
}

// BenchmarkPipeline is the preprocessing benchmark of BENCHMARKS.md: a 640x480 BGR frame to
// a normalized 3x96x96 and 3x224x224 float CHW tensor. tools/bench/preprocess_cv2.py does
// the same with Python OpenCV + numpy on the same pixels.
func BenchmarkPipeline(b *testing.B) {
	fr := colorFrame(640, 480, perception.BGR8, func(x, y, c int) uint8 { return uint8((7*x + 13*y + 51*c) % 256) })
	for _, size := range []int{96, 224} {
		b.Run(itoa(size), func(b *testing.B) {
			p := newPipeline(b, benchConfig(size), 640, 480, perception.BGR8, nil)
			out := make([]float32, p.Len())
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Run(fr, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchConfig is the benchmark's operation, the same as tools/bench/preprocess_cv2.py.
func benchConfig(size int) perception.PipelineConfig {
	return perception.PipelineConfig{
		Crop:   &perception.CropConfig{Mode: perception.CropCenter, Width: 480, Height: 480},
		Resize: &perception.ResizeConfig{Width: size, Height: size, Interpolation: perception.InterpArea},
		Mean:   []float64{0.485, 0.456, 0.406},
		Std:    []float64{0.229, 0.224, 0.225},
	}
}
