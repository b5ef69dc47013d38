package calib

import (
	"fmt"
	"math"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/perception"
)

// Intrinsics is a pinhole camera with OpenCV's "plumb_bob" lens distortion: what ROS
// calls a camera_info. Pixel coordinates follow OpenCV: (0, 0) is the centre of the
// top-left pixel, u grows to the right and v downwards.
//
// A point (X, Y, Z) in the camera's optical frame (x right, y down, z forward) projects
// to x = X/Z, y = Y/Z, then, with r² = x² + y²,
//
//	x' = x (1 + k1 r² + k2 r⁴ + k3 r⁶) + 2 p1 x y + p2 (r² + 2 x²)
//	y' = y (1 + k1 r² + k2 r⁴ + k3 r⁶) + p1 (r² + 2 y²) + 2 p2 x y
//	u  = K[0] x' + K[1] y' + K[2],  v = K[4] y' + K[5]
type Intrinsics struct {
	Name          string // camera_name
	Width, Height int    // image size in pixels
	// K is the camera matrix, row-major: fx, skew, cx; 0, fy, cy; 0, 0, 1.
	K [9]float64
	// D is the distortion k1, k2, p1, p2, k3 in OpenCV's order.
	D [5]float64
	// R is the rectification matrix, row-major (identity for a monocular camera).
	R [9]float64
	// P is the 3x4 projection matrix of the rectified image, row-major.
	P [12]float64
}

// NewIntrinsics returns intrinsics with camera matrix k and distortion d, identity
// rectification and P = [K | 0], as ROS writes for a monocular camera.
func NewIntrinsics(name string, width, height int, k [9]float64, d [5]float64) Intrinsics {
	in := Intrinsics{Name: name, Width: width, Height: height, K: k, D: d,
		R: [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}}
	copy(in.P[0:3], k[0:3])
	copy(in.P[4:7], k[3:6])
	copy(in.P[8:11], k[6:9])
	return in
}

// Perception returns the camera model as perception's preprocessing pipeline takes it
// (for its undistort step).
func (in *Intrinsics) Perception() *perception.Intrinsics {
	return &perception.Intrinsics{Width: in.Width, Height: in.Height, K: in.K,
		D: append([]float64(nil), in.D[:]...), DistortionModel: DistortionModel}
}

// Fx, Fy, Cx and Cy are the focal lengths and principal point in pixels.
func (in *Intrinsics) Fx() float64 { return in.K[0] }
func (in *Intrinsics) Fy() float64 { return in.K[4] }
func (in *Intrinsics) Cx() float64 { return in.K[2] }
func (in *Intrinsics) Cy() float64 { return in.K[5] }

// Validate reports intrinsics that cannot project: a non-positive image size or focal
// length, a camera matrix whose last row is not (0, 0, 1) or whose (1, 0) entry is not
// 0, or a number that is not finite.
func (in *Intrinsics) Validate() error {
	if in.Width <= 0 || in.Height <= 0 {
		return fmt.Errorf("calib: camera %q: image size %dx%d: want positive", in.Name, in.Width, in.Height)
	}
	for _, arr := range [][]float64{in.K[:], in.D[:], in.R[:], in.P[:]} {
		for _, x := range arr {
			if !finite(x) {
				return fmt.Errorf("calib: camera %q: non-finite parameter %v", in.Name, x)
			}
		}
	}
	if !(in.K[0] > 0) || !(in.K[4] > 0) {
		return fmt.Errorf("calib: camera %q: focal lengths fx %g, fy %g: want positive", in.Name, in.K[0], in.K[4])
	}
	if in.K[3] != 0 || in.K[6] != 0 || in.K[7] != 0 || in.K[8] != 1 {
		return fmt.Errorf("calib: camera %q: camera matrix %v: want rows (fx s cx) (0 fy cy) (0 0 1)", in.Name, in.K)
	}
	return nil
}

// Distort applies the lens distortion to normalized image coordinates (x, y) = (X/Z, Y/Z).
func (in *Intrinsics) Distort(x, y float64) (xd, yd float64) {
	k1, k2, p1, p2, k3 := in.D[0], in.D[1], in.D[2], in.D[3], in.D[4]
	r2 := x*x + y*y
	radial := 1 + r2*(k1+r2*(k2+r2*k3))
	xd = x*radial + 2*p1*x*y + p2*(r2+2*x*x)
	yd = y*radial + p1*(r2+2*y*y) + 2*p2*x*y
	return xd, yd
}

