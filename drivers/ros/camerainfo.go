package ros

import (
	"context"
	"fmt"
	"path"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/robotd/robotd/calib"
)

// CameraInfoConfig says where WaitCameraInfo reads a camera's calibration.
type CameraInfoConfig struct {
	// MasterAddress is the ROS master. Default as ArmConfig's.
	MasterAddress string
	// Topic is the sensor_msgs/CameraInfo topic. Required.
	Topic string
	// Name becomes Intrinsics.Name (CameraInfo carries no camera name). Default: the
	// topic's namespace, "scene" for /camera/scene/camera_info.
	Name string
	// Node is the node name used while waiting. Default "robotd_camera_info_<Name>".
	Node string
	// Timeout bounds the wait for the first message (on top of ctx). Default 5 s.
	Timeout time.Duration
	// Backoff as in ArmConfig.
	Backoff time.Duration
}

// DefaultCameraInfoTimeout is CameraInfoConfig.Timeout's default.
const DefaultCameraInfoTimeout = 5 * time.Second

// WaitCameraInfo connects to the master, waits for the first sensor_msgs/CameraInfo on
// cfg.Topic (at most cfg.Timeout, and until ctx ends) and returns it as calib.Intrinsics.
// A message that calib.Intrinsics cannot represent (see the conversion rules at
// Camera.WaitInfo) is an error, not something to wait past: a camera publishes the same
// calibration every frame.
func WaitCameraInfo(ctx context.Context, cfg CameraInfoConfig) (calib.Intrinsics, error) {
	if cfg.Topic == "" {
		return calib.Intrinsics{}, fmt.Errorf("ros: camera info: no Topic given")
	}
	if cfg.Name == "" {
		if cfg.Name = path.Base(path.Dir(cfg.Topic)); cfg.Name == "/" || cfg.Name == "." {
			cfg.Name = "camera"
		}
	}
	if cfg.Node == "" {
		cfg.Node = "robotd_camera_info_" + rosName(cfg.Name)
	}
	a := ArmConfig{MasterAddress: cfg.MasterAddress, Backoff: cfg.Backoff}.WithDefaults()
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultCameraInfoTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	node, err := connect(ctx, a.Clock, a.MasterAddress, cfg.Node, a.Backoff)
	if err != nil {
		return calib.Intrinsics{}, err
	}
	defer node.Close()
	return waitCameraInfo(ctx, node, cfg.Topic, cfg.Name, cfg.Timeout)
}

// WaitInfo waits for the first sensor_msgs/CameraInfo on the camera's InfoTopic (at most
// timeout, 0 meaning DefaultCameraInfoTimeout, and until ctx ends) and returns it as
// calib.Intrinsics named after the camera.
//
// Conversion: width, height, K, R and P are copied. distortion_model plumb_bob takes 5
// coefficients (4 read as k3 = 0, none as no distortion); rational_polynomial takes 8 and
// is accepted when k4, k5, k6 are zero (it is then plumb_bob; calib.Intrinsics holds no
// other model). Any other model, binning, a region of interest smaller than the image, or
// a K that calib.Intrinsics.Validate refuses (an uncalibrated camera's all-zero K) is an
// error naming what was wrong.
func (c *Camera) WaitInfo(ctx context.Context, timeout time.Duration) (calib.Intrinsics, error) {
	if timeout <= 0 {
		timeout = DefaultCameraInfoTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return waitCameraInfo(ctx, c.node, c.cfg.InfoTopic, c.cfg.Name, timeout)
}

func waitCameraInfo(ctx context.Context, node *goroslib.Node, topic, name string, timeout time.Duration) (calib.Intrinsics, error) {
	got := make(chan *sensor_msgs.CameraInfo, 1)
	sub, err := goroslib.NewSubscriber(goroslib.SubscriberConf{Node: node, Topic: topic,
		Callback: func(m *sensor_msgs.CameraInfo) {
			select {
			case got <- m:
			default:
			}
		}})
	if err != nil {
		return calib.Intrinsics{}, fmt.Errorf("ros: camera %s: subscribe %s: %w", name, topic, err)
	}
	defer sub.Close()
	select {
	case m := <-got:
		in, err := intrinsicsFromCameraInfo(name, m)
		if err != nil {
			return in, fmt.Errorf("ros: camera %s: %s: %w", name, topic, err)
		}
		return in, nil
	case <-ctx.Done():
		return calib.Intrinsics{}, fmt.Errorf("ros: camera %s: no sensor_msgs/CameraInfo on %s within %v (is the camera driver publishing it?): %w",
			name, topic, timeout, ctx.Err())
	}
}

// intrinsicsFromCameraInfo converts a CameraInfo message (rules at Camera.WaitInfo).
func intrinsicsFromCameraInfo(name string, m *sensor_msgs.CameraInfo) (calib.Intrinsics, error) {
	in := calib.Intrinsics{Name: name, Width: int(m.Width), Height: int(m.Height), K: m.K, R: m.R, P: m.P}
	switch m.DistortionModel {
	case "plumb_bob", "":
		if m.DistortionModel == "" && len(m.D) != 0 {
			return in, fmt.Errorf("camera_info: %d distortion coefficients without a distortion_model", len(m.D))
		}
		if len(m.D) != 0 && len(m.D) != 4 && len(m.D) != 5 {
			return in, fmt.Errorf("camera_info: plumb_bob with %d coefficients %v: want 5 (k1 k2 p1 p2 k3)", len(m.D), m.D)
		}
		copy(in.D[:], m.D)
	case "rational_polynomial":
		if len(m.D) != 8 {
			return in, fmt.Errorf("camera_info: rational_polynomial with %d coefficients %v: want 8 (k1 k2 p1 p2 k3 k4 k5 k6)", len(m.D), m.D)
		}
		if m.D[5] != 0 || m.D[6] != 0 || m.D[7] != 0 {
			return in, fmt.Errorf("camera_info: rational_polynomial with k4 k5 k6 = %v: calib.Intrinsics holds plumb_bob only (k1 k2 p1 p2 k3); recalibrate with plumb_bob", m.D[5:])
		}
		copy(in.D[:], m.D[:5])
	default:
		return in, fmt.Errorf("camera_info: distortion_model %q not supported: want plumb_bob or rational_polynomial", m.DistortionModel)
	}
	if m.BinningX > 1 || m.BinningY > 1 {
		return in, fmt.Errorf("camera_info: binning %dx%d not supported: want 0 or 1 (images at the calibrated resolution)", m.BinningX, m.BinningY)
	}
	roi := m.Roi
	if !(roi.Width == 0 && roi.Height == 0 && roi.XOffset == 0 && roi.YOffset == 0) &&
		!(roi.XOffset == 0 && roi.YOffset == 0 && roi.Width == m.Width && roi.Height == m.Height) {
		return in, fmt.Errorf("camera_info: region of interest %dx%d at (%d, %d) of a %dx%d image not supported: want the full image",
			roi.Width, roi.Height, roi.XOffset, roi.YOffset, m.Width, m.Height)
	}
	if err := in.Validate(); err != nil {
		return in, fmt.Errorf("camera_info: %w", err)
	}
	return in, nil
}

// cameraInfoMsg is in as a CameraInfo message (plumb_bob, no binning, full image).
func cameraInfoMsg(h std_msgs.Header, in *calib.Intrinsics) *sensor_msgs.CameraInfo {
	return &sensor_msgs.CameraInfo{
		Header: h, Width: uint32(in.Width), Height: uint32(in.Height),
		DistortionModel: calib.DistortionModel, D: append([]float64(nil), in.D[:]...),
		K: in.K, R: in.R, P: in.P,
	}
}
