package ros_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/perception"
)

// The camera benchmark's exchange: a publisher process sends 640x480 rgb8 images at 30 Hz,
// stamped just before Publisher.Write, with its message number in the first four bytes;
// a subscriber reports the latency from the stamp to the frame in hand, and the drops
// (message numbers it never got) over a window of frames after a warm-up.
const (
	benchTopic  = "/bench/image_raw"
	benchW      = 640
	benchH      = 480
	benchMaster = "ROBOTD_CAMERA_BENCH_MASTER"
)

// TestCameraBenchPublisher is not a test: it is the publisher process BenchmarkROSCamera
// starts (the same test binary, with ROBOTD_CAMERA_BENCH_MASTER set), so that the
// publisher's encoding and garbage do not share a process with the measured subscriber.
// It publishes until its stdin closes or it is killed.
func TestCameraBenchPublisher(t *testing.T) {
	master := os.Getenv(benchMaster)
	if master == "" {
		t.Skip("the publisher process of BenchmarkROSCamera")
	}
	node, err := goroslib.NewNode(goroslib.NodeConf{MasterAddress: master, Name: "camera_bench_pub",
		LogLevel: goroslib.LogLevelWarn, LogDestinations: goroslib.LogDestinationConsole})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	pub, err := goroslib.NewPublisher(goroslib.PublisherConf{Node: node, Topic: benchTopic, Msg: &sensor_msgs.Image{}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	eof := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(eof) }()
	base := pattern(benchW, benchH, 3)
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	for i := uint32(1); ; i++ {
		select {
		case <-eof:
			return
		case <-tick.C:
		}
		data := slices.Clone(base) // a driver fills a fresh buffer per image
		binary.LittleEndian.PutUint32(data, i)
		pub.Write(&sensor_msgs.Image{Header: std_msgs.Header{Seq: i, Stamp: time.Now(), FrameId: "bench"},
			Width: benchW, Height: benchH, Encoding: "rgb8", Step: 3 * benchW, Data: data})
	}
}

// benchResult is one subscriber's measurement (the rospy peer prints the same JSON).
type benchResult struct {
	P50us  float64 `json:"p50_us"`
	P99us  float64 `json:"p99_us"`
	Frames int     `json:"frames"`
	Drops  int     `json:"drops"`
}

func (r benchResult) report(b *testing.B) {
	b.ReportMetric(r.P50us, "p50-us")
	b.ReportMetric(r.P99us, "p99-us")
	b.ReportMetric(float64(r.Frames), "frames")
	b.ReportMetric(float64(r.Drops), "drops")
}

func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkROSCamera measures 640x480 rgb8 images at 30 Hz over a real rosmaster: the
// latency from the header stamp to the moment Camera.Read returns the frame (p50, p99)
// and the frames dropped, then the same for a rospy subscriber (tools/bench/
// ros_camera_rospy.py, copying each image into a numpy array as Read copies into the
// caller's frame), against the same publisher in the same run. Each sub-benchmark
// measures once whatever b.N is: run it with -benchtime 1x. ROBOTD_CAMERA_BENCH_FRAMES
// (default 300, 10 s) sets the window, after 30 frames of warm-up.
func BenchmarkROSCamera(b *testing.B) {
	frames, warmup := benchEnv("ROBOTD_CAMERA_BENCH_FRAMES", 300), 30
	m := rostest.Start(b)
	pubCmd := exec.Command(os.Args[0], "-test.run", "^TestCameraBenchPublisher$")
	pubCmd.Env = append(m.Env(), benchMaster+"="+m.Addr)
	pubCmd.Stdout, pubCmd.Stderr = os.Stderr, os.Stderr
	stdin, err := pubCmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := pubCmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); pubCmd.Process.Kill(); pubCmd.Wait() })
	timeout := time.Duration(frames+warmup)*time.Second/30 + 30*time.Second

	b.Run("robotd", func(b *testing.B) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cam, err := ros.DialCamera(ctx, ros.CameraConfig{MasterAddress: m.Addr, Topic: benchTopic})
		if err != nil {
			b.Fatal(err)
		}
		defer cam.Close()
		lat := make([]time.Duration, 0, frames)
		var f perception.Frame
		var first, last uint32
		for i := 0; len(lat) < frames; i++ {
			if err := cam.Read(ctx, &f); err != nil {
				b.Fatalf("after %d frames: %v (stats %+v)", i, err, cam.Stats())
			}
			d := time.Since(f.Wall)
			if i < warmup {
				continue
			}
			lat = append(lat, d)
			last = binary.LittleEndian.Uint32(f.Data)
			if first == 0 {
				first = last
			}
		}
		slices.Sort(lat)
		benchResult{
			P50us:  float64(lat[len(lat)/2]) / 1e3,
			P99us:  float64(lat[(len(lat)*99+99)/100-1]) / 1e3,
			Frames: len(lat),
			Drops:  int(last-first+1) - len(lat),
		}.report(b)
	})

	b.Run("rospy", func(b *testing.B) {
		const py = "/usr/bin/python3"
		if _, err := os.Stat(py); err != nil {
			b.Skip("Debian's python3 not installed (scripts/setup.sh bench)")
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		c := exec.CommandContext(ctx, py, "../../tools/bench/ros_camera_rospy.py", "--topic", benchTopic,
			"--frames", strconv.Itoa(frames), "--warmup", strconv.Itoa(warmup))
		c.Env = m.Env()
		c.Stderr = os.Stderr
		out, err := c.Output()
		if err != nil {
			b.Fatalf("ros_camera_rospy.py: %v\n%s", err, out)
		}
		var r benchResult
		lines := bytes.Split(bytes.TrimSpace(out), []byte("\n")) // the last line is the result
		if err := json.Unmarshal(lines[len(lines)-1], &r); err != nil || r.Frames == 0 {
			b.Fatalf("ros_camera_rospy.py printed no result (%v): %s", err, out)
		}
		r.report(b)
	})
}
