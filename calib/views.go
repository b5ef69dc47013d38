package calib

import (
	"fmt"
	"image"
	"math"
	"path/filepath"
	"strings"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
)

// Board is a chessboard target: Cols x Rows inner corners (a board of 10 x 7 squares is
// 9 x 6), squares of side Square (m).
type Board struct {
	Cols, Rows int
	Square     float64
}

// Points are the board's inner corners in the board's frame (z = 0, m), row by row from
// the first corner: the order chessboard detection returns them in (perception/cv).
func (b Board) Points() []mgl64.Vec3 {
	pts := make([]mgl64.Vec3, 0, b.Cols*b.Rows)
	for j := 0; j < b.Rows; j++ {
		for i := 0; i < b.Cols; i++ {
			pts = append(pts, mgl64.Vec3{float64(i) * b.Square, float64(j) * b.Square, 0})
		}
	}
	return pts
}

// View is the chessboard search in one image.
type View struct {
	Name    string       // the image's file name
	Size    image.Point  // the image's width and height (pixels)
	Corners [][2]float64 // the board's inner corners (pixels); nil when not found
}

// Finder finds a board's inner corners in an image file (perception/cv's
// FindChessboardFile, which holds the OpenCV this package does without); ok is false
// when the image does not show the board, err when it cannot be read.
type Finder func(path string, cols, rows int) (corners [][2]float64, size image.Point, ok bool, err error)

// Detect searches the named images of dir for the board, telling each (when set) of
// every image's view in order. An image that cannot be read, or whose size differs from
// want (or from the first image's when want is zero), is an error: one camera, one
// image size.
func Detect(dir string, names []string, b Board, want image.Point, find Finder, each func(i int, v View)) ([]View, error) {
	out := make([]View, len(names))
	for i, name := range names {
		corners, size, ok, err := find(filepath.Join(dir, name), b.Cols, b.Rows)
		if err != nil {
			return nil, err
		}
		if want == (image.Point{}) {
			want = size
		}
		if size != want {
			return nil, fmt.Errorf("%s is %dx%d, the other images (or the intrinsics) %dx%d: one camera, one image size",
				name, size.X, size.Y, want.X, want.Y)
		}
		if !ok {
			corners = nil
		}
		out[i] = View{Name: name, Size: size, Corners: corners}
		if each != nil {
			each(i, out[i])
		}
	}
	return out, nil
}

// Found returns the views that show the board; fewer than 3 is an error naming the
// images without it.
func Found(views []View) (found []View, err error) {
	var missing []string
	for _, v := range views {
		if v.Corners != nil {
			found = append(found, v)
		} else {
			missing = append(missing, v.Name)
		}
	}
	if len(found) < 3 {
		if len(missing) == 0 {
			return found, fmt.Errorf("only %d images, need at least 3 that show the board", len(views))
		}
		return found, fmt.Errorf("board found in %d of %d images, need at least 3; not found in: %s",
			len(found), len(views), strings.Join(missing, ", "))
	}
	return found, nil
}

// An intrinsic calibration's outlier view has a reprojection error more than
// OutlierFactor times the median, and above OutlierFloorPx, under which an error is at
// the detector's own precision.
const (
	OutlierFactor  = 2.0
	OutlierFloorPx = 0.1
)

// Outliers returns the indices of the outlier views among per-view reprojection errors
// (RMS, pixels) and the median error.
func Outliers(rms []float64) (idx []int, median float64) {
	median = Median(rms)
	limit := math.Max(OutlierFactor*median, OutlierFloorPx)
	for i, e := range rms {
		if e > limit {
			idx = append(idx, i)
		}
	}
	return idx, median
}

// BoardPoses solves the board's pose in the camera (T_cam_board) for every view that
// shows it (SolvePnP with the intrinsics in), with each view's reprojection error (RMS,
// pixels). A view whose pose cannot be solved is an error naming the image.
func BoardPoses(views []View, b Board, in *Intrinsics) (poses []control.Pose, rms []float64, err error) {
	obj := b.Points()
	for _, v := range views {
		img := make([]mgl64.Vec2, len(v.Corners))
		for k, c := range v.Corners {
			img[k] = mgl64.Vec2(c)
		}
		pose, e, err := SolvePnP(obj, img, in)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", v.Name, err)
		}
		poses, rms = append(poses, pose), append(rms, e)
	}
	return poses, rms, nil
}
