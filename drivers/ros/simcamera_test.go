package ros_test

import (
	"context"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"

	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/sim/rosbridge"
	"github.com/robotd/robotd/sim/rosbridge/bridgetest"
)

// TestCameraSimTime: under /use_sim_time a Camera's clock is the simulator's /clock, the
// images the sim's Cameras (sim/rosbridge) publish carry its Server's stamps (epoch + simulation time), and
// an unstamped image gets the /clock time, as the Arm does for joint states.
func TestCameraSimTime(t *testing.T) {
	m := rostest.Start(t)
	m.MustRun(t, 30*time.Second, "rosparam", "set", "/use_sim_time", "true")
	sc, arm := bridgetest.NewCameras(t, m, rosbridge.CamerasConfig{Width: 32, Height: 24, Cameras: []rosbridge.CameraConfig{{Camera: "scene"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := rosbridge.NewServer(ctx, arm, rosbridge.ServerConfig{MasterAddress: m.Addr, Clock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cam := dialCamera(t, m, ros.CameraConfig{Topic: "/camera/scene/image_raw"})
	unstamped := dialCamera(t, m, ros.CameraConfig{Topic: "/plain/image_raw"})

	var f perception.Frame
	for f.Seq == 0 { // step until the camera has a frame (its subscription is up)
		if err := srv.Step(50 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.Publish(); err != nil {
			t.Fatal(err)
		}
		rctx, rcancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err := cam.Read(rctx, &f)
		rcancel()
		if ctx.Err() != nil {
			t.Fatalf("no image over ROS: %v (%+v)", err, cam.Stats())
		}
	}
	if err := srv.Step(50 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if n, err := sc.Publish(); n != 1 || err != nil {
		t.Fatalf("Publish: %d, %v", n, err)
	}
	now := srv.Now()
	if !sc.Now().Equal(now) {
		t.Fatalf("Cameras.Now %v, Server.Now %v", sc.Now(), now)
	}
	for f.Time != time.Duration(now.UnixNano()) {
		if err := cam.Read(ctx, &f); err != nil {
			t.Fatalf("no image stamped %v: %v (last %v)", now, err, f.Time)
		}
	}
	if d := time.Since(f.Wall); d < 0 || d > 10*time.Second {
		t.Errorf("Wall %v under /use_sim_time: want the receipt's wall time", f.Wall)
	}
	for cam.Now() != time.Duration(now.UnixNano()) {
		if ctx.Err() != nil {
			t.Fatalf("camera clock %v, /clock published %v", cam.Now(), now)
		}
		srv.Publish() // /clock again, unchanged
		time.Sleep(time.Millisecond)
	}

	node := testNode(t, m, "plain")
	pub := advertise(t, node, "/plain/image_raw", &sensor_msgs.Image{})
	stop := repeating(pub, func() any {
		return &sensor_msgs.Image{Width: 2, Height: 1, Encoding: "mono8", Step: 2, Data: []byte{1, 2}}
	})
	defer stop()
	var g perception.Frame
	for g.Time != time.Duration(now.UnixNano()) {
		srv.Publish()
		if err := unstamped.Read(ctx, &g); err != nil {
			t.Fatalf("unstamped image: %v (time %v, want the /clock time %v)", err, g.Time, now)
		}
	}
}
