package ros

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"

	"github.com/robotd/robotd/perception"
)

// ImageDecoder decodes the payload of a sensor_msgs/CompressedImage (the bytes of a JPEG
// or PNG file) into dst, as OpenCV's imdecode with IMREAD_ANYCOLOR|IMREAD_ANYDEPTH does
// (what a ROS peer's cv_bridge gives): colour to BGR8, grey to Mono8, 16-bit grey to
// Depth16. It sets dst's Format, Width, Height and Data, writing the pixels into dst.Data's
// memory when its capacity suffices (so that a Camera's Read allocates nothing once warm,
// when the decoder itself allocates nothing), and leaves dst's other fields alone.
//
// An error that wraps errors.ErrUnsupported means the payload decodes, but to pixels no
// perception.Format holds (16-bit colour, say): the Camera counts the message as
// ImageBadEncoding. Any other error means the payload does not decode: ImageUndecodable.
// A Camera calls its decoder from Read only, and counts a frame whose size does not match
// its format as ImageUndecodable too.
//
// DecodeImage, Go's decoders, is the default. perception/cv.DecodeImage is OpenCV's
// (libjpeg-turbo, libpng): pixel for pixel what cv_bridge gives, allocation-free, and about
// 4 times faster (BenchmarkCameraRead, a 640x480 JPEG's whole Read: 1.9 ms against 8 to 11
// ms with Go's); robotd's system package passes it. The ROS client does not import OpenCV itself, so that the driver of a real arm builds
// without cgo (issue 17).
type ImageDecoder func(dst *perception.Frame, data []byte) error

// DecodeImage is the default ImageDecoder: Go's image/jpeg and image/png, with OpenCV's
// conversions (colour to BGR8 with alpha dropped and a palette expanded, grey to Mono8,
// 16-bit grey to Depth16; 16-bit colour is refused with errors.ErrUnsupported). It needs
// no cgo, but it allocates Go's decoded image on every call, and a JPEG's pixels are a few
// levels off libjpeg-turbo's (TestDecodeGoMatchesOpenCV: up to 5, mean 1.2 on a smooth
// colour image), as the two round their inverse DCT and upsample the chroma differently.
func DecodeImage(dst *perception.Frame, data []byte) error {
	var img image.Image
	var err error
	switch {
	case isJPEG(data):
		img, err = jpeg.Decode(bytes.NewReader(data))
	case isPNG(data):
		img, err = png.Decode(bytes.NewReader(data))
	default:
		err = errors.New("neither a JPEG nor a PNG")
	}
	if err != nil {
		return fmt.Errorf("cannot decode them: %w", err)
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch im := img.(type) {
	case *image.Gray:
		data := grow(dst.Data, w*h)
		for y := range h {
			copy(data[y*w:(y+1)*w], im.Pix[y*im.Stride:])
		}
		dst.Format, dst.Width, dst.Height, dst.Data = perception.Mono8, w, h, data
		return nil
	case *image.Gray16:
		data := grow(dst.Data, 2*w*h)
		for y := range h {
			row := im.Pix[y*im.Stride:]
			for x := range w {
				binary.LittleEndian.PutUint16(data[2*(y*w+x):], binary.BigEndian.Uint16(row[2*x:]))
			}
		}
		dst.Format, dst.Width, dst.Height, dst.Data = perception.Depth16, w, h, data
		return nil
	case *image.RGBA64, *image.NRGBA64:
		return fmt.Errorf("decodes to 16-bit colour (want 8-bit grey or colour, or 16-bit grey): %w", errors.ErrUnsupported)
	}
	px := grow(dst.Data, 3*w*h)
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl := bgrAt(img, x, y)
			px[i], px[i+1], px[i+2] = bl, g, r
			i += 3
		}
	}
	dst.Format, dst.Width, dst.Height, dst.Data = perception.BGR8, w, h, px
	return nil
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

// decode decodes m's payload with the camera's decoder into dst, leaving dst as it was
// when the message is rejected (the kind and detail returned, detail non-empty).
func (c *Camera) decode(dst *perception.Frame, format string, data []byte) (ImageReject, string) {
	saved := *dst
	err := c.cfg.Decode(dst, data)
	if err == nil {
		bpp := dst.Format.BytesPerPixel()
		if bpp > 0 && dst.Width > 0 && dst.Height > 0 && len(dst.Data) == dst.Width*dst.Height*bpp {
			return 0, ""
		}
		err = fmt.Errorf("the decoder returned a %dx%d %q frame of %d bytes", dst.Width, dst.Height, dst.Format, len(dst.Data))
	}
	*dst = saved
	kind := ImageUndecodable
	if errors.Is(err, errors.ErrUnsupported) {
		kind = ImageBadEncoding
	}
	return kind, fmt.Sprintf("format %q, %d bytes: %v", format, len(data), err)
}
