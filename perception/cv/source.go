package cv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/robotd/robotd/perception"
)

// DeviceConfig selects and configures a V4L2 camera.
type DeviceConfig struct {
	// Device is a device path (/dev/video0, /dev/v4l/by-id/...) or an index ("0").
	Device string
	// Width and Height are the capture size in pixels; 0 keeps the driver's. A camera
	// that does not deliver the requested size is an error (a pipeline built for it would
	// refuse every frame).
	Width, Height int
	// FPS is the requested frame rate; 0 keeps the driver's. A different rate is logged.
	FPS float64
	// FourCC is the pixel format on the wire ("MJPG", "YUYV"); "" keeps the driver's. A
	// refused format is logged (frames still arrive as BGR, decoded by OpenCV).
	FourCC string
	// Clock stamps Frame.Time when a frame has been read; nil means perception.Monotonic.
	Clock func() time.Duration
	// Logger receives the warnings about settings the camera did not take; nil means
	// slog.Default().
	Logger *slog.Logger
}

// VideoConfig configures a video file source.
type VideoConfig struct {
	// RealTime delivers each frame when its time in the file has elapsed since the first
	// Read (on Clock), as a camera would; otherwise Read returns frames as fast as they
	// decode.
	RealTime bool
	// Loop starts over at the end of the file instead of returning io.EOF; frame times
	// keep increasing across passes.
	Loop bool
	// FPS is the frame rate of an image sequence (which has no timestamps); default 30.
	// Ignored for video files, whose timestamps are used.
	FPS float64
	// Clock paces RealTime playback and stamps its frames; nil means perception.Monotonic.
	Clock func() time.Duration
}

// source is what Device and Video share: an OpenCV capture, one reused Mat, the frame
// numbering and the expected frame size.
type source struct {
	mu     sync.Mutex // held by Read and Close: Close waits for a Read in progress
	name   string
	what   string // device or path, for errors
	cap    *gocv.VideoCapture
	mat    gocv.Mat
	width  int
	height int
	seq    uint64
	closed bool
}

func (s *source) Name() string { return s.name }

// Close releases the capture. It waits for a Read in progress and is safe to call twice.
func (s *source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.mat.Close()
	return s.cap.Close()
}

// grab reads the next frame into s.mat and checks it. ok is false when the capture has
// no frame to give (end of file, device gone). A frame of another size or type counts in
// the numbering and is refused with an error wrapping perception.ErrFrameMismatch.
func (s *source) grab() (ok bool, err error) {
	if !s.cap.Read(&s.mat) || s.mat.Empty() {
		return false, nil
	}
	s.seq++
	if s.mat.Cols() != s.width || s.mat.Rows() != s.height || s.mat.Type() != gocv.MatTypeCV8UC3 {
		return true, fmt.Errorf("camera %s: frame %d: %dx%d with %d channel(s), the stream is %dx%d bgr8: %w",
			s.name, s.seq, s.mat.Cols(), s.mat.Rows(), s.mat.Channels(), s.width, s.height, perception.ErrFrameMismatch)
	}
	return true, nil
}

// deliver copies s.mat into dst (reusing dst.Data) and stamps it.
func (s *source) deliver(dst *perception.Frame, t time.Duration) error {
	pix, err := s.mat.DataPtrUint8()
	if err != nil {
		return fmt.Errorf("camera %s: frame %d: %w", s.name, s.seq, err)
	}
	data := dst.Data
	if cap(data) < len(pix) {
		data = make([]byte, len(pix))
	}
	data = data[:len(pix)]
	copy(data, pix)
	*dst = perception.Frame{Camera: s.name, Seq: s.seq, Time: t, Wall: time.Now(),
		Format: perception.BGR8, Width: s.width, Height: s.height, Data: data}
	return nil
}

// Device is a V4L2 camera read through OpenCV. It implements perception.Camera.
type Device struct {
	source
	clock func() time.Duration
}

var _ perception.Camera = (*Device)(nil)

