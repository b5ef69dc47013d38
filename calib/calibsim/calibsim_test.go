package calibsim_test

import (
	"image"
	"math"
	"testing"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/calib"
	"github.com/robotd/robotd/calib/calibsim"
	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/perception/cv"
)

func deg(rad float64) float64 { return rad * 180 / math.Pi }

// detect finds the board in every view; a view where it is not found fails the test
// (the datasets only contain views that show the whole board).
func detect(t *testing.T, ds *calibsim.Dataset) [][]mgl64.Vec2 {
	t.Helper()
	out := make([][]mgl64.Vec2, len(ds.Views))
	obj := calibsim.BoardPoints(ds.Square)
	truth := make([]mgl64.Vec2, len(obj))
	worst := 0.0
	for i := range ds.Views {
		v := &ds.Views[i]
		c, ok, err := cv.FindChessboardFrame(&v.Frame, calibsim.BoardCols, calibsim.BoardRows)
		if err != nil || !ok {
			t.Fatalf("view %d: board not found (%v)", i, err)
		}
		out[i] = make([]mgl64.Vec2, len(c))
		for k := range c {
			out[i][k] = mgl64.Vec2(c[k])
		}
		// The detector's corners, in its canonical order, are the true corners.
		ds.Intrinsics.ProjectPoints(truth, v.CamFromBoard, obj)
		for k := range truth {
			worst = math.Max(worst, out[i][k].Sub(truth[k]).Len())
		}
	}
	t.Logf("%d views: detected corners within %.3f px of the truth", len(ds.Views), worst)
	if worst > 0.5 {
		t.Errorf("a detected corner is %.3f px from its true position", worst)
	}
	return out
}

