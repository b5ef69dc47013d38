//go:build !cgo

package ros

import "github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"

// decodeCompressed decodes a CompressedImage's payload with Go's image/jpeg and image/png
// (decodeGo) in a build without cgo, which has no OpenCV: slower (a 640x480 JPEG: 7.8 ms to
// decode alone, against 2.4 ms for OpenCV's whole Read; BenchmarkCameraRead) and, for JPEG, a few levels off libjpeg-turbo's
// pixels (TestDecodeGoMatchesOpenCV: up to 5, mean 1.2 on a smooth colour image).
func decodeCompressed(m *sensor_msgs.CompressedImage, buf []byte) decoded { return decodeGo(m, buf) }
