package ros_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log/slog"
	"math"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/perception/cv"
)

// decoders are the compressed transport's decoders the camera tests run with: the default
// (Go's) and OpenCV's, which robotd wires (system/ros.go).
var decoders = []struct {
	name string
	dec  ros.ImageDecoder
}{{"go", ros.DecodeImage}, {"opencv", cv.DecodeImage}}

// testNode is a goroslib node of the test, for publishing what the cameras read.
func testNode(t testing.TB, m *rostest.Master, name string) *goroslib.Node {
	t.Helper()
	n, err := goroslib.NewNode(goroslib.NodeConf{MasterAddress: m.Addr, Name: name,
		LogLevel: goroslib.LogLevelWarn, LogDestinations: goroslib.LogDestinationConsole})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

func advertise(t testing.TB, n *goroslib.Node, topic string, msg any) *goroslib.Publisher {
	t.Helper()
	p, err := goroslib.NewPublisher(goroslib.PublisherConf{Node: n, Topic: topic, Msg: msg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func dialCamera(t testing.TB, m *rostest.Master, cfg ros.CameraConfig) *ros.Camera {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg.MasterAddress = m.Addr
	c, err := ros.DialCamera(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// repeating writes msg() every 5 ms until the returned stop is called (a subscriber that
// joins late gets one); stop waits for the writer to end.
func repeating(p *goroslib.Publisher, msg func() any) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			p.Write(msg())
			select {
			case <-quit:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(quit); <-done }) }
}

// readOne publishes msg repeatedly until cam delivers a frame, and returns that frame.
func readOne(t *testing.T, cam *ros.Camera, p *goroslib.Publisher, msg func() any) perception.Frame {
	t.Helper()
	stop := repeating(p, msg)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var f perception.Frame
	if err := cam.Read(ctx, &f); err != nil {
		t.Fatalf("camera %s: no frame: %v (stats %+v)", cam.Name(), err, cam.Stats())
	}
	return f
}

// pattern is a deterministic test image of w x h pixels with n bytes per pixel.
func pattern(w, h, n int) []byte {
	b := make([]byte, w*h*n)
	for i := range b {
		b[i] = byte(i*7 + i/(w*n)*13)
	}
	return b
}

// padRows returns data (rows of row bytes) with pad extra bytes after each row.
func padRows(data []byte, row, pad int) []byte {
	var out []byte
	for y := 0; y < len(data)/row; y++ {
		out = append(out, data[y*row:(y+1)*row]...)
		out = append(out, bytes.Repeat([]byte{0xee}, pad)...)
	}
	return out
}

func encodePNG(t *testing.T, img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCameraEncodings: every encoding published by goroslib arrives as the right frame
// format with the right pixels, dimensions and stamps; compressed ones with either decoder.
func TestCameraEncodings(t *testing.T) {
	m := rostest.Start(t)
	node := testNode(t, m, "encodings")
	const w, h = 8, 5
	stamp := time.Unix(1_700_000_000, 123_456_789)
	hdr := std_msgs.Header{Stamp: stamp, FrameId: "cam"}

	depth16 := make([]byte, 2*w*h)
	depth32 := make([]byte, 4*w*h)
	for i := 0; i < w*h; i++ {
		binary.LittleEndian.PutUint16(depth16[2*i:], uint16(400+37*i)) // mm
		binary.LittleEndian.PutUint32(depth32[4*i:], math.Float32bits(0.25+0.01*float32(i)))
	}
	rgb := pattern(w, h, 3)
	rgba := image.NewNRGBA(image.Rect(0, 0, w, h))
	bgrOfRGB := make([]byte, len(rgb))
	for i := 0; i < w*h; i++ {
		r, g, b := rgb[3*i], rgb[3*i+1], rgb[3*i+2]
		rgba.Set(i%w, i/w, color.NRGBA{r, g, b, 255})
		bgrOfRGB[3*i], bgrOfRGB[3*i+1], bgrOfRGB[3*i+2] = b, g, r
	}
	gray := image.NewGray(image.Rect(0, 0, w, h))
	copy(gray.Pix, pattern(w, h, 1))
	gray16 := image.NewGray16(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		gray16.SetGray16(i%w, i/w, color.Gray16{uint16(400 + 37*i)})
	}

	raw := func(enc string, bpp, pad int, data []byte) func() any {
		return func() any {
			return &sensor_msgs.Image{Header: hdr, Width: w, Height: h, Encoding: enc,
				Step: uint32(w*bpp + pad), Data: padRows(data, w*bpp, pad)}
		}
	}
	comp := func(format string, data []byte) func() any {
		return func() any { return &sensor_msgs.CompressedImage{Header: hdr, Format: format, Data: data} }
	}
	for _, tc := range []struct {
		name   string
		topic  string
		msg    func() any
		format perception.Format
		want   []byte
	}{
		{"rgb8", "/enc/rgb8/image_raw", raw("rgb8", 3, 0, rgb), perception.RGB8, rgb},
		{"rgb8 padded rows", "/enc/rgb8pad/image_raw", raw("rgb8", 3, 5, rgb), perception.RGB8, rgb},
		{"bgr8", "/enc/bgr8/image_raw", raw("bgr8", 3, 0, bgrOfRGB), perception.BGR8, bgrOfRGB},
		{"mono8", "/enc/mono8/image_raw", raw("mono8", 1, 3, gray.Pix), perception.Mono8, gray.Pix},
		{"16UC1 mm", "/enc/d16/image_raw", raw("16UC1", 2, 2, depth16), perception.Depth16, depth16},
		{"32FC1 m", "/enc/d32/image_raw", raw("32FC1", 4, 0, depth32), perception.Depth32F, depth32},
		{"png colour", "/enc/png/image_raw/compressed", comp("rgb8; png compressed bgr8", encodePNG(t, rgba)), perception.BGR8, bgrOfRGB},
		{"png grey", "/enc/pnggrey/image_raw/compressed", comp("png", encodePNG(t, gray)), perception.Mono8, gray.Pix},
		{"png 16-bit grey", "/enc/png16/image_raw/compressed", comp("16UC1; png compressed", encodePNG(t, gray16)), perception.Depth16, depth16},
	} {
		decs := decoders
		if !strings.HasSuffix(tc.topic, "/compressed") {
			decs = decoders[:1] // a raw image is not decoded
		}
		for _, d := range decs {
			name := tc.name
			if len(decs) > 1 {
				name += ", " + d.name
			}
			t.Run(name, func(t *testing.T) {
				cam := dialCamera(t, m, ros.CameraConfig{Topic: tc.topic, Decode: d.dec})
				f := readOne(t, cam, advertise(t, node, tc.topic, tc.msg()), tc.msg)
				if err := f.Check(); err != nil {
					t.Fatal(err)
				}
				if f.Format != tc.format || f.Width != w || f.Height != h || !bytes.Equal(f.Data, tc.want) {
					t.Errorf("got %dx%d %s %v\nwant %dx%d %s %v", f.Width, f.Height, f.Format, f.Data, w, h, tc.format, tc.want)
				}
				if f.Time != time.Duration(stamp.UnixNano()) || !f.Wall.Equal(stamp) {
					t.Errorf("Time %v Wall %v, want the header stamp %v", f.Time, f.Wall, stamp)
				}
				if name := strings.Split(tc.topic, "/")[2]; f.Camera != name || cam.Name() != name {
					t.Errorf("camera name %q / %q, want %q", f.Camera, cam.Name(), name)
				}
				if f.Seq == 0 || f.Seq > cam.Stats().Received {
					t.Errorf("Seq %d, %d received", f.Seq, cam.Stats().Received)
				}
			})
		}
	}

	// JPEG is lossy: Go's encoder at quality 100 against each decoder, a smooth image.
	// Go's decoder lands a little further from the source on average (measured: up to 5
	// levels off, mean 1.54), as its inverse DCT and chroma upsampling round differently.
	meanBound := map[string]float64{"go": 1.6, "opencv": 1.5}
	for _, dc := range decoders {
		t.Run("jpeg, "+dc.name, func(t *testing.T) {
			img := image.NewRGBA(image.Rect(0, 0, 64, 48))
			for y := 0; y < 48; y++ {
				for x := 0; x < 64; x++ {
					img.Set(x, y, color.RGBA{uint8(4 * x), uint8(5 * y), uint8(128 + x - y), 255})
				}
			}
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 100}); err != nil {
				t.Fatal(err)
			}
			msg := func() any { return &sensor_msgs.CompressedImage{Header: hdr, Format: "jpeg", Data: buf.Bytes()} }
			topic := "/enc/jpeg/image_raw/compressed"
			cam := dialCamera(t, m, ros.CameraConfig{Topic: topic, Decode: dc.dec})
			f := readOne(t, cam, advertise(t, node, topic, msg()), msg)
			if f.Format != perception.BGR8 || f.Width != 64 || f.Height != 48 || f.Check() != nil {
				t.Fatalf("got %dx%d %s (%d bytes), want 64x48 bgr8", f.Width, f.Height, f.Format, len(f.Data))
			}
			worst, sum := 0, 0
			for i := 0; i < 64*48; i++ {
				for c := 0; c < 3; c++ {
					d := int(f.Data[3*i+c]) - int(img.Pix[4*i+2-c])
					worst, sum = max(worst, d, -d), sum+max(d, -d)
				}
			}
			if mean := float64(sum) / (64 * 48 * 3); worst > 8 || mean > meanBound[dc.name] {
				t.Errorf("decoded JPEG differs from the source by up to %d (mean %.2f); want <= 8 (mean <= %v)", worst, mean, meanBound[dc.name])
			} else {
				t.Logf("decoded JPEG differs from the source by up to %d (mean %.2f)", worst, mean)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCameraRejectsMalformed: malformed messages are dropped, counted per kind and logged
// once per kind; the good message after them is delivered. Compressed ones are rejected
// alike by either decoder.
func TestCameraRejectsMalformed(t *testing.T) {
	m := rostest.Start(t)
	node := testNode(t, m, "malformed")
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	good := func(v byte) *sensor_msgs.Image {
		return &sensor_msgs.Image{Header: std_msgs.Header{Stamp: time.Unix(5, 0)}, Width: 4, Height: 2,
			Encoding: "mono8", Step: 4, Data: bytes.Repeat([]byte{v}, 8)}
	}
	t.Run("raw", func(t *testing.T) {
		cam := dialCamera(t, m, ros.CameraConfig{Topic: "/bad/image_raw", Logger: logger})
		pub := advertise(t, node, "/bad/image_raw", &sensor_msgs.Image{})
		readOne(t, cam, pub, func() any { return good(1) })
		bad := []*sensor_msgs.Image{
			{Width: 4, Height: 2, Encoding: "mono8", Step: 4, Data: make([]byte, 7)},   // short
			{Width: 4, Height: 2, Encoding: "rgb8", Step: 12, Data: make([]byte, 25)},  // long
			{Width: 4, Height: 2, Encoding: "rgb8", Step: 8, Data: make([]byte, 16)},   // step < row
			{Width: 0, Height: 2, Encoding: "mono8", Step: 0, Data: nil},               // empty
			{Width: 4, Height: 2, Encoding: "yuv422", Step: 8, Data: make([]byte, 16)}, // unknown
			{Width: 4, Height: 2, Encoding: "RGB8", Step: 12, Data: make([]byte, 24)},  // case matters
			{Width: 4, Height: 2, Encoding: "16UC1", Step: 8, IsBigendian: 1, Data: make([]byte, 16)},
			{Width: 4, Height: 2, Encoding: "32FC1", Step: 16, IsBigendian: 1, Data: make([]byte, 32)},
		}
		for _, b := range bad {
			pub.Write(b)
		}
		pub.Write(good(9))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var f perception.Frame
		for f.Data == nil || f.Data[0] != 9 { // earlier good frames may still be in flight
			if err := cam.Read(ctx, &f); err != nil {
				t.Fatalf("no good frame after the bad ones: %v (stats %+v)", err, cam.Stats())
			}
		}
		st := cam.Stats()
		want := [4]uint64{ros.ImageBadEncoding: 2, ros.ImageBadSize: 4, ros.ImageBigEndian: 2}
		if st.Rejected != want {
			t.Errorf("rejected %v, want %v (encoding, size, big-endian, undecodable)", st.Rejected, want)
		}
	})
	for _, dc := range decoders {
		t.Run("compressed, "+dc.name, func(t *testing.T) {
			topic := "/bad_" + dc.name + "/image_raw/compressed"
			cam := dialCamera(t, m, ros.CameraConfig{Topic: topic, Logger: logger, Decode: dc.dec})
			pub := advertise(t, node, topic, &sensor_msgs.CompressedImage{})
			img := image.NewGray(image.Rect(0, 0, 4, 2))
			pngOf := func(v byte) []byte {
				for i := range img.Pix {
					img.Pix[i] = v
				}
				return encodePNG(t, img)
			}
			readOne(t, cam, pub, func() any { return &sensor_msgs.CompressedImage{Format: "png", Data: pngOf(1)} })

			// A reader that keeps reading, so that an accepted payload is decoded (and found
			// undecodable) before the next one can replace it.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			frames := make(chan byte, 100)
			go func() {
				var f perception.Frame
				for cam.Read(ctx, &f) == nil {
					frames <- f.Data[0]
				}
			}()
			pub.Write(&sensor_msgs.CompressedImage{Format: "jpeg", Data: []byte("\xff\xd8\xff\xe0 not a JPEG after all")})
			for cam.Stats().Rejected[ros.ImageUndecodable] == 0 {
				if ctx.Err() != nil {
					t.Fatalf("corrupt JPEG not rejected: %+v", cam.Stats())
				}
				time.Sleep(time.Millisecond)
			}
			// A PNG of 16-bit colour decodes, but to pixels no frame format holds.
			rgb16 := image.NewRGBA64(image.Rect(0, 0, 4, 2))
			rgb16.SetRGBA64(1, 1, color.RGBA64{1000, 2000, 3000, 0xffff})
			pub.Write(&sensor_msgs.CompressedImage{Format: "png", Data: encodePNG(t, rgb16)})
			for cam.Stats().Rejected[ros.ImageBadEncoding] == 0 {
				if ctx.Err() != nil {
					t.Fatalf("16-bit colour PNG not rejected: %+v", cam.Stats())
				}
				time.Sleep(time.Millisecond)
			}
			pub.Write(&sensor_msgs.CompressedImage{Format: "jpeg", Data: []byte("GIF89a neither signature")})
			pub.Write(&sensor_msgs.CompressedImage{Format: "16UC1; compressedDepth png", Data: pngOf(3)})
			pub.Write(&sensor_msgs.CompressedImage{Format: "bmp", Data: pngOf(3)})
			pub.Write(&sensor_msgs.CompressedImage{Format: "png", Data: pngOf(9)})
			for v := byte(0); v != 9; {
				select {
				case v = <-frames:
				case <-ctx.Done():
					t.Fatalf("no good frame after the bad ones (stats %+v)", cam.Stats())
				}
			}
			want := [4]uint64{ros.ImageBadEncoding: 3, ros.ImageUndecodable: 2}
			if st := cam.Stats(); st.Rejected != want {
				t.Errorf("rejected %v, want %v (encoding, size, big-endian, undecodable)", st.Rejected, want)
			}
		})
	}
	// Each camera logged each kind it saw once.
	out := logs.String()
	nc := len(decoders) // the compressed cameras
	for kind, n := range map[string]int{"kind=encoding": 1 + nc, "kind=size": 1, "kind=big-endian": 1, "kind=undecodable": nc} {
		if got := strings.Count(out, kind); got != n {
			t.Errorf("%d log lines with %s, want %d (once per kind and camera):\n%s", got, kind, n, out)
		}
	}
}

// TestCameraFreshnessOverROS: perception.Latest's checks work on frames that came over
// ROS: fresh frames pass, identical frames are reported frozen, old stamps and a silent
// publisher are reported too old.
func TestCameraFreshnessOverROS(t *testing.T) {
	m := rostest.Start(t)
	node := testNode(t, m, "freshness")
	cam := dialCamera(t, m, ros.CameraConfig{Topic: "/fresh/image_raw"})
	pub := advertise(t, node, "/fresh/image_raw", &sensor_msgs.Image{})
	fresh := perception.Freshness{MaxAge: 100 * time.Millisecond, FrozenAfter: 150 * time.Millisecond}
	lat, err := perception.NewLatest(cam, fresh, cam.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- lat.Run(ctx) }()
	defer func() { cancel(); <-ran }()

	var (
		mode atomic.Int32 // 0 changing frames, 1 identical frames, 2 stamps 1 s old
		n    atomic.Int32
	)
	stop := repeating(pub, func() any {
		v := byte(n.Add(1))
		stamp := time.Now()
		switch mode.Load() {
		case 1:
			v = 0
		case 2:
			stamp = stamp.Add(-time.Second)
		}
		return &sensor_msgs.Image{Header: std_msgs.Header{Stamp: stamp}, Width: 4, Height: 2, Encoding: "mono8", Step: 4,
			Data: bytes.Repeat([]byte{v}, 8)}
	})
	defer stop()

	var f perception.Frame
	until := func(what string, ok func(err error) bool) error {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := lat.Get(cam.Now(), &f)
			if ok(err) {
				return err
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still %v after 10 s (latest stats %+v, camera %+v)", what, err, lat.Stats(), cam.Stats())
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	reason := func(r perception.StaleReason) func(error) bool {
		return func(err error) bool {
			var se *perception.StaleError
			return errors.As(err, &se) && se.Reason == r
		}
	}
	until("fresh frames", func(err error) bool { return err == nil })
	if age := cam.Now() - f.Time; age < 0 || age > fresh.MaxAge {
		t.Errorf("fresh frame's age %v on the camera's clock", age)
	}
	mode.Store(1)
	err = until("identical frames", reason(perception.Frozen))
	if lat.Stats().Frozen != 1 {
		t.Errorf("Frozen counted %d times, want 1 (%v)", lat.Stats().Frozen, err)
	}
	mode.Store(0)
	until("changing frames again", func(err error) bool { return err == nil })
	mode.Store(2)
	err = until("stamps 1 s old", reason(perception.TooOld))
	if se := (*perception.StaleError)(nil); !errors.As(err, &se) || se.Age < time.Second {
		t.Errorf("a frame stamped 1 s ago: %v", err)
	}
	mode.Store(0)
	until("recent stamps again", func(err error) bool { return err == nil })
	stop()
	until("publisher gone", reason(perception.TooOld))
	if st := lat.Stats(); st.Dropped != 0 || st.Gaps != cam.Stats().Dropped {
		t.Errorf("latest %+v, camera %+v: want no bad frames and gaps = camera drops", st, cam.Stats())
	}
}

// TestCameraRospyPeer: images published by a rospy node (a bgr8 Image with padded rows and
// a JPEG made by OpenCV) arrive with the right pixels: the JPEG's, decoded by OpenCV as
// robotd wires it (cv.DecodeImage), are cv2.imdecode's bit for bit.
func TestCameraRospyPeer(t *testing.T) {
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("Debian's python3 not installed (scripts/setup.sh)")
	}
	m := rostest.Start(t)
	raw := dialCamera(t, m, ros.CameraConfig{Topic: "/peer/image_raw"})
	comp := dialCamera(t, m, ros.CameraConfig{Topic: "/peer/image_raw/compressed", Decode: cv.DecodeImage})
	cmd := m.Command(py, "testdata/camera_peer.py")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		select { // a peer that dies ends the wait at once
		case err := <-exited:
			exited <- err
			cancel()
		case <-ctx.Done():
		}
	}()
	read := func(cam *ros.Camera) perception.Frame {
		var f perception.Frame
		if err := cam.Read(ctx, &f); err != nil {
			t.Fatalf("%s: no frame from the rospy peer: %v (stats %+v)\npeer output:\n%s", cam.Name(), err, cam.Stats(), out.String())
		}
		return f
	}
	start := time.Now()
	f := read(raw)
	want := make([]byte, 0, 64*48*3)
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			want = append(want, byte((7*x+3*y)%256), byte(x*y%256), byte((255-x-2*y+512)%256))
		}
	}
	if f.Format != perception.BGR8 || f.Width != 64 || f.Height != 48 || !bytes.Equal(f.Data, want) {
		t.Errorf("rospy bgr8: got %dx%d %s, pixels equal: %v", f.Width, f.Height, f.Format, bytes.Equal(f.Data, want))
	}
	if f.Wall.Before(start.Add(-time.Second)) || f.Wall.After(time.Now()) {
		t.Errorf("rospy stamp %v, the test started reading at %v", f.Wall, start)
	}
	g := read(comp)
	wantJPEG, err := os.ReadFile("testdata/camera_peer_jpg.bgr")
	if err != nil {
		t.Fatal(err)
	}
	if g.Format != perception.BGR8 || g.Width != 64 || g.Height != 48 || !bytes.Equal(g.Data, wantJPEG) {
		t.Errorf("rospy jpeg: got %dx%d %s, pixels equal to cv2.imdecode's: %v", g.Width, g.Height, g.Format, bytes.Equal(g.Data, wantJPEG))
	}
	for _, c := range []*ros.Camera{raw, comp} {
		if st := c.Stats(); st.Rejected != [4]uint64{} {
			t.Errorf("%s rejected %v", c.Name(), st.Rejected)
		}
	}
}

// TestCameraReadEnds: Read returns when its context ends and after Close, with no
// publisher at all.
func TestCameraReadEnds(t *testing.T) {
	m := rostest.Start(t)
	cam := dialCamera(t, m, ros.CameraConfig{Topic: "/silent/image_raw"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var f perception.Frame
	if err := cam.Read(ctx, &f); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Read with a 20 ms context and no publisher: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cam.Read(context.Background(), &f) }()
	cam.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ros.ErrCameraClosed) {
			t.Errorf("Read during Close: %v, want ErrCameraClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read still blocked 10 s after Close")
	}
}

func TestCameraConfig(t *testing.T) {
	for _, tc := range []struct {
		topic, transport, name, info string
	}{
		{"/camera/scene/image_raw", "raw", "scene", "/camera/scene/camera_info"},
		{"/camera/scene/image_raw/compressed", "compressed", "scene", "/camera/scene/camera_info"},
		{"/wrist/image_rect_color", "raw", "wrist", "/wrist/camera_info"},
		{"/top_rgb", "raw", "top_rgb", "/camera_info"},
	} {
		c := ros.CameraConfig{Topic: tc.topic}.WithDefaults()
		if c.Transport != tc.transport || c.Name != tc.name || c.InfoTopic != tc.info || c.Validate() != nil {
			t.Errorf("%s: transport %q name %q info %q (%v), want %q %q %q", tc.topic, c.Transport, c.Name, c.InfoTopic,
				c.Validate(), tc.transport, tc.name, tc.info)
		}
	}
	// Decode: Go's decoder unless one is given.
	fn := func(d ros.ImageDecoder) uintptr { return reflect.ValueOf(d).Pointer() }
	if d := (ros.CameraConfig{Topic: "/a/image_raw/compressed"}).WithDefaults().Decode; d == nil || fn(d) != fn(ros.DecodeImage) {
		t.Errorf("default Decode is not ros.DecodeImage")
	}
	if d := (ros.CameraConfig{Topic: "/a/image_raw/compressed", Decode: cv.DecodeImage}).WithDefaults().Decode; fn(d) != fn(cv.DecodeImage) {
		t.Errorf("the Decode given (cv.DecodeImage) was replaced")
	}
	for _, c := range []ros.CameraConfig{{}, {Topic: "/a/image", Transport: "theora"}, {Topic: "/"}} {
		if err := c.WithDefaults().Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		} else if !strings.HasPrefix(err.Error(), "ros: camera config: ") {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
