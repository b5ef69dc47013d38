package convert

import (
	"bytes"
	"context"
	"math"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/episode"
)

// TestRecordedBag: a session recorded live, as on a robot: a rospy node publishes joint
// states, commands and a camera through a real rosmaster, Debian's `rosbag record` writes
// the bag, and robotd convert makes it a dataset. Receive times are not the generator's
// schedule, so the check is what must hold anyway: about 30 frames per recorded second,
// each frame's state and action values of published messages from nearly the same
// instant (their k at most 20 messages apart: the topics' own delivery skew), k never
// going back on either, and the camera's frames, which carry k in their red channel, no
// newer than the frame's state (give or take the skew and H.264's error).
func TestRecordedBag(t *testing.T) {
	for _, tool := range []string{"rosbag", "roscore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: run scripts/setup.sh (Debian's ROS packages)", tool)
		}
	}
	m := rostest.Start(t)
	dir := t.TempDir()
	bag := filepath.Join(dir, "session.bag")
	rec := m.Command("rosbag", "record", "-O", bag, "/joint_states", "/joint_commands", "/front/image_raw")
	var recOut bytes.Buffer
	rec.Stdout, rec.Stderr = &recOut, &recOut
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	defer rec.Process.Kill()
	pub := m.Command("/usr/bin/python3", "testdata/teleop_pub.py", "3")
	if out, err := pub.CombinedOutput(); err != nil {
		t.Fatalf("teleop_pub.py: %v\n%s", err, out)
	}
	rec.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- rec.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("rosbag record did not end 20 s after SIGINT")
	}
	cfg := Config{
		State:   Stream{Topic: "/joint_states", Names: []string{"panda_joint1", "panda_joint2", "panda_joint3", "panda_joint4", "panda_joint5", "panda_joint6", "panda_joint7"}},
		Action:  Stream{Topic: "/joint_commands"},
		Cameras: []Camera{{Name: "front", Topic: "/front/image_raw"}},
	}
	res, err := Convert(context.Background(), cfg, []string{bag}, filepath.Join(dir, "ds"))
	if err != nil {
		t.Fatalf("%v\nrosbag record:\n%s", err, recOut.String())
	}
	e := res.Episodes[0]
	t.Logf("%d frames over %v from %d messages", e.Frames, e.Duration, e.Messages)
	if e.Frames < 75 || e.Frames > 105 {
		t.Errorf("%d frames from a 3 s session at 30 fps", e.Frames)
	}
	ds, err := episode.Open(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ds.Episode(0)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ds.OpenVideo(0, "observation.images.front")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	prev, prevA := -1.0, -1.0
	for f := range d.State {
		ks := (float64(d.State[f][0]) - 0.1) / 0.01   // the joint state's k
		ka := (-float64(d.Action[f][0]) - 0.1) / 0.02 // the command's k
		if math.Abs(ks-math.Round(ks)) > 1e-3 || math.Abs(ka-math.Round(ka)) > 1e-3 {
			t.Fatalf("frame %d: state %v, action %v: not a published message's values", f, d.State[f][:2], d.Action[f][:2])
		}
		// The two topics reach rosbag over their own connections: under load one lags the
		// other by tens of milliseconds (6 messages seen), which the receive times keep.
		if math.Abs(ks-ka) > 20 || ks < prev || ka < prevA {
			t.Errorf("frame %d: joint state k %.0f, command k %.0f; the previous frame's %.0f, %.0f", f, ks, ka, prev, prevA)
		}
		prev, prevA = ks, ka
		rgb, err := v.Next()
		if err != nil {
			t.Fatal(err)
		}
		mid := len(rgb) / 2 / 3 * 3
		if kimg := float64(rgb[mid]); int(ks)%256 >= 32 && kimg > math.Mod(ks, 256)+32 { // H.264 error and the skew
			t.Errorf("frame %d: camera image from k %.0f, newer than the joint state's %.0f", f, kimg, ks)
		}
	}
}
