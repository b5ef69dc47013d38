package perception

import (
	"bytes"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestPipelineConfigYAML(t *testing.T) {
	src := `
undistort: true
crop: {mode: box, x: 80, y: 0, width: 480, height: 480}
resize: {width: 96, height: 96, interpolation: area}
rgb: false
mean: [0.485, 0.456, 0.406]
std: [0.229, 0.224, 0.225]
`
	var c PipelineConfig
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if !c.Undistort || c.Crop.Mode != CropBox || c.Crop.X != 80 || c.Crop.Width != 480 ||
		c.Resize.Width != 96 || c.Resize.Interpolation != InterpArea || c.RGBOrder() || len(c.Std) != 3 {
		t.Fatalf("decoded %+v", c)
	}
	if err := c.Validate(640, 480, BGR8); err != nil {
		t.Fatal(err)
	}

	dec = yaml.NewDecoder(bytes.NewReader([]byte("crop: {mode: center, widht: 10}\n")))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err == nil || !strings.Contains(err.Error(), "widht") {
		t.Fatalf("unknown key: got %v", err)
	}

	var def PipelineConfig
	if !def.RGBOrder() {
		t.Fatal("rgb must default to true")
	}
}

func TestCropRect(t *testing.T) {
	for _, tc := range []struct {
		crop       *CropConfig
		inW, inH   int
		x, y, w, h int
	}{
		{nil, 640, 480, 0, 0, 640, 480},
		{&CropConfig{Width: 480, Height: 480}, 640, 480, 80, 0, 480, 480},
		{&CropConfig{Mode: CropCenter, Width: 4, Height: 2}, 9, 9, 2, 4, 4, 2}, // (5/2, 7/2) = (2.5, 3.5) -> (2, 4): half to even
		{&CropConfig{Mode: CropCenter, Width: 2, Height: 2}, 9, 5, 4, 2, 2, 2}, // (3.5, 1.5) -> (4, 2)
		{&CropConfig{Mode: CropBox, X: 3, Y: 1, Width: 2, Height: 2}, 9, 5, 3, 1, 2, 2},
	} {
		c := PipelineConfig{Crop: tc.crop}
		x, y, w, h := c.CropRect(tc.inW, tc.inH)
		if x != tc.x || y != tc.y || w != tc.w || h != tc.h {
			t.Errorf("%+v in %dx%d: got (%d,%d) %dx%d, want (%d,%d) %dx%d", tc.crop, tc.inW, tc.inH, x, y, w, h, tc.x, tc.y, tc.w, tc.h)
		}
	}
}

func TestOutputShapeAndInterpolation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		c        PipelineConfig
		f        Format
		ch, h, w int
		interp   string
	}{
		{"whole", PipelineConfig{}, BGR8, 3, 480, 640, ""},
		{"crop", PipelineConfig{Crop: &CropConfig{Width: 480, Height: 480}}, BGR8, 3, 480, 480, ""},
		{"shrink", PipelineConfig{Crop: &CropConfig{Width: 480, Height: 480}, Resize: &ResizeConfig{Width: 96, Height: 96}}, BGR8, 3, 96, 96, InterpArea},
		{"enlarge", PipelineConfig{Crop: &CropConfig{Width: 48, Height: 48}, Resize: &ResizeConfig{Width: 96, Height: 96}}, RGB8, 3, 96, 96, InterpLinear},
		{"mixed", PipelineConfig{Resize: &ResizeConfig{Width: 320, Height: 960}}, BGR8, 3, 960, 320, InterpLinear},
		{"same size", PipelineConfig{Resize: &ResizeConfig{Width: 640, Height: 480}}, BGR8, 3, 480, 640, ""},
		{"explicit", PipelineConfig{Resize: &ResizeConfig{Width: 64, Height: 48, Interpolation: InterpCubic}}, Mono8, 1, 48, 64, InterpCubic},
		{"depth16", PipelineConfig{Resize: &ResizeConfig{Width: 64, Height: 48}}, Depth16, 1, 48, 64, InterpNearest},
		{"depth32f up", PipelineConfig{Resize: &ResizeConfig{Width: 1280, Height: 960}}, Depth32F, 1, 960, 1280, InterpNearest},
	} {
		ch, h, w := tc.c.OutputShape(640, 480, tc.f)
		if ch != tc.ch || h != tc.h || w != tc.w {
			t.Errorf("%s: shape %dx%dx%d, want %dx%dx%d", tc.name, ch, h, w, tc.ch, tc.h, tc.w)
		}
		if n := tc.c.OutputLen(640, 480, tc.f); n != tc.ch*tc.h*tc.w {
			t.Errorf("%s: len %d", tc.name, n)
		}
		if got := tc.c.ResizeInterpolation(640, 480, tc.f); got != tc.interp {
			t.Errorf("%s: interpolation %q, want %q", tc.name, got, tc.interp)
		}
	}
}

