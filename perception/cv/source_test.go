package cv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/robotd/robotd/perception"
)

// Test videos show their frame number: eight vertical bars in the lower half, bar i white
// when bit i of the number is set (robust to lossy compression), a pure red square at the
// top left (to check the channel order) and the number drawn as text (for a person looking
// at the file).
const (
	vidW, vidH = 160, 96
	bars       = 8
)

func drawFrame(k, w, h int) []byte {
	img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(60, 60, 60, 0), h, w, gocv.MatTypeCV8UC3)
	defer img.Close()
	bw := w / bars
	for i := 0; i < bars; i++ {
		c := color.RGBA{0, 0, 0, 0}
		if k&(1<<i) != 0 {
			c = color.RGBA{255, 255, 255, 0}
		}
		gocv.Rectangle(&img, image.Rect(i*bw, h/2, (i+1)*bw, h), c, -1)
	}
	gocv.Rectangle(&img, image.Rect(0, 0, w/4, h/4), color.RGBA{255, 0, 0, 0}, -1) // red, drawn as BGR 0,0,255
	gocv.PutText(&img, fmt.Sprint(k), image.Pt(w/2, h/3), gocv.FontHersheySimplex, 0.6, color.RGBA{200, 200, 0, 0}, 1)
	b, _ := img.DataPtrUint8()
	return bytes.Clone(b)
}

// decodeFrame reads the frame number back from the bars and checks the red square.
func decodeFrame(t *testing.T, f *perception.Frame) int {
	t.Helper()
	px := func(x, y, c int) int { return int(f.Data[(y*f.Width+x)*3+c]) }
	if b, g, r := px(f.Width/8, f.Height/8, 0), px(f.Width/8, f.Height/8, 1), px(f.Width/8, f.Height/8, 2); r < 200 || g > 60 || b > 60 {
		t.Fatalf("frame %d: the red square reads B,G,R = %d,%d,%d", f.Seq, b, g, r)
	}
	k := 0
	bw := f.Width / bars
	for i := 0; i < bars; i++ {
		if px(i*bw+bw/2, 3*f.Height/4, 1) > 128 {
			k |= 1 << i
		}
	}
	return k
}

// makeVideo encodes n numbered frames at fps into an H.264 mp4 with Debian's ffmpeg (with
// B-frames, as recordings usually have).
func makeVideo(t *testing.T, n int, fps int, ffmpegArgs ...string) string {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed (scripts/setup.sh installs it)")
	}
	path := filepath.Join(t.TempDir(), "numbers.mp4")
	var raw bytes.Buffer
	for k := 0; k < n; k++ {
		raw.Write(drawFrame(k, vidW, vidH))
	}
	cmd := exec.Command("ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
		"-s", fmt.Sprintf("%dx%d", vidW, vidH), "-r", fmt.Sprint(fps), "-i", "-",
		"-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18")
	cmd.Args = append(append(cmd.Args, ffmpegArgs...), path)
	cmd.Stdin = &raw
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return path
}

