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
	"github.com/robotd/robotd/sim/task"
)

var viewsDir = flag.String("task.views", "", "write PNGs of the scene and wrist cameras at a few seeded starts into this directory")

// TestWriteViews renders both cameras at the starts of a few seeds and at each phase of
// an expert episode (only with -task.views): a check by eye that both see the cube and the
// zone, and that the grasp looks right.
func TestWriteViews(t *testing.T) {
	if *viewsDir == "" {
		t.Skip("pass -task.views DIR to write the camera views")
	}
	rg := newRig(t)
	tk := rg.task
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
	// The region's corners, where the cube is nearest the edges of the scene camera's view.
	cube, err := s.ID(mujoco.ObjJoint, "cube")
	if err != nil {
		t.Fatal(err)
	}
	reg := tk.Config().Region
	for i, c := range [][2]float64{{reg.Min[0], reg.Min[1]}, {reg.Max[0], reg.Min[1]}, {reg.Max[0], reg.Max[1]}, {reg.Min[0], reg.Max[1]}} {
		if err := s.SetFreeJointPose(cube, [3]float64{c[0], c[1], 0.025}, [4]float64{1, 0, 0, 0}); err != nil {
			t.Fatal(err)
		}
		if err := s.Forward(); err != nil {
			t.Fatal(err)
		}
		for _, cam := range []string{"scene", "wrist"} {
			writeView(t, r, s, cam, filepath.Join(*viewsDir, fmt.Sprintf("%s_corner%d.png", cam, i)))
		}
	}
	const seed = 4
	rg.begin(t, seed)
	last := task.Phase(-1)
	for i := 0; i < 20000 && last != task.Finished; i++ {
		rg.step(t, seed)
		if p := rg.expert.Phase(); p != last {
			last = p
			if err := s.Forward(); err != nil {
				t.Fatal(err)
			}
			for _, cam := range []string{"scene", "wrist"} {
				writeView(t, r, s, cam, filepath.Join(*viewsDir, fmt.Sprintf("%s_%d_%v.png", cam, p, p)))
			}
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
