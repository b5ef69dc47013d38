package task_test

import (
	"flag"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/robotd/robotd/sim/mujoco"
)

var viewsDir = flag.String("task.views", "", "write PNGs of the scene and wrist cameras at a few seeded starts into this directory")

// TestWriteViews renders both cameras at the starts of a few seeds (only with -task.views):
// a check by eye that both see the cube and the zone.
func TestWriteViews(t *testing.T) {
	if *viewsDir == "" {
		t.Skip("pass -task.views DIR to write the camera views")
	}
	tk := newTask(t)
	s := tk.Arm().Sim()
	const w, h = 320, 240
	r, err := mujoco.NewRenderer(s, w, h)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.MkdirAll(*viewsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, seed := range []int64{1, 2, 3} {
		if _, err := tk.Reset(seed); err != nil {
			t.Fatal(err)
		}
		for _, cam := range []string{"scene", "wrist"} {
			writeView(t, r, s, cam, filepath.Join(*viewsDir, fmt.Sprintf("%s_seed%d.png", cam, seed)))
		}
	}
}

func writeView(t *testing.T, r *mujoco.Renderer, s *mujoco.Sim, cam, path string) {
	t.Helper()
	id, err := s.ID(mujoco.ObjCamera, cam)
	if err != nil {
		t.Fatal(err)
	}
	w, h := r.Size()
	rgb := make([]byte, w*h*3)
	if err := r.RGB(id, rgb); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		copy(img.Pix[4*i:], rgb[3*i:3*i+3])
		img.Pix[4*i+3] = 255
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}
