package mujoco

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/sim"
)

// cameraTestModel is a grey ground whose top face is the plane z = 0, a red marker at
// (+0.3, +0.2) and a green one at (-0.3, -0.2) (2 cm tall, 10 cm square), seen by "down", a
// camera 1.2345 m above the origin looking straight down (image right = +x, image up = +y),
// and by "tilted", 1 m up looking along +y and 45 degrees down. The near and far planes and
// the extent are not MuJoCo's defaults, so a depth conversion that ignored any of them would
// be off. Nothing moves. The 1 ms timestep makes 33 ms a whole number of steps.
const cameraTestModel = `<mujoco model="camera_test">
  <option timestep="0.001"/>
  <statistic extent="2" center="0 0 0"/>
  <visual>
    <global offwidth="160" offheight="120"/>
    <map znear="0.02" zfar="20"/>
    <quality shadowsize="0" offsamples="0"/>
    <headlight ambient="0.5 0.5 0.5" diffuse="0.5 0.5 0.5"/>
  </visual>
  <worldbody>
    <geom name="ground" type="box" pos="0 0 -0.1" size="10 10 0.1" rgba="0.5 0.5 0.5 1"/>
    <geom name="red" type="box" pos="0.3 0.2 0.01" size="0.05 0.05 0.01" rgba="1 0 0 1"/>
    <geom name="green" type="box" pos="-0.3 -0.2 0.01" size="0.05 0.05 0.01" rgba="0 1 0 1"/>
    <camera name="down" pos="0 0 1.2345" fovy="60"/>
    <camera name="tilted" pos="0 -1 1" xyaxes="1 0 0 0 1 1" fovy="45"/>
  </worldbody>
</mujoco>`

