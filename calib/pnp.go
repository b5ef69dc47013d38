package calib

import (
	"errors"
	"fmt"
	"math"

	"github.com/go-gl/mathgl/mgl64"
	"gonum.org/v1/gonum/mat"

	"github.com/robotd/robotd/control"
)

// ErrDegenerate reports input from which a pose cannot be determined: too few points,
// collinear points, points that are not coplanar, or a board behind the camera.
var ErrDegenerate = errors.New("degenerate input")

// SolvePnP finds the pose T_cam_board of a planar target from the pixels img at which
// camera in sees the target's points obj (in the target's frame, usually (i*square,
// j*square, 0)), and returns it with the RMS reprojection error in pixels.
//
// The image points are undistorted to normalized coordinates, a homography from the
// target plane is fitted by the normalized DLT (Hartley), decomposed into R, t (Zhang)
// and refined by Levenberg-Marquardt on the reprojection error through the full
// distortion model. At least 4 points are needed, no three of them all collinear in
// practice; more points (a whole chessboard) make the result robust to noise.
func SolvePnP(obj []mgl64.Vec3, img []mgl64.Vec2, in *Intrinsics) (control.Pose, float64, error) {
	if len(obj) != len(img) {
		return control.Pose{}, 0, fmt.Errorf("calib: PnP: %d object points and %d image points", len(obj), len(img))
	}
	if len(obj) < 4 {
		return control.Pose{}, 0, fmt.Errorf("calib: PnP: %w: %d points, need at least 4", ErrDegenerate, len(obj))
	}
	if err := in.Validate(); err != nil {
		return control.Pose{}, 0, err
	}
	for i := range obj {
		if !finite(obj[i][0]) || !finite(obj[i][1]) || !finite(obj[i][2]) || !finite(img[i][0]) || !finite(img[i][1]) {
			return control.Pose{}, 0, fmt.Errorf("calib: PnP: point %d is not finite: %v -> %v", i, obj[i], img[i])
		}
	}

	// The target's plane: T_board_plane maps plane coordinates (a, b, 0) to the board.
	boardFromPlane, plane, err := fitPlane(obj)
	if err != nil {
		return control.Pose{}, 0, err
	}
	norm := make([]mgl64.Vec2, len(img))
	for i, uv := range img {
		x, y, ok := in.Normalize(uv)
		if !ok {
			return control.Pose{}, 0, fmt.Errorf("calib: PnP: pixel %d %v cannot be undistorted", i, uv)
		}
		norm[i] = mgl64.Vec2{x, y}
	}
	H, err := homographyDLT(plane, norm)
	if err != nil {
		return control.Pose{}, 0, err
	}
	camFromPlane, err := poseFromHomography(H)
	if err != nil {
		return control.Pose{}, 0, err
	}
	pose := Compose(camFromPlane, Invert(boardFromPlane))
	pose = refinePose(pose, obj, img, in)

	rms := in.ReprojectionRMS(pose, obj, img)
	if math.IsInf(rms, 1) {
		return control.Pose{}, 0, fmt.Errorf("calib: PnP: %w: the solution puts target points behind the camera", ErrDegenerate)
	}
	return pose, rms, nil
}