// OpenDevice opens and configures a V4L2 camera. Settings are applied in the order V4L2
// needs (pixel format, size, rate) and read back: a size the camera does not deliver is an
// error; a different rate or format is logged as a warning.
func OpenDevice(name string, cfg DeviceConfig) (*Device, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("camera %s: open %s: %s", name, cfg.Device, fmt.Sprintf(format, a...))
	}
	if cfg.Device == "" {
		return nil, fmt.Errorf("camera %s: no device given (a path like /dev/video0 or an index)", name)
	}
	if cfg.FourCC != "" && len(cfg.FourCC) != 4 {
		return nil, fail("fourcc %q: want 4 characters, like MJPG or YUYV", cfg.FourCC)
	}
	if cfg.Width < 0 || cfg.Height < 0 || cfg.FPS < 0 || math.IsNaN(cfg.FPS) || math.IsInf(cfg.FPS, 0) {
		return nil, fail("size %dx%d at %v fps: want positive values (or 0 for the driver's)", cfg.Width, cfg.Height, cfg.FPS)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	clock := cfg.Clock
	if clock == nil {
		clock = perception.Monotonic
	}

	var vc *gocv.VideoCapture
	var err error
	if idx, aerr := strconv.Atoi(cfg.Device); aerr == nil {
		vc, err = gocv.VideoCaptureDeviceWithAPI(idx, gocv.VideoCaptureV4L2)
	} else {
		vc, err = gocv.VideoCaptureFileWithAPI(cfg.Device, gocv.VideoCaptureV4L2)
	}
	if err != nil || !vc.IsOpened() {
		if vc != nil {
			vc.Close()
		}
		return nil, fmt.Errorf("camera %s: open %s: %w", name, cfg.Device, whyNotOpened(cfg.Device))
	}
	if cfg.FourCC != "" {
		vc.Set(gocv.VideoCaptureFOURCC, vc.ToCodec(cfg.FourCC))
	}
	if cfg.Width > 0 {
		vc.Set(gocv.VideoCaptureFrameWidth, float64(cfg.Width))
	}
	if cfg.Height > 0 {
		vc.Set(gocv.VideoCaptureFrameHeight, float64(cfg.Height))
	}
	if cfg.FPS > 0 {
		vc.Set(gocv.VideoCaptureFPS, cfg.FPS)
	}
	w, h := int(vc.Get(gocv.VideoCaptureFrameWidth)), int(vc.Get(gocv.VideoCaptureFrameHeight))
	if w <= 0 || h <= 0 || (cfg.Width > 0 && w != cfg.Width) || (cfg.Height > 0 && h != cfg.Height) {
		vc.Close()
		return nil, fail("the camera delivers %dx%d, asked for %dx%d (see v4l2-ctl --list-formats-ext)", w, h, cfg.Width, cfg.Height)
	}
	if got := vc.Get(gocv.VideoCaptureFPS); cfg.FPS > 0 && math.Abs(got-cfg.FPS) > 0.01*cfg.FPS {
		log.Warn("camera: frame rate not taken", "camera", name, "device", cfg.Device, "asked", cfg.FPS, "got", got)
	}
	if cfg.FourCC != "" {
		if got := fourCCString(vc.Get(gocv.VideoCaptureFOURCC)); got != cfg.FourCC {
			log.Warn("camera: pixel format not taken", "camera", name, "device", cfg.Device, "asked", cfg.FourCC, "got", got)
		}
	}
	return &Device{
		source: source{name: name, what: cfg.Device, cap: vc, mat: gocv.NewMat(), width: w, height: h},
		clock:  clock,
	}, nil
}

// whyNotOpened explains a device OpenCV could not open, from what the file system says
// (errors.Is finds fs.ErrNotExist, fs.ErrPermission).
func whyNotOpened(dev string) error {
	if _, err := strconv.Atoi(dev); err == nil {
		dev = "/dev/video" + dev
	}
	st, err := os.Stat(dev)
	switch {
	case err != nil:
		return fmt.Errorf("V4L2 could not open it: %w", err)
	case st.Mode()&os.ModeCharDevice == 0:
		return fmt.Errorf("V4L2 could not open it: %s is not a device", dev)
	}
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("V4L2 could not open it: %w", err)
	}
	f.Close()
	return errors.New("V4L2 could not open it as a capture device (busy, or not a video capture node)")
}

// fourCCString decodes the numeric FOURCC property.
func fourCCString(v float64) string {
	n := uint32(v)
	b := []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}
	return strings.TrimRight(string(b), "\x00")
}

// Read blocks until the camera's next frame and writes it into dst. A frame of another
// size than the camera was opened with returns an error wrapping
// perception.ErrFrameMismatch; the next Read continues. A camera that stops delivering
// (unplugged) returns an error. ctx is checked before and after the read (OpenCV's read
// cannot be interrupted; it returns within a frame period or the driver's timeout).
func (d *Device) Read(ctx context.Context, dst *perception.Frame) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("camera %s: read after Close", d.name)
	}
	ok, err := d.grab()
	if !ok {
		return fmt.Errorf("camera %s: read %s: no frame (device unplugged or stream stopped)", d.name, d.what)
	}
	if err != nil {
		return err
	}
	t := d.clock()
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.deliver(dst, t)
}

// Video is a video file (anything OpenCV's FFmpeg backend decodes: mp4, mkv, avi) or an
// image sequence (a printf pattern such as frames/%04d.png) played as a camera. It
// implements perception.Camera.
type Video struct {
	source
	cfg     VideoConfig
	clock   func() time.Duration
	images  bool
	period  time.Duration // one frame at the file's rate
	pending bool          // s.mat holds the first frame, decoded by OpenVideo

	pos    time.Duration // position of the frame in s.mat within the current pass
	last   time.Duration // position of the previous frame in this pass
	frames int           // frames read in this pass
	offset time.Duration // length of the passes before this one (Loop)
	start  time.Duration // RealTime: clock reading at the first frame
	timer  *time.Timer
}

var _ perception.Camera = (*Video)(nil)

