package perception

import (
	"errors"
	"fmt"
	"math"
)

// PipelineConfig describes how one camera's frames become a policy input tensor. It is
// written in a policy bundle or a launch file (YAML or JSON, snake_case keys); perception/cv
// builds the executable pipeline from it. The steps run in this order:
//
//  1. undistort: remap with the camera's intrinsics (given separately, see Intrinsics),
//     keeping the camera matrix K as the output camera matrix (what cv::undistort does);
//  2. crop: a center crop or a box, in pixels of the (undistorted) input;
//  3. resize to resize.width x resize.height;
//  4. channel order: RGB (the default, what PyTorch-trained policies expect) or BGR;
//  5. uint8 -> float32 CHW scaled to [0, 1];
//  6. optionally (x - mean[c]) / std[c] per channel.
//
// Depth frames (Depth16 in millimetres, Depth32F in metres) go through the same undistort,
// crop and resize with nearest-neighbour sampling and come out as one float32 plane in
// metres (no [0, 1] scaling; 0 = no reading, NaN readings become 0 too). Mono8 comes out
// as one plane in [0, 1].
//
// Leave mean/std unset when the policy bundle normalizes the image feature itself
// (normalization: mean_std with stats.json, docs/policy-bundle.md): setting both normalizes
// twice.
type PipelineConfig struct {
	// Undistort remaps the frame with the camera's intrinsics before cropping.
	Undistort bool `yaml:"undistort" json:"undistort"`
	// Crop selects the region of interest; nil keeps the whole image.
	Crop *CropConfig `yaml:"crop" json:"crop"`
	// Resize scales the cropped region; nil keeps its size.
	Resize *ResizeConfig `yaml:"resize" json:"resize"`
	// RGB puts the colour channels in R, G, B order (default true); false keeps B, G, R.
	// Ignored for one-channel formats.
	RGB *bool `yaml:"rgb" json:"rgb"`
	// Mean and Std normalize each output channel after scaling to [0, 1] (metres for
	// depth): both set or neither, one value per output channel, every std > 0.
	Mean []float64 `yaml:"mean" json:"mean"`
	Std  []float64 `yaml:"std" json:"std"`
}

// Crop modes.
const (
	CropCenter = "center" // Width x Height around the image centre (the default mode)
	CropBox    = "box"    // Width x Height at (X, Y), the top-left corner
)

// CropConfig is the crop: section.
type CropConfig struct {
	// Mode is center (default) or box.
	Mode string `yaml:"mode" json:"mode"`
	// X and Y are the top-left corner for mode box, in pixels; unused by mode center.
	X int `yaml:"x" json:"x"`
	Y int `yaml:"y" json:"y"`
	// Width and Height are the size of the region, in pixels, > 0.
	Width  int `yaml:"width" json:"width"`
	Height int `yaml:"height" json:"height"`
}

// Interpolation modes of the resize step.
const (
	// InterpAuto (the default, also spelled "") picks InterpArea when the output is no
	// larger than the crop in either direction (a true box filter: no aliasing on
	// downsampling), InterpLinear when it enlarges either direction, and InterpNearest
	// for depth.
	InterpAuto    = "auto"
	InterpArea    = "area"    // cv::INTER_AREA
	InterpLinear  = "linear"  // cv::INTER_LINEAR
	InterpCubic   = "cubic"   // cv::INTER_CUBIC
	InterpNearest = "nearest" // the source pixel under each output pixel's centre: cv::INTER_NEAREST_EXACT
)

// ResizeConfig is the resize: section.
type ResizeConfig struct {
	// Width and Height are the output size, in pixels, > 0.
	Width  int `yaml:"width" json:"width"`
	Height int `yaml:"height" json:"height"`
	// Interpolation is auto (default), area, linear, cubic or nearest. Depth frames only
	// take auto or nearest: any filter that averages neighbouring depths invents
	// surfaces that do not exist (a pixel halfway between a cup's rim and the table
	// behind it, "flying pixels") and mixes 0 = no reading into valid depths, pulling
	// them towards the camera.
	Interpolation string `yaml:"interpolation" json:"interpolation"`
}

// Intrinsics is a pinhole camera model with lens distortion, as ROS camera_calibration
// writes it (image_width, image_height, camera_matrix, distortion_model,
// distortion_coefficients). Reading and writing that YAML file is calib's job.
type Intrinsics struct {
	Width, Height int
	// K is the camera matrix, row-major: fx 0 cx; 0 fy cy; 0 0 1 (pixels).
	K [9]float64
	// D holds the distortion coefficients in OpenCV's order (k1 k2 p1 p2 [k3 [k4 k5 k6
	// [s1 s2 s3 s4 [tx ty]]]]).
	D []float64
	// DistortionModel is ROS's name: plumb_bob (4 or 5 coefficients) or
	// rational_polynomial (8, 12 or 14); "" means plumb_bob. equidistant (fisheye) is not
	// supported by the undistort step.
	DistortionModel string
}

