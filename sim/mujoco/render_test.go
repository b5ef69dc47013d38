package mujoco

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func newRenderer(t testing.TB, s *Sim, w, h int) *Renderer {
	t.Helper()
	r, err := NewRenderer(s, w, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// imageStats returns the variance of all channel values and the number of strongly red pixels.
func imageStats(rgb []byte) (variance float64, red int) {
	var sum, sum2 float64
	for i := 0; i+2 < len(rgb); i += 3 {
		r, g, b := int(rgb[i]), int(rgb[i+1]), int(rgb[i+2])
		if r > 140 && g < 90 && b < 90 && r > 2*g {
			red++
		}
		for _, v := range [3]int{r, g, b} {
			sum += float64(v)
			sum2 += float64(v * v)
		}
	}
	n := float64(len(rgb))
	return sum2/n - (sum/n)*(sum/n), red
}

func writePNG(t testing.TB, name string, w, h int, rgb []byte) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := 3 * (y*w + x)
			img.Set(x, y, color.RGBA{rgb[i], rgb[i+1], rgb[i+2], 255})
		}
	}
	path := filepath.Join(os.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRenderScene(t *testing.T) {
	s := loadScene(t)
	scene, wrist := mustID(t, s, ObjCamera, "scene"), mustID(t, s, ObjCamera, "wrist")
	for _, size := range []int{96, 224} {
		home(t, s)
		r := newRenderer(t, s, size, size)
		before := make([]byte, size*size*3)
		if err := r.RGB(scene, before); err != nil {
			t.Fatal(err)
		}
		variance, red := imageStats(before)
		t.Logf("%dx%d scene camera: variance %.0f, %d red pixels", size, size, variance, red)
		if variance < 200 {
			t.Errorf("%dx%d: image looks blank (variance %.0f)", size, size, variance)
		}
		if red < size*size/2000+3 {
			t.Errorf("%dx%d: %d strongly red pixels; the red cube should be in view", size, size, red)
		}
		t.Logf("wrote %s", writePNG(t, "robotd_mujoco_scene_"+itoa(size)+".png", size, size, before))

		wristImg := make([]byte, size*size*3)
		if err := r.RGB(wrist, wristImg); err != nil {
			t.Fatal(err)
		}
		if v, _ := imageStats(wristImg); v < 50 {
			t.Errorf("%dx%d wrist camera: image looks blank (variance %.0f)", size, size, v)
		}
		t.Logf("wrote %s", writePNG(t, "robotd_mujoco_wrist_"+itoa(size)+".png", size, size, wristImg))

		// Swing the arm: the image must change.
		s.Qpos()[0] += 0.8
		s.Qpos()[1] += 0.4
		if err := s.Forward(); err != nil {
			t.Fatal(err)
		}
		after := make([]byte, size*size*3)
		if err := r.RGB(scene, after); err != nil {
			t.Fatal(err)
		}
		changed := 0
		for i := 0; i < len(after); i += 3 {
			if absDiff(after[i], before[i])+absDiff(after[i+1], before[i+1])+absDiff(after[i+2], before[i+2]) > 30 {
				changed++
			}
		}
		t.Logf("%dx%d: %d pixels changed after moving the arm", size, size, changed)
		if changed < size*size/100 {
			t.Errorf("%dx%d: only %d pixels changed after moving the arm", size, size, changed)
		}
		if size == 224 {
			writePNG(t, "robotd_mujoco_scene_moved_224.png", size, size, after)
		}

		// Depth: the nearest thing in view (table edge) is over 0.3 m away and the farthest (a
		// corner of the 6x6 m floor, 0.75 m below the table) under 7 m; the rest is background
		// at the far plane.
		depth := make([]float32, size*size)
		if err := r.Depth(scene, depth); err != nil {
			t.Fatal(err)
		}
		near, far64 := s.ClipPlanes()
		far := float32(far64)
		if near <= 0 || near > 0.3 || far < 5 {
			t.Errorf("ClipPlanes() = %v, %v", near, far)
		}
		lo, hi, background := float32(math.Inf(1)), float32(0), 0
		for _, d := range depth {
			if d > 0.999*far {
				background++
				continue
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		t.Logf("%dx%d depth: %.3f to %.3f m, %d background pixels (far plane %.1f m)", size, size, lo, hi,
			background, far)
		if lo < 0.3 || hi > 7 || background > size*size/2 {
			t.Errorf("%dx%d: depth range [%.3f, %.3f] m with %d background pixels: want 0.3-7 m",
				size, size, lo, hi, background)
		}

		// The cube seen where the camera model puts it, at the distance it is.
		home(t, s)
		rgb := make([]byte, size*size*3)
		if err := r.Render(scene, rgb, depth); err != nil {
			t.Fatal(err)
		}
		checkCubeProjection(t, s, scene, size, rgb, depth)

		// One call for both, same result as two.
		both, bothDepth := make([]byte, size*size*3), make([]float32, size*size)
		if err := r.Render(scene, both, bothDepth); err != nil {
			t.Fatal(err)
		}
		if string(both) != string(rgb) || bothDepth[size*size/2] != depth[size*size/2] {
			t.Error("Render(rgb, depth) differs from RGB and Depth")
		}
	}
}

// checkCubeProjection projects the cube's centre through the pinhole model of the camera
// (CameraPose, CameraFovy) and checks that the red pixels are centred there (which also proves
// the rows come top-down) and that their depth is the cube's distance along the view axis.
func checkCubeProjection(t *testing.T, s *Sim, cam, size int, rgb []byte, depth []float32) {
	t.Helper()
	cube, _ := s.BodyPose(mustID(t, s, ObjBody, "cube"))
	cpos, crot := s.CameraPose(cam)
	var c [3]float64 // cube centre in the camera frame
	for j := 0; j < 3; j++ {
		for i := 0; i < 3; i++ {
			c[j] += crot[3*i+j] * (cube[i] - cpos[i])
		}
	}
	f := float64(size) / 2 / math.Tan(s.CameraFovy(cam)*math.Pi/360)
	u, v := float64(size)/2+f*c[0]/-c[2], float64(size)/2-f*c[1]/-c[2]

	var su, sv, sd float64
	n := 0
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			i := y*size + x
			if r, g, b := rgb[3*i], rgb[3*i+1], rgb[3*i+2]; r > 140 && g < 90 && b < 90 {
				su += float64(x) + 0.5
				sv += float64(y) + 0.5
				sd += float64(depth[i])
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no red pixels")
	}
	su, sv, sd = su/float64(n), sv/float64(n), sd/float64(n)
	t.Logf("%dx%d cube: projected at (%.1f, %.1f) depth %.3f m; red centroid (%.1f, %.1f) depth %.3f m",
		size, size, u, v, -c[2], su, sv, sd)
	if tol := 0.02 * float64(size); math.Abs(su-u) > tol || math.Abs(sv-v) > tol {
		t.Errorf("red centroid (%.1f, %.1f), cube projects to (%.1f, %.1f)", su, sv, u, v)
	}
	if math.Abs(sd-(-c[2])) > 0.03 { // the visible faces are up to 2.5 cm nearer than the centre
		t.Errorf("depth on the cube %.3f m, cube centre at %.3f m along the view axis", sd, -c[2])
	}
}

func absDiff(a, b byte) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestRendererErrors(t *testing.T) {
	s := loadScene(t)
	_, err := NewRenderer(s, 800, 600)
	if err == nil || !strings.Contains(err.Error(), "800x600") || !strings.Contains(err.Error(), "640x480") {
		t.Errorf("NewRenderer(800x600) = %v, want an error naming both sizes", err)
	}
	goroutines := runtime.NumGoroutine()
	r := newRenderer(t, s, 32, 24)
	if err := r.RGB(0, make([]byte, 10)); err == nil {
		t.Error("short RGB buffer accepted")
	}
	if err := r.RGB(5, make([]byte, 32*24*3)); err == nil || !strings.Contains(err.Error(), "camera id 5") {
		t.Errorf("RGB(camera 5) = %v", err)
	}
	r.Close()
	r.Close()
	// Other goroutines of the test binary may still be winding down on a loaded machine:
	// the count must come back within a second, not at once.
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(time.Second); n > goroutines && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(5 * time.Millisecond)
	}
	if n > goroutines {
		t.Errorf("%d goroutines 1 s after Renderer.Close, %d before NewRenderer", n, goroutines)
	}
	if err := r.RGB(0, make([]byte, 32*24*3)); err != ErrClosed {
		t.Errorf("RGB after Close = %v", err)
	}
}

func TestRenderDoesNotAllocate(t *testing.T) {
	s := loadScene(t)
	home(t, s)
	r := newRenderer(t, s, 64, 64)
	rgb, depth := make([]byte, 64*64*3), make([]float32, 64*64)
	allocs := testing.AllocsPerRun(20, func() {
		if err := r.Render(0, rgb, depth); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Render allocates %v times per frame, want 0", allocs)
	}
}

func benchmarkRender(b *testing.B, size int) {
	s := loadScene(b)
	home(b, s)
	cam := mustID(b, s, ObjCamera, "scene")
	r := newRenderer(b, s, size, size)
	rgb := make([]byte, size*size*3)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.RGB(cam, rgb); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fps")
}

// BenchmarkRenderRGB96 measures mjv_updateScene + mjr_render + mjr_readPixels (+ row flip) at
// 96x96 from the scene camera.
func BenchmarkRenderRGB96(b *testing.B) { benchmarkRender(b, 96) }

// BenchmarkRenderRGB224 is BenchmarkRenderRGB96 at 224x224.
func BenchmarkRenderRGB224(b *testing.B) { benchmarkRender(b, 224) }
