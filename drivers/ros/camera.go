package ros

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"

	"github.com/robotd/robotd/clock"
	"github.com/robotd/robotd/perception"
)

// CameraConfig configures a Camera. Zero fields take the documented defaults.
type CameraConfig struct {
	// MasterAddress is the ROS master. Default as ArmConfig's.
	MasterAddress string
	// Topic is the image topic. Required.
	Topic string
	// Transport says what Topic carries: "raw" (sensor_msgs/Image) or "compressed"
	// (sensor_msgs/CompressedImage, JPEG or PNG). Default: "compressed" when Topic ends
	// in /compressed (image_transport's naming), else "raw".
	Transport string
	// Name is the camera's name in robotd (Frame.Camera, observation keys). Default: the
	// topic's last element before image_transport's suffixes, so /camera/scene/image_raw
	// and /camera/scene/image_raw/compressed are both "scene".
	Name string
	// InfoTopic is the sensor_msgs/CameraInfo topic WaitInfo reads. Default: camera_info
	// beside the image topic (/camera/scene/camera_info for the examples above).
	InfoTopic string
	// Node is this camera's node name; it must be unique on the master (a second node of
	// the same name makes the master shut the first one down). Default "robotd_camera" +
	// Topic with its slashes as underscores, unique as long as each topic is read once.
	Node string
	// Backoff as in ArmConfig.
	Backoff time.Duration
	// MasterCheck as in ArmConfig: how often the camera checks that the master still
	// knows it, and subscribes again after a master restart (default 250 ms; negative:
	// no check). Without it, a camera driver that starts after a master restart is never
	// found.
	MasterCheck time.Duration
	// Logger receives the once-per-kind reports of rejected messages (and the master
	// watch's). Default slog.Default().
	Logger *slog.Logger
	// Clock as in ArmConfig: the time base of Now and of Frame.Wall (without
	// /use_sim_time), the backoff and the master checks. Default clock.Real.
	Clock clock.Clock
	// Decode decodes the compressed transport's JPEG and PNG payloads (see ImageDecoder).
	// Default DecodeImage, Go's decoders; robotd passes perception/cv.DecodeImage,
	// OpenCV's, which is faster, allocation-free and bit-exact with cv_bridge.
	Decode ImageDecoder
}

// The transports.
const (
	TransportRaw        = "raw"
	TransportCompressed = "compressed"
)

// WithDefaults returns the config with its zero fields filled.
func (c CameraConfig) WithDefaults() CameraConfig {
	a := ArmConfig{MasterAddress: c.MasterAddress, Backoff: c.Backoff, Logger: c.Logger, MasterCheck: c.MasterCheck, Clock: c.Clock}.WithDefaults()
	c.MasterAddress, c.Backoff, c.Logger, c.MasterCheck, c.Clock = a.MasterAddress, a.Backoff, a.Logger, a.MasterCheck, a.Clock
	base := strings.TrimSuffix(c.Topic, "/compressed")
	if c.Transport == "" {
		c.Transport = TransportRaw
		if base != c.Topic {
			c.Transport = TransportCompressed
		}
	}
	if c.Name == "" {
		name := path.Base(base)
		if strings.HasPrefix(name, "image") && path.Dir(base) != "/" && path.Dir(base) != "." {
			name = path.Base(path.Dir(base))
		}
		c.Name = name
	}
	if c.InfoTopic == "" && c.Topic != "" {
		c.InfoTopic = path.Join(path.Dir(base), "camera_info")
	}
	if c.Node == "" {
		c.Node = "robotd_camera" + rosName(c.Topic)
	}
	if c.Decode == nil {
		c.Decode = DecodeImage
	}
	return c
}

// rosName replaces what a ROS graph name may not contain.
func rosName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// Validate checks the config after defaults.
func (c CameraConfig) Validate() error {
	if c.Topic == "" || strings.ContainsAny(c.Topic, " \t") {
		return fmt.Errorf("ros: camera config: Topic %q: want an image topic name", c.Topic)
	}
	if c.Transport != TransportRaw && c.Transport != TransportCompressed {
		return fmt.Errorf("ros: camera config: Transport %q: want %q or %q", c.Transport, TransportRaw, TransportCompressed)
	}
	if c.Name == "" || c.Name == "/" || c.Name == "." {
		return fmt.Errorf("ros: camera config: no Name given and none follows from topic %q", c.Topic)
	}
	if c.Backoff < 0 {
		return fmt.Errorf("ros: camera config: Backoff %v must be positive", c.Backoff)
	}
	return nil
}