// fitPlane finds the plane through pts: the frame T_board_plane whose xy-plane is the
// best fit, and the points' (a, b) coordinates in it. When the points already lie on
// z = 0 the plane frame is the board frame.
func fitPlane(pts []mgl64.Vec3) (control.Pose, []mgl64.Vec2, error) {
	n := float64(len(pts))
	var c mgl64.Vec3
	for _, p := range pts {
		c = c.Add(p)
	}
	c = c.Mul(1 / n)
	cov := mat.NewSymDense(3, nil)
	extent := 0.0
	for _, p := range pts {
		d := p.Sub(c)
		extent = math.Max(extent, d.Len())
		for i := 0; i < 3; i++ {
			for j := i; j < 3; j++ {
				cov.SetSym(i, j, cov.At(i, j)+d[i]*d[j])
			}
		}
	}
	if extent == 0 {
		return control.Pose{}, nil, fmt.Errorf("calib: PnP: %w: all object points coincide", ErrDegenerate)
	}
	var eig mat.EigenSym
	if !eig.Factorize(cov, true) {
		return control.Pose{}, nil, fmt.Errorf("calib: PnP: eigen decomposition of the object points failed")
	}
	vals := eig.Values(nil) // ascending
	// RMS distances from the centroid along each principal axis.
	out := math.Sqrt(math.Max(vals[0], 0) / n)
	mid := math.Sqrt(math.Max(vals[1], 0) / n)
	if out > 1e-6*extent+1e-9 {
		return control.Pose{}, nil, fmt.Errorf("calib: PnP: %w: object points are not coplanar (RMS %.3g m off their plane); only planar targets are supported", ErrDegenerate, out)
	}
	if mid < 1e-6*extent {
		return control.Pose{}, nil, fmt.Errorf("calib: PnP: %w: object points are collinear", ErrDegenerate)
	}
	var boardFromPlane control.Pose
	onZ0 := true
	for _, p := range pts {
		if p[2] != 0 {
			onZ0 = false
			break
		}
	}
	if onZ0 {
		boardFromPlane = control.Pose{Rot: mgl64.QuatIdent()}
	} else {
		var vecs mat.Dense
		eig.VectorsTo(&vecs)
		e1 := mgl64.Vec3{vecs.At(0, 2), vecs.At(1, 2), vecs.At(2, 2)}
		e2 := mgl64.Vec3{vecs.At(0, 1), vecs.At(1, 1), vecs.At(2, 1)}
		e3 := e1.Cross(e2)
		boardFromPlane = control.Pose{Pos: c, Rot: control.QuatFromMat(mgl64.Mat3FromCols(e1, e2, e3))}
	}
	inv := Invert(boardFromPlane)
	ab := make([]mgl64.Vec2, len(pts))
	for i, p := range pts {
		q := Apply(inv, p)
		ab[i] = mgl64.Vec2{q[0], q[1]}
	}
	return boardFromPlane, ab, nil
}

// hartley returns the similarity T (row-major 3x3) that moves pts' centroid to the origin
// and scales their mean distance from it to sqrt(2).
func hartley(pts []mgl64.Vec2) mgl64.Mat3 {
	var c mgl64.Vec2
	for _, p := range pts {
		c = c.Add(p)
	}
	c = c.Mul(1 / float64(len(pts)))
	d := 0.0
	for _, p := range pts {
		d += p.Sub(c).Len()
	}
	d /= float64(len(pts))
	s := math.Sqrt2 / d
	return mgl64.Mat3{s, 0, 0, 0, s, 0, -s * c[0], -s * c[1], 1} // column-major
}

// homographyDLT fits H (x ~ H X) to plane points src and image points dst by the
// normalized direct linear transform.
func homographyDLT(src, dst []mgl64.Vec2) (mgl64.Mat3, error) {
	Ts, Td := hartley(src), hartley(dst)
	n := len(src)
	A := mat.NewDense(2*n, 9, nil)
	for i := range src {
		s := Ts.Mul3x1(mgl64.Vec3{src[i][0], src[i][1], 1})
		d := Td.Mul3x1(mgl64.Vec3{dst[i][0], dst[i][1], 1})
		u, v := d[0], d[1]
		A.SetRow(2*i, []float64{s[0], s[1], s[2], 0, 0, 0, -u * s[0], -u * s[1], -u * s[2]})
		A.SetRow(2*i+1, []float64{0, 0, 0, s[0], s[1], s[2], -v * s[0], -v * s[1], -v * s[2]})
	}
	var svd mat.SVD
	if !svd.Factorize(A, mat.SVDFullV) {
		return mgl64.Mat3{}, fmt.Errorf("calib: PnP: homography SVD failed")
	}
	sv := svd.Values(nil)
	// A rank below 8 means the points do not determine a homography (collinear).
	if len(sv) < 8 || sv[7] < 1e-10*sv[0] {
		return mgl64.Mat3{}, fmt.Errorf("calib: PnP: %w: the points do not determine a homography", ErrDegenerate)
	}
	var V mat.Dense
	svd.VTo(&V)
	h := mat.Col(nil, 8, &V)
	Hn := mgl64.Mat3{h[0], h[3], h[6], h[1], h[4], h[7], h[2], h[5], h[8]} // column-major from row-major h
	// Undo the normalization: H = Td^-1 Hn Ts.
	return Td.Inv().Mul3(Hn).Mul3(Ts), nil
}