// Validate checks the camera matrix and the distortion coefficients.
func (in *Intrinsics) Validate() error {
	if in.Width <= 0 || in.Height <= 0 {
		return fmt.Errorf("intrinsics: image size %dx%d: must be > 0", in.Width, in.Height)
	}
	for i, v := range in.K {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("intrinsics: camera_matrix[%d] = %v", i, v)
		}
	}
	if !(in.K[0] > 0) || !(in.K[4] > 0) {
		return fmt.Errorf("intrinsics: camera_matrix: fx = %v and fy = %v must be > 0", in.K[0], in.K[4])
	}
	if in.K[3] != 0 || in.K[6] != 0 || in.K[7] != 0 || in.K[8] != 1 {
		return fmt.Errorf("intrinsics: camera_matrix: want rows (fx s cx) (0 fy cy) (0 0 1), got %v", in.K)
	}
	for i, v := range in.D {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("intrinsics: distortion_coefficients[%d] = %v", i, v)
		}
	}
	n := len(in.D)
	switch in.DistortionModel {
	case "", "plumb_bob":
		if n != 4 && n != 5 {
			return fmt.Errorf("intrinsics: distortion_coefficients: plumb_bob takes 4 or 5, got %d", n)
		}
	case "rational_polynomial":
		if n != 8 && n != 12 && n != 14 {
			return fmt.Errorf("intrinsics: distortion_coefficients: rational_polynomial takes 8, 12 or 14, got %d", n)
		}
	case "equidistant":
		return errors.New("intrinsics: distortion_model equidistant (fisheye) is not supported by the undistort step")
	default:
		return fmt.Errorf("intrinsics: distortion_model: unknown %q (plumb_bob or rational_polynomial)", in.DistortionModel)
	}
	return nil
}

// ErrFrameMismatch marks a frame that does not match what its consumer was built for (size,
// format or data length). Callers count and drop such frames; errors.Is finds it.
var ErrFrameMismatch = errors.New("frame mismatch")

// IsDepth reports whether f is a depth format.
func (f Format) IsDepth() bool { return f == Depth16 || f == Depth32F }

// Channels returns the number of channels of f, 0 for an unknown format.
func (f Format) Channels() int {
	switch f {
	case BGR8, RGB8:
		return 3
	case Mono8, Depth16, Depth32F:
		return 1
	}
	return 0
}

// RGBOrder reports whether colour output is in R, G, B order (the default).
func (c *PipelineConfig) RGBOrder() bool { return c.RGB == nil || *c.RGB }

// CropRect returns the crop region in an inW x inH input: the whole image without crop.
// A center crop sits at round((inW - width) / 2), round((inH - height) / 2), rounding half
// to even, which is torchvision's CenterCrop (int(round(...)) in Python 3), so a policy
// trained with it sees the same pixels.
func (c *PipelineConfig) CropRect(inW, inH int) (x, y, w, h int) {
	if c.Crop == nil {
		return 0, 0, inW, inH
	}
	w, h = c.Crop.Width, c.Crop.Height
	if c.Crop.Mode == CropBox {
		return c.Crop.X, c.Crop.Y, w, h
	}
	return centerOffset(inW - w), centerOffset(inH - h), w, h
}

// centerOffset is int(round(d / 2.0)) with Python's round-half-to-even.
func centerOffset(d int) int {
	return int(math.RoundToEven(float64(d) / 2))
}

// OutputShape returns the tensor the pipeline writes for inW x inH frames of format f:
// channels x height x width float32 values, channel-major (CHW). Depth and Mono8 have one
// channel (an HW plane).
func (c *PipelineConfig) OutputShape(inW, inH int, f Format) (channels, height, width int) {
	_, _, width, height = c.CropRect(inW, inH)
	if c.Resize != nil {
		width, height = c.Resize.Width, c.Resize.Height
	}
	return f.Channels(), height, width
}

// OutputLen returns channels * height * width of OutputShape.
func (c *PipelineConfig) OutputLen(inW, inH int, f Format) int {
	ch, h, w := c.OutputShape(inW, inH, f)
	return ch * h * w
}