// ImageReject is why an image message was dropped.
type ImageReject int

// The kinds of rejected image messages.
const (
	ImageBadEncoding ImageReject = iota // an encoding (or compressed format) robotd does not read
	ImageBadSize                        // zero size, a row step shorter than a row, or data not step*height bytes
	ImageBigEndian                      // 16UC1 or 32FC1 flagged is_bigendian
	ImageUndecodable                    // a compressed payload that is not a decodable JPEG or PNG
	numImageRejects
)

var imageRejectNames = [numImageRejects]string{"encoding", "size", "big-endian", "undecodable"}

func (r ImageReject) String() string {
	if r >= 0 && r < numImageRejects {
		return imageRejectNames[r]
	}
	return fmt.Sprintf("ImageReject(%d)", int(r))
}

// CameraStats counts what a Camera received and delivered. Received = Delivered + Dropped
// + Rejected[ImageUndecodable] + the message waiting for Read, if any; messages rejected
// on arrival (the other kinds) are not in Received.
type CameraStats struct {
	Received  uint64                  // messages accepted on arrival (they number Frame.Seq)
	Delivered uint64                  // frames returned by Read
	Dropped   uint64                  // accepted messages replaced by a newer one before any Read took them
	Rejected  [numImageRejects]uint64 // dropped as malformed, by ImageReject
	// Reregistrations counts registrations with a restarted master (CameraConfig.MasterCheck).
	Reregistrations uint64
}

// ErrCameraClosed is returned by Read after Close.
var ErrCameraClosed = errors.New("ros: camera closed")

// pending is an accepted message waiting for Read. The subscriber callback fills one and
// hands it over by an atomic swap; Read owns it once it swapped it out, and gives it back
// through the free slot for reuse.
type pending struct {
	img    *sensor_msgs.Image           // raw transport
	cimg   *sensor_msgs.CompressedImage // compressed transport
	format perception.Format            // raw: the frame format of img's encoding
	seq    uint64
	time   time.Duration
	wall   time.Time
}

// Camera is a perception.Camera over a ROS image topic: sensor_msgs/Image in rgb8, bgr8,
// mono8, 16UC1 or 32FC1 (as perception's RGB8, BGR8, Mono8, Depth16 in millimetres and
// Depth32F in metres; rows are copied without their padding), or sensor_msgs/CompressedImage
// in JPEG or PNG, decoded by CameraConfig.Decode (Go's decoders unless OpenCV's is given)
// into BGR8 (colour), Mono8 (grey) or Depth16 (16-bit grey PNG).
//
// Latest value: the subscriber keeps only the newest accepted message; Read returns it (or
// waits for one newer than the last it returned), and a message replaced before any Read
// took it counts as dropped. Frame.Seq numbers the accepted messages from 1, so a gap in
// it is the number of frames dropped since the previous Read (perception.Latest counts
// them as Gaps). Compressed payloads are decoded by Read, and only the newest: a dropped
// one costs no decoding, and an undecodable one is found (counted, logged once, skipped)
// when Read takes it.
//
// Times: Frame.Time is the header stamp as time since the Unix epoch, the time base of
// Arm's State.Time; a message without a stamp gets the receipt time on the node's ROS
// clock (/clock under /use_sim_time). Now reads that clock: pass it as the session clock
// (perception.NewLatest, observation times). Frame.Wall is the stamp when ROS time is the
// wall clock, and the receipt wall time under /use_sim_time (whose stamps are simulation
// time).
//
// Malformed messages (see ImageReject) are counted per kind and the first of each kind is
// logged. Read allocates nothing once dst.Data has held a frame of the stream's size, for
// a compressed frame if the decoder allocates nothing: perception/cv.DecodeImage does not
// (the decoded image lives in OpenCV's memory until it is copied out), Go's DecodeImage
// allocates its decoded image.
//
// After a master restart the camera subscribes again (within CameraConfig.MasterCheck of
// the master's return), so a camera driver that starts afterwards is found; a driver
// connected before the restart stays connected (see masterWatch).
type Camera struct {
	cfg     CameraConfig
	log     *slog.Logger
	node    *goroslib.Node
	sub     *goroslib.Subscriber
	watch   *masterWatch
	simTime bool

	newest atomic.Pointer[pending]
	free   atomic.Pointer[pending]
	wake   chan struct{}

	received  atomic.Uint64
	delivered atomic.Uint64
	dropped   atomic.Uint64
	rejects   [numImageRejects]atomic.Uint64
	logged    [numImageRejects]atomic.Bool

	closeOnce sync.Once
	closed    chan struct{}
}