// poseFromHomography decomposes H ~ [r1 r2 t] (normalized camera, K = I) into the pose
// of the plane in the camera, with the plane in front of the camera.
func poseFromHomography(H mgl64.Mat3) (control.Pose, error) {
	h1, h2, h3 := H.Col(0), H.Col(1), H.Col(2)
	n1, n2 := h1.Len(), h2.Len()
	if n1 == 0 || n2 == 0 || !finite(n1) || !finite(n2) {
		return control.Pose{}, fmt.Errorf("calib: PnP: %w: singular homography", ErrDegenerate)
	}
	lambda := 2 / (n1 + n2)
	if h3[2] < 0 { // the plane's origin must be in front of the camera
		lambda = -lambda
	}
	r1, r2 := h1.Mul(lambda), h2.Mul(lambda)
	r3 := r1.Cross(r2)
	R, ok := nearestRotation(mgl64.Mat3FromCols(r1, r2, r3))
	if !ok {
		R = mgl64.Ident3() // the LM refinement starts from here
	}
	return control.Pose{Pos: h3.Mul(lambda), Rot: control.QuatFromMat(R)}, nil
}

// nearestRotation is the rotation closest to m in the Frobenius norm: U V^T of m's SVD,
// with the sign fixed so that its determinant is +1. ok is false when the SVD fails.
func nearestRotation(m mgl64.Mat3) (mgl64.Mat3, bool) {
	d := mat.NewDense(3, 3, nil)
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			d.Set(i, j, m.At(i, j))
		}
	}
	var svd mat.SVD
	if !svd.Factorize(d, mat.SVDFull) {
		return mgl64.Ident3(), false
	}
	var U, V mat.Dense
	svd.UTo(&U)
	svd.VTo(&V)
	var r mat.Dense
	r.Mul(&U, V.T())
	if mat.Det(&r) < 0 {
		for i := 0; i < 3; i++ {
			U.Set(i, 2, -U.At(i, 2))
		}
		r.Mul(&U, V.T())
	}
	var out mgl64.Mat3
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			out.Set(i, j, r.At(i, j))
		}
	}
	return out, true
}

// poseParams maps an LM parameter vector (rotation increment w, translation t) to a
// pose: rotation exp(w) * ref, position t.
type poseParams struct{ ref mgl64.Quat }

func (pp *poseParams) pose(x []float64) control.Pose {
	return control.Pose{
		Pos: mgl64.Vec3{x[3], x[4], x[5]},
		Rot: rotExp(mgl64.Vec3{x[0], x[1], x[2]}).Mul(pp.ref).Normalize(),
	}
}

// recenter folds the rotation increment into ref.
func (pp *poseParams) recenter(x []float64) {
	pp.ref = rotExp(mgl64.Vec3{x[0], x[1], x[2]}).Mul(pp.ref).Normalize()
	x[0], x[1], x[2] = 0, 0, 0
}

func (pp *poseParams) start(p control.Pose) []float64 {
	pp.ref = p.Rot.Normalize()
	return []float64{0, 0, 0, p.Pos[0], p.Pos[1], p.Pos[2]}
}

// refinePose minimises the reprojection error of obj against img over the pose.
func refinePose(p0 control.Pose, obj []mgl64.Vec3, img []mgl64.Vec2, in *Intrinsics) control.Pose {
	var pp poseParams
	x := pp.start(p0)
	prob := leastSquares{
		n: 6, m: 2 * len(obj),
		f: func(dst, x []float64) {
			p := pp.pose(x)
			for i, X := range obj {
				uv, ok := in.Project(Apply(p, X))
				if !ok {
					// Behind the camera: a large residual the step will be rejected on.
					dst[2*i], dst[2*i+1] = 1e6, 1e6
					continue
				}
				dst[2*i], dst[2*i+1] = uv[0]-img[i][0], uv[1]-img[i][1]
			}
		},
		recenter: pp.recenter,
	}
	levenbergMarquardt(prob, x, 100)
	return pp.pose(x)
}
