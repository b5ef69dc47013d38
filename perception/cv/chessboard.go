package cv

import (
	"errors"
	"fmt"
	"image"
	"math"
	"os"

	"gocv.io/x/gocv"

	"github.com/robotd/robotd/perception"
)

// This file is the OpenCV side of camera calibration: chessboard corner detection and
// OpenCV's calibrateCamera. It returns plain values (pixels as [2]float64, K as
// [9]float64); package calib turns them into its types, since perception/cv does not
// import calib.

// FindChessboard finds the cols x rows inner corners of a chessboard in img (8-bit
// grayscale, BGR or BGRA) with OpenCV's findChessboardCornersSB and refines them with
// cornerSubPix in a window of a third of the smallest corner spacing (up to 23 x 23
// pixels): on rendered boards that cuts the corner error from 0.13 to 0.05 pixel RMS. ok
// is false when the board is not (entirely) in view; err reports an image it cannot
// search.
//
// The corners come row by row, cols per row, in a canonical order that depends only on
// the board, not on how the detector happened to walk it: the grid is right-handed in the
// image (turning from the first row's direction to the first column's is clockwise on
// screen, so the board frame x along a row, y down the columns, has z pointing away from
// the camera, into the board) and the square between corners 0, 1, cols and cols+1 is the
// darker one. On a board with an odd number of squares along one side (e.g. 9 x 6 inner
// corners, 10 x 7 squares, as OpenCV's and ROS's patterns) this fixes the order
// uniquely, so every view numbers the same physical corner the same way.
func FindChessboard(img gocv.Mat, cols, rows int) (corners [][2]float64, ok bool, err error) {
	if cols < 2 || rows < 2 {
		return nil, false, fmt.Errorf("cv: chessboard %dx%d inner corners: need at least 2x2", cols, rows)
	}
	if img.Empty() {
		return nil, false, errors.New("cv: chessboard: empty image")
	}
	gray := gocv.NewMat()
	defer gray.Close()
	switch img.Type() {
	case gocv.MatTypeCV8UC1:
		img.CopyTo(&gray)
	case gocv.MatTypeCV8UC3:
		gocv.CvtColor(img, &gray, gocv.ColorBGRToGray)
	case gocv.MatTypeCV8UC4:
		gocv.CvtColor(img, &gray, gocv.ColorBGRAToGray)
	default:
		return nil, false, fmt.Errorf("cv: chessboard: image type %v: want 8-bit gray, BGR or BGRA", img.Type())
	}

	found := gocv.NewMat()
	defer found.Close()
	size := image.Pt(cols, rows)
	// Normalising helps dim or low-contrast views; the exhaustive search is slow, so only
	// when the fast one fails.
	if !gocv.FindChessboardCornersSB(gray, size, &found, gocv.CalibCBNormalizeImage) &&
		!gocv.FindChessboardCornersSB(gray, size, &found, gocv.CalibCBNormalizeImage|gocv.CalibCBExhaustive) {
		return nil, false, nil
	}
	if found.Total() != cols*rows || found.Type() != gocv.MatTypeCV32FC2 {
		return nil, false, fmt.Errorf("cv: chessboard: detector returned %d corners of type %v, want %d CV32FC2",
			found.Total(), found.Type(), cols*rows)
	}
	pts, err := found.DataPtrFloat32()
	if err != nil {
		return nil, false, fmt.Errorf("cv: chessboard: %w", err)
	}
	if half := subPixHalfWindow(pts, cols, rows); half >= 2 {
		gocv.CornerSubPix(gray, &found, image.Pt(half, half), image.Pt(-1, -1),
			gocv.NewTermCriteria(gocv.Count|gocv.EPS, 40, 0.001))
	}
	corners = make([][2]float64, cols*rows)
	for i := range corners {
		corners[i] = [2]float64{float64(pts[2*i]), float64(pts[2*i+1])}
	}
	pix, err := gray.DataPtrUint8()
	if err != nil {
		return nil, false, fmt.Errorf("cv: chessboard: %w", err)
	}
	canonicalOrder(corners, cols, rows, pix, gray.Cols(), gray.Rows())
	return corners, true, nil
}

