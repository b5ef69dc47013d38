package plot

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-gl/mathgl/mgl64"
	"gonum.org/v1/plot/plotter"
)

// pngSize decodes the PNG at path and returns its size in pixels.
func pngSize(t *testing.T, path string) (w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	return b.Dx(), b.Dy()
}

// Panels stack vertically: 2.6 inches per panel at vgimg's 96 dpi, 8 inches wide.
func TestPanels(t *testing.T) {
	line := plotter.XYs{{X: 0, Y: 1}, {X: 1, Y: 2}, {X: 2, Y: 0}}
	for _, n := range []int{1, 3} {
		var panels []Panel
		for range n {
			panels = append(panels, Panel{Title: "p", XLabel: "s", YLabel: "m",
				Lines: []Series{{Name: "a", XY: line}, {Name: "b", XY: line, Dashed: true}}})
		}
		path := filepath.Join(t.TempDir(), "p.png")
		if err := Panels(path, panels); err != nil {
			t.Fatal(err)
		}
		want := 2.6 * 96 * float64(n) // vgimg rounds the height up
		if w, h := pngSize(t, path); w != 8*96 || math.Abs(float64(h)-want) > 1 {
			t.Errorf("%d panels: %dx%d pixels, want 768x%.0f", n, w, h, want)
		}
	}
}

// A series with a NaN is refused with the panel and the series named.
func TestPanelsNaN(t *testing.T) {
	bad := plotter.XYs{{X: 0, Y: 1}, {X: 1, Y: math.NaN()}}
	err := Panels(filepath.Join(t.TempDir(), "p.png"), []Panel{{Title: "gripper", Lines: []Series{{Name: "measured", XY: bad}}}})
	if err == nil || !strings.Contains(err.Error(), "plot gripper: measured") {
		t.Errorf("error %v, want one naming the panel and the series", err)
	}
}

func TestReach(t *testing.T) {
	var trace []ReachPoint
	for i := range 100 {
		s := float64(i) / 100
		trace = append(trace, ReachPoint{T: s, Tool: mgl64.Vec3{s, 0, 0.5}, Target: mgl64.Vec3{1, 0, 0.5}, PosErr: 1 - s})
	}
	path := filepath.Join(t.TempDir(), "reach.png")
	if err := Reach(path, trace, 1); err != nil {
		t.Fatal(err)
	}
	if w, h := pngSize(t, path); w != 8*96 || h != 10*96 {
		t.Errorf("%dx%d pixels, want 768x960", w, h)
	}
}
