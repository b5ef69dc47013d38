package rosbridge

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/robotd/robotd/calib"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/sim/mujoco"
)

// CameraConfig is one MuJoCo camera served by Cameras.
type CameraConfig struct {
	// Camera is the MJCF <camera> to render. Required.
	Camera string
	// Name is the camera's name (Intrinsics.Name, default topic names). Default Camera.
	Name string
	// Namespace holds the camera's topics: <Namespace>/image_raw (sensor_msgs/Image rgb8)
	// and <Namespace>/camera_info, and with Depth also <Namespace>/depth/image_raw (32FC1,
	// metres along the optical axis; pixels that show nothing read as the far clipping
	// distance, mujoco.Sim.ClipPlanes) and <Namespace>/depth/camera_info.
	// Default "/camera/<Name>".
	Namespace string
	// Depth also publishes the depth image, drawn by the same render as the colour one.
	Depth bool
	// FrameID is the headers' frame_id. Default "<Name>_optical_frame".
	FrameID string
}

// CamerasConfig configures Cameras. Zero fields take the documented defaults.
type CamerasConfig struct {
	// MasterAddress is the ROS master. Default as ros.ArmConfig's.
	MasterAddress string
	// Node is the publishers' node name. Default "robotd_sim_cameras".
	Node string
	// Cameras are the cameras to serve. Required.
	Cameras []CameraConfig
	// Width and Height are the image size; it must fit the model's offscreen buffer.
	// Default 640x480.
	Width, Height int
	// Period is the time between two images of a camera, in simulation time.
	// Default 1/30 s.
	Period time.Duration
	// Epoch is the ROS time of simulation time zero; use the Server's, so that images
	// and joint states share a time base. Default as ServerConfig's.
	Epoch time.Time
	// Backoff as in ros.ArmConfig.
	Backoff time.Duration
	// MasterCheck as in ros.ArmConfig: how often the node checks that the master still
	// knows it, and advertises the cameras' topics again after a master restart
	// (default 250 ms; negative: no check).
	MasterCheck time.Duration
}

// WithDefaults returns the config with its zero fields filled (Cameras are copied).
func (c CamerasConfig) WithDefaults() CamerasConfig {
	s := ServerConfig{MasterAddress: c.MasterAddress, Backoff: c.Backoff, Epoch: c.Epoch, MasterCheck: c.MasterCheck}.WithDefaults()
	c.MasterAddress, c.Backoff, c.Epoch, c.MasterCheck = s.MasterAddress, s.Backoff, s.Epoch, s.MasterCheck
	if c.Node == "" {
		c.Node = ros.DefaultSimNode + "_cameras"
	}
	if c.Width == 0 && c.Height == 0 {
		c.Width, c.Height = perception.DefaultWidth, perception.DefaultHeight
	}
	if c.Period == 0 {
		c.Period = time.Second / 30
	}
	c.Cameras = slices.Clone(c.Cameras)
	for i := range c.Cameras {
		cam := &c.Cameras[i]
		if cam.Name == "" {
			cam.Name = cam.Camera
		}
		if cam.Namespace == "" {
			cam.Namespace = "/camera/" + cam.Name
		}
		cam.Namespace = "/" + strings.Trim(cam.Namespace, "/")
		if cam.FrameID == "" {
			cam.FrameID = cam.Name + "_optical_frame"
		}
	}
	return c
}

// Validate checks the config after defaults.
func (c CamerasConfig) Validate() error {
	if len(c.Cameras) == 0 {
		return errors.New("rosbridge: cameras: no Cameras configured")
	}
	if c.Width <= 0 || c.Height <= 0 {
		return fmt.Errorf("rosbridge: cameras: image size %dx%d: want positive", c.Width, c.Height)
	}
	if c.Period <= 0 || c.Backoff < 0 {
		return fmt.Errorf("rosbridge: cameras: Period %v and Backoff %v must be positive", c.Period, c.Backoff)
	}
	seen := map[string]bool{}
	for _, cam := range c.Cameras {
		if cam.Camera == "" {
			return errors.New("rosbridge: cameras: a camera without its MJCF Camera name")
		}
		if seen[cam.Namespace] {
			return fmt.Errorf("rosbridge: cameras: two cameras publish under %s", cam.Namespace)
		}
		seen[cam.Namespace] = true
	}
	return nil
}

