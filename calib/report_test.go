package calib

import (
	"image"
	"strings"
	"testing"
)

// CalibrateIntrinsics hands the calibrator the views' corners and the board, and
// reports the result with its outliers; a calibration that fails Validate is an error.
func TestCalibrateIntrinsics(t *testing.T) {
	b := Board{Cols: 3, Rows: 2, Square: 0.02}
	found := []View{
		{Name: "a.png", Size: image.Pt(640, 480), Corners: [][2]float64{{1, 1}}},
		{Name: "b.png", Size: image.Pt(640, 480), Corners: [][2]float64{{2, 2}}},
		{Name: "c.png", Size: image.Pt(640, 480), Corners: [][2]float64{{3, 3}}},
		{Name: "d.png", Size: image.Pt(640, 480), Corners: [][2]float64{{4, 4}}},
	}
	k := [9]float64{500, 0, 320, 0, 500, 240, 0, 0, 1}
	cal := func(views [][][2]float64, board image.Point, square float64, size image.Point) ([9]float64, [5]float64, float64, []float64, error) {
		if len(views) != 4 || views[2][0] != [2]float64{3, 3} || board != image.Pt(3, 2) || square != 0.02 || size != image.Pt(640, 480) {
			t.Errorf("calibrator got %d views, board %v, square %v, size %v", len(views), board, square, size)
		}
		return k, [5]float64{0.1}, 0.2, []float64{0.2, 0.21, 0.19, 0.9}, nil
	}
	r, err := CalibrateIntrinsics("wrist", found, 5, b, cal)
	if err != nil {
		t.Fatal(err)
	}
	if r.Intrinsics.Name != "wrist" || r.Intrinsics.Fx() != 500 || r.Intrinsics.Width != 640 || r.Images != 5 {
		t.Errorf("report %+v", r)
	}
	if names, med := r.Outliers(); len(names) != 1 || names[0] != "d.png" || med < 0.2 || med > 0.21 {
		t.Errorf("outliers %q, median %v: want d.png, median in [0.2, 0.21]", names, med)
	}
	var text strings.Builder
	r.WriteText(&text)
	for _, want := range []string{"d.png                    0.900  <- outlier", `camera "wrist", 640x480, from 4 of 5 images`, "1 outlier view(s): d.png"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("WriteText lacks %q:\n%s", want, text.String())
		}
	}
	k[0] = -1
	if _, err := CalibrateIntrinsics("wrist", found, 5, b, cal); err == nil || !strings.HasPrefix(err.Error(), "calibration failed: ") {
		t.Errorf("negative focal length: %v", err)
	}
}
