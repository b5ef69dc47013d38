package ros

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"

	"github.com/robotd/robotd/perception"
)

// A CompressedImage's payload is decoded by Read, off the subscriber's goroutine, by
// decodeCompressed: OpenCV's decoder where the build has cgo (decode_cgo.go), Go's
// image/jpeg and image/png otherwise (decode_nocgo.go), so that the ROS client builds
// with CGO_ENABLED=0 for a machine without OpenCV.

// decoded is a CompressedImage's payload decoded into a frame's pixels, or why not (why
// non-empty, reject its kind).
type decoded struct {
	format perception.Format
	w, h   int
	data   []byte
	reject ImageReject
	why    string
}

// rejected is a decoded that says why not.
func rejected(r ImageReject, format string, args ...any) decoded {
	return decoded{reject: r, why: fmt.Sprintf(format, args...)}
}

// decodeGo decodes a JPEG or PNG payload with Go's decoders into buf (grown as needed),
// as OpenCV's IMREAD_ANYCOLOR|IMREAD_ANYDEPTH does: colour to BGR8 (alpha dropped, a
// palette expanded), grey to Mono8, 16-bit grey to Depth16; 16-bit colour is refused.
func decodeGo(m *sensor_msgs.CompressedImage, buf []byte) decoded {
	var img image.Image
	var err error
	switch {
	case isJPEG(m.Data):
		img, err = jpeg.Decode(bytes.NewReader(m.Data))
	case isPNG(m.Data):
		img, err = png.Decode(bytes.NewReader(m.Data))
	default:
		err = fmt.Errorf("neither a JPEG nor a PNG")
	}
	if err != nil {
		return rejected(ImageUndecodable, "format %q, %d bytes: cannot decode them: %v", m.Format, len(m.Data), err)
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch im := img.(type) {
	case *image.Gray:
		data := grow(buf, w*h)
		for y := range h {
			copy(data[y*w:(y+1)*w], im.Pix[y*im.Stride:])
		}
		return decoded{format: perception.Mono8, w: w, h: h, data: data}
	case *image.Gray16:
		data := grow(buf, 2*w*h)
		for y := range h {
			row := im.Pix[y*im.Stride:]
			for x := range w {
				binary.LittleEndian.PutUint16(data[2*(y*w+x):], binary.BigEndian.Uint16(row[2*x:]))
			}
		}
		return decoded{format: perception.Depth16, w: w, h: h, data: data}
	case *image.RGBA64, *image.NRGBA64:
		return rejected(ImageBadEncoding, "format %q decodes to 16-bit colour (want 8-bit grey or colour, or 16-bit grey)", m.Format)
	}
	data := grow(buf, 3*w*h)
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl := bgrAt(img, x, y)
			data[i], data[i+1], data[i+2] = bl, g, r
			i += 3
		}
	}
	return decoded{format: perception.BGR8, w: w, h: h, data: data}
}

// bgrAt is the colour of img at (x, y) without its alpha, 8 bits per channel.
func bgrAt(img image.Image, x, y int) (r, g, b uint8) {
	switch im := img.(type) {
	case *image.YCbCr:
		c := im.YCbCrAt(x, y)
		return color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
	case *image.NRGBA:
		c := im.NRGBAAt(x, y)
		return c.R, c.G, c.B
	case *image.RGBA:
		if c := im.RGBAAt(x, y); c.A == 0xff {
			return c.R, c.G, c.B
		}
	}
	c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
	return c.R, c.G, c.B
}