func loadCameraTestModel(t testing.TB) *Sim {
	t.Helper()
	path := filepath.Join(t.TempDir(), "camera_test.xml")
	if err := os.WriteFile(path, []byte(cameraTestModel), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newCamera(t testing.TB, r *Renderer, cfg CameraConfig) *Camera {
	t.Helper()
	c, err := NewCamera(r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readFrame(t testing.TB, c *Camera, f *perception.Frame) {
	t.Helper()
	if err := c.Read(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(); err != nil {
		t.Fatal(err)
	}
}

// pixelRay is the direction, in world coordinates, of the ray through the centre of pixel
// (x, y) of a w x h image from camera id (pinhole: focal length (h/2)/tan(fovy/2), principal
// point at the centre, rows top-down), scaled so that it advances 1 m along the viewing axis.
func pixelRay(s *Sim, id, w, h, x, y int) (origin, dir [3]float64) {
	pos, rot := s.CameraPose(id)
	f := float64(h) / 2 / math.Tan(s.CameraFovy(id)*math.Pi/360)
	c := [3]float64{(float64(x) + 0.5 - float64(w)/2) / f, -(float64(y) + 0.5 - float64(h)/2) / f, -1}
	for i := range 3 {
		for j := range 3 {
			dir[i] += rot[3*i+j] * c[j]
		}
	}
	return pos, dir
}

// project is the pixel position (x right, y down, in pixels from the top-left corner) at which
// camera id of a w x h image sees world point p.
func project(s *Sim, id, w, h int, p [3]float64) (u, v float64) {
	pos, rot := s.CameraPose(id)
	var c [3]float64
	for j := range 3 {
		for i := range 3 {
			c[j] += rot[3*i+j] * (p[i] - pos[i])
		}
	}
	f := float64(h) / 2 / math.Tan(s.CameraFovy(id)*math.Pi/360)
	return float64(w)/2 + f*c[0]/-c[2], float64(h)/2 - f*c[1]/-c[2]
}

func TestCameraDepthOfAPlane(t *testing.T) {
	s := loadCameraTestModel(t)
	const w, h = 160, 120
	r := newRenderer(t, s, w, h)
	if near, far := s.ClipPlanes(); math.Abs(near-0.04) > 1e-9 || math.Abs(far-40) > 1e-9 {
		t.Fatalf("ClipPlanes = %v, %v; want 0.02 and 20 times the extent 2", near, far)
	}
	for _, name := range []string{"down", "tilted"} {
		c := newCamera(t, r, CameraConfig{Camera: name, Format: perception.Depth32F})
		if c.Name() != name+"_depth" {
			t.Errorf("Name() = %q", c.Name())
		}
		var f perception.Frame
		readFrame(t, c, &f)
		if f.Format != perception.Depth32F || f.Width != w || f.Height != h {
			t.Fatalf("%s: frame %dx%d %s", name, f.Width, f.Height, f.Format)
		}
		// Expected: where the ray of each pixel meets the plane z = 0, away from the markers.
		var worst, sum float64
		var worstX, worstY, n int
		lo, hi := math.Inf(1), 0.0
		for y := range h {
			for x := range w {
				o, d := pixelRay(s, c.ID(), w, h, x, y)
				want := -o[2] / d[2]
				hx, hy := o[0]+want*d[0], o[1]+want*d[1]
				if math.Abs(math.Abs(hx)-0.3) < 0.15 && math.Abs(math.Abs(hy)-0.2) < 0.15 {
					continue // a marker, or its shadow in depth
				}
				got := float64(math.Float32frombits(binary.LittleEndian.Uint32(f.Data[4*(y*w+x):])))
				if e := math.Abs(got - want); e > worst {
					worst, worstX, worstY = e, x, y
				}
				sum += math.Abs(got - want)
				lo, hi = min(lo, want), max(hi, want)
				n++
			}
		}
		t.Logf("%s: %d pixels of the plane at %.4f to %.4f m: mean error %.2g m, worst %.2g m at (%d, %d)",
			name, n, lo, hi, sum/float64(n), worst, worstX, worstY)
		if worst > 1e-3 || n < w*h/2 {
			t.Errorf("%s: depth off by up to %.4f m at (%d, %d) over %d pixels; want within 1 mm", name, worst,
				worstX, worstY, n)
		}
		if name == "down" && (math.Abs(lo-1.2345) > 1e-9 || math.Abs(hi-1.2345) > 1e-9) {
			t.Errorf("down: expected depth %v to %v, want 1.2345 everywhere", lo, hi)
		}
		if name == "tilted" && hi-lo < 1 {
			t.Errorf("tilted: the plane spans only %.3f to %.3f m", lo, hi)
		}
	}
}

// TestCameraOrientation checks that images come top-down and unmirrored: the red marker,
// up and to the right of the "down" camera's axis, is seen in the top right, where the pinhole
// model puts it, and the green one in the bottom left.
func TestCameraOrientation(t *testing.T) {
	s := loadCameraTestModel(t)
	const w, h = 160, 120
	r := newRenderer(t, s, w, h)
	c := newCamera(t, r, CameraConfig{Camera: "down"})
	var f perception.Frame
	readFrame(t, c, &f)
	if f.Format != perception.RGB8 || c.Name() != "down" {
		t.Fatalf("format %s, name %q", f.Format, c.Name())
	}
	for _, m := range []struct {
		name    string
		pos     [3]float64
		channel int
		top     bool
	}{
		{"red", [3]float64{0.3, 0.2, 0.02}, 0, true},
		{"green", [3]float64{-0.3, -0.2, 0.02}, 1, false},
	} {
		var su, sv float64
		n := 0
		for y := range h {
			for x := range w {
				p := f.Data[3*(y*w+x):]
				if p[m.channel] > 150 && p[(m.channel+1)%3] < 80 && p[(m.channel+2)%3] < 80 {
					su += float64(x) + 0.5
					sv += float64(y) + 0.5
					n++
				}
			}
		}
		if n == 0 {
			t.Fatalf("no %s pixels", m.name)
		}
		su, sv = su/float64(n), sv/float64(n)
		u, v := project(s, c.ID(), w, h, m.pos)
		t.Logf("%s marker: %d pixels centred at (%.2f, %.2f); projects to (%.2f, %.2f)", m.name, n, su, sv, u, v)
		if math.Abs(su-u) > 0.5 || math.Abs(sv-v) > 0.5 {
			t.Errorf("%s marker centred at (%.2f, %.2f), projects to (%.2f, %.2f)", m.name, su, sv, u, v)
		}
		if top := sv < h/2; top != m.top || (su > w/2) != m.top {
			t.Errorf("%s marker at (%.1f, %.1f): wrong quadrant", m.name, su, sv)
		}
	}
}

// TestCameraFrames drives the reference scene's arm and reads the scene camera: frames change
// when the arm moves and not when it does not; Seq counts from 1; Time is the simulation clock.
func TestCameraFrames(t *testing.T) {
	arm, err := NewArm(sim.Scene{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(arm.Close)
	r := newRenderer(t, arm.Sim(), 96, 96)
	c := newCamera(t, r, CameraConfig{Camera: "scene"})

	var a, b perception.Frame
	start := time.Now()
	readFrame(t, c, &a)
	if a.Seq != 1 || a.Time != 0 || a.Camera != "scene" || a.Wall.Before(start) || a.Wall.After(time.Now()) {
		t.Errorf("first frame: seq %d, time %v, camera %q, wall %v", a.Seq, a.Time, a.Camera, a.Wall)
	}
	readFrame(t, c, &b)
	if b.Seq != 2 || b.Time != 0 || string(a.Data) != string(b.Data) {
		t.Errorf("second frame without stepping: seq %d, time %v, same image %v", b.Seq, b.Time,
			string(a.Data) == string(b.Data))
	}
	// Let the unpowered arm fall for 200 ms: time advances and the picture changes.
	for range 200 {
		if _, err := arm.Tick(time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	readFrame(t, c, &b)
	changed := 0
	for i := 0; i < len(b.Data); i += 3 {
		if absDiff(a.Data[i], b.Data[i])+absDiff(a.Data[i+1], b.Data[i+1])+absDiff(a.Data[i+2], b.Data[i+2]) > 30 {
			changed++
		}
	}
	t.Logf("after 200 ms of the arm falling: %d of %d pixels changed", changed, 96*96)
	if b.Seq != 3 || b.Time != 200*time.Millisecond || b.Time != arm.Now() || changed < 96*96/100 {
		t.Errorf("after 200 ms: seq %d, time %v (arm %v), %d pixels changed", b.Seq, b.Time, arm.Now(), changed)
	}
	// The depth stream of the same camera: its own name and count, same clock.
	d := newCamera(t, r, CameraConfig{Camera: "scene", Format: perception.Depth32F})
	var df perception.Frame
	readFrame(t, d, &df)
	if df.Camera != "scene_depth" || df.Seq != 1 || df.Time != arm.Now() {
		t.Errorf("depth frame: camera %q seq %d time %v", df.Camera, df.Seq, df.Time)
	}
}

func TestCameraErrors(t *testing.T) {
	s := loadScene(t)
	r := newRenderer(t, s, 32, 32)
	_, err := NewCamera(r, CameraConfig{Camera: "front"})
	if err == nil || !strings.Contains(err.Error(), `"front"`) || !strings.Contains(err.Error(), "cameras: scene, wrist") {
		t.Errorf("unknown camera: %v; want an error listing the model's cameras", err)
	}
	if _, err := NewCamera(r, CameraConfig{Camera: "scene", Format: perception.BGR8}); err == nil ||
		!strings.Contains(err.Error(), "bgr8") || !strings.Contains(err.Error(), "depth32f") {
		t.Errorf("BGR8: %v", err)
	}
	c := newCamera(t, r, CameraConfig{Camera: "wrist", Name: "hand"})
	if c.Name() != "hand" {
		t.Errorf("Name() = %q", c.Name())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var f perception.Frame
	if err := c.Read(ctx, &f); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a cancelled context = %v", err)
	}
	r.Close()
	if err := c.Read(context.Background(), &f); !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "hand") {
		t.Errorf("Read after the Renderer closed = %v", err)
	}
	c2 := newCamera(t, newRenderer(t, s, 32, 32), CameraConfig{Camera: "wrist"})
	c2.Close()
	if err := c2.Read(context.Background(), &f); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close = %v", err)
	}
	if f.Seq != 0 {
		t.Errorf("failed Reads wrote frame %d", f.Seq)
	}
}

func TestCameraReadDoesNotAllocate(t *testing.T) {
	s := loadScene(t)
	home(t, s)
	r := newRenderer(t, s, 64, 64)
	for _, format := range []perception.Format{perception.RGB8, perception.Depth32F} {
		c := newCamera(t, r, CameraConfig{Camera: "scene", Format: format})
		var f perception.Frame
		readFrame(t, c, &f)
		if a := testing.AllocsPerRun(20, func() { readFrame(t, c, &f) }); a != 0 {
			t.Errorf("%s: Read allocates %v times per frame, want 0", format, a)
		}
	}
}

// lockstepCam hands a Camera's Reads to the goroutine that steps the simulation: a Read starts
// by reporting on idle (the previous frame has been fully handled and nothing is rendering, so
// the Sim may be stepped) and renders when told on turn.
type lockstepCam struct {
	*Camera
	idle, turn chan struct{}
}

func (c *lockstepCam) Read(ctx context.Context, dst *perception.Frame) error {
	select {
	case c.idle <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c.turn:
	case <-ctx.Done():
		return ctx.Err()
	}
	return c.Camera.Read(ctx, dst)
}

// runLockstep reads cam through a perception.Latest at 30 frames per simulated second for
// about 1 s, advancing the simulation with tick in between, and returns what Get said at each
// frame's time.
func runLockstep(t *testing.T, cam *Camera, fresh perception.Freshness, now perception.Clock,
	tick func(time.Duration)) []error {
	t.Helper()
	lc := &lockstepCam{Camera: cam, idle: make(chan struct{}), turn: make(chan struct{})}
	l, err := perception.NewLatest(lc, fresh, now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	var errs []error
	var f perception.Frame
	<-lc.idle
	for i := range 30 {
		if i > 0 {
			tick(33 * time.Millisecond)
		}
		lc.turn <- struct{}{}
		<-lc.idle
		err := l.Get(now(), &f)
		if err == nil && (f.Time != now() || f.Seq != uint64(i+1)) {
			t.Errorf("frame %d: Get returned frame %d at %v, now %v", i+1, f.Seq, f.Time, now())
		}
		errs = append(errs, err)
	}
	if st := l.Stats(); st.Frames != 30 || st.Dropped != 0 || st.Gaps != 0 {
		t.Errorf("Stats() = %+v", st)
	}
	return errs
}

// TestCameraThroughLatest runs the simulated cameras as the real source behind a
// perception.Latest, in lockstep: a moving arm is never frozen; a static scene repeats its
// frames byte for byte, so it reads as frozen after FrozenAfter unless the check is off.
func TestCameraThroughLatest(t *testing.T) {
	arm, err := NewArm(sim.Scene{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(arm.Close)
	cam := newCamera(t, newRenderer(t, arm.Sim(), 64, 64), CameraConfig{Camera: "scene"})
	for i, err := range runLockstep(t, cam, perception.Freshness{}, arm.Now, func(d time.Duration) {
		if _, err := arm.Tick(d); err != nil {
			t.Fatal(err)
		}
	}) {
		if err != nil {
			t.Errorf("moving arm, frame %d: %v", i+1, err)
		}
	}

	s := loadCameraTestModel(t)
	r := newRenderer(t, s, 64, 48)
	simNow := func() time.Duration { return time.Duration(math.Round(s.Time() * 1e9)) }
	step := func(d time.Duration) {
		if err := s.StepN(int(math.Round(d.Seconds() / s.Timestep()))); err != nil {
			t.Fatal(err)
		}
	}
	static := newCamera(t, r, CameraConfig{Camera: "down"})
	errs := runLockstep(t, static, perception.Freshness{}, simNow, step)
	for i, err := range errs {
		// Frame i+1 arrives i*33 ms after the first identical one.
		if wantFrozen := time.Duration(i)*33*time.Millisecond > 500*time.Millisecond; wantFrozen != errors.Is(err, perception.ErrStale) {
			t.Errorf("static scene, frame %d: %v (frozen expected: %v)", i+1, err, wantFrozen)
		}
	}
	t.Logf("static scene, last frame: %v", errs[len(errs)-1])
	var se *perception.StaleError
	if !errors.As(errs[len(errs)-1], &se) || se.Reason != perception.Frozen || se.Camera != "down" {
		t.Errorf("static scene: %v, want frozen", errs[len(errs)-1])
	}
	off := newCamera(t, r, CameraConfig{Camera: "down", Name: "down_nocheck"})
	for i, err := range runLockstep(t, off, perception.Freshness{FrozenAfter: perception.FrozenCheckOff}, simNow, step) {
		if err != nil {
			t.Errorf("static scene with the frozen check off, frame %d: %v", i+1, err)
		}
	}
}

func benchmarkCamera(b *testing.B, w, h int, format perception.Format) {
	s := loadScene(b)
	home(b, s)
	r := newRenderer(b, s, w, h)
	c := newCamera(b, r, CameraConfig{Camera: "scene", Format: format})
	var f perception.Frame
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Read(context.Background(), &f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fps")
}

// BenchmarkCameraRGB96 is a Camera.Read of the reference scene's scene camera at 96x96.
func BenchmarkCameraRGB96(b *testing.B)  { benchmarkCamera(b, 96, 96, perception.RGB8) }
func BenchmarkCameraRGB640(b *testing.B) { benchmarkCamera(b, 640, 480, perception.RGB8) }

// BenchmarkCameraDepth640 includes the float32 encoding into Frame.Data.
func BenchmarkCameraDepth640(b *testing.B) { benchmarkCamera(b, 640, 480, perception.Depth32F) }

// Sensor noise: the added values have the configured spread, a seed repeats them, and a
// noisy Read still allocates nothing.
func TestCameraNoise(t *testing.T) {
	s := loadScene(t)
	home(t, s)
	r := newRenderer(t, s, 64, 64)
	clean := newCamera(t, r, CameraConfig{Camera: "scene"})
	noisy := newCamera(t, r, CameraConfig{Camera: "scene", Noise: 8, NoiseSeed: 7})
	again := newCamera(t, r, CameraConfig{Camera: "scene", Noise: 8, NoiseSeed: 7})
	var c, n, m perception.Frame
	readFrame(t, clean, &c)
	readFrame(t, noisy, &n)
	readFrame(t, again, &m)
	var sum, sq float64
	var k int
	for i := range c.Data {
		if c.Data[i] < 40 || c.Data[i] > 215 { // away from the clamps
			continue
		}
		d := float64(n.Data[i]) - float64(c.Data[i])
		sum += d
		sq += d * d
		k++
	}
	mean, std := sum/float64(k), math.Sqrt(sq/float64(k)-(sum/float64(k))*(sum/float64(k)))
	t.Logf("noise 8: mean %.3f, std %.3f over %d values", mean, std, k)
	if k < 1000 || math.Abs(mean) > 0.5 || math.Abs(std-8) > 0.5 {
		t.Errorf("noise 8: mean %.3f, std %.3f over %d values; want ~0 and ~8", mean, std, k)
	}
	if string(n.Data) != string(m.Data) {
		t.Error("two cameras with the same noise seed gave different frames")
	}
	if a := testing.AllocsPerRun(20, func() { readFrame(t, noisy, &n) }); a != 0 {
		t.Errorf("noisy Read allocates %v times per frame, want 0", a)
	}
	if _, err := NewCamera(r, CameraConfig{Camera: "scene", Noise: -1}); err == nil {
		t.Error("negative noise accepted")
	}
}
