package calib

import (
	"fmt"
	"image"
	"io"
	"slices"
	"strings"

	"github.com/robotd/robotd/control"
)

// IntrinsicsReport is an intrinsic calibration with the views it came from, as robotd
// calib intrinsics reports it.
type IntrinsicsReport struct {
	Intrinsics Intrinsics
	Views      []View    // the views that show the board, in calibration order
	ViewRMS    []float64 // each view's reprojection error (RMS, pixels)
	RMS        float64   // the overall reprojection error (RMS, pixels)
	Images     int       // the images searched
}

// Calibrator fits a pinhole camera with plumb_bob distortion to views of a board
// (perception/cv's CalibrateCamera, which holds the OpenCV this package does without):
// views[i] are view i's inner corners (pixels), board counts the inner corners and
// square is a square's side (m). It returns K (row-major), D (k1, k2, p1, p2, k3) and
// the reprojection errors over all views and per view (RMS, pixels).
type Calibrator func(views [][][2]float64, board image.Point, square float64, size image.Point) (k [9]float64, d [5]float64, rms float64, viewRMS []float64, err error)

// CalibrateIntrinsics calibrates camera name from found, the views of images that show
// board b (at least 3, all one size): the intrinsics, checked (Validate), with the
// errors to report.
func CalibrateIntrinsics(name string, found []View, images int, b Board, cal Calibrator) (IntrinsicsReport, error) {
	views := make([][][2]float64, len(found))
	for i, v := range found {
		views[i] = v.Corners
	}
	size := found[0].Size
	k, d, rms, viewRMS, err := cal(views, image.Pt(b.Cols, b.Rows), b.Square, size)
	if err != nil {
		return IntrinsicsReport{}, err
	}
	r := IntrinsicsReport{Intrinsics: NewIntrinsics(name, size.X, size.Y, k, d), Views: found, ViewRMS: viewRMS, RMS: rms, Images: images}
	if err := r.Intrinsics.Validate(); err != nil {
		return IntrinsicsReport{}, fmt.Errorf("calibration failed: %w", err)
	}
	return r, nil
}

// Outliers are the names of the outlier views (Outliers of ViewRMS) and the median
// view error (pixels).
func (r *IntrinsicsReport) Outliers() (names []string, median float64) {
	idx, median := Outliers(r.ViewRMS)
	for _, i := range idx {
		names = append(names, r.Views[i].Name)
	}
	return names, median
}

// WriteText writes each view's error, outliers flagged, then the camera's parameters
// and the overall error.
func (r *IntrinsicsReport) WriteText(w io.Writer) {
	in := &r.Intrinsics
	outliers, med := r.Outliers()
	fmt.Fprintf(w, "\nreprojection error per view (RMS, pixels):\n")
	for i, v := range r.Views {
		flag := ""
		if slices.Contains(outliers, v.Name) {
			flag = fmt.Sprintf("  <- outlier (> %.1fx the median %.3f px): check this image", OutlierFactor, med)
		}
		fmt.Fprintf(w, "  %-24s %.3f%s\n", v.Name, r.ViewRMS[i], flag)
	}
	fmt.Fprintf(w, "\ncamera %q, %dx%d, from %d of %d images\n", in.Name, in.Width, in.Height, len(r.Views), r.Images)
	fmt.Fprintf(w, "  fx %.3f  fy %.3f  cx %.3f  cy %.3f  (pixels)\n", in.Fx(), in.Fy(), in.Cx(), in.Cy())
	fmt.Fprintf(w, "  distortion plumb_bob k1 %.6f  k2 %.6f  p1 %.6f  p2 %.6f  k3 %.6f\n", in.D[0], in.D[1], in.D[2], in.D[3], in.D[4])
	fmt.Fprintf(w, "  reprojection error %.3f px RMS\n", r.RMS)
	if len(outliers) > 0 {
		fmt.Fprintf(w, "  %d outlier view(s): %s; consider removing them and calibrating again\n", len(outliers), strings.Join(outliers, ", "))
	}
}

// HandEyeReport is a hand-eye calibration with the views it came from, as robotd calib
// handeye reports it.
type HandEyeReport struct {
	Views    []View         // the views that show the board
	Boards   []control.Pose // each view's board pose in the camera (BoardPoses)
	BoardRMS []float64      // each view's PnP reprojection error (RMS, pixels)
	Result   HandEyeResult
}

// HandEyeOutlier is how far (HandEyeResult.OutlierViews' factor and floors, mm and
// degrees) a view's implied board pose must be from the consensus to be flagged.
const (
	HandEyeOutlierFactor = 3
	HandEyeOutlierMM     = 0.5
	HandEyeOutlierDeg    = 0.05
)

// ViewPoses are the robot poses of views, matched by image name; a view without one
// gets the zero pose.
func ViewPoses(poses []RobotPose, views []View) []control.Pose {
	out := make([]control.Pose, len(views))
	for i, v := range views {
		for _, p := range poses {
			if p.Image == v.Name {
				out[i] = p.Pose
			}
		}
	}
	return out
}

// WriteBoards writes each view's board distance from the camera and PnP error.
func (r *HandEyeReport) WriteBoards(w io.Writer) {
	for i, v := range r.Views {
		fmt.Fprintf(w, "  %-24s %.3f m away, reprojection %.3f px RMS\n", v.Name, r.Boards[i].Pos.Len(), r.BoardRMS[i])
	}
}

// WriteText writes the camera pose, the residuals and each view's distance from the
// consensus, outliers flagged.
func (r *HandEyeReport) WriteText(w io.Writer) {
	res := &r.Result
	p, q := res.Camera.Pos, res.Camera.Rot
	fmt.Fprintf(w, "\n%s: T_%s_cam (camera optical frame: x right, y down, z forward)\n", res.Mode, res.Mode.Parent())
	fmt.Fprintf(w, "  position     %.5f %.5f %.5f m\n", p[0], p[1], p[2])
	fmt.Fprintf(w, "  orientation  %.6f %.6f %.6f %.6f (w x y z)\n", q.W, q.V[0], q.V[1], q.V[2])
	fmt.Fprintf(w, "  residuals over %d pairs of views: %.3f mm %.4f deg RMS, max %.3f mm %.4f deg\n",
		len(res.Pairs), res.RMS.TransMM, res.RMS.RotDeg, res.Max.TransMM, res.Max.RotDeg)
	fmt.Fprintf(w, "  rotation axes of the motions spread %.1f deg (more is better conditioned)\n", res.AxisSpreadDeg)
	outliers := res.OutlierViews(HandEyeOutlierFactor, HandEyeOutlierMM, HandEyeOutlierDeg)
	fmt.Fprintf(w, "per view, distance of the board pose it implies from the consensus:\n")
	for i, v := range res.Views {
		flag := ""
		if slices.Contains(outliers, i) {
			flag = "  <- outlier: check this image and its robot pose"
		}
		fmt.Fprintf(w, "  %-24s %.3f mm %.4f deg%s\n", r.Views[i].Name, v.TransMM, v.RotDeg, flag)
	}
}