// subPixHalfWindow is the half-size of cornerSubPix's search window for corners pts
// (x, y pairs, row-major cols x rows): a third of the shortest distance between
// neighbouring corners, so that the window never reaches the next corner, at most 11.
func subPixHalfWindow(pts []float32, cols, rows int) int {
	minD := math.Inf(1)
	dist := func(a, b int) float64 {
		return math.Hypot(float64(pts[2*a]-pts[2*b]), float64(pts[2*a+1]-pts[2*b+1]))
	}
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			i := r*cols + c
			if c+1 < cols {
				minD = math.Min(minD, dist(i, i+1))
			}
			if r+1 < rows {
				minD = math.Min(minD, dist(i, i+cols))
			}
		}
	}
	return int(math.Min(11, math.Floor(minD/3)))
}

// canonicalOrder reorders corners (row-major, cols x rows) in place as FindChessboard
// documents, looking at the gray image pix (w x h) for the square colours.
func canonicalOrder(c [][2]float64, cols, rows int, pix []uint8, w, h int) {
	at := func(col, row int) [2]float64 { return c[row*cols+col] }
	// Handedness: the cross product of the row and column directions, with image y down,
	// is positive when the column direction is clockwise from the row direction.
	o, x, y := at(0, 0), at(cols-1, 0), at(0, rows-1)
	ex := [2]float64{x[0] - o[0], x[1] - o[1]}
	ey := [2]float64{y[0] - o[0], y[1] - o[1]}
	if ex[0]*ey[1]-ex[1]*ey[0] < 0 {
		// Mirror: reverse the order of the rows.
		for r := 0; r < rows/2; r++ {
			for k := 0; k < cols; k++ {
				c[r*cols+k], c[(rows-1-r)*cols+k] = c[(rows-1-r)*cols+k], c[r*cols+k]
			}
		}
	}
	// Colour: the first square must be the darker of it and its neighbour along the row;
	// otherwise the board is numbered from the opposite corner (a half turn).
	if squareMean(c, cols, 0, 0, pix, w, h) > squareMean(c, cols, 1, 0, pix, w, h) {
		for i, j := 0, len(c)-1; i < j; i, j = i+1, j-1 {
			c[i], c[j] = c[j], c[i]
		}
	}
}

