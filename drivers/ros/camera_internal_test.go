package ros

import (
	"strings"
	"testing"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/robotd/robotd/calib"
)

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