// (a) Intrinsics from rendered views of the board: focal length within 1 %, principal
// point within 2 px of MuJoCo's exact camera.
func TestIntrinsicsFromSim(t *testing.T) {
	ds, err := calibsim.IntrinsicsDataset(calibsim.Options{Views: 12, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	views := detect(t, ds)
	plain := make([][][2]float64, len(views))
	for i, v := range views {
		plain[i] = make([][2]float64, len(v))
		for k := range v {
			plain[i][k] = v[k]
		}
	}
	w, h := ds.Intrinsics.Width, ds.Intrinsics.Height
	cal, err := cv.CalibrateCamera(plain, image.Pt(calibsim.BoardCols, calibsim.BoardRows), ds.Square, image.Pt(w, h))
	if err != nil {
		t.Fatal(err)
	}
	got := calib.NewIntrinsics("calib", w, h, cal.K, cal.D)
	truth := &ds.Intrinsics
	fxErr := 100 * (got.Fx() - truth.Fx()) / truth.Fx()
	fyErr := 100 * (got.Fy() - truth.Fy()) / truth.Fy()
	cxErr, cyErr := got.Cx()-truth.Cx(), got.Cy()-truth.Cy()
	t.Logf("truth f %.3f c (%.2f, %.2f); calibrated fx %.3f (%+.3f %%) fy %.3f (%+.3f %%) c (%.2f, %.2f) (%+.2f, %+.2f px), D %.4f, RMS %.3f px",
		truth.Fx(), truth.Cx(), truth.Cy(), got.Fx(), fxErr, got.Fy(), fyErr, got.Cx(), got.Cy(), cxErr, cyErr, cal.D, cal.RMS)
	if math.Abs(fxErr) > 1 || math.Abs(fyErr) > 1 {
		t.Errorf("focal length off by %.3f %% / %.3f %%, want within 1 %%", fxErr, fyErr)
	}
	if math.Abs(cxErr) > 2 || math.Abs(cyErr) > 2 {
		t.Errorf("principal point off by (%.2f, %.2f) px, want within 2 px", cxErr, cyErr)
	}
	if cal.RMS > 0.3 || len(cal.ViewRMS) != len(views) {
		t.Errorf("RMS %.3f px over %d per-view values", cal.RMS, len(cal.ViewRMS))
	}
	// The per-view errors make up the overall one (same number of corners per view).
	sum := 0.0
	for _, e := range cal.ViewRMS {
		sum += e * e
	}
	if overall := math.Sqrt(sum / float64(len(cal.ViewRMS))); math.Abs(overall-cal.RMS) > 1e-3 {
		t.Errorf("per-view RMS combine to %.5f, OpenCV's overall RMS is %.5f", overall, cal.RMS)
	}
	// With the calibrated camera, PnP finds each board pose; OpenCV's own extrinsics agree.
	obj := calibsim.BoardPoints(ds.Square)
	for i, v := range views {
		pose, rms, err := calib.SolvePnP(obj, v, &got)
		if err != nil {
			t.Fatal(err)
		}
		dt, dr := calib.PoseDistance(pose, ds.Views[i].CamFromBoard)
		if 1000*dt > 2 || deg(dr) > 0.3 || rms > 0.3 {
			t.Errorf("view %d: PnP %.2f mm %.3f deg from the truth, RMS %.3f px", i, 1000*dt, deg(dr), rms)
		}
		r, tv := cal.Rvecs[i], cal.Tvecs[i]
		rv := mgl64.Vec3(r)
		ocv := control.Pose{Pos: mgl64.Vec3(tv), Rot: mgl64.QuatRotate(rv.Len(), rv.Normalize())}
		if rv.Len() == 0 {
			ocv.Rot = mgl64.QuatIdent()
		}
		if dt, dr := calib.PoseDistance(pose, ocv); 1000*dt > 0.5 || deg(dr) > 0.05 {
			t.Errorf("view %d: PnP and calibrateCamera's extrinsics differ by %.3f mm %.4f deg", i, 1000*dt, deg(dr))
		}
	}
}

// handEye detects the board in every view, finds its pose with the camera's true
// intrinsics and solves the hand-eye problem; it checks the camera pose against the
// truth within 2 mm and 0.5 deg.
func handEye(t *testing.T, ds *calibsim.Dataset) {
	views := detect(t, ds)
	obj := calibsim.BoardPoints(ds.Square)
	robot := make([]control.Pose, len(views))
	boards := make([]control.Pose, len(views))
	worstT, worstR := 0.0, 0.0
	for i, v := range views {
		pose, _, err := calib.SolvePnP(obj, v, &ds.Intrinsics)
		if err != nil {
			t.Fatalf("view %d: %v", i, err)
		}
		dt, dr := calib.PoseDistance(pose, ds.Views[i].CamFromBoard)
		worstT, worstR = math.Max(worstT, dt), math.Max(worstR, dr)
		robot[i], boards[i] = ds.Views[i].Robot, pose
	}
	t.Logf("PnP board poses within %.3f mm, %.4f deg of the truth", 1000*worstT, deg(worstR))
	res, err := calib.SolveHandEye(robot, boards, ds.Mode)
	if err != nil {
		t.Fatal(err)
	}
	dt, dr := calib.PoseDistance(res.Camera, ds.CameraTruth)
	bt, br := calib.PoseDistance(res.Board, ds.BoardTruth)
	t.Logf("%s, %d views: camera %.3f mm, %.4f deg from the truth (board %.3f mm, %.4f deg); residual RMS %.3f mm %.4f deg, max %.3f mm %.4f deg; axis spread %.1f deg",
		ds.Mode, len(views), 1000*dt, deg(dr), 1000*bt, deg(br), res.RMS.TransMM, res.RMS.RotDeg, res.Max.TransMM, res.Max.RotDeg, res.AxisSpreadDeg)
	if 1000*dt > 2 || deg(dr) > 0.5 {
		t.Errorf("camera pose %.3f mm, %.4f deg from the truth; want within 2 mm and 0.5 deg", 1000*dt, deg(dr))
	}
	if 1000*bt > 2 || deg(br) > 0.5 {
		t.Errorf("board pose %.3f mm, %.4f deg from the truth", 1000*bt, deg(br))
	}
	if out := res.OutlierViews(3, 0.5, 0.05); len(out) > 0 {
		t.Errorf("clean views flagged as outliers: %v (%+v)", out, res.Views)
	}
}

// (b) Eye-in-hand: the wrist camera, the board on the table.
func TestEyeInHandFromSim(t *testing.T) {
	ds, err := calibsim.EyeInHandDataset(calibsim.Options{Views: 12, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	handEye(t, ds)
}

// (c) Eye-to-hand: the fixed scene camera, the board in the hand.
func TestEyeToHandFromSim(t *testing.T) {
	ds, err := calibsim.EyeToHandDataset(t.TempDir(), calibsim.Options{Views: 12, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	handEye(t, ds)
}

// The model's camera helpers agree with MuJoCo: SetOpticalPose round-trips through
// OpticalPose, and a site projects through TrueIntrinsics onto the pixel where the
// rendered image shows it (checked on the board's corner 0 via the detector above; here
// the geometry only).
func TestOpticalPoseRoundTrip(t *testing.T) {
	ds, err := calibsim.IntrinsicsDataset(calibsim.Options{Views: 1, Width: 320, Height: 240, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	in := ds.Intrinsics
	if in.Width != 320 || math.Abs(in.Fx()-120/math.Tan(29*math.Pi/180)) > 1e-9 || in.Cx() != 159.5 || in.Cy() != 119.5 {
		t.Errorf("intrinsics %+v: want f = 120/tan(29 deg), c = (159.5, 119.5)", in)
	}
	if !calibsim.BoardInView(&in, ds.Views[0].CamFromBoard, ds.Square, 0) {
		t.Error("the view's board is not in view")
	}
}
