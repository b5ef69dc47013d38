package mujoco

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func loadCameraTarget(t testing.TB) *Sim {
	t.Helper()
	s, err := Load(filepath.Join("testdata", "camera_target.xml"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestSetCameraPose(t *testing.T) {
	s := loadCameraTarget(t)
	free, _ := s.ID(ObjCamera, "free")
	// A quarter turn about x: the camera's y axis goes to world z, its z to world -y.
	h := math.Sqrt(0.5)
	if err := s.SetCameraPose(free, [3]float64{0.1, 0.2, 0.3}, [4]float64{2 * h, 2 * h, 0, 0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Forward(); err != nil {
		t.Fatal(err)
	}
	pos, rot := s.CameraPose(free)
	want := [9]float64{1, 0, 0, 0, 0, -1, 0, 1, 0}
	if pos != [3]float64{0.1, 0.2, 0.3} {
		t.Errorf("position %v", pos)
	}
	for i := range rot {
		if math.Abs(rot[i]-want[i]) > 1e-12 {
			t.Fatalf("rotation %v, want %v (the quaternion is normalized)", rot, want)
		}
	}

	track, _ := s.ID(ObjCamera, "track")
	if err := s.SetCameraPose(track, [3]float64{}, [4]float64{1, 0, 0, 0}); err == nil || !strings.Contains(err.Error(), `"track" is not in fixed mode`) {
		t.Errorf("tracking camera: %v", err)
	}
	for _, q := range [][4]float64{{0, 0, 0, 0}, {math.NaN(), 0, 0, 1}} {
		if err := s.SetCameraPose(free, [3]float64{}, q); err == nil {
			t.Errorf("quaternion %v: no error", q)
		}
	}
	if err := s.SetCameraFovy(free, 180); err == nil {
		t.Error("fovy 180: no error")
	}
	if err := s.SetCameraFovy(free, 60); err != nil || s.CameraFovy(free) != 60 {
		t.Errorf("fovy 60: %v, reads %v", err, s.CameraFovy(free))
	}
}

// The disk's image is centred where CameraIntrinsics projects its centre: MuJoCo's pixels
// are square, its principal point is the image centre in OpenCV's convention.
func TestCameraIntrinsicsMatchRender(t *testing.T) {
	s := loadCameraTarget(t)
	const w, h = 640, 480
	r := newRenderer(t, s, w, h)
	cam, _ := s.ID(ObjCamera, "free")
	if err := s.SetCameraFovy(cam, 50); err != nil {
		t.Fatal(err)
	}
	f, cx, cy := s.CameraIntrinsics(cam, w, h)
	if want := 240 / math.Tan(25*math.Pi/180); math.Abs(f-want) > 1e-9 || cx != 319.5 || cy != 239.5 {
		t.Fatalf("intrinsics %v %v %v, want %v 319.5 239.5", f, cx, cy, want)
	}
	// The camera at (0, 0, 1) looks down -z with its y axis along world y: a world point
	// (x, y, 0) is at optical (x, -y, 1).
	rgb := make([]byte, w*h*3)
	worst := 0.0
	for _, p := range [][2]float64{{0, 0}, {0.15, 0.1}, {-0.3, 0.2}, {0.35, -0.25}, {-0.05, -0.33}} {
		mp := f64s(s.c.d.mocap_pos, 3) // the disk is a mocap body

		mp[0], mp[1], mp[2] = p[0], p[1], 0
		if err := s.Forward(); err != nil {
			t.Fatal(err)
		}
		if err := r.RGB(cam, rgb); err != nil {
			t.Fatal(err)
		}
		var su, sv, n float64
		for i := 0; i < w*h; i++ {
			if rgb[3*i] > 128 && rgb[3*i+1] < 100 {
				su += float64(i % w)
				sv += float64(i / w)
				n++
			}
		}
		if n < 20 {
			t.Fatalf("disk at %v: %v red pixels", p, n)
		}
		u, v := f*p[0]/1+cx, f*(-p[1])/1+cy
		e := math.Hypot(su/n-u, sv/n-v)
		worst = math.Max(worst, e)
	}
	t.Logf("disk centroids within %.3f px of the pinhole projection", worst)
	if worst > 0.1 {
		t.Errorf("disk centroid %.3f px from the pinhole projection", worst)
	}
}
