//go:build cgo

package ros

import (
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"gocv.io/x/gocv"

	"github.com/robotd/robotd/perception"
)

// decodeCompressed decodes a CompressedImage's payload with OpenCV (libjpeg-turbo,
// libpng): a 640x480 JPEG's whole Read takes 2.4 ms, Go's decoder alone 7.8
// ms (BenchmarkCameraRead), and what a ROS peer's cv_bridge produces, pixel for pixel.
func decodeCompressed(m *sensor_msgs.CompressedImage, buf []byte) decoded {
	mat, err := gocv.IMDecode(m.Data, gocv.IMReadAnyColor|gocv.IMReadAnyDepth)
	defer mat.Close()
	if err != nil || mat.Empty() {
		return rejected(ImageUndecodable, "format %q, %d bytes: OpenCV cannot decode them", m.Format, len(m.Data))
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
		return rejected(ImageBadEncoding, "format %q decodes to OpenCV type %v (want 8-bit grey or colour, or 16-bit grey)", m.Format, mat.Type())
	}
	px, err := mat.DataPtrUint8()
	w, h := mat.Cols(), mat.Rows()
	if err != nil || len(px) != w*h*f.BytesPerPixel() {
		return rejected(ImageUndecodable, "format %q: decoded image is not one contiguous %dx%d %s buffer", m.Format, w, h, f)
	}
	data := grow(buf, len(px))
	copy(data, px)
	return decoded{format: f, w: w, h: h, data: data}
}