// Pixel maps distorted normalized coordinates to pixels through K.
func (in *Intrinsics) Pixel(xd, yd float64) mgl64.Vec2 {
	return mgl64.Vec2{in.K[0]*xd + in.K[1]*yd + in.K[2], in.K[4]*yd + in.K[5]}
}

// Project maps point p of the camera's optical frame to pixel coordinates, with
// distortion. ok is false for a point not in front of the camera (Z <= 0).
func (in *Intrinsics) Project(p mgl64.Vec3) (uv mgl64.Vec2, ok bool) {
	if !(p[2] > 0) {
		return mgl64.Vec2{}, false
	}
	return in.Pixel(in.Distort(p[0]/p[2], p[1]/p[2])), true
}

// ProjectPoints writes into dst (len(obj) long) the pixels of object points obj seen
// from pose camFromObj = T_cam_obj. It returns false if any point is not in front of
// the camera (its pixel is then left zero).
func (in *Intrinsics) ProjectPoints(dst []mgl64.Vec2, camFromObj control.Pose, obj []mgl64.Vec3) bool {
	if len(dst) != len(obj) {
		panic(fmt.Sprintf("calib: ProjectPoints: %d destinations for %d points", len(dst), len(obj)))
	}
	all := true
	for i, x := range obj {
		var ok bool
		if dst[i], ok = in.Project(Apply(camFromObj, x)); !ok {
			all = false
		}
	}
	return all
}

// Normalize maps a pixel to undistorted normalized image coordinates (X/Z, Y/Z): the
// inverse of Pixel followed by the inverse of Distort, found by Newton's method. ok is
// false if the iteration did not converge (a pixel far outside the distortion model's
// valid region).
func (in *Intrinsics) Normalize(uv mgl64.Vec2) (x, y float64, ok bool) {
	yd := (uv[1] - in.K[5]) / in.K[4]
	xd := (uv[0] - in.K[2] - in.K[1]*yd) / in.K[0]
	if in.D == [5]float64{} {
		return xd, yd, true
	}
	k1, k2, p1, p2, k3 := in.D[0], in.D[1], in.D[2], in.D[3], in.D[4]
	x, y = xd, yd
	for it := 0; it < 50; it++ {
		fx, fy := in.Distort(x, y)
		ex, ey := fx-xd, fy-yd
		if math.Abs(ex) < 1e-15 && math.Abs(ey) < 1e-15 {
			return x, y, true
		}
		r2 := x*x + y*y
		radial := 1 + r2*(k1+r2*(k2+r2*k3))
		dr := 2 * (k1 + r2*(2*k2+3*k3*r2)) // d radial / d(r²) * 2
		j00 := radial + x*dr*x + 2*p1*y + 6*p2*x
		j01 := x*dr*y + 2*p1*x + 2*p2*y
		j10 := y*dr*x + 2*p1*x + 2*p2*y
		j11 := radial + y*dr*y + 6*p1*y + 2*p2*x
		det := j00*j11 - j01*j10
		if det == 0 || !finite(det) {
			return x, y, false
		}
		x -= (j11*ex - j01*ey) / det
		y -= (-j10*ex + j00*ey) / det
	}
	fx, fy := in.Distort(x, y)
	return x, y, math.Hypot(fx-xd, fy-yd) < 1e-9
}

// ReprojectionRMS is the root mean square distance in pixels between the projections
// of obj seen from camFromObj and the observed pixels img: sqrt(sum |e|² / N), the
// measure OpenCV's calibrateCamera reports.
func (in *Intrinsics) ReprojectionRMS(camFromObj control.Pose, obj []mgl64.Vec3, img []mgl64.Vec2) float64 {
	if len(obj) != len(img) {
		panic(fmt.Sprintf("calib: ReprojectionRMS: %d object points and %d image points", len(obj), len(img)))
	}
	if len(obj) == 0 {
		return 0
	}
	var sum float64
	for i, x := range obj {
		uv, ok := in.Project(Apply(camFromObj, x))
		if !ok {
			return math.Inf(1)
		}
		sum += uv.Sub(img[i]).LenSqr()
	}
	return math.Sqrt(sum / float64(len(obj)))
}
