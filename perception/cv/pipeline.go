package cv

/*
#cgo pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11 -O3
#include "preprocess.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"unsafe"

	"gocv.io/x/gocv"

	"github.com/robotd/robotd/perception"
)

// Pipeline runs one camera's preprocessing (perception.PipelineConfig) on frames of one
// size and format, writing float32 CHW tensors into caller-owned slices. It is built once:
// Run allocates no Go memory and no Mats, and runs in the calling thread except for the
// steps that go through cv::remap and cv::resize (undistort, resizes other than area
// downsampling), which may use OpenCV's worker threads. A Pipeline is used by one
// goroutine at a time.
type Pipeline struct {
	format perception.Format
	inW    int
	inH    int
	ch     int
	outH   int
	outW   int
	n      int // ch*outH*outW

	mats   []*gocv.Mat // every Mat owned, closed by Close
	closed bool
	c      C.rd_pipe   // holds C pointers only (the Mats), so it may be passed to C
	err    [512]C.char // message of a failed C call
}

// NewPipeline validates cfg for inW x inH frames of format f and allocates every buffer the
// pipeline needs. in gives the camera's intrinsics when cfg.Undistort is set (ignored
// otherwise); they must be for the same image size as the frames.
func NewPipeline(cfg perception.PipelineConfig, inW, inH int, f perception.Format, in *perception.Intrinsics) (*Pipeline, error) {
	if err := cfg.Validate(inW, inH, f); err != nil {
		return nil, err
	}
	p := &Pipeline{format: f, inW: inW, inH: inH}
	p.ch, p.outH, p.outW = cfg.OutputShape(inW, inH, f)
	p.n = p.ch * p.outH * p.outW
	typ := matType(f)
	cx, cy, cw, chh := cfg.CropRect(inW, inH)
	p.c = C.rd_pipe{
		in_w: C.int(inW), in_h: C.int(inH), in_type: C.int(typ),
		crop_x: C.int(cx), crop_y: C.int(cy), crop_w: C.int(cw), crop_h: C.int(chh),
		out_w: C.int(p.outW), out_h: C.int(p.outH),
		channels: C.int(p.ch),
	}
	if cfg.Undistort {
		if err := p.initUndistort(in, cx, cy, cw, chh, typ); err != nil {
			p.Close()
			return nil, err
		}
	}
	// Output channel c reads input channel src[c]: swap the outer channels when the frame's
	// order differs from the requested one.
	swap := p.ch == 3 && (f == perception.BGR8) == cfg.RGBOrder()
	for c := 0; c < p.ch; c++ {
		src := c
		if swap {
			src = 2 - c
		}
		p.c.src_channel[c] = C.int(src)
		s, o := cfg.ChannelAffine(f, c)
		p.c.scale[c], p.c.offset[c] = C.double(s), C.double(o)
	}
	if f == perception.Depth32F {
		p.c.patch_nan = 1
	}
	mode := cfg.ResizeInterpolation(inW, inH, f)
	switch {
	case mode == perception.InterpArea && !f.IsDepth() && p.outW <= cw && p.outH <= chh:
		p.initArea(cw, chh)
	case mode != "":
		p.c.resized = p.newMat(p.outH, p.outW, typ)
		p.c.resize_interp = C.int(interpolation(mode))
	}
	if p.ch == 3 && p.c.area_xw == nil {
		p.c.planes = p.newMat(3*p.outH, p.outW, gocv.MatTypeCV8UC1)
	}
	return p, nil
}

// initUndistort computes the undistortion maps once (K is kept as the output camera matrix,
// as cv::undistort does) and cuts them to the crop, so that Run remaps only the pixels the
// crop keeps. Colour uses OpenCV's fixed-point maps and bilinear sampling (cv::undistort's
// choice); depth uses float maps and nearest sampling, which rounds to the nearest source
// pixel instead of truncating and never blends depths.
func (p *Pipeline) initUndistort(in *perception.Intrinsics, cx, cy, cw, ch int, typ gocv.MatType) error {
	if in == nil {
		return errors.New("pipeline: undistort: no intrinsics given for this camera")
	}
	if err := in.Validate(); err != nil {
		return fmt.Errorf("pipeline: undistort: %w", err)
	}
	if in.Width != p.inW || in.Height != p.inH {
		return fmt.Errorf("pipeline: undistort: intrinsics are for %dx%d images, frames are %dx%d (calibrate at the streaming resolution)",
			in.Width, in.Height, p.inW, p.inH)
	}
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
	r := gocv.NewMat() // empty: no rectification
	defer r.Close()

	m1type, interp := gocv.MatTypeCV16SC2, gocv.InterpolationLinear
	if p.format.IsDepth() {
		m1type, interp = gocv.MatTypeCV32FC1, gocv.InterpolationNearestNeighbor
	}
	map1, map2 := gocv.NewMat(), gocv.NewMat()
	defer map1.Close()
	defer map2.Close()
	gocv.InitUndistortRectifyMap(k, d, r, k, image.Pt(p.inW, p.inH), int(m1type), map1, map2)
	if map1.Rows() != p.inH || map1.Cols() != p.inW {
		return fmt.Errorf("pipeline: undistort: OpenCV returned %dx%d maps for %dx%d frames", map1.Cols(), map1.Rows(), p.inW, p.inH)
	}
	rect := image.Rect(cx, cy, cx+cw, cy+ch)
	// Region shares the maps' memory; the parents can be closed (OpenCV reference-counts it).
	p.c.map1 = p.keep(map1.Region(rect))
	p.c.map2 = p.keep(map2.Region(rect))
	p.c.remap_interp = C.int(interp)
	p.c.undistorted = p.newMat(ch, cw, typ)
	return nil
}

// initArea sets up the fused area downsampling of 8-bit frames (preprocess.cpp's area_run).
// cv::resize's INTER_AREA takes 2.1 ms for 480x480 -> 224x224 here (its non-integer-factor
// path is scalar and table-driven) and 0.4 ms for -> 96x96, against a 0.3 ms budget for the
// whole step; the same box filter written separably, with the channel order, the affine and
// the CHW write folded into its last pass, takes a fraction of that (BENCHMARKS.md).
//
// Precision: the vertical pass weighs rows with 14-bit fixed-point weights that sum to
// exactly 1 (a flat image stays exact), the horizontal pass is float; the result is within
// 0.03 grey levels of the exact area mean. cv::resize rounds the mean to 8 bits, so outputs
// differ from OpenCV's by at most half a grey level (before mean/std).
func (p *Pipeline) initArea(cw, ch int) {
	kx, x0, xcover := areaTaps(cw, p.outW)
	ky, y0, ycover := areaTaps(ch, p.outH)
	xw := make([]float32, len(xcover))
	for i, c := range xcover {
		xw[i] = float32(float64(c) / float64(cw))
	}
	kyp := (ky + 1) / 2
	yn := make([]int32, p.outH)
	yq := make([]int32, p.outH*kyp)
	for j := range p.outH {
		q := fixedWeights(ycover[j*ky:(j+1)*ky], ch, areaFracBits)
		taps := len(q)
		for taps > 1 && q[taps-1] == 0 {
			taps--
		}
		yn[j] = int32((taps + 1) / 2)
		for i := 0; i < taps; i += 2 {
			pair := uint32(uint16(q[i]))
			if i+1 < taps {
				pair |= uint32(uint16(q[i+1])) << 16
			}
			yq[j*kyp+i/2] = int32(pair)
		}
	}
	p.c.area_kx, p.c.area_kyp = C.int(kx), C.int(kyp)
	p.c.area_x0 = p.intMat(x0)
	p.c.area_xw = p.floatMat(xw)
	if p.ch == 3 {
		xw4 := make([]float32, 4*len(xw))
		for i, w := range xw {
			xw4[4*i], xw4[4*i+1], xw4[4*i+2], xw4[4*i+3] = w, w, w, w
		}
		p.c.area_xw4 = p.floatMat(xw4)
	}
	p.c.area_y0 = p.intMat(y0)
	p.c.area_yn = p.intMat(yn)
	p.c.area_yq = p.intMat(yq)
	// one vertically resampled row, zero-padded for the horizontal taps that read past its
	// end with weight 0 (k pixels, plus one float for the 4-wide load of a 3-channel pixel)
	p.c.area_row = p.keep(gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 0, 0, 0), 1, (cw+kx)*p.ch+1, gocv.MatTypeCV32F))
	// the row holds sums in units of 2^-14 grey levels: fold that into the affine
	for c := 0; c < p.ch; c++ {
		p.c.scale[c] /= 1 << areaFracBits
	}
}

// areaFracBits is the precision of the vertical area weights. 14 bits keep a weight of 1.0
// inside an int16 (pmaddwd multiplies int16 pairs).
const areaFracBits = 14

// areaTaps describes area resampling of n source pixels to m <= n output pixels: output
// pixel j is the mean over its footprint [j*n/m, (j+1)*n/m), each source pixel weighted by
// the part of it the footprint covers. It returns the number of taps k (the widest
// footprint), and for each output pixel the first source pixel it touches and k coverages
// in units of 1/m source pixel, zero-padded at the end (a tap with coverage 0 may lie past
// the image: readers pad their buffers or skip it). The weights are cover/n; integers keep
// them exact, so integer factors give exact block means.
func areaTaps(n, m int) (k int, first []int32, cover []int) {
	for j := 0; j < m; j++ {
		lo, hi := j*n/m, ((j+1)*n+m-1)/m // source pixels touched: [lo, hi)
		k = max(k, hi-lo)
	}
	first = make([]int32, m)
	cover = make([]int, m*k)
	for j := 0; j < m; j++ {
		lo := j * n / m
		first[j] = int32(lo)
		a, b := j*n, (j+1)*n // footprint in units of 1/m
		for i := lo; i*m < b; i++ {
			cover[j*k+i-lo] = min(b, (i+1)*m) - max(a, i*m)
		}
	}
	return k, first, cover
}

// fixedWeights returns cover/n as fixed-point numbers with bits fractional bits, rounded so
// that they sum to exactly 1<<bits (largest remainders round up).
func fixedWeights(cover []int, n, bits int) []int16 {
	one := 1 << bits
	q := make([]int16, len(cover))
	rem := make([]int, len(cover))
	sum := 0
	for i, c := range cover {
		q[i] = int16(c * one / n)
		rem[i] = c * one % n
		sum += int(q[i])
	}
	for ; sum < one; sum++ {
		best := 0
		for i := range rem {
			if rem[i] > rem[best] {
				best = i
			}
		}
		q[best]++
		rem[best] = -1
	}
	return q
}

func (p *Pipeline) intMat(v []int32) unsafe.Pointer {
	m := gocv.NewMatWithSize(1, len(v), gocv.MatTypeCV32S)
	for i, x := range v {
		m.SetIntAt(0, i, x)
	}
	return p.keep(m)
}

func (p *Pipeline) floatMat(v []float32) unsafe.Pointer {
	m := gocv.NewMatWithSize(1, len(v), gocv.MatTypeCV32F)
	for i, x := range v {
		m.SetFloatAt(0, i, x)
	}
	return p.keep(m)
}

func (p *Pipeline) keep(m gocv.Mat) unsafe.Pointer {
	p.mats = append(p.mats, &m)
	return unsafe.Pointer(m.Ptr())
}

func (p *Pipeline) newMat(rows, cols int, t gocv.MatType) unsafe.Pointer {
	return p.keep(gocv.NewMatWithSize(rows, cols, t))
}

// Shape returns the tensor Run writes: channels x height x width float32 values, CHW.
func (p *Pipeline) Shape() (channels, height, width int) { return p.ch, p.outH, p.outW }

// Len returns the number of float32 values Run writes (the length dst must have).
func (p *Pipeline) Len() int { return p.n }

// Run preprocesses f into dst, which must have Len() values. A frame of another size or
// format than the pipeline was built for is refused with an error wrapping
// perception.ErrFrameMismatch (the caller counts and drops it); dst is then untouched.
func (p *Pipeline) Run(f *perception.Frame, dst []float32) error {
	if p.closed {
		return errors.New("pipeline: closed")
	}
	if f.Format != p.format || f.Width != p.inW || f.Height != p.inH {
		return fmt.Errorf("pipeline: camera %s frame %d: %dx%d %s, want %dx%d %s: %w",
			f.Camera, f.Seq, f.Width, f.Height, f.Format, p.inW, p.inH, p.format, perception.ErrFrameMismatch)
	}
	if len(f.Data) != p.inW*p.inH*p.format.BytesPerPixel() {
		return fmt.Errorf("pipeline: camera %s frame %d: %d bytes for %dx%d %s, want %d: %w",
			f.Camera, f.Seq, len(f.Data), f.Width, f.Height, f.Format, p.inW*p.inH*p.format.BytesPerPixel(), perception.ErrFrameMismatch)
	}
	if len(dst) != p.n {
		return fmt.Errorf("pipeline: output has %d values, want %d (%dx%dx%d)", len(dst), p.n, p.ch, p.outH, p.outW)
	}
	if C.rd_pipe_run(&p.c, unsafe.Pointer(&f.Data[0]), (*C.float)(unsafe.Pointer(&dst[0])), &p.err[0], C.int(len(p.err))) != 0 {
		return fmt.Errorf("pipeline: camera %s frame %d: opencv: %s", f.Camera, f.Seq, C.GoString(&p.err[0]))
	}
	return nil
}

// Close frees the pipeline's Mats. It is safe to call more than once.
func (p *Pipeline) Close() error {
	for _, m := range p.mats {
		m.Close()
	}
	p.mats = nil
	p.c = C.rd_pipe{}
	p.closed = true
	return nil
}

// matType is the OpenCV type of a frame's pixels.
func matType(f perception.Format) gocv.MatType {
	switch f {
	case perception.BGR8, perception.RGB8:
		return gocv.MatTypeCV8UC3
	case perception.Depth16:
		return gocv.MatTypeCV16UC1
	case perception.Depth32F:
		return gocv.MatTypeCV32FC1
	}
	return gocv.MatTypeCV8UC1
}

// interNearestExact is cv::INTER_NEAREST_EXACT (OpenCV >= 4.5; gocv 0.31 has no name for
// it). Plain INTER_NEAREST takes source pixel floor(x*scale), half a source pixel off the
// output pixel's centre; the exact variant takes the pixel under the centre, floor((x +
// 0.5)*scale), like PIL and torch's nearest-exact, so a nearest-resized depth image stays
// aligned with the area-resized colour image of the same camera.
const interNearestExact gocv.InterpolationFlags = 6

func interpolation(mode string) gocv.InterpolationFlags {
	switch mode {
	case perception.InterpArea:
		return gocv.InterpolationArea
	case perception.InterpCubic:
		return gocv.InterpolationCubic
	case perception.InterpNearest:
		return interNearestExact
	}
	return gocv.InterpolationLinear
}