func TestVideoFile(t *testing.T) {
	const n, fps = 30, 25
	path := makeVideo(t, n, fps)
	v, err := OpenVideo("replay", path, VideoConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if w, h := v.Size(); w != vidW || h != vidH || v.Name() != "replay" {
		t.Fatalf("size %dx%d, name %q", w, h, v.Name())
	}
	var f perception.Frame
	ctx := context.Background()
	var data *byte
	for k := 0; k < n; k++ {
		if err := v.Read(ctx, &f); err != nil {
			t.Fatalf("frame %d: %v", k, err)
		}
		if got := decodeFrame(t, &f); got != k {
			t.Fatalf("frame %d shows number %d", k, got)
		}
		want := time.Duration(k) * time.Second / fps
		if f.Seq != uint64(k+1) || f.Camera != "replay" || f.Format != perception.BGR8 ||
			f.Width != vidW || f.Height != vidH || absDuration(f.Time-want) > time.Millisecond || f.Wall.IsZero() {
			t.Fatalf("frame %d: seq %d camera %q %dx%d %s time %v (want %v) wall %v",
				k, f.Seq, f.Camera, f.Width, f.Height, f.Format, f.Time, want, f.Wall)
		}
		if err := f.Check(); err != nil {
			t.Fatal(err)
		}
		if k == 1 {
			data = &f.Data[0]
		} else if k > 1 && &f.Data[0] != data {
			t.Fatalf("frame %d: dst.Data was reallocated", k)
		}
	}
	if err := v.Read(ctx, &f); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestVideoLoop(t *testing.T) {
	const n, fps = 6, 20
	v, err := OpenVideo("loop", makeVideo(t, n, fps), VideoConfig{Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var f perception.Frame
	for i := 0; i < 3*n; i++ {
		if err := v.Read(context.Background(), &f); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		want := time.Duration(i) * time.Second / fps
		if got := decodeFrame(t, &f); got != i%n || f.Seq != uint64(i+1) || absDuration(f.Time-want) > time.Millisecond {
			t.Fatalf("read %d: number %d seq %d time %v, want %d, %d, %v", i, got, f.Seq, f.Time, i%n, i+1, want)
		}
	}
}

func TestVideoRealTime(t *testing.T) {
	const n, fps = 8, 40
	v, err := OpenVideo("paced", makeVideo(t, n, fps), VideoConfig{RealTime: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var f perception.Frame
	var first time.Duration
	for k := 0; k < n; k++ {
		if err := v.Read(context.Background(), &f); err != nil {
			t.Fatal(err)
		}
		now := perception.Monotonic()
		if k == 0 {
			first = f.Time
		}
		due := first + time.Duration(k)*time.Second/fps
		if absDuration(f.Time-due) > time.Millisecond {
			t.Fatalf("frame %d: time %v, due %v", k, f.Time, due)
		}
		if now < f.Time {
			t.Fatalf("frame %d delivered at %v, before its time %v", k, now, f.Time)
		}
		if now-f.Time > 20*time.Millisecond {
			t.Logf("frame %d delivered %v late (loaded machine?)", k, now-f.Time)
		}
	}

	// a cancelled context ends the wait for the next frame
	v2, err := OpenVideo("paced", makeVideo(t, 2, 1), VideoConfig{RealTime: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if err := v2.Read(context.Background(), &f); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := v2.Read(ctx, &f); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("cancelled wait: %v after %v", err, time.Since(start))
	}
}

// TestImageSequenceSizeChange plays a numbered image sequence whose third image has another
// size: that frame is refused with ErrFrameMismatch, uses a sequence number (the reader sees
// the gap) and the stream continues.
func TestImageSequenceSizeChange(t *testing.T) {
	dir := t.TempDir()
	for k := 0; k < 4; k++ {
		w, h := vidW, vidH
		if k == 2 {
			w, h = vidW/2, vidH/2
		}
		m, _ := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, drawFrame(k, w, h))
		if !gocv.IMWrite(filepath.Join(dir, fmt.Sprintf("img_%03d.png", k)), m) {
			t.Fatal("imwrite")
		}
		m.Close()
	}
	v, err := OpenVideo("seq", filepath.Join(dir, "img_%03d.png"), VideoConfig{FPS: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var f perception.Frame
	ctx := context.Background()
	for k := 0; k < 4; k++ {
		err := v.Read(ctx, &f)
		if k == 2 {
			if !errors.Is(err, perception.ErrFrameMismatch) || !strings.Contains(err.Error(), "camera seq: frame 3: 80x48") {
				t.Fatalf("image 2 (80x48): %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("image %d: %v", k, err)
		}
		if got := decodeFrame(t, &f); got != k || f.Seq != uint64(k+1) || f.Time != time.Duration(k)*100*time.Millisecond {
			t.Fatalf("image %d: number %d seq %d time %v", k, got, f.Seq, f.Time)
		}
	}
	if err := v.Read(ctx, &f); !errors.Is(err, io.EOF) {
		t.Fatalf("end: %v", err)
	}
}

func TestVideoErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.mp4")
	if err := os.WriteFile(corrupt, bytes.Repeat([]byte("not a video "), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	// a valid file cut to its first kilobyte, before its index (moov, at the end)
	truncated := filepath.Join(dir, "truncated.mp4")
	whole, err := os.ReadFile(makeVideo(t, 10, 25))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, whole[:1024], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		cfg        VideoConfig
		want       string
		notExist   bool
	}{
		{"missing", filepath.Join(dir, "missing.mp4"), VideoConfig{}, "camera c: open " + filepath.Join(dir, "missing.mp4") + ": no such file or directory", true},
		{"directory", dir, VideoConfig{}, "a directory", false},
		{"corrupt", corrupt, VideoConfig{}, "cannot decode it as a video", false},
		{"truncated", truncated, VideoConfig{}, "open " + truncated, false},
		{"no images", filepath.Join(dir, "none_%04d.png"), VideoConfig{}, "no image matches", false},
		{"bad fps", corrupt, VideoConfig{FPS: -1}, "fps -1", false},
	} {
		v, err := OpenVideo("c", tc.path, tc.cfg)
		if err == nil {
			v.Close()
			t.Errorf("%s: opened", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || errors.Is(err, fs.ErrNotExist) != tc.notExist {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		t.Logf("%s: %v", tc.name, err)
	}
}

// TestVideoTruncatedData cuts a file whose index comes first (faststart) in the middle of
// its frames: it opens, then frames stop or fail to decode; never a crash or garbage frames
// that do not decode to their numbers.
func TestVideoTruncatedData(t *testing.T) {
	whole, err := os.ReadFile(makeVideo(t, 40, 25, "-movflags", "+faststart"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cut.mp4")
	if err := os.WriteFile(path, whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := OpenVideo("cut", path, VideoConfig{})
	if err != nil {
		t.Logf("open: %v", err)
		return
	}
	defer v.Close()
	var f perception.Frame
	good := 0
	for i := 0; i < 40; i++ {
		if err := v.Read(context.Background(), &f); err != nil {
			t.Logf("after %d frames: %v", good, err)
			break
		}
		if decodeFrame(t, &f) == good {
			good++
		}
	}
	if good == 0 || good >= 40 {
		t.Fatalf("%d good frames from half a 40-frame file", good)
	}
}

func TestSourceClose(t *testing.T) {
	v, err := OpenVideo("c", makeVideo(t, 3, 25), VideoConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var f perception.Frame
	if err := v.Read(context.Background(), &f); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := v.Read(context.Background(), &f); err == nil || !strings.Contains(err.Error(), "after Close") {
		t.Fatalf("read after close: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v2, err := OpenVideo("c", makeVideo(t, 3, 25), VideoConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if err := v2.Read(ctx, &f); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestVideoReadAllocs(t *testing.T) {
	v, err := OpenVideo("c", makeVideo(t, 5, 25), VideoConfig{Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var f perception.Frame
	ctx := context.Background()
	if err := v.Read(ctx, &f); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := v.Read(ctx, &f); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Read, want 0", allocs)
	}
}

// TestOpenDeviceErrors opens devices for real: this machine has no camera, so OpenCV's V4L2
// backend fails and the error must say which camera, which device and why.
func TestOpenDeviceErrors(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	regular := filepath.Join(t.TempDir(), "video0")
	if err := os.WriteFile(regular, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		cfg      DeviceConfig
		want     string
		notExist bool
	}{
		{"missing path", DeviceConfig{Device: "/dev/video99", Width: 640, Height: 480, FPS: 30, FourCC: "MJPG"},
			"camera wrist: open /dev/video99: V4L2 could not open it: stat /dev/video99: no such file or directory", true},
		{"missing index", DeviceConfig{Device: "99"}, "camera wrist: open 99: V4L2 could not open it: stat /dev/video99", true},
		{"not a device", DeviceConfig{Device: regular}, "is not a device", false},
		{"no device", DeviceConfig{}, "camera wrist: no device given", false},
		{"fourcc", DeviceConfig{Device: "/dev/video0", FourCC: "MJPEG"}, `fourcc "MJPEG"`, false},
		{"size", DeviceConfig{Device: "/dev/video0", Width: -1}, "want positive", false},
	} {
		cfg := tc.cfg
		cfg.Logger = logger
		d, err := OpenDevice("wrist", cfg)
		if err == nil {
			d.Close()
			t.Errorf("%s: opened", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant %q", tc.name, err, tc.want)
		}
		if errors.Is(err, fs.ErrNotExist) != tc.notExist {
			t.Errorf("%s: errors.Is(err, fs.ErrNotExist) = %v", tc.name, !tc.notExist)
		}
	}
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
