//go:build matprofile

package cv

import (
	"image"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/robotd/robotd/perception"
)

// Every path through the chessboard functions closes the Mats it opens: found, not
// found, bad input, files and calibration.
func TestChessboardMatLeak(t *testing.T) {
	c := testLens
	img, _ := testImage(1)
	rgb := make([]byte, 3*len(img))
	for i, v := range img {
		rgb[3*i], rgb[3*i+1], rgb[3*i+2] = v, v, v
	}
	path := filepath.Join(t.TempDir(), "board.png")
	m := grayMat(t, &c, img)
	gocv.IMWrite(path, m)
	m.Close()
	blank := make([]uint8, len(img))
	var views [][][2]float64
	checkNoMatLeak(t, func() {
		for _, data := range [][]uint8{img, blank} {
			m := grayMat(t, &c, data)
			FindChessboard(m, 9, 6)
			FindChessboard(m, 1, 6)
			m.Close()
		}
		for _, f := range []perception.Frame{
			{Camera: "r", Format: perception.RGB8, Width: c.w, Height: c.h, Data: rgb},
			{Camera: "b", Format: perception.BGR8, Width: c.w, Height: c.h, Data: rgb},
			{Camera: "g", Format: perception.Mono8, Width: c.w, Height: c.h, Data: img},
		} {
			FindChessboardFrame(&f, 9, 6)
		}
		FindChessboardFile(path, 9, 6)
		FindChessboardFile(path+".missing", 9, 6)
		for k := 0; k < 3; k++ {
			im, _ := testImage(k)
			m := grayMat(t, &c, im)
			corners, ok, err := FindChessboard(m, 9, 6)
			m.Close()
			if !ok || err != nil {
				t.Fatalf("view %d: %v %v", k, ok, err)
			}
			views = append(views, corners)
		}
		if _, err := CalibrateCamera(views, image.Pt(9, 6), 0.025, image.Pt(c.w, c.h)); err != nil {
			t.Fatal(err)
		}
		CalibrateCamera(views[:2], image.Pt(9, 6), 0.025, image.Pt(c.w, c.h))
	})
}
