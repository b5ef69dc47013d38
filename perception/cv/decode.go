package cv

import (
	"errors"
	"fmt"

	"gocv.io/x/gocv"

	"github.com/robotd/robotd/perception"
)

// errUndecodable is DecodeImage's error for bytes OpenCV cannot decode (a value, so that
// returning it allocates nothing).
var errUndecodable = errors.New("OpenCV cannot decode them")

// DecodeImage decodes the bytes of a JPEG or PNG file with OpenCV's imdecode
// (IMREAD_ANYCOLOR|IMREAD_ANYDEPTH; libjpeg-turbo, libpng) into dst: colour to BGR8 (alpha
// dropped, a palette expanded), grey to Mono8, 16-bit grey to Depth16, pixel for pixel
// what a ROS peer's cv_bridge gives. It sets dst's Format, Width, Height and Data, copying
// the pixels into dst.Data's memory (reallocated only when too small, so a stream of
// same-sized frames allocates nothing in Go) and leaves dst's other fields alone; dst is
// untouched on an error. An image of another pixel type (16-bit colour, say) is refused
// with an error that wraps errors.ErrUnsupported.
//
// It is a drivers/ros.ImageDecoder, the one robotd's system package gives its ROS cameras
// (CameraConfig.Decode), so that the ROS client itself needs no OpenCV. A 640x480 JPEG's
// whole Camera.Read takes about 1.9 ms with it, 8 to 11 ms with drivers/ros.DecodeImage
// (Go's image/jpeg alone: 5 to 8 ms; drivers/ros's BenchmarkCameraRead).
func DecodeImage(dst *perception.Frame, data []byte) error {
	mat, err := gocv.IMDecode(data, gocv.IMReadAnyColor|gocv.IMReadAnyDepth)
	defer mat.Close()
	if err != nil || mat.Empty() {
		return errUndecodable
	}
	var f perception.Format
	switch mat.Type() {
	case gocv.MatTypeCV8UC3:
		f = perception.BGR8
	case gocv.MatTypeCV8UC1:
		f = perception.Mono8
	case gocv.MatTypeCV16UC1:
		f = perception.Depth16
	default:
		return fmt.Errorf("decodes to OpenCV type %v (want 8-bit grey or colour, or 16-bit grey): %w", mat.Type(), errors.ErrUnsupported)
	}
	px, err := mat.DataPtrUint8()
	w, h := mat.Cols(), mat.Rows()
	if err != nil || len(px) != w*h*f.BytesPerPixel() {
		return fmt.Errorf("the decoded image is not one contiguous %dx%d %s buffer", w, h, f)
	}
	buf := dst.Data
	if cap(buf) < len(px) {
		buf = make([]byte, len(px))
	}
	buf = buf[:len(px)]
	copy(buf, px)
	dst.Format, dst.Width, dst.Height, dst.Data = f, w, h, buf
	return nil
}