// DialCamera connects to the master (retrying with backoff until ctx ends) and subscribes
// the image topic.
func DialCamera(ctx context.Context, cfg CameraConfig) (*Camera, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Camera{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), closed: make(chan struct{})}
	node, err := connect(ctx, cfg.Clock, cfg.MasterAddress, cfg.Node, cfg.Backoff)
	if err != nil {
		return nil, err
	}
	c.node = node
	// goroslib reads the same parameter when the node starts and then follows /clock.
	c.simTime, _ = node.ParamGetBool("/use_sim_time")
	var cb any = c.onImage
	if cfg.Transport == TransportCompressed {
		cb = c.onCompressed
	}
	if c.sub, err = goroslib.NewSubscriber(goroslib.SubscriberConf{Node: node, Topic: cfg.Topic, Callback: cb}); err != nil {
		closeNode(node)
		return nil, fmt.Errorf("ros: camera %s: subscribe %s: %w", cfg.Name, cfg.Topic, err)
	}
	if c.watch, err = watchMaster(node, cfg.Clock, cfg.MasterAddress, cfg.Node, cfg.MasterCheck, cfg.Logger); err != nil {
		c.sub.Close()
		closeNode(node)
		return nil, fmt.Errorf("ros: camera %s: %w", cfg.Name, err)
	}
	return c, nil
}

// Name implements perception.Camera.
func (c *Camera) Name() string { return c.cfg.Name }

// Config is the configuration in use, defaults filled.
func (c *Camera) Config() CameraConfig { return c.cfg }

// Now is the node's ROS time as time since the Unix epoch, Frame.Time's time base: the
// /clock time under /use_sim_time, otherwise CameraConfig.Clock's reading (clock.Real:
// the wall clock read through Go's monotonic clock, so it never steps backwards with the
// system time). It is a perception.Clock.
func (c *Camera) Now() time.Duration {
	if c.simTime {
		return time.Duration(c.node.TimeNow().UnixNano())
	}
	return c.cfg.Clock.Now()
}

// Close implements perception.Camera: it leaves the ROS graph; a Read waiting for a frame
// returns ErrCameraClosed, as does every later Read.
func (c *Camera) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.watch.stop()
		c.sub.Close()
		closeNode(c.node)
	})
	return nil
}

// Stats returns the message counters.
func (c *Camera) Stats() CameraStats {
	st := CameraStats{Received: c.received.Load(), Delivered: c.delivered.Load(), Dropped: c.dropped.Load(),
		Reregistrations: c.watch.reregistrations()}
	for i := range st.Rejected {
		st.Rejected[i] = c.rejects[i].Load()
	}
	return st
}

// rawFormats maps the sensor_msgs/Image encodings robotd reads to frame formats.
func rawFormat(encoding string) perception.Format {
	switch encoding {
	case "rgb8":
		return perception.RGB8
	case "bgr8":
		return perception.BGR8
	case "mono8", "8UC1":
		return perception.Mono8
	case "16UC1":
		return perception.Depth16
	case "32FC1":
		return perception.Depth32F
	}
	return ""
}

// onImage is the raw transport's subscriber callback: it checks the message and makes it
// the newest.
func (c *Camera) onImage(m *sensor_msgs.Image) {
	f := rawFormat(m.Encoding)
	if f == "" {
		c.reject(ImageBadEncoding, fmt.Sprintf("encoding %q (want rgb8, bgr8, mono8, 16UC1 or 32FC1)", m.Encoding))
		return
	}
	row := int(m.Width) * f.BytesPerPixel()
	if m.Width == 0 || m.Height == 0 || int(m.Step) < row || len(m.Data) != int(m.Step)*int(m.Height) {
		c.reject(ImageBadSize, fmt.Sprintf("%dx%d %s, step %d (a row needs %d), %d data bytes (want step*height = %d)",
			m.Width, m.Height, m.Encoding, m.Step, row, len(m.Data), int(m.Step)*int(m.Height)))
		return
	}
	if m.IsBigendian != 0 && f.BytesPerPixel() > 1 {
		c.reject(ImageBigEndian, fmt.Sprintf("%dx%d %s flagged is_bigendian (robotd reads little-endian)", m.Width, m.Height, m.Encoding))
		return
	}
	p := c.slot()
	p.img, p.format = m, f
	c.accept(p, m.Header.Stamp)
}

