package rosbridge_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/robotd/robotd/calib"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/sim/rosbridge"
	"github.com/robotd/robotd/sim/rosbridge/bridgetest"
)

// TestCamerasOverROS: what Cameras publishes, read back by Camera and WaitInfo (and
// by Debian's rostopic), is exactly what the simulation renders and its intrinsics.
func TestCamerasOverROS(t *testing.T) {
	const w, h = 160, 120
	m := rostest.Start(t)
	sc, arm := bridgetest.NewCameras(t, m, rosbridge.CamerasConfig{Width: w, Height: h,
		Cameras: []rosbridge.CameraConfig{{Camera: "scene", Depth: true}}})
	rgbCam := dialCamera(t, m, ros.CameraConfig{Topic: "/camera/scene/image_raw"})
	depthCam := dialCamera(t, m, ros.CameraConfig{Topic: "/camera/scene/depth/image_raw", Name: "scene_depth"})
	s := arm.Sim()
	id, err := s.ID(mujoco.ObjCamera, "scene")
	if err != nil {
		t.Fatal(err)
	}
	f, cx, cy := s.CameraIntrinsics(id, w, h)
	wantIn := calib.NewIntrinsics("scene", w, h, [9]float64{f, 0, cx, 0, f, cy, 0, 0, 1}, [5]float64{})

	stop := bridgetest.Stepping(t, sc, func(d time.Duration) error { _, err := arm.Tick(d); return err })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	in, err := rgbCam.WaitInfo(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if in != wantIn {
		t.Errorf("CameraInfo over ROS:\n%+v\nSim.CameraIntrinsics:\n%+v", in, wantIn)
	}
	if got, _ := sc.Intrinsics("scene"); got != wantIn {
		t.Errorf("Cameras.Intrinsics %+v", got)
	}
	if in, err := ros.WaitCameraInfo(ctx, ros.CameraInfoConfig{MasterAddress: m.Addr, Topic: "/camera/scene/depth/camera_info", Name: "scene"}); err != nil || in != wantIn {
		t.Errorf("depth CameraInfo: %+v, %v", in, err)
	}
	echo := m.MustRun(t, 30*time.Second, "rostopic", "echo", "-n", "1", "/camera/scene/camera_info")
	stop()
	checkEcho(t, echo, wantIn)

	// Lockstep: step, render and publish, then read until the frame of this very state
	// arrives (earlier ones may still be in flight) and compare with a local render.
	local, err := mujoco.NewRenderer(s, w, h)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	rgb, depth := make([]byte, 3*w*h), make([]float32, w*h)
	var got, gotDepth perception.Frame
	for _, step := range []time.Duration{100 * time.Millisecond, 40 * time.Millisecond} {
		if _, err := arm.Tick(step); err != nil {
			t.Fatal(err)
		}
		if n, err := sc.Publish(); err != nil || n != 1 {
			t.Fatalf("Publish after %v: %d rendered, %v", step, n, err)
		}
		stamp := time.Duration(sc.Now().UnixNano())
		for _, rd := range []struct {
			cam *ros.Camera
			f   *perception.Frame
		}{{rgbCam, &got}, {depthCam, &gotDepth}} {
			for rd.f.Time != stamp {
				if err := rd.cam.Read(ctx, rd.f); err != nil {
					t.Fatalf("%s: no frame stamped %v: %v (last %v)", rd.cam.Name(), stamp, err, rd.f.Time)
				}
			}
		}
		if err := local.Render(id, rgb, depth); err != nil {
			t.Fatal(err)
		}
		if got.Format != perception.RGB8 || got.Width != w || got.Height != h || !bytes.Equal(got.Data, rgb) {
			t.Errorf("at %v: image over ROS (%dx%d %s) differs from the local render", step, got.Width, got.Height, got.Format)
		}
		wantDepth := make([]byte, 4*w*h)
		for i, v := range depth {
			binary.LittleEndian.PutUint32(wantDepth[4*i:], math.Float32bits(v))
		}
		if gotDepth.Format != perception.Depth32F || !bytes.Equal(gotDepth.Data, wantDepth) {
			t.Errorf("at %v: depth over ROS (%s) differs from the local render", step, gotDepth.Format)
		}
		if want := sim0.Add(arm.Now()); !got.Wall.Equal(want) || !gotDepth.Wall.Equal(want) {
			t.Errorf("stamps %v / %v, want epoch + sim time %v", got.Wall, gotDepth.Wall, want)
		}
	}
	if bytes.Equal(rgb, make([]byte, len(rgb))) {
		t.Error("the render is black")
	}
}

var sim0 = time.Unix(1, 0) // the default epoch

// checkEcho checks what rostopic echo printed of a CameraInfo against in.
func checkEcho(t *testing.T, out string, in calib.Intrinsics) {
	t.Helper()
	for _, s := range []string{
		"height: " + strconv.Itoa(in.Height) + "\n", "width: " + strconv.Itoa(in.Width) + "\n",
		`distortion_model: "plumb_bob"`, `frame_id: "scene_optical_frame"`,
		"D: [0.0, 0.0, 0.0, 0.0, 0.0]", "R: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("rostopic echo: no %q in\n%s", s, out)
		}
	}
	// Stamps are simulated time from the epoch at 1 s; how far the stepping got before
	// rostopic caught a message depends on the machine's load.
	if !regexp.MustCompile(`(?m)^    secs: [1-9]\d*$`).MatchString(out) {
		t.Errorf("rostopic echo: no stamp at or after the simulation's epoch (1 s) in\n%s", out)
	}
	for name, want := range map[string][]float64{"K": in.K[:], "P": in.P[:]} {
		mm := regexp.MustCompile(`(?m)^` + name + `: \[(.*)\]$`).FindStringSubmatch(out)
		if mm == nil {
			t.Errorf("rostopic echo: no %s in\n%s", name, out)
			continue
		}
		fields := strings.Split(mm[1], ", ")
		if len(fields) != len(want) {
			t.Errorf("rostopic echo: %s has %d values, want %d", name, len(fields), len(want))
			continue
		}
		for i, f := range fields {
			// Python prints the shortest repr that reads back exactly.
			if v, err := strconv.ParseFloat(f, 64); err != nil || v != want[i] {
				t.Errorf("rostopic echo: %s[%d] = %s, want %v", name, i, f, want[i])
			}
		}
	}
}

