package ros

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/robotd/robotd/calib"
	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/perception"
)

// quietCamera is a Camera connected to a real master on a topic nobody publishes: tests
// feed its subscriber callback directly, so that nothing else allocates or races (no
// master watch either).
func quietCamera(t testing.TB, m *rostest.Master, topic string) *Camera {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := DialCamera(ctx, CameraConfig{MasterAddress: m.Addr, Topic: topic, MasterCheck: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestCameraReadNoAllocs: once warmed up, taking a message (the callback's part) and
// converting it into the caller's frame allocates nothing, for a raw 640x480 rgb8 image
// with padded rows and for a JPEG.
func TestCameraReadNoAllocs(t *testing.T) {
	m := rostest.Start(t)
	jpg, err := os.ReadFile("testdata/camera_peer.jpg")
	if err != nil {
		t.Fatal(err)
	}
	raw := quietCamera(t, m, "/quiet/image_raw")
	comp := quietCamera(t, m, "/quiet/image_raw/compressed")
	hdr := std_msgs.Header{Stamp: time.Unix(100, 0)}
	img := &sensor_msgs.Image{Header: hdr, Width: 640, Height: 480, Encoding: "rgb8", Step: 640*3 + 64,
		Data: make([]byte, (640*3+64)*480)}
	cimg := &sensor_msgs.CompressedImage{Header: hdr, Format: "jpeg", Data: jpg}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cam  *Camera
		feed func()
	}{
		{"rgb8", raw, func() { raw.onImage(img) }},
		{"jpeg", comp, func() { comp.onCompressed(cimg) }},
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

// gated lets its Camera's Reads through one at a time.
type gated struct {
	*Camera
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
	c := quietCamera(t, m, "/gaps/image_raw")
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
	c.onImage(msg(1))
	g.gate <- struct{}{}
	waitFrames(1)
	for v := byte(2); v <= 6; v++ {
		c.onImage(msg(v))
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

func TestIntrinsicsFromCameraInfo(t *testing.T) {
	k := [9]float64{500, 0, 319.5, 0, 501, 239.5, 0, 0, 1}
	r := [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}
	p := [12]float64{500, 0, 319.5, 0, 0, 501, 239.5, 0, 0, 0, 1, 0}
	base := func() *sensor_msgs.CameraInfo {
		return &sensor_msgs.CameraInfo{Width: 640, Height: 480, DistortionModel: "plumb_bob",
			D: []float64{0.1, -0.2, 0.001, 0.002, 0.05}, K: k, R: r, P: p}
	}
	want := calib.Intrinsics{Name: "cam", Width: 640, Height: 480, K: k, D: [5]float64{0.1, -0.2, 0.001, 0.002, 0.05}, R: r, P: p}
	for _, tc := range []struct {
		name   string
		edit   func(m *sensor_msgs.CameraInfo)
		wantD  [5]float64
		errHas string
	}{
		{"plumb_bob", func(m *sensor_msgs.CameraInfo) {}, want.D, ""},
		{"plumb_bob 4", func(m *sensor_msgs.CameraInfo) { m.D = m.D[:4] }, [5]float64{0.1, -0.2, 0.001, 0.002}, ""},
		{"no distortion", func(m *sensor_msgs.CameraInfo) { m.D = nil; m.DistortionModel = "" }, [5]float64{}, ""},
		{"rational, plumb_bob terms only", func(m *sensor_msgs.CameraInfo) {
			m.DistortionModel, m.D = "rational_polynomial", append(m.D, 0, 0, 0)
		}, want.D, ""},
		{"rational k4..k6", func(m *sensor_msgs.CameraInfo) {
			m.DistortionModel, m.D = "rational_polynomial", append(m.D, 0.3, 0, 0)
		}, want.D, "holds plumb_bob only"},
		{"rational 5", func(m *sensor_msgs.CameraInfo) { m.DistortionModel = "rational_polynomial" }, want.D, "want 8"},
		{"equidistant", func(m *sensor_msgs.CameraInfo) { m.DistortionModel, m.D = "equidistant", m.D[:4] }, want.D,
			`distortion_model "equidistant" not supported: want plumb_bob or rational_polynomial`},
		{"plumb_bob 6", func(m *sensor_msgs.CameraInfo) { m.D = append(m.D, 0) }, want.D, "want 5"},
		{"model missing", func(m *sensor_msgs.CameraInfo) { m.DistortionModel = "" }, want.D, "without a distortion_model"},
		{"binning", func(m *sensor_msgs.CameraInfo) { m.BinningX, m.BinningY = 2, 2 }, want.D, "binning 2x2"},
		{"roi", func(m *sensor_msgs.CameraInfo) { m.Roi = sensor_msgs.RegionOfInterest{Width: 100, Height: 100} }, want.D, "region of interest"},
		{"full roi", func(m *sensor_msgs.CameraInfo) { m.Roi = sensor_msgs.RegionOfInterest{Width: 640, Height: 480} }, want.D, ""},
		{"uncalibrated", func(m *sensor_msgs.CameraInfo) { m.K = [9]float64{} }, want.D, "focal lengths"},
		{"no size", func(m *sensor_msgs.CameraInfo) { m.Width = 0 }, want.D, "image size"},
	} {
		m := base()
		tc.edit(m)
		got, err := intrinsicsFromCameraInfo("cam", m)
		if tc.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.errHas)
			}
			continue
		}
		w := want
		w.D = tc.wantD
		if err != nil || got != w {
			t.Errorf("%s: %+v, %v\nwant %+v", tc.name, got, err, w)
		}
	}
	// The message sim/rosbridge's Cameras send converts back to the same intrinsics.
	in := calib.NewIntrinsics("cam", 64, 48, [9]float64{50, 0, 31.5, 0, 50, 23.5, 0, 0, 1}, [5]float64{0.01, 0, 0, 0, 0})
	if got, err := intrinsicsFromCameraInfo("cam", cameraInfoMsg(std_msgs.Header{}, &in)); err != nil || got != in {
		t.Errorf("round trip: %+v, %v; want %+v", got, err, in)
	}
}

// BenchmarkCameraRead is the subscriber side of one 640x480 frame without the network:
// the callback's checks and hand-over plus Read's conversion into the caller's frame. The
// image/jpeg row is the decoder robotd does not use, for comparison (decode only, to
// image.YCbCr: converting to RGB would add more).
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
	raw := quietCamera(b, m, "/bench_read/image_raw")
	comp := quietCamera(b, m, "/bench_read/image_raw/compressed")
	rgb := &sensor_msgs.Image{Header: hdr, Width: w, Height: h, Encoding: "rgb8", Step: 3 * w, Data: make([]byte, 3*w*h)}
	ctx := context.Background()
	var f perception.Frame
	for _, bc := range []struct {
		name string
		run  func() error
	}{
		{"rgb8", func() error { raw.onImage(rgb); return raw.Read(ctx, &f) }},
		{"jpeg-opencv", func() error {
			comp.onCompressed(&sensor_msgs.CompressedImage{Header: hdr, Format: "jpeg", Data: jbuf.Bytes()})
			return comp.Read(ctx, &f)
		}},
		{"png-opencv", func() error {
			comp.onCompressed(&sensor_msgs.CompressedImage{Header: hdr, Format: "png", Data: pbuf.Bytes()})
			return comp.Read(ctx, &f)
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
