package ros_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"testing"

	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/perception/cv"
)

// TestDecodeGoMatchesOpenCV: the default decoder (ros.DecodeImage: Go's image/jpeg and
// image/png) gives OpenCV's frames (cv.DecodeImage, which robotd wires): the same format
// and size, the same pixels for PNG (lossless) and close for JPEG, whose decoders round
// their inverse DCT and upsample the chroma differently (measured on this smooth image:
// colour up to 5 levels off, mean 1.2; grey up to 1; the bounds are camera_test's for Go's
// encoder against OpenCV's decoder); both refuse what the other refuses, as the same kind
// of ImageReject (errors.ErrUnsupported: ImageBadEncoding).
func TestDecodeGoMatchesOpenCV(t *testing.T) {
	const w, h = 64, 48
	rng := rand.New(rand.NewPCG(3, 4))
	rgba, nrgba := image.NewRGBA(image.Rect(0, 0, w, h)), image.NewNRGBA(image.Rect(0, 0, w, h))
	gray, gray16 := image.NewGray(image.Rect(0, 0, w, h)), image.NewGray16(image.Rect(0, 0, w, h))
	rgb16 := image.NewRGBA64(image.Rect(0, 0, w, h))
	pal := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.RGBA{200, 10, 30, 255}, color.RGBA{5, 120, 250, 255}, color.RGBA{90, 90, 0, 255}})
	for y := range h {
		for x := range w {
			n := uint8(rng.IntN(16))
			c := color.RGBA{uint8(3*x) + n, uint8(4*y) + n, uint8(128+x-y) + n, 255}
			rgba.SetRGBA(x, y, c)
			nrgba.SetNRGBA(x, y, color.NRGBA{c.R, c.G, c.B, uint8(rng.IntN(256))})
			gray.SetGray(x, y, color.Gray{c.G})
			gray16.SetGray16(x, y, color.Gray16{uint16(rng.IntN(65536))})
			rgb16.SetRGBA64(x, y, color.RGBA64{uint16(x) << 8, uint16(y) << 8, 1000, 0xffff})
			pal.SetColorIndex(x, y, uint8((x+y)%3))
		}
	}
	encPNG := func(img image.Image) []byte {
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	encJPEG := func(img image.Image) []byte {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for _, tc := range []struct {
		name   string
		data   []byte
		format perception.Format
		worst  int // largest difference from OpenCV's pixels
	}{
		{"png colour", encPNG(rgba), perception.BGR8, 0},
		{"png colour with alpha", encPNG(nrgba), perception.BGR8, 0},
		{"png palette", encPNG(pal), perception.BGR8, 0},
		{"png grey", encPNG(gray), perception.Mono8, 0},
		{"png 16-bit grey", encPNG(gray16), perception.Depth16, 0},
		{"jpeg colour", encJPEG(rgba), perception.BGR8, 8},
		{"jpeg grey", encJPEG(gray), perception.Mono8, 2},
		{"png 16-bit colour", encPNG(rgb16), "", 0},
		{"truncated png", encPNG(rgba)[:100], "", 0},
		{"not an image", []byte("\x89PNG\r\n\x1a\n and nothing else"), "", 0},
	} {
		var ocv, g perception.Frame
		cvErr, gErr := cv.DecodeImage(&ocv, tc.data), ros.DecodeImage(&g, tc.data)
		if tc.format == "" {
			if cvErr == nil || gErr == nil || errors.Is(cvErr, errors.ErrUnsupported) != errors.Is(gErr, errors.ErrUnsupported) {
				t.Errorf("%s: OpenCV %v, Go %v: want both refused alike", tc.name, cvErr, gErr)
			}
			if want := tc.name == "png 16-bit colour"; errors.Is(gErr, errors.ErrUnsupported) != want {
				t.Errorf("%s: Go %v: wraps errors.ErrUnsupported (a Camera's ImageBadEncoding): %v, want %v", tc.name, gErr, !want, want)
			}
			if ocv.Data != nil || g.Data != nil {
				t.Errorf("%s: refused, yet OpenCV wrote a %s frame, Go a %s one", tc.name, ocv.Format, g.Format)
			}
			continue
		}
		if cvErr != nil || gErr != nil {
			t.Fatalf("%s: OpenCV %v, Go %v", tc.name, cvErr, gErr)
		}
		if ocv.Format != tc.format || g.Format != tc.format || g.Width != w || g.Height != h || ocv.Width != w || ocv.Height != h || len(g.Data) != len(ocv.Data) {
			t.Fatalf("%s: OpenCV %dx%d %s (%d bytes), Go %dx%d %s (%d bytes); want %dx%d %s",
				tc.name, ocv.Width, ocv.Height, ocv.Format, len(ocv.Data), g.Width, g.Height, g.Format, len(g.Data), w, h, tc.format)
		}
		worst, sum := 0, 0
		for i := range g.Data {
			d := int(g.Data[i]) - int(ocv.Data[i])
			worst, sum = max(worst, d, -d), sum+max(d, -d)
		}
		if mean := float64(sum) / float64(len(g.Data)); worst > tc.worst || mean > 1.5 {
			t.Errorf("%s: Go's pixels differ from OpenCV's by up to %d (mean %.3f); want <= %d (mean <= 1.5)", tc.name, worst, mean, tc.worst)
		}
	}
}