func TestChannelAffine(t *testing.T) {
	c := PipelineConfig{Mean: []float64{0.5, 0.25, 0}, Std: []float64{0.5, 0.25, 2}}
	for _, tc := range []struct {
		f         Format
		ch        int
		raw, want float64
	}{
		{BGR8, 0, 255, 1},   // (1 - 0.5) / 0.5
		{BGR8, 1, 0, -1},    // (0 - 0.25) / 0.25
		{BGR8, 2, 255, 0.5}, // (1 - 0) / 2
	} {
		s, o := c.ChannelAffine(tc.f, tc.ch)
		if got := tc.raw*s + o; got < tc.want-1e-12 || got > tc.want+1e-12 {
			t.Errorf("%s ch %d: %v -> %v, want %v", tc.f, tc.ch, tc.raw, got, tc.want)
		}
	}
	var plain PipelineConfig
	if s, o := plain.ChannelAffine(Depth16, 0); s != 0.001 || o != 0 {
		t.Errorf("depth16: %v %v", s, o)
	}
	if s, o := plain.ChannelAffine(Depth32F, 0); s != 1 || o != 0 {
		t.Errorf("depth32f: %v %v", s, o)
	}
}

func TestPipelineConfigValidate(t *testing.T) {
	f := func(v float64) []float64 { return []float64{v, v, v} }
	for _, tc := range []struct {
		name string
		c    PipelineConfig
		f    Format
		want string // substring of the error, "" = valid
	}{
		{"empty", PipelineConfig{}, BGR8, ""},
		{"full", PipelineConfig{Undistort: true, Crop: &CropConfig{Width: 480, Height: 480},
			Resize: &ResizeConfig{Width: 224, Height: 224}, Mean: f(0.5), Std: f(0.2)}, BGR8, ""},
		{"unknown format", PipelineConfig{}, Format("yuyv"), "format"},
		{"crop mode", PipelineConfig{Crop: &CropConfig{Mode: "middle", Width: 4, Height: 4}}, BGR8, "crop.mode"},
		{"crop zero", PipelineConfig{Crop: &CropConfig{Width: 0, Height: 4}}, BGR8, "crop.width"},
		{"crop too big", PipelineConfig{Crop: &CropConfig{Width: 641, Height: 4}}, BGR8, "larger than the 640x480"},
		{"box outside", PipelineConfig{Crop: &CropConfig{Mode: CropBox, X: 600, Y: 0, Width: 100, Height: 100}}, BGR8, "outside"},
		{"box negative", PipelineConfig{Crop: &CropConfig{Mode: CropBox, X: -1, Y: 0, Width: 100, Height: 100}}, BGR8, "outside"},
		{"center with x", PipelineConfig{Crop: &CropConfig{X: 5, Width: 100, Height: 100}}, BGR8, "crop.x"},
		{"resize zero", PipelineConfig{Resize: &ResizeConfig{Width: 96}}, BGR8, "resize.width"},
		{"resize interp", PipelineConfig{Resize: &ResizeConfig{Width: 96, Height: 96, Interpolation: "lanczos"}}, BGR8, "resize.interpolation"},
		{"depth area", PipelineConfig{Resize: &ResizeConfig{Width: 96, Height: 96, Interpolation: InterpArea}}, Depth16, "resize.interpolation"},
		{"depth nearest", PipelineConfig{Resize: &ResizeConfig{Width: 96, Height: 96, Interpolation: InterpNearest}}, Depth32F, ""},
		{"mean only", PipelineConfig{Mean: f(0.5)}, BGR8, "set both"},
		{"mean length", PipelineConfig{Mean: []float64{0.5}, Std: f(1)}, BGR8, "mean: 1 values for 3"},
		{"std length", PipelineConfig{Mean: f(0.5), Std: []float64{1, 1}}, BGR8, "std: 2 values for 3"},
		{"std zero", PipelineConfig{Mean: f(0.5), Std: []float64{1, 0, 1}}, BGR8, "std[1]"},
		{"std negative", PipelineConfig{Mean: f(0.5), Std: []float64{1, 1, -1}}, BGR8, "std[2]"},
		{"depth mean", PipelineConfig{Mean: []float64{1}, Std: []float64{0.5}}, Depth16, ""},
		{"depth mean 3", PipelineConfig{Mean: f(1), Std: f(1)}, Depth16, "mean: 3 values for 1"},
	} {
		err := tc.c.Validate(640, 480, tc.f)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if err := (&PipelineConfig{}).Validate(0, 480, BGR8); err == nil {
		t.Error("zero input size accepted")
	}
}

func TestIntrinsicsValidate(t *testing.T) {
	good := Intrinsics{Width: 640, Height: 480, K: [9]float64{500, 0, 320, 0, 500, 240, 0, 0, 1},
		D: []float64{0.1, -0.2, 0.001, 0.002, 0.05}, DistortionModel: "plumb_bob"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Intrinsics)
		want string
	}{
		{"size", func(in *Intrinsics) { in.Width = 0 }, "image size"},
		{"fx", func(in *Intrinsics) { in.K[0] = 0 }, "fx"},
		{"last row", func(in *Intrinsics) { in.K[8] = 2 }, "want rows"},
		{"lower triangle", func(in *Intrinsics) { in.K[3] = 0.1 }, "want rows"},
		{"plumb_bob count", func(in *Intrinsics) { in.D = in.D[:3] }, "plumb_bob takes 4 or 5"},
		{"rational count", func(in *Intrinsics) { in.DistortionModel = "rational_polynomial" }, "rational_polynomial takes"},
		{"fisheye", func(in *Intrinsics) { in.DistortionModel = "equidistant"; in.D = in.D[:4] }, "not supported"},
		{"unknown", func(in *Intrinsics) { in.DistortionModel = "brown" }, "unknown"},
	} {
		in := good
		in.D = append([]float64(nil), good.D...)
		tc.edit(&in)
		if err := in.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}