// ResizeInterpolation returns the interpolation the resize step uses for inW x inH frames
// of format f with auto resolved; "" when there is no resize step (or it keeps the size).
func (c *PipelineConfig) ResizeInterpolation(inW, inH int, f Format) string {
	if c.Resize == nil {
		return ""
	}
	_, _, cw, ch := c.CropRect(inW, inH)
	if c.Resize.Width == cw && c.Resize.Height == ch {
		return ""
	}
	mode := c.Resize.Interpolation
	if mode == "" || mode == InterpAuto {
		switch {
		case f.IsDepth():
			mode = InterpNearest
		case c.Resize.Width <= cw && c.Resize.Height <= ch:
			mode = InterpArea
		default:
			mode = InterpLinear
		}
	}
	return mode
}

// Validate checks the configuration against inW x inH frames of format f. Errors name the
// offending field and say what was expected. Intrinsics are checked where they are
// supplied (perception/cv's NewPipeline).
func (c *PipelineConfig) Validate(inW, inH int, f Format) error {
	if f.BytesPerPixel() == 0 {
		return fmt.Errorf("pipeline: format: unknown %q (bgr8, rgb8, mono8, depth16 or depth32f)", f)
	}
	if inW <= 0 || inH <= 0 {
		return fmt.Errorf("pipeline: input size %dx%d: must be > 0", inW, inH)
	}
	if cr := c.Crop; cr != nil {
		switch cr.Mode {
		case "", CropCenter:
			if cr.X != 0 || cr.Y != 0 {
				return fmt.Errorf("pipeline: crop.x, crop.y: only used with mode box (mode is center)")
			}
		case CropBox:
		default:
			return fmt.Errorf("pipeline: crop.mode: unknown %q (center or box)", cr.Mode)
		}
		if cr.Width <= 0 || cr.Height <= 0 {
			return fmt.Errorf("pipeline: crop.width, crop.height: must be > 0, got %dx%d", cr.Width, cr.Height)
		}
		if cr.Width > inW || cr.Height > inH {
			return fmt.Errorf("pipeline: crop.width, crop.height: %dx%d is larger than the %dx%d input",
				cr.Width, cr.Height, inW, inH)
		}
		if cr.Mode == CropBox {
			if cr.X < 0 || cr.Y < 0 || cr.X+cr.Width > inW || cr.Y+cr.Height > inH {
				return fmt.Errorf("pipeline: crop: box %dx%d at (%d, %d) reaches outside the %dx%d input",
					cr.Width, cr.Height, cr.X, cr.Y, inW, inH)
			}
		}
	}
	if r := c.Resize; r != nil {
		if r.Width <= 0 || r.Height <= 0 {
			return fmt.Errorf("pipeline: resize.width, resize.height: must be > 0, got %dx%d", r.Width, r.Height)
		}
		switch r.Interpolation {
		case "", InterpAuto, InterpNearest:
		case InterpArea, InterpLinear, InterpCubic:
			if f.IsDepth() {
				return fmt.Errorf("pipeline: resize.interpolation: %s frames take auto or nearest, got %q "+
					"(averaging depths invents surfaces at edges and mixes in no-reading zeros)", f, r.Interpolation)
			}
		default:
			return fmt.Errorf("pipeline: resize.interpolation: unknown %q (auto, area, linear, cubic or nearest)", r.Interpolation)
		}
	}
	if (c.Mean == nil) != (c.Std == nil) {
		return errors.New("pipeline: mean, std: set both or neither")
	}
	if c.Mean != nil {
		n := f.Channels()
		if len(c.Mean) != n {
			return fmt.Errorf("pipeline: mean: %d values for %d output channel(s) of %s", len(c.Mean), n, f)
		}
		if len(c.Std) != n {
			return fmt.Errorf("pipeline: std: %d values for %d output channel(s) of %s", len(c.Std), n, f)
		}
		for i, m := range c.Mean {
			if math.IsNaN(m) || math.IsInf(m, 0) {
				return fmt.Errorf("pipeline: mean[%d]: must be finite, got %v", i, m)
			}
		}
		for i, s := range c.Std {
			if !(s > 0) || math.IsInf(s, 0) {
				return fmt.Errorf("pipeline: std[%d]: must be > 0 and finite, got %v", i, s)
			}
		}
	}
	return nil
}

// ChannelAffine returns the scale and offset that take a raw sample of format f to output
// channel ch of the tensor: out = raw*scale + offset. The raw unit is 1/255 for 8-bit
// formats ([0, 1] after scaling), millimetres for Depth16 and metres for Depth32F; mean/std,
// when set, fold in as scale/std and -mean/std.
func (c *PipelineConfig) ChannelAffine(f Format, ch int) (scale, offset float64) {
	switch f {
	case Depth16:
		scale = 0.001
	case Depth32F:
		scale = 1
	default:
		scale = 1.0 / 255
	}
	if c.Mean != nil {
		return scale / c.Std[ch], -c.Mean[ch] / c.Std[ch]
	}
	return scale, 0
}