// onCompressed is the compressed transport's subscriber callback. The payload is decoded
// by Read; here only its format and signature are checked.
func (c *Camera) onCompressed(m *sensor_msgs.CompressedImage) {
	format := strings.ToLower(m.Format)
	if strings.Contains(format, "compresseddepth") ||
		!(format == "" || strings.Contains(format, "jpeg") || strings.Contains(format, "jpg") || strings.Contains(format, "png")) {
		c.reject(ImageBadEncoding, fmt.Sprintf("format %q (want jpeg or png; compressedDepth is not read)", m.Format))
		return
	}
	if !isJPEG(m.Data) && !isPNG(m.Data) {
		c.reject(ImageUndecodable, fmt.Sprintf("format %q, %d bytes that start with neither a JPEG nor a PNG signature", m.Format, len(m.Data)))
		return
	}
	p := c.slot()
	p.cimg = m
	c.accept(p, m.Header.Stamp)
}

func isJPEG(b []byte) bool { return len(b) > 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff }

func isPNG(b []byte) bool { return len(b) > 8 && string(b[:8]) == "\x89PNG\r\n\x1a\n" }

// slot returns a pending to fill: a recycled one, or a new one while warming up.
func (c *Camera) slot() *pending {
	if p := c.free.Swap(nil); p != nil {
		return p
	}
	return new(pending)
}

// accept stamps p and makes it the newest message, replacing (and counting as dropped) one
// that no Read took.
func (c *Camera) accept(p *pending, stamp time.Time) {
	wall := time.Unix(0, int64(c.cfg.Clock.Now()))
	if stamp.IsZero() || stamp.Equal(time.Unix(0, 0)) {
		stamp = c.node.TimeNow() // as Arm does: the receipt time on the ROS clock
	}
	p.time = time.Duration(stamp.UnixNano())
	p.wall = stamp
	if c.simTime {
		p.wall = wall
	}
	p.seq = c.received.Add(1)
	if old := c.newest.Swap(p); old != nil {
		c.dropped.Add(1)
		c.recycle(old)
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Camera) recycle(p *pending) {
	*p = pending{}
	c.free.Store(p)
}

func (c *Camera) reject(r ImageReject, detail string) {
	c.rejects[r].Add(1)
	if !c.logged[r].Swap(true) {
		c.log.Warn("ros: dropping image messages (logged once per kind; see Camera.Stats)",
			"camera", c.cfg.Name, "topic", c.cfg.Topic, "kind", r.String(), "first", detail)
	}
}

// Read implements perception.Camera: it writes the newest frame not yet returned into dst
// (reusing dst.Data), waiting for one when there is none. It returns ctx.Err() when ctx
// ends and ErrCameraClosed after Close.
func (c *Camera) Read(ctx context.Context, dst *perception.Frame) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case <-c.closed:
			return ErrCameraClosed
		default:
		}
		if p := c.newest.Swap(nil); p != nil {
			ok := c.frame(p, dst)
			c.recycle(p)
			if ok {
				c.delivered.Add(1)
				return nil
			}
			continue
		}
		select {
		case <-c.wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closed:
			return ErrCameraClosed
		}
	}
}

// frame converts p into dst; false means p was rejected (an undecodable payload).
func (c *Camera) frame(p *pending, dst *perception.Frame) bool {
	if p.img != nil {
		m := p.img
		w, h, step := int(m.Width), int(m.Height), int(m.Step)
		row := w * p.format.BytesPerPixel()
		data := grow(dst.Data, row*h)
		if step == row {
			copy(data, m.Data)
		} else {
			for y := range h {
				copy(data[y*row:(y+1)*row], m.Data[y*step:])
			}
		}
		c.fill(dst, p, p.format, w, h, data)
		return true
	}
	if kind, why := c.decode(dst, p.cimg.Format, p.cimg.Data); why != "" {
		c.reject(kind, why)
		return false
	}
	c.fill(dst, p, dst.Format, dst.Width, dst.Height, dst.Data)
	return true
}

func (c *Camera) fill(dst *perception.Frame, p *pending, f perception.Format, w, h int, data []byte) {
	*dst = perception.Frame{Camera: c.cfg.Name, Seq: p.seq, Time: p.time, Wall: p.wall, Format: f, Width: w, Height: h, Data: data}
}

// grow returns b resized to n bytes, reallocated only when too small.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

var _ perception.Camera = (*Camera)(nil)
