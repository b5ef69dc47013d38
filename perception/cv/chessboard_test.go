package cv

import (
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gocv.io/x/gocv"

	"github.com/robotd/robotd/perception"
)

// synthCamera is a plumb_bob pinhole camera for drawing test boards (the same model as
// OpenCV's, written out independently of this package's project()).
type synthCamera struct {
	w, h           int
	fx, fy, cx, cy float64
	k1, k2, p1, p2 float64
}

// undistort inverts the distortion by Newton's method with a numeric Jacobian.
func (c *synthCamera) undistort(xd, yd float64) (x, y float64) {
	dist := func(x, y float64) (float64, float64) {
		r2 := x*x + y*y
		rad := 1 + c.k1*r2 + c.k2*r2*r2
		return x*rad + 2*c.p1*x*y + c.p2*(r2+2*x*x), y*rad + c.p1*(r2+2*y*y) + 2*c.p2*x*y
	}
	x, y = xd, yd
	for it := 0; it < 20; it++ {
		fx, fy := dist(x, y)
		ex, ey := fx-xd, fy-yd
		if math.Abs(ex)+math.Abs(ey) < 1e-13 {
			break
		}
		const h = 1e-7
		ax, ay := dist(x+h, y)
		bx, by := dist(x, y+h)
		j00, j10 := (ax-fx)/h, (ay-fy)/h
		j01, j11 := (bx-fx)/h, (by-fy)/h
		det := j00*j11 - j01*j10
		x -= (j11*ex - j01*ey) / det
		y -= (-j10*ex + j00*ey) / det
	}
	return x, y
}

// undistortMap samples undistort every 2 pixels (in OpenCV pixel coordinates, from -2 to
// w+2 and h+2) for bilinear lookup: the map is smooth, so the interpolation error is
// around a thousandth of a pixel, and drawing gets fast.
type undistortMap struct {
	c      *synthCamera
	nx, ny int
	xy     [][2]float64
}

const mapStep = 2.0

func newUndistortMap(c *synthCamera) *undistortMap {
	m := &undistortMap{c: c, nx: c.w/2 + 5, ny: c.h/2 + 5}
	m.xy = make([][2]float64, m.nx*m.ny)
	for j := 0; j < m.ny; j++ {
		for i := 0; i < m.nx; i++ {
			u, v := -2+mapStep*float64(i), -2+mapStep*float64(j)
			x, y := c.undistort((u-c.cx)/c.fx, (v-c.cy)/c.fy)
			m.xy[j*m.nx+i] = [2]float64{x, y}
		}
	}
	return m
}

func (m *undistortMap) at(u, v float64) (x, y float64) {
	fu, fv := (u+2)/mapStep, (v+2)/mapStep
	i, j := int(fu), int(fv)
	a, b := fu-float64(i), fv-float64(j)
	p00, p10 := m.xy[j*m.nx+i], m.xy[j*m.nx+i+1]
	p01, p11 := m.xy[(j+1)*m.nx+i], m.xy[(j+1)*m.nx+i+1]
	x = (1-a)*(1-b)*p00[0] + a*(1-b)*p10[0] + (1-a)*b*p01[0] + a*b*p11[0]
	y = (1-a)*(1-b)*p00[1] + a*(1-b)*p10[1] + (1-a)*b*p01[1] + a*b*p11[1]
	return x, y
}

// synthPose is a board pose T_cam_board: rotation matrix (row-major) and translation.
type synthPose struct {
	R [9]float64
	t [3]float64
}

