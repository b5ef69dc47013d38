package ros_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/perception/cv"
)

// quietCamera is a Camera connected to a real master on a topic nobody publishes, with
// decoder dec (nil: the default): tests feed its subscriber callback directly (FeedImage,
// FeedCompressed), so that nothing else allocates or races (no master watch either).
func quietCamera(t testing.TB, m *rostest.Master, topic string, dec ros.ImageDecoder) *ros.Camera {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ros.DialCamera(ctx, ros.CameraConfig{MasterAddress: m.Addr, Topic: topic, MasterCheck: -1, Decode: dec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestCameraReadNoAllocs: once warmed up, taking a message (the callback's part) and
// converting it into the caller's frame allocates nothing, for a raw 640x480 rgb8 image
// with padded rows and for a JPEG decoded by OpenCV (cv.DecodeImage, as robotd wires it).
func TestCameraReadNoAllocs(t *testing.T) {
	m := rostest.Start(t)
	jpg, err := os.ReadFile("testdata/camera_peer.jpg")
	if err != nil {
		t.Fatal(err)
	}
	raw := quietCamera(t, m, "/quiet/image_raw", nil)
	comp := quietCamera(t, m, "/quiet/image_raw/compressed", cv.DecodeImage)
	hdr := std_msgs.Header{Stamp: time.Unix(100, 0)}
	img := &sensor_msgs.Image{Header: hdr, Width: 640, Height: 480, Encoding: "rgb8", Step: 640*3 + 64,
		Data: make([]byte, (640*3+64)*480)}
	cimg := &sensor_msgs.CompressedImage{Header: hdr, Format: "jpeg", Data: jpg}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cam  *ros.Camera
		feed func()
	}{
		{"rgb8", raw, func() { raw.FeedImage(img) }},
		{"jpeg", comp, func() { comp.FeedCompressed(cimg) }},
	} {
		var f perception.Frame
		allocs := testing.AllocsPerRun(100, func() {
			tc.feed()
			if err := tc.cam.Read(ctx, &f); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: callback + Read allocate %v times per frame", tc.name, allocs)
		}
		if st := tc.cam.Stats(); st.Delivered != 101 || st.Dropped != 0 || f.Seq != 101 {
			t.Errorf("%s: stats %+v, last seq %d; want 101 delivered", tc.name, st, f.Seq)
		}
	}
}

// TestCameraDecoderErrors: what an injected decoder reports decides the ImageReject kind
// (an error wrapping errors.ErrUnsupported: ImageBadEncoding; another error or a frame
// whose size does not match its format: ImageUndecodable), the frame a rejected payload
// was decoded into is left as it was, and the next good payload is delivered.
func TestCameraDecoderErrors(t *testing.T) {
	m := rostest.Start(t)
	good := perception.Frame{Format: perception.Mono8, Width: 2, Height: 1, Data: []byte{7, 8}}
	for i, tc := range []struct {
		name string
		dec  func(dst *perception.Frame) error
		want ros.ImageReject
	}{
		{"unsupported", func(*perception.Frame) error {
			return fmt.Errorf("16-bit colour: %w", errors.ErrUnsupported)
		}, ros.ImageBadEncoding},
		{"undecodable", func(*perception.Frame) error { return errors.New("truncated") }, ros.ImageUndecodable},
		{"short frame", func(dst *perception.Frame) error {
			dst.Format, dst.Width, dst.Height, dst.Data = perception.BGR8, 2, 1, dst.Data[:0]
			return nil
		}, ros.ImageUndecodable},
		{"no format", func(dst *perception.Frame) error {
			dst.Format, dst.Width, dst.Height, dst.Data = "", 2, 1, []byte{1, 2}
			return nil
		}, ros.ImageUndecodable},
	} {
		bad := true
		dec := func(dst *perception.Frame, data []byte) error {
			if bad {
				return tc.dec(dst)
			}
			good.CopyTo(dst)
			return nil
		}
		cam := quietCamera(t, m, fmt.Sprintf("/decoder%d/image_raw/compressed", i), dec)
		f := perception.Frame{Camera: "before", Seq: 41, Format: perception.RGB8, Width: 1, Height: 1, Data: []byte{1, 2, 3}}
		msg := &sensor_msgs.CompressedImage{Format: "png", Data: []byte("\x89PNG\r\n\x1a\n and the decoder decides")}
		cam.FeedCompressed(msg)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := cam.Read(ctx, &f)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: Read of a rejected payload: %v, want the context's deadline", tc.name, err)
		}
		if f.Camera != "before" || f.Seq != 41 || f.Format != perception.RGB8 || f.Width != 1 || len(f.Data) != 3 {
			t.Errorf("%s: the rejected payload left the frame %+v, want it untouched", tc.name, f)
		}
		var want [4]uint64
		want[tc.want] = 1
		if st := cam.Stats(); st.Rejected != want {
			t.Errorf("%s: rejected %v, want %v (encoding, size, big-endian, undecodable)", tc.name, st.Rejected, want)
		}
		bad = false
		cam.FeedCompressed(msg)
		if err := cam.Read(context.Background(), &f); err != nil || f.Format != good.Format || !bytes.Equal(f.Data, good.Data) || f.Seq != 2 {
			t.Errorf("%s: the good payload after it: %v, %+v", tc.name, err, f)
		}
	}
}

// gated lets its Camera's Reads through one at a time.
type gated struct {
	*ros.Camera
	gate chan struct{}
}

func (g gated) Read(ctx context.Context, dst *perception.Frame) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Camera.Read(ctx, dst)
}

// TestCameraDropsAreLatestGaps: messages replaced before a Read are counted as dropped by
// the Camera, and perception.Latest sees them as gaps in Frame.Seq; the frame it gets is
// the newest.
func TestCameraDropsAreLatestGaps(t *testing.T) {
	m := rostest.Start(t)
	c := quietCamera(t, m, "/gaps/image_raw", nil)
	g := gated{c, make(chan struct{})}
	lat, err := perception.NewLatest(g, perception.Freshness{MaxAge: time.Hour, FrozenAfter: perception.FrozenCheckOff}, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- lat.Run(ctx) }()
	defer func() { cancel(); <-ran }()
	msg := func(v byte) *sensor_msgs.Image {
		return &sensor_msgs.Image{Header: std_msgs.Header{Stamp: time.Now()}, Width: 2, Height: 1, Encoding: "mono8", Step: 2,
			Data: []byte{v, v}}
	}
	waitFrames := func(n uint64) {
		deadline := time.Now().Add(10 * time.Second)
		for lat.Stats().Frames < n {
			if time.Now().After(deadline) {
				t.Fatalf("Latest has %+v, want %d frames", lat.Stats(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	c.FeedImage(msg(1))
	g.gate <- struct{}{}
	waitFrames(1)
	for v := byte(2); v <= 6; v++ {
		c.FeedImage(msg(v))
	}
	g.gate <- struct{}{}
	waitFrames(2)
	var f perception.Frame
	if err := lat.Get(c.Now(), &f); err != nil || f.Data[0] != 6 || f.Seq != 6 {
		t.Fatalf("Latest's frame: %v, seq %d data %v; want the newest (6)", err, f.Seq, f.Data)
	}
	if st, cs := lat.Stats(), c.Stats(); st.Gaps != 4 || cs.Dropped != 4 || cs.Delivered != 2 || cs.Received != 6 {
		t.Errorf("latest %+v, camera %+v: want 4 gaps = 4 dropped, 2 delivered of 6", st, cs)
	}
}

// BenchmarkCameraRead is the subscriber side of one 640x480 frame without the network:
// the callback's checks and hand-over plus Read's conversion into the caller's frame. The
// -opencv rows decode with cv.DecodeImage, as robotd does; the -go rows with the default
// decoder (ros.DecodeImage), and the -decode-only rows are Go's decoders alone, to
// image.YCbCr or image.RGBA, for comparison.
func BenchmarkCameraRead(b *testing.B) {
	m := rostest.Start(b)
	const w, h = 640, 480
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ { // gradients with sensor-like noise
			n := rng.IntN(16)
			img.Set(x, y, color.RGBA{uint8(x*255/w + n), uint8(y*255/h + n), uint8(128 + (x-y)/8 + n), 255})
		}
	}
	var jbuf, pbuf bytes.Buffer
	if err := jpeg.Encode(&jbuf, img, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	if err := png.Encode(&pbuf, img); err != nil {
		b.Fatal(err)
	}
	hdr := std_msgs.Header{Stamp: time.Unix(100, 0)}
	raw := quietCamera(b, m, "/bench_read/image_raw", nil)
	comp := quietCamera(b, m, "/bench_read/image_raw/compressed", cv.DecodeImage)
	goComp := quietCamera(b, m, "/bench_read_go/image_raw/compressed", nil)
	rgb := &sensor_msgs.Image{Header: hdr, Width: w, Height: h, Encoding: "rgb8", Step: 3 * w, Data: make([]byte, 3*w*h)}
	ctx := context.Background()
	var f perception.Frame
	for _, bc := range []struct {
		name string
		run  func() error
	}{
		{"rgb8", func() error { raw.FeedImage(rgb); return raw.Read(ctx, &f) }},
		{"jpeg-opencv", func() error {
			comp.FeedCompressed(&sensor_msgs.CompressedImage{Header: hdr, Format: "jpeg", Data: jbuf.Bytes()})
			return comp.Read(ctx, &f)
		}},
		{"png-opencv", func() error {
			comp.FeedCompressed(&sensor_msgs.CompressedImage{Header: hdr, Format: "png", Data: pbuf.Bytes()})
			return comp.Read(ctx, &f)
		}},
		{"jpeg-go", func() error {
			goComp.FeedCompressed(&sensor_msgs.CompressedImage{Header: hdr, Format: "jpeg", Data: jbuf.Bytes()})
			return goComp.Read(ctx, &f)
		}},
		{"png-go", func() error {
			goComp.FeedCompressed(&sensor_msgs.CompressedImage{Header: hdr, Format: "png", Data: pbuf.Bytes()})
			return goComp.Read(ctx, &f)
		}},
		{"jpeg-image-jpeg-decode-only", func() error { _, err := jpeg.Decode(bytes.NewReader(jbuf.Bytes())); return err }},
		{"png-image-png-decode-only", func() error { _, err := png.Decode(bytes.NewReader(pbuf.Bytes())); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