// CamerasStats counts rendered and published images.
type CamerasStats struct {
	Rendered  uint64 // images drawn by Publish (a colour image and its depth image count once)
	Published uint64 // images handed to goroslib; a rendered image replaced by a newer one of its camera before the publisher took it is not published
	// Reregistrations counts registrations with a restarted master (CamerasConfig.MasterCheck).
	Reregistrations uint64
}

// shot is one render, passed from the stepping goroutine to the publisher goroutine.
type shot struct {
	rgb   []byte
	depth []float32 // nil without Depth
	t     time.Duration
}

type simCam struct {
	cfg   CameraConfig
	id    int
	intr  calib.Intrinsics
	pubs  []*goroslib.Publisher // image, info[, depth image, depth info]
	shots *ros.Mailbox[*shot]

	// stepping goroutine
	started    bool
	last, next time.Duration

	// publisher goroutine
	seq uint32
}

// Cameras publishes images of a MuJoCo simulation's cameras as a ROS camera driver
// would: sensor_msgs/Image (rgb8, and optionally 32FC1 depth) with sensor_msgs/CameraInfo
// (the exact pinhole model, mujoco.Sim.CameraIntrinsics), stamped with the simulation
// time (ROS time = Epoch + simulation time, Server's convention).
//
// A Sim cannot be stepped and rendered at once, so the goroutine that steps the
// simulation also calls Publish between steps: Publish renders each camera whose period
// has elapsed in simulation time into a preallocated buffer (allocation-free) and returns;
// Cameras' own goroutine builds the messages and writes them (goroslib's
// Publisher.Write blocks), taking the newest render of each camera through a latest-value
// mailbox.
//
// After a master restart the topics are advertised again (within
// CamerasConfig.MasterCheck of the master's return), so subscribers that start
// afterwards find them.
type Cameras struct {
	cfg   CamerasConfig
	sim   *mujoco.Sim
	r     *mujoco.Renderer
	node  *goroslib.Node
	watch *ros.MasterWatch
	cams  []*simCam

	rendered  atomic.Uint64
	published atomic.Uint64

	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// NewCameras checks the cameras against s, makes a renderer for them, connects to the
// master (retrying until ctx ends) and advertises the topics. Close releases all of it
// (not s).
func NewCameras(ctx context.Context, s *mujoco.Sim, cfg CamerasConfig) (*Cameras, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sc := &Cameras{cfg: cfg, sim: s, wake: make(chan struct{}, 1)}
	for _, cc := range cfg.Cameras {
		id, err := s.ID(mujoco.ObjCamera, cc.Camera)
		if err != nil {
			return nil, fmt.Errorf("rosbridge: cameras: %w", err)
		}
		f, cx, cy := s.CameraIntrinsics(id, cfg.Width, cfg.Height)
		c := &simCam{cfg: cc, id: id,
			intr: calib.NewIntrinsics(cc.Name, cfg.Width, cfg.Height, [9]float64{f, 0, cx, 0, f, cy, 0, 0, 1}, [5]float64{}),
			shots: ros.NewMailbox(func() *shot {
				sh := &shot{rgb: make([]byte, 3*cfg.Width*cfg.Height)}
				if cc.Depth {
					sh.depth = make([]float32, cfg.Width*cfg.Height)
				}
				return sh
			}),
		}
		sc.cams = append(sc.cams, c)
	}
	var err error
	if sc.r, err = mujoco.NewRenderer(s, cfg.Width, cfg.Height); err != nil {
		return nil, fmt.Errorf("rosbridge: cameras: %w", err)
	}
	if sc.node, err = ros.Connect(ctx, cfg.MasterAddress, cfg.Node, cfg.Backoff); err != nil {
		sc.r.Close()
		return nil, err
	}
	for _, c := range sc.cams {
		topics := []string{c.cfg.Namespace + "/image_raw", c.cfg.Namespace + "/camera_info"}
		if c.cfg.Depth {
			topics = append(topics, c.cfg.Namespace+"/depth/image_raw", c.cfg.Namespace+"/depth/camera_info")
		}
		for i, topic := range topics {
			var msg any = &sensor_msgs.Image{}
			if i%2 == 1 {
				msg = &sensor_msgs.CameraInfo{}
			}
			p, err := goroslib.NewPublisher(goroslib.PublisherConf{Node: sc.node, Topic: topic, Msg: msg})
			if err != nil {
				sc.closeGraph()
				return nil, fmt.Errorf("rosbridge: cameras: advertise %s: %w", topic, err)
			}
			c.pubs = append(c.pubs, p)
		}
	}
	if sc.watch, err = ros.WatchMaster(sc.node, cfg.MasterAddress, cfg.Node, cfg.MasterCheck, nil); err != nil {
		sc.closeGraph()
		return nil, fmt.Errorf("rosbridge: cameras: %w", err)
	}
	var pctx context.Context
	pctx, sc.cancel = context.WithCancel(context.Background())
	sc.done = make(chan struct{})
	go sc.run(pctx)
	return sc, nil
}

// Intrinsics returns the calibration published for camera name (CameraConfig.Name).
func (sc *Cameras) Intrinsics(name string) (calib.Intrinsics, bool) {
	for _, c := range sc.cams {
		if c.cfg.Name == name {
			return c.intr, true
		}
	}
	return calib.Intrinsics{}, false
}

// Now is the ROS time of the simulation's current state (what Publish stamps).
func (sc *Cameras) Now() time.Time { return sc.cfg.Epoch.Add(sc.simTime()) }

func (sc *Cameras) simTime() time.Duration { return time.Duration(math.Round(sc.sim.Time() * 1e9)) }

// Publish renders every camera whose period has elapsed in simulation time since its
// previous image (and every camera on the first call, or after the simulation time went
// backwards, as on a reset) and hands the images to the publisher goroutine. It returns
// how many cameras it rendered. Call it from the goroutine that steps the Sim, between
// steps; it allocates nothing and never waits for the network.
func (sc *Cameras) Publish() (int, error) {
	now := sc.simTime()
	n := 0
	for _, c := range sc.cams {
		if c.started && now >= c.last && now < c.next {
			continue
		}
		sh := c.shots.Back()
		if err := sc.r.Render(c.id, sh.rgb, sh.depth); err != nil {
			return n, fmt.Errorf("rosbridge: camera %s: %w", c.cfg.Name, err)
		}
		sh.t = now
		c.shots.Publish()
		if !c.started || now < c.last {
			c.next = now
		}
		c.started, c.last = true, now
		if c.next += sc.cfg.Period; c.next <= now {
			c.next = now + sc.cfg.Period // fell behind by more than a period: no burst
		}
		n++
	}
	if n > 0 {
		sc.rendered.Add(uint64(n))
		select {
		case sc.wake <- struct{}{}:
		default:
		}
	}
	return n, nil
}

// run owns the publishers: it sends the newest render of each camera each time it wakes.
// goroslib keeps a written message until every subscriber's connection has encoded it, so
// each message gets fresh data (allocated here, off the stepping goroutine).
func (sc *Cameras) run(ctx context.Context) {
	defer close(sc.done)
	w, h := sc.cfg.Width, sc.cfg.Height
	for {
		select {
		case <-ctx.Done():
			return
		case <-sc.wake:
		}
		for _, c := range sc.cams {
			if !c.shots.Take() {
				continue
			}
			sh := c.shots.Front()
			c.seq++
			hdr := std_msgs.Header{Seq: c.seq, Stamp: sc.cfg.Epoch.Add(sh.t), FrameId: c.cfg.FrameID}
			c.pubs[0].Write(&sensor_msgs.Image{Header: hdr, Width: uint32(w), Height: uint32(h),
				Encoding: "rgb8", Step: uint32(3 * w), Data: slices.Clone(sh.rgb)})
			c.pubs[1].Write(ros.CameraInfoMessage(hdr, &c.intr))
			if c.cfg.Depth {
				data := make([]byte, 4*len(sh.depth))
				for i, v := range sh.depth {
					binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
				}
				c.pubs[2].Write(&sensor_msgs.Image{Header: hdr, Width: uint32(w), Height: uint32(h),
					Encoding: "32FC1", Step: uint32(4 * w), Data: data})
				c.pubs[3].Write(ros.CameraInfoMessage(hdr, &c.intr))
			}
			sc.published.Add(1)
		}
	}
}

// Stats returns the counters.
func (sc *Cameras) Stats() CamerasStats {
	return CamerasStats{Rendered: sc.rendered.Load(), Published: sc.published.Load(),
		Reregistrations: sc.watch.Reregistrations()}
}

// Close stops the publisher goroutine, leaves the ROS graph and frees the renderer.
func (sc *Cameras) Close() {
	sc.watch.Stop()
	sc.cancel()
	<-sc.done
	sc.closeGraph()
}

func (sc *Cameras) closeGraph() {
	var closers []func()
	for _, c := range sc.cams {
		for _, p := range c.pubs {
			closers = append(closers, p.Close)
		}
		c.pubs = nil
	}
	ros.CloseAll(closers...)
	ros.CloseNode(sc.node)
	sc.r.Close()
}