// OpenVideo opens a video file or image sequence and decodes its first frame, so a file
// that is missing, corrupt or empty fails here. Frame.Time is the frame's position in the
// file (plus the length of earlier passes when looping), or with RealTime the Clock
// reading at the first frame plus that position.
func OpenVideo(name, path string, cfg VideoConfig) (*Video, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("camera %s: open %s: %s", name, path, fmt.Sprintf(format, a...))
	}
	if cfg.FPS < 0 || math.IsNaN(cfg.FPS) || math.IsInf(cfg.FPS, 0) {
		return nil, fail("fps %v: want > 0 (or 0 for the default)", cfg.FPS)
	}
	images := strings.Contains(path, "%")
	if !images {
		if st, err := os.Stat(path); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is in the message already
			}
			return nil, fmt.Errorf("camera %s: open %s: %w", name, path, err)
		} else if st.IsDir() {
			return nil, fail("a directory (an image sequence is a pattern such as %s/%%04d.png)", path)
		}
	}
	api := gocv.VideoCaptureFFmpeg
	if images {
		// OpenCV's own image reader delivers each image at its size; FFmpeg's image2
		// demuxer would silently rescale images of another size to the first one's.
		api = gocv.VideoCaptureImages
	}
	vc, err := gocv.VideoCaptureFileWithAPI(path, api)
	if err != nil || !vc.IsOpened() {
		if vc != nil {
			vc.Close()
		}
		if images {
			return nil, fail("no image matches the pattern, or the first one does not decode")
		}
		return nil, fail("OpenCV (FFmpeg) cannot decode it as a video: corrupt, truncated or not a video file")
	}
	v := &Video{
		source: source{name: name, what: path, cap: vc, mat: gocv.NewMat()},
		cfg:    cfg, images: images, clock: cfg.Clock,
	}
	if v.clock == nil {
		v.clock = perception.Monotonic
	}
	fps := vc.Get(gocv.VideoCaptureFPS)
	if images || !(fps > 0) || math.IsInf(fps, 0) {
		fps = cfg.FPS
		if fps == 0 {
			fps = 30
		}
	}
	v.period = time.Duration(float64(time.Second) / fps)
	if !vc.Read(&v.mat) || v.mat.Empty() {
		v.Close()
		return nil, fail("no frame decodes: an empty or corrupt file")
	}
	if v.mat.Type() != gocv.MatTypeCV8UC3 {
		v.Close()
		return nil, fail("frames have %d channel(s), want 3 (BGR)", v.mat.Channels())
	}
	v.width, v.height = v.mat.Cols(), v.mat.Rows()
	v.pending = true
	return v, nil
}

// Size returns the frame size of the stream (the first frame's).
func (v *Video) Size() (width, height int) { return v.width, v.height }

// Read writes the next frame into dst. At the end of the file it returns io.EOF, or with
// Loop starts over. A frame of another size than the first returns an error wrapping
// perception.ErrFrameMismatch; the next Read continues with the following frame.
func (v *Video) Read(ctx context.Context, dst *perception.Frame) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return fmt.Errorf("camera %s: read after Close", v.name)
	}
	var err error
	if v.pending {
		v.pending = false
		v.seq++
	} else {
		var ok bool
		ok, err = v.grab()
		if !ok {
			if !v.cfg.Loop {
				return io.EOF
			}
			// the next pass starts one frame period after this one's last frame
			v.offset += v.last + v.period
			v.frames = 0
			v.cap.Set(gocv.VideoCapturePosFrames, 0)
			if ok, err = v.grab(); !ok {
				return fmt.Errorf("camera %s: %s: no frame after rewinding", v.name, v.what)
			}
		}
	}
	v.position()
	if err != nil {
		return err
	}
	t := v.offset + v.pos
	if v.cfg.RealTime {
		if v.seq == 1 {
			v.start = v.clock()
		}
		t += v.start
		if err := v.wait(ctx, t); err != nil {
			return err
		}
	}
	return v.deliver(dst, t)
}

// position sets v.pos to the position of the frame just read. OpenCV reports it as
// CAP_PROP_POS_MSEC, except for image sequences (no timestamps: frame index / FPS) and for
// the frames an H.264 decoder hands out only at the end of the file, which come without a
// timestamp (OpenCV reports 0): those get the previous position plus one frame period.
func (v *Video) position() {
	v.frames++
	pos := time.Duration(float64(v.frames-1) * float64(v.period))
	if !v.images {
		ms := v.cap.Get(gocv.VideoCapturePosMsec)
		pos = time.Duration(ms * float64(time.Millisecond))
		if v.frames > 1 && pos <= v.last {
			pos = v.last + v.period
		}
	}
	v.last, v.pos = pos, pos
}

// wait sleeps until the clock reads t or ctx ends.
func (v *Video) wait(ctx context.Context, t time.Duration) error {
	d := t - v.clock()
	if d <= 0 {
		return nil
	}
	if v.timer == nil {
		v.timer = time.NewTimer(d)
	} else {
		v.timer.Reset(d)
	}
	select {
	case <-ctx.Done():
		v.timer.Stop()
		return ctx.Err()
	case <-v.timer.C:
		return nil
	}
}
