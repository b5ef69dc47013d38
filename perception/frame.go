// Package perception owns camera frames, the Camera port, staleness detection (a camera
// that stops delivering or repeats the identical frame), multi-camera observation assembly,
// and the description of the preprocessing that turns a frame into a policy input tensor.
// Sources and transforms that need OpenCV live in perception/cv; the simulated cameras in
// sim/mujoco.
package perception

import (
	"context"
	"fmt"
	"time"
)

// Format is a frame's pixel layout. Pixels are row-major with interleaved channels and
// no padding between rows.
type Format string

// The formats.
const (
	BGR8     Format = "bgr8"     // 3 x uint8, OpenCV's order
	RGB8     Format = "rgb8"     // 3 x uint8
	Mono8    Format = "mono8"    // 1 x uint8
	Depth16  Format = "depth16"  // 1 x uint16 little-endian, millimetres (0 = no reading)
	Depth32F Format = "depth32f" // 1 x float32 little-endian, metres (0 or NaN = no reading)
)

// DefaultWidth and DefaultHeight are the frame size of a camera whose size nobody gave
// (a launch file's cameras, the simulated cameras robotd sim serves): VGA, what ROS
// camera drivers and the reference scene's cameras deliver.
const (
	DefaultWidth  = 640
	DefaultHeight = 480
)

// BytesPerPixel returns the size of one pixel, 0 for an unknown format.
func (f Format) BytesPerPixel() int {
	switch f {
	case BGR8, RGB8:
		return 3
	case Mono8:
		return 1
	case Depth16:
		return 2
	case Depth32F:
		return 4
	}
	return 0
}

// Frame is one image from one camera.
type Frame struct {
	Camera        string
	Seq           uint64        // per camera, from 1; a gap means dropped frames
	Time          time.Duration // capture time on the session's monotonic clock
	Wall          time.Time     // capture wall-clock time (for logs and recordings)
	Format        Format
	Width, Height int
	Data          []byte // Width*Height*Format.BytesPerPixel() bytes
}

// Check reports a frame whose size does not match its format and dimensions.
func (f *Frame) Check() error {
	bpp := f.Format.BytesPerPixel()
	if bpp == 0 {
		return fmt.Errorf("camera %s: frame %d: unknown format %q", f.Camera, f.Seq, f.Format)
	}
	if f.Width <= 0 || f.Height <= 0 || len(f.Data) != f.Width*f.Height*bpp {
		return fmt.Errorf("camera %s: frame %d: %dx%d %s needs %d bytes, has %d",
			f.Camera, f.Seq, f.Width, f.Height, f.Format, max(f.Width*f.Height*bpp, 0), len(f.Data))
	}
	return nil
}

// CopyTo copies f into dst, reusing dst.Data's storage when it is large enough.
func (f *Frame) CopyTo(dst *Frame) {
	data := dst.Data
	if cap(data) < len(f.Data) {
		data = make([]byte, len(f.Data))
	}
	*dst = *f
	dst.Data = data[:len(f.Data)]
	copy(dst.Data, f.Data)
}

// Camera is a frame source: a V4L2 device, a video file, a simulated camera, a ROS image
// topic. Read blocks until the next frame and writes it into dst, reusing dst.Data; it
// returns ctx.Err() when ctx ends and io.EOF at the end of a finite source. A Camera is
// read by one goroutine (see Latest for sharing its frames).
type Camera interface {
	Name() string
	Read(ctx context.Context, dst *Frame) error
	Close() error
}