// squareMean is the mean gray level inside the square whose corners are inner corners
// (col, row), (col+1, row), (col, row+1), (col+1, row+1): sampled over the middle half of
// the square, bilinear in the four corners.
func squareMean(c [][2]float64, cols, col, row int, pix []uint8, w, h int) float64 {
	p00, p10 := c[row*cols+col], c[row*cols+col+1]
	p01, p11 := c[(row+1)*cols+col], c[(row+1)*cols+col+1]
	sum, n := 0.0, 0
	for _, s := range []float64{0.3, 0.4, 0.5, 0.6, 0.7} {
		for _, t := range []float64{0.3, 0.4, 0.5, 0.6, 0.7} {
			u := (1-s)*(1-t)*p00[0] + s*(1-t)*p10[0] + (1-s)*t*p01[0] + s*t*p11[0]
			v := (1-s)*(1-t)*p00[1] + s*(1-t)*p10[1] + (1-s)*t*p01[1] + s*t*p11[1]
			x, y := int(math.Round(u)), int(math.Round(v))
			if x < 0 || y < 0 || x >= w || y >= h {
				continue
			}
			sum += float64(pix[y*w+x])
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// FindChessboardFrame is FindChessboard on a frame of format BGR8, RGB8 or Mono8.
func FindChessboardFrame(f *perception.Frame, cols, rows int) ([][2]float64, bool, error) {
	if err := f.Check(); err != nil {
		return nil, false, err
	}
	var typ gocv.MatType
	rgb := false
	switch f.Format {
	case perception.Mono8:
		typ = gocv.MatTypeCV8UC1
	case perception.BGR8:
		typ = gocv.MatTypeCV8UC3
	case perception.RGB8:
		typ, rgb = gocv.MatTypeCV8UC3, true
	default:
		return nil, false, fmt.Errorf("cv: chessboard: camera %s: frame format %s: want bgr8, rgb8 or mono8", f.Camera, f.Format)
	}
	m, err := gocv.NewMatFromBytes(f.Height, f.Width, typ, f.Data)
	if err != nil {
		return nil, false, fmt.Errorf("cv: chessboard: %w", err)
	}
	defer m.Close()
	if rgb {
		gray := gocv.NewMat()
		defer gray.Close()
		gocv.CvtColor(m, &gray, gocv.ColorRGBToGray)
		return FindChessboard(gray, cols, rows)
	}
	return FindChessboard(m, cols, rows)
}

// FindChessboardFile reads an image file (any format OpenCV reads: PNG, JPEG, ...) and
// finds the chessboard in it. size is the image's width and height.
func FindChessboardFile(path string, cols, rows int) (corners [][2]float64, size image.Point, ok bool, err error) {
	if _, err := os.Stat(path); err != nil {
		return nil, image.Point{}, false, fmt.Errorf("cv: read %s: %w", path, err)
	}
	img := gocv.IMRead(path, gocv.IMReadGrayScale)
	defer img.Close()
	if img.Empty() {
		return nil, image.Point{}, false, fmt.Errorf("cv: read %s: not an image OpenCV can decode", path)
	}
	size = image.Pt(img.Cols(), img.Rows())
	corners, ok, err = FindChessboard(img, cols, rows)
	if err != nil {
		err = fmt.Errorf("%s: %w", path, err)
	}
	return corners, size, ok, err
}

// BoardPoints returns the inner corners of a cols x rows chessboard with squares of side
// square (metres) in the board frame, in FindChessboard's order: corner (i, j), i along
// a row, j down the columns, at (i*square, j*square, 0).
func BoardPoints(cols, rows int, square float64) [][3]float64 {
	pts := make([][3]float64, 0, cols*rows)
	for j := 0; j < rows; j++ {
		for i := 0; i < cols; i++ {
			pts = append(pts, [3]float64{float64(i) * square, float64(j) * square, 0})
		}
	}
	return pts
}

// Calibration is the result of CalibrateCamera.
type Calibration struct {
	// K is the camera matrix, row-major (fx 0 cx; 0 fy cy; 0 0 1), and D the plumb_bob
	// distortion k1, k2, p1, p2, k3.
	K [9]float64
	D [5]float64
	// RMS is the reprojection error over all views in pixels, as OpenCV returns it:
	// sqrt(sum of squared corner errors / number of corners).
	RMS float64
	// ViewRMS is the same measure for each view.
	ViewRMS []float64
	// Rvecs and Tvecs are each view's board pose T_cam_board: a rotation vector (axis
	// times angle, rad) and a translation (metres, in the unit of square).
	Rvecs, Tvecs [][3]float64
}

// CalibrateCamera estimates a pinhole camera with plumb_bob distortion from views of a
// chessboard: views[i] are the corners FindChessboard found in image i (board.X x
// board.Y inner corners), square the side of a square in metres and imageSize the
// images' width and height. It wraps OpenCV's calibrateCamera (Zhang's method with
// Levenberg-Marquardt over all parameters) and needs at least 3 views.
func CalibrateCamera(views [][][2]float64, board image.Point, square float64, imageSize image.Point) (Calibration, error) {
	var cal Calibration
	n := board.X * board.Y
	if board.X < 2 || board.Y < 2 {
		return cal, fmt.Errorf("cv: calibrate: board %dx%d inner corners: need at least 2x2", board.X, board.Y)
	}
	if !(square > 0) || math.IsInf(square, 0) {
		return cal, fmt.Errorf("cv: calibrate: square %v m: want a positive size", square)
	}
	if imageSize.X <= 0 || imageSize.Y <= 0 {
		return cal, fmt.Errorf("cv: calibrate: image size %dx%d: want positive", imageSize.X, imageSize.Y)
	}
	if len(views) < 3 {
		return cal, fmt.Errorf("cv: calibrate: %d views, need at least 3", len(views))
	}
	obj := BoardPoints(board.X, board.Y, square)
	obj32 := make([]gocv.Point3f, n)
	for i, p := range obj {
		obj32[i] = gocv.Point3f{X: float32(p[0]), Y: float32(p[1]), Z: float32(p[2])}
	}
	objs := make([][]gocv.Point3f, len(views))
	imgs := make([][]gocv.Point2f, len(views))
	for v, corners := range views {
		if len(corners) != n {
			return cal, fmt.Errorf("cv: calibrate: view %d has %d corners, want %dx%d = %d", v, len(corners), board.X, board.Y, n)
		}
		objs[v] = obj32
		imgs[v] = make([]gocv.Point2f, n)
		for i, c := range corners {
			if math.IsNaN(c[0]) || math.IsNaN(c[1]) || math.IsInf(c[0], 0) || math.IsInf(c[1], 0) {
				return cal, fmt.Errorf("cv: calibrate: view %d corner %d is not finite", v, i)
			}
			imgs[v][i] = gocv.Point2f{X: float32(c[0]), Y: float32(c[1])}
		}
	}
	objv := gocv.NewPoints3fVectorFromPoints(objs)
	defer objv.Close()
	imgv := gocv.NewPoints2fVectorFromPoints(imgs)
	defer imgv.Close()
	K := gocv.NewMat()
	defer K.Close()
	D := gocv.NewMat()
	defer D.Close()
	rvecs := gocv.NewMat()
	defer rvecs.Close()
	tvecs := gocv.NewMat()
	defer tvecs.Close()
	// Flags 0: fx, fy, cx, cy, k1, k2, p1, p2, k3 all free. (gocv's CalibFlag constants
	// carry cv::fisheye's values, not cv::calibrateCamera's, so none are used here.)
	cal.RMS = gocv.CalibrateCamera(objv, imgv, imageSize, &K, &D, &rvecs, &tvecs, 0)

	k, err := K.DataPtrFloat64()
	if err != nil || len(k) != 9 {
		return cal, fmt.Errorf("cv: calibrate: camera matrix %dx%d: %v", K.Rows(), K.Cols(), err)
	}
	copy(cal.K[:], k)
	d, err := D.DataPtrFloat64()
	if err != nil || len(d) < 5 {
		return cal, fmt.Errorf("cv: calibrate: %d distortion coefficients: %v", len(d), err)
	}
	copy(cal.D[:], d[:5])
	rv, err1 := rvecs.DataPtrFloat64()
	tv, err2 := tvecs.DataPtrFloat64()
	if err1 != nil || err2 != nil || len(rv) != 3*len(views) || len(tv) != 3*len(views) {
		return cal, fmt.Errorf("cv: calibrate: %d rotation and %d translation values for %d views (%v, %v)",
			len(rv), len(tv), len(views), err1, err2)
	}
	cal.Rvecs = make([][3]float64, len(views))
	cal.Tvecs = make([][3]float64, len(views))
	cal.ViewRMS = make([]float64, len(views))
	for v := range views {
		copy(cal.Rvecs[v][:], rv[3*v:])
		copy(cal.Tvecs[v][:], tv[3*v:])
		cal.ViewRMS[v] = viewRMS(&cal, cal.Rvecs[v], cal.Tvecs[v], obj, views[v])
	}
	for _, x := range append(cal.K[:], cal.D[:]...) {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return cal, fmt.Errorf("cv: calibrate: OpenCV returned a non-finite camera (K %v, D %v)", cal.K, cal.D)
		}
	}
	return cal, nil
}

// viewRMS reprojects obj through pose (rvec, tvec) and the calibrated camera and returns
// the RMS distance to the detected corners.
func viewRMS(cal *Calibration, rvec, tvec [3]float64, obj [][3]float64, img [][2]float64) float64 {
	R := rodrigues(rvec)
	sum := 0.0
	for i, p := range obj {
		X := R[0]*p[0] + R[1]*p[1] + R[2]*p[2] + tvec[0]
		Y := R[3]*p[0] + R[4]*p[1] + R[5]*p[2] + tvec[1]
		Z := R[6]*p[0] + R[7]*p[1] + R[8]*p[2] + tvec[2]
		u, v := project(cal.K, cal.D, X, Y, Z)
		du, dv := u-img[i][0], v-img[i][1]
		sum += du*du + dv*dv
	}
	return math.Sqrt(sum / float64(len(obj)))
}

// rodrigues is the rotation matrix (row-major) of rotation vector r.
func rodrigues(r [3]float64) [9]float64 {
	th := math.Sqrt(r[0]*r[0] + r[1]*r[1] + r[2]*r[2])
	if th < 1e-15 {
		return [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}
	}
	x, y, z := r[0]/th, r[1]/th, r[2]/th
	s, c := math.Sincos(th)
	t := 1 - c
	return [9]float64{
		c + t*x*x, t*x*y - s*z, t*x*z + s*y,
		t*x*y + s*z, c + t*y*y, t*y*z - s*x,
		t*x*z - s*y, t*y*z + s*x, c + t*z*z,
	}
}

// project is the plumb_bob pinhole projection (see calib.Intrinsics).
func project(K [9]float64, D [5]float64, X, Y, Z float64) (u, v float64) {
	x, y := X/Z, Y/Z
	r2 := x*x + y*y
	radial := 1 + r2*(D[0]+r2*(D[1]+r2*D[4]))
	xd := x*radial + 2*D[2]*x*y + D[3]*(r2+2*x*x)
	yd := y*radial + D[2]*(r2+2*y*y) + 2*D[3]*x*y
	return K[0]*xd + K[1]*yd + K[2], K[4]*yd + K[5]
}
