package calib

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
)

func TestParseBoard(t *testing.T) {
	for _, c := range []struct {
		corners string
		square  float64
		want    Board
		err     string
	}{
		{"9x6", 0.025, Board{9, 6, 0.025}, ""},
		{"9X6", 1, Board{9, 6, 1}, ""},
		{"2x2", 0.01, Board{2, 2, 0.01}, ""},
		{"1x6", 0.025, Board{}, "--board"},
		{"9", 0.025, Board{}, "--board"},
		{"9x", 0.025, Board{}, "--board"},
		{"axb", 0.025, Board{}, "--board"},
		{"9x6", -0.025, Board{}, "want a positive size"},
		{"9x6", math.Inf(1), Board{}, "want a positive size"},
		{"9x6", math.NaN(), Board{}, "want a positive size"},
		{"9x6", 25, Board{}, "larger than 1 m"},
	} {
		b, err := ParseBoard(c.corners, c.square)
		if b != c.want || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("ParseBoard(%q, %v) = %+v, %v: want %+v, error containing %q", c.corners, c.square, b, err, c.want, c.err)
		}
	}
}

// ListImages keeps image files sorted by name; PosedImages names the images without a
// pose and refuses a pose whose image is missing.
func TestPosedImages(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.PNG", "a.jpg", "c.png", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if names, err := ListImages(dir); err != nil || !slices.Equal(names, []string{"a.jpg", "b.PNG", "c.png"}) {
		t.Errorf("ListImages: %q, %v", names, err)
	}
	if _, err := ListImages(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no image files") {
		t.Errorf("ListImages of an empty directory: %v", err)
	}
	poses := filepath.Join(dir, "poses.yaml")
	write := func(images ...string) {
		var rp []RobotPose
		for _, im := range images {
			rp = append(rp, RobotPose{Image: im, Pose: control.Pose{Rot: mgl64.QuatIdent()}})
		}
		if err := WriteRobotPoses(poses, rp); err != nil {
			t.Fatal(err)
		}
	}
	write("c.png", "a.jpg")
	_, names, unposed, err := PosedImages(poses, dir)
	if err != nil || !slices.Equal(names, []string{"c.png", "a.jpg"}) || !slices.Equal(unposed, []string{"b.PNG"}) {
		t.Errorf("PosedImages: names %q, unposed %q, %v", names, unposed, err)
	}
	write("a.jpg", "d.png")
	if _, _, _, err := PosedImages(poses, dir); err == nil || !strings.Contains(err.Error(), "poses[1]: image d.png") {
		t.Errorf("missing image: %v", err)
	}
}