// TestCamerasRate: Publish renders a camera when its period has elapsed in simulation
// time, so 1 s of 1 ms steps gives 31 images at 30 Hz (t = 0 and 30 periods) and 101 at
// 100 Hz, and a reset (time going back) renders at once.
func TestCamerasRate(t *testing.T) {
	m := rostest.Start(t)
	for _, tc := range []struct {
		period time.Duration
		want   uint64
	}{{0, 31}, {10 * time.Millisecond, 101}} {
		sc, arm := bridgetest.NewCameras(t, m, rosbridge.CamerasConfig{Width: 32, Height: 24, Period: tc.period, Node: "rate" + tc.period.String(),
			Cameras: []rosbridge.CameraConfig{{Camera: "scene", Namespace: "/rate" + strconv.Itoa(int(tc.want))}}})
		for i := 0; i <= 1000; i++ {
			if i > 0 {
				if _, err := arm.Tick(time.Millisecond); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := sc.Publish(); err != nil {
				t.Fatal(err)
			}
		}
		if got := sc.Stats().Rendered; got != tc.want {
			t.Errorf("period %v: %d images in 1 s, want %d", tc.period, got, tc.want)
		}
		if err := arm.Reset(); err != nil {
			t.Fatal(err)
		}
		if n, err := sc.Publish(); n != 1 || err != nil {
			t.Errorf("period %v: Publish after a reset rendered %d (%v), want 1", tc.period, n, err)
		}
	}
}

// dialCamera is the ROS client's Camera on m, closed when the test ends.
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