// lookAtBoard places a camera dist metres from the board point target, in direction
// (az, el) from the board's normal (its -z side), rolled by roll.
func lookAtBoard(target [3]float64, dist, tilt, az, roll float64) synthPose {
	eye := [3]float64{
		target[0] + dist*math.Sin(tilt)*math.Cos(az),
		target[1] + dist*math.Sin(tilt)*math.Sin(az),
		target[2] - dist*math.Cos(tilt),
	}
	z := norm3(sub3(target, eye))
	up := [3]float64{0, -1, 0}
	x := norm3(cross3(up, z))
	y := cross3(z, x)
	// Roll about z.
	s, co := math.Sincos(roll)
	x, y = add3(scale3(x, co), scale3(y, s)), add3(scale3(x, -s), scale3(y, co))
	// Rows of R (board -> camera) are the camera axes in the board frame.
	R := [9]float64{x[0], x[1], x[2], y[0], y[1], y[2], z[0], z[1], z[2]}
	t := [3]float64{-dot3(x, eye), -dot3(y, eye), -dot3(z, eye)}
	return synthPose{R, t}
}

func sub3(a, b [3]float64) [3]float64           { return [3]float64{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func add3(a, b [3]float64) [3]float64           { return [3]float64{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func scale3(a [3]float64, s float64) [3]float64 { return [3]float64{a[0] * s, a[1] * s, a[2] * s} }
func dot3(a, b [3]float64) float64              { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func cross3(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
func norm3(a [3]float64) [3]float64 { return scale3(a, 1/math.Sqrt(dot3(a, a))) }

// drawBoard renders a cols x rows (inner corners) chessboard with squares of side sq (m)
// seen from pose through camera c (undistorted through um), 3x3 supersampled: black and white squares, the square
// between corners 0, 1, cols, cols+1 black, a white margin of 1.5 squares, a mid-gray
// background. It returns an 8-bit gray image and the true corner pixels.
func drawBoard(c *synthCamera, um *undistortMap, p synthPose, cols, rows int, sq float64) ([]uint8, [][2]float64) {
	const ss = 3
	img := make([]uint8, c.w*c.h)
	// Camera centre and rays in the board frame.
	Rt := func(v [3]float64) [3]float64 { // R^T v
		return [3]float64{p.R[0]*v[0] + p.R[3]*v[1] + p.R[6]*v[2], p.R[1]*v[0] + p.R[4]*v[1] + p.R[7]*v[2], p.R[2]*v[0] + p.R[5]*v[1] + p.R[8]*v[2]}
	}
	C := scale3(Rt(p.t), -1)
	for v := 0; v < c.h; v++ {
		for u := 0; u < c.w; u++ {
			sum := 0.0
			for a := 0; a < ss; a++ {
				for b := 0; b < ss; b++ {
					// Pixel (u, v) covers [u-0.5, u+0.5] (OpenCV's convention).
					pu := float64(u) - 0.5 + (float64(b)+0.5)/ss
					pv := float64(v) - 0.5 + (float64(a)+0.5)/ss
					x, y := um.at(pu, pv)
					d := Rt([3]float64{x, y, 1})
					if d[2] == 0 {
						sum += 128
						continue
					}
					lam := -C[2] / d[2]
					if lam <= 0 {
						sum += 128
						continue
					}
					X, Y := C[0]+lam*d[0], C[1]+lam*d[1]
					i, j := math.Floor(X/sq)+1, math.Floor(Y/sq)+1
					switch {
					case i >= 0 && i <= float64(cols) && j >= 0 && j <= float64(rows):
						if int(i+j)%2 == 0 {
							sum += 15
						} else {
							sum += 240
						}
					case X >= -2.5*sq && X <= (float64(cols)+1.5)*sq && Y >= -2.5*sq && Y <= (float64(rows)+1.5)*sq:
						sum += 240
					default:
						sum += 128
					}
				}
			}
			img[v*c.w+u] = uint8(math.Round(sum / (ss * ss)))
		}
	}
	corners := make([][2]float64, 0, cols*rows)
	for j := 0; j < rows; j++ {
		for i := 0; i < cols; i++ {
			P := [3]float64{float64(i) * sq, float64(j) * sq, 0}
			X := add3([3]float64{dot3([3]float64{p.R[0], p.R[1], p.R[2]}, P), dot3([3]float64{p.R[3], p.R[4], p.R[5]}, P), dot3([3]float64{p.R[6], p.R[7], p.R[8]}, P)}, p.t)
			u, v := project([9]float64{c.fx, 0, c.cx, 0, c.fy, c.cy, 0, 0, 1}, [5]float64{c.k1, c.k2, c.p1, c.p2, 0}, X[0], X[1], X[2])
			corners = append(corners, [2]float64{u, v})
		}
	}
	return img, corners
}

func grayMat(t *testing.T, c *synthCamera, img []uint8) gocv.Mat {
	t.Helper()
	m, err := gocv.NewMatFromBytes(c.h, c.w, gocv.MatTypeCV8UC1, img)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var testLens = synthCamera{w: 640, h: 480, fx: 560, fy: 555, cx: 322.5, cy: 236.25, k1: -0.22, k2: 0.07, p1: 0.0008, p2: -0.0006}

// testView k is a view of a 9 x 6 board, 25 mm squares: from various directions, at
// every roll (so the detector walks the board from different corners), aimed off the
// board's centre so that the board covers different parts of the image.
func testView(k int) synthPose {
	a := float64(k)
	aim := [3]float64{4*0.025 + 0.05*math.Cos(2.1*a), 2.5*0.025 + 0.035*math.Sin(2.1*a), 0}
	return lookAtBoard(aim, 0.44+0.03*math.Sin(1.3*a), (8+22*math.Abs(math.Sin(0.7*a)))*math.Pi/180,
		2.4*a, math.Pi/2*a+0.3*math.Sin(a))
}

// testImage draws testView(k) through testLens, once per test binary.
func testImage(k int) ([]uint8, [][2]float64) {
	testImagesMu.Lock()
	defer testImagesMu.Unlock()
	if testMap == nil {
		testMap = newUndistortMap(&testLens)
	}
	if im, ok := testImages[k]; ok {
		return im.img, im.corners
	}
	img, corners := drawBoard(&testLens, testMap, testView(k), 9, 6, 0.025)
	testImages[k] = drawn{img, corners}
	return img, corners
}

type drawn struct {
	img     []uint8
	corners [][2]float64
}

var (
	testImagesMu sync.Mutex
	testMap      *undistortMap
	testImages   = map[int]drawn{}
)

func TestFindChessboardSynthetic(t *testing.T) {
	c := testLens
	worst, sum, n := 0.0, 0.0, 0
	for k := 0; k < 8; k++ {
		img, truth := testImage(k)
		m := grayMat(t, &c, img)
		got, ok, err := FindChessboard(m, 9, 6)
		m.Close()
		if err != nil || !ok {
			t.Fatalf("view %d: found %v, %v", k, ok, err)
		}
		for i := range truth {
			e := math.Hypot(got[i][0]-truth[i][0], got[i][1]-truth[i][1])
			if e > 1 {
				t.Fatalf("view %d (roll %.0f deg): corner %d at %v, true %v: not in canonical order",
					k, 90*float64(k), i, got[i], truth[i])
			}
			worst = math.Max(worst, e)
			sum += e * e
			n++
		}
	}
	rms := math.Sqrt(sum / float64(n))
	t.Logf("corners %.3f px RMS, at most %.3f px from the truth", rms, worst)
	if worst > 0.4 || rms > 0.1 {
		t.Errorf("corner error %.3f px RMS, %.3f px worst; want < 0.1 and < 0.4", rms, worst)
	}
}

// The canonical order does not depend on how the detector walked the board: every
// symmetry of the grid (the mirror images and the half turn) maps back to the same order.
func TestCanonicalOrder(t *testing.T) {
	c := testLens
	img, truth := testImage(0)
	cols, rows := 9, 6
	for name, perm := range map[string]func(i, j int) (int, int){
		"identity":    func(i, j int) (int, int) { return i, j },
		"half turn":   func(i, j int) (int, int) { return cols - 1 - i, rows - 1 - j },
		"mirror rows": func(i, j int) (int, int) { return i, rows - 1 - j },
		"mirror cols": func(i, j int) (int, int) { return cols - 1 - i, j },
	} {
		got := make([][2]float64, len(truth))
		for j := 0; j < rows; j++ {
			for i := 0; i < cols; i++ {
				pi, pj := perm(i, j)
				got[j*cols+i] = truth[pj*cols+pi]
			}
		}
		canonicalOrder(got, cols, rows, img, c.w, c.h)
		for i := range truth {
			if got[i] != truth[i] {
				t.Errorf("%s: corner %d is %v, want %v", name, i, got[i], truth[i])
				break
			}
		}
	}
}

func TestFindChessboardNotFound(t *testing.T) {
	c := testLens
	testImage(0) // makes testMap
	blank := make([]uint8, c.w*c.h)
	for i := range blank {
		blank[i] = 200
	}
	m := grayMat(t, &c, blank)
	defer m.Close()
	if corners, ok, err := FindChessboard(m, 9, 6); ok || err != nil || corners != nil {
		t.Errorf("blank image: %v, %v, %v", len(corners), ok, err)
	}
	// A board that leaves the image: shifted sideways so that half of it is outside.
	p := testView(0)
	p.t[0] += 0.2
	img, _ := drawBoard(&c, testMap, p, 9, 6, 0.025)
	cut := grayMat(t, &c, img)
	defer cut.Close()
	if _, ok, err := FindChessboard(cut, 9, 6); ok || err != nil {
		t.Errorf("board partly out of view: found %v, %v", ok, err)
	}
	// The wrong board size is not found either.
	img, _ = testImage(0)
	full := grayMat(t, &c, img)
	defer full.Close()
	if _, ok, err := FindChessboard(full, 8, 6); ok || err != nil {
		t.Errorf("8x6 in a 9x6 board: found %v, %v", ok, err)
	}
}

func TestFindChessboardBadInput(t *testing.T) {
	empty := gocv.NewMat()
	defer empty.Close()
	if _, _, err := FindChessboard(empty, 9, 6); err == nil || !strings.Contains(err.Error(), "empty image") {
		t.Errorf("empty Mat: %v", err)
	}
	f32 := gocv.NewMatWithSize(48, 64, gocv.MatTypeCV32F)
	defer f32.Close()
	if _, _, err := FindChessboard(f32, 9, 6); err == nil || !strings.Contains(err.Error(), "want 8-bit") {
		t.Errorf("float Mat: %v", err)
	}
	gray := gocv.NewMatWithSize(48, 64, gocv.MatTypeCV8UC1)
	defer gray.Close()
	if _, _, err := FindChessboard(gray, 1, 6); err == nil || !strings.Contains(err.Error(), "need at least 2x2") {
		t.Errorf("1x6 board: %v", err)
	}
	depth := perception.Frame{Camera: "d", Format: perception.Depth16, Width: 4, Height: 2, Data: make([]byte, 16)}
	if _, _, err := FindChessboardFrame(&depth, 9, 6); err == nil || !strings.Contains(err.Error(), "depth16") {
		t.Errorf("depth frame: %v", err)
	}
	short := perception.Frame{Camera: "s", Format: perception.RGB8, Width: 4, Height: 2, Data: make([]byte, 10)}
	if _, _, err := FindChessboardFrame(&short, 9, 6); err == nil || !strings.Contains(err.Error(), "needs 24 bytes") {
		t.Errorf("short frame: %v", err)
	}
}

// Frames in every colour format and files give the same corners as the gray Mat.
func TestFindChessboardFrameAndFile(t *testing.T) {
	c := testLens
	img, truth := testImage(2)
	rgb := make([]byte, 3*len(img))
	for i, v := range img {
		rgb[3*i], rgb[3*i+1], rgb[3*i+2] = v, v, v
	}
	dir := t.TempDir()
	m := grayMat(t, &c, img)
	pngPath := filepath.Join(dir, "board.png")
	if !gocv.IMWrite(pngPath, m) {
		t.Fatal("IMWrite failed")
	}
	m.Close()
	check := func(name string, got [][2]float64, ok bool, err error) {
		t.Helper()
		if err != nil || !ok {
			t.Fatalf("%s: %v %v", name, ok, err)
		}
		for i := range truth {
			if e := math.Hypot(got[i][0]-truth[i][0], got[i][1]-truth[i][1]); e > 0.2 {
				t.Fatalf("%s: corner %d off by %.3f px", name, i, e)
			}
		}
	}
	for _, f := range []perception.Frame{
		{Camera: "g", Format: perception.Mono8, Width: c.w, Height: c.h, Data: img},
		{Camera: "b", Format: perception.BGR8, Width: c.w, Height: c.h, Data: rgb},
		{Camera: "r", Format: perception.RGB8, Width: c.w, Height: c.h, Data: rgb},
	} {
		got, ok, err := FindChessboardFrame(&f, 9, 6)
		check(string(f.Format), got, ok, err)
	}
	got, size, ok, err := FindChessboardFile(pngPath, 9, 6)
	check("png file", got, ok, err)
	if size != image.Pt(c.w, c.h) {
		t.Errorf("size %v", size)
	}

	if _, _, _, err := FindChessboardFile(filepath.Join(dir, "missing.png"), 9, 6); err == nil || !strings.Contains(err.Error(), "missing.png") {
		t.Errorf("missing file: %v", err)
	}
	junk := filepath.Join(dir, "junk.png")
	if err := os.WriteFile(junk, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := FindChessboardFile(junk, 9, 6); err == nil || !strings.Contains(err.Error(), "junk.png: not an image") {
		t.Errorf("junk file: %v", err)
	}
}

// OpenCV's calibration recovers a distorted lens from synthetic views.
func TestCalibrateCameraSynthetic(t *testing.T) {
	c := testLens
	const nViews = 10
	views := make([][][2]float64, nViews)
	for k := range views {
		img, _ := testImage(k)
		m := grayMat(t, &c, img)
		got, ok, err := FindChessboard(m, 9, 6)
		m.Close()
		if err != nil || !ok {
			t.Fatalf("view %d: %v %v", k, ok, err)
		}
		views[k] = got
	}
	cal, err := CalibrateCamera(views, image.Pt(9, 6), 0.025, image.Pt(c.w, c.h))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("K %.3f, D %.5f, RMS %.4f px, per view %.4f", cal.K, cal.D, cal.RMS, cal.ViewRMS)
	if math.Abs(cal.K[0]-c.fx) > 0.005*c.fx || math.Abs(cal.K[4]-c.fy) > 0.005*c.fy {
		t.Errorf("focal lengths %.3f %.3f, want %.3f %.3f within 0.5 %%", cal.K[0], cal.K[4], c.fx, c.fy)
	}
	if math.Abs(cal.K[2]-c.cx) > 1 || math.Abs(cal.K[5]-c.cy) > 1 {
		t.Errorf("principal point %.3f %.3f, want %.3f %.3f within 1 px", cal.K[2], cal.K[5], c.cx, c.cy)
	}
	// k1, k2 and k3 trade off against each other, and outside the part of the image the
	// boards covered the model is an extrapolation; so compare what the coefficients do
	// where they were observed: the projection within 15 px of any detected corner. (A
	// few tenths of a pixel remain: a principal point a fraction of a pixel off and a
	// focal length 0.1 % off are absorbed by the views' poses, as in any calibration.)
	worst, sum, checked := 0.0, 0.0, 0
	for v := 0.0; v < float64(c.h); v += 4 {
		for u := 0.0; u < float64(c.w); u += 4 {
			near := false
			for _, view := range views {
				for _, q := range view {
					if math.Hypot(q[0]-u, q[1]-v) < 15 {
						near = true
						break
					}
				}
				if near {
					break
				}
			}
			if !near {
				continue
			}
			x, y := c.undistort((u-c.cx)/c.fx, (v-c.cy)/c.fy)
			pu, pv := project(cal.K, cal.D, x, y, 1)
			e := math.Hypot(pu-u, pv-v)
			worst = math.Max(worst, e)
			sum += e * e
			checked++
		}
	}
	rms := math.Sqrt(sum / float64(checked))
	t.Logf("calibrated projection %.3f px RMS, at most %.3f px from the true lens at %d points covered by the boards", rms, worst, checked)
	if rms > 0.5 || worst > 1 {
		t.Errorf("calibrated projection %.3f px RMS, up to %.3f px from the true lens", rms, worst)
	}
	if cal.RMS > 0.1 {
		t.Errorf("RMS %.3f px", cal.RMS)
	}
	for k := range views {
		p := testView(k)
		R := rodrigues(cal.Rvecs[k])
		for i := range R {
			if math.Abs(R[i]-p.R[i]) > 2e-3 {
				t.Fatalf("view %d: rotation %v, want %v", k, R, p.R)
			}
		}
		for i := range p.t {
			if math.Abs(cal.Tvecs[k][i]-p.t[i]) > 2e-3 {
				t.Fatalf("view %d: translation %v, want %v", k, cal.Tvecs[k], p.t)
			}
		}
		if cal.ViewRMS[k] > 0.15 {
			t.Errorf("view %d RMS %.3f", k, cal.ViewRMS[k])
		}
	}
}

func TestCalibrateCameraErrors(t *testing.T) {
	view := make([][2]float64, 54)
	for i := range view {
		view[i] = [2]float64{float64(i % 9 * 10), float64(i / 9 * 10)}
	}
	three := [][][2]float64{view, view, view}
	for _, tc := range []struct {
		views  [][][2]float64
		board  image.Point
		square float64
		size   image.Point
		want   string
	}{
		{three[:2], image.Pt(9, 6), 0.025, image.Pt(640, 480), "2 views, need at least 3"},
		{[][][2]float64{view, view, view[:50]}, image.Pt(9, 6), 0.025, image.Pt(640, 480), "view 2 has 50 corners, want 9x6 = 54"},
		{three, image.Pt(9, 6), 0, image.Pt(640, 480), "square 0 m"},
		{three, image.Pt(9, 6), 0.025, image.Pt(0, 480), "image size 0x480"},
		{three, image.Pt(1, 6), 0.025, image.Pt(640, 480), "need at least 2x2"},
		{[][][2]float64{view, view, append(append([][2]float64(nil), view[:53]...), [2]float64{math.NaN(), 0})}, image.Pt(9, 6), 0.025, image.Pt(640, 480), "view 2 corner 53 is not finite"},
	} {
		if _, err := CalibrateCamera(tc.views, tc.board, tc.square, tc.size); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want %q", err, tc.want)
		}
	}
}

func TestRodriguesAndProject(t *testing.T) {
	// A quarter turn about z maps x to y.
	R := rodrigues([3]float64{0, 0, math.Pi / 2})
	want := [9]float64{0, -1, 0, 1, 0, 0, 0, 0, 1}
	for i := range R {
		if math.Abs(R[i]-want[i]) > 1e-15 {
			t.Fatalf("rodrigues = %v, want %v", R, want)
		}
	}
	if R := rodrigues([3]float64{}); R != [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1} {
		t.Errorf("rodrigues(0) = %v", R)
	}
	u, v := project([9]float64{500, 0, 320, 0, 510, 240, 0, 0, 1}, [5]float64{}, 0.1, -0.05, 0.5)
	if math.Abs(u-420) > 1e-12 || math.Abs(v-189) > 1e-12 {
		t.Errorf("project = %v, %v, want 420, 189", u, v)
	}
}
