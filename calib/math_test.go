package calib

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
)

func randomRotation(rng *rand.Rand, maxAngle float64) mgl64.Quat {
	axis := mgl64.Vec3{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}.Normalize()
	return mgl64.QuatRotate(maxAngle*(2*rng.Float64()-1), axis)
}

func TestRotExpLog(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1000; i++ {
		v := mgl64.Vec3{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}.Normalize().Mul(math.Pi * rng.Float64())
		if i < 3 {
			v = v.Mul([]float64{0, 1e-14, 1e-9}[i])
		}
		if got := rotLog(rotExp(v)); got.Sub(v).Len() > 1e-12 {
			t.Fatalf("log(exp(%v)) = %v", v, got)
		}
		q := randomRotation(rng, math.Pi)
		if got := control.QuatFromMat(matFromQuat(q)); angleBetween(got, q) > 1e-12 {
			t.Fatalf("control.QuatFromMat(mat(%v)) = %v", q, got)
		}
	}
	// Near a half turn the sign of the quaternion flips; the angle must not.
	q := mgl64.QuatRotate(math.Pi-1e-9, mgl64.Vec3{0, 0, 1})
	if a := rotLog(q).Len(); math.Abs(a-(math.Pi-1e-9)) > 1e-12 {
		t.Errorf("angle near pi: %v", a)
	}
}

func TestComposeInvert(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a := control.Pose{Pos: mgl64.Vec3{0.1, -0.2, 0.3}, Rot: randomRotation(rng, math.Pi)}
	b := control.Pose{Pos: mgl64.Vec3{-1, 0.5, 2}, Rot: randomRotation(rng, math.Pi)}
	x := mgl64.Vec3{0.3, 0.2, -0.7}
	if got, want := Apply(Compose(a, b), x), Apply(a, Apply(b, x)); got.Sub(want).Len() > 1e-15 {
		t.Errorf("Compose: %v, want %v", got, want)
	}
	if dt, dr := PoseDistance(Compose(a, Invert(a)), control.Pose{Rot: mgl64.QuatIdent()}); dt > 1e-15 || dr > 1e-7 {
		t.Errorf("a * a^-1 is %v m, %v rad from identity", dt, dr)
	}
}

func TestProjectAndNormalize(t *testing.T) {
	in := NewIntrinsics("c", 640, 480, [9]float64{500, 0, 320, 0, 510, 240, 0, 0, 1}, [5]float64{})
	// Hand-computed: no distortion, (0.1, -0.05, 0.5) -> x 0.2, y -0.1.
	uv, ok := in.Project(mgl64.Vec3{0.1, -0.05, 0.5})
	if !ok || uv.Sub(mgl64.Vec2{420, 189}).Len() > 1e-12 {
		t.Errorf("Project = %v %v, want (420, 189)", uv, ok)
	}
	if _, ok := in.Project(mgl64.Vec3{0, 0, -1}); ok {
		t.Error("a point behind the camera projected")
	}
	// With distortion, hand-computed for x = 0.2, y = -0.1: r² = 0.05,
	// radial = 1 - 0.2*0.05 + 0.05*0.0025 + 0.01*0.000125 = 0.99012625,
	// x' = 0.2*radial + 2*0.001*0.2*(-0.1) + 0.002*(0.05 + 0.08) = 0.19824525,
	// y' = -0.1*radial + 0.001*(0.05 + 0.02) + 2*0.002*0.2*(-0.1) = -0.099022625.
	in.D = [5]float64{-0.2, 0.05, 0.001, 0.002, 0.01}
	in.K[1] = 0.5
	uv, _ = in.Project(mgl64.Vec3{0.1, -0.05, 0.5})
	want := mgl64.Vec2{500*0.19824525 + 0.5*(-0.099022625) + 320, 510*(-0.099022625) + 240}
	if uv.Sub(want).Len() > 1e-9 {
		t.Errorf("Project with distortion = %v, want %v", uv, want)
	}
	// Normalize inverts Pixel∘Distort over the image, for mild and strong lenses.
	for _, d := range [][5]float64{{-0.2, 0.05, 0.001, 0.002, 0.01}, {-0.42, 0.2, -0.003, 0.001, -0.05}, {0.1, -0.05, 0, 0, 0}} {
		in.D = d
		for x := -0.6; x <= 0.6; x += 0.1 {
			for y := -0.45; y <= 0.45; y += 0.05 {
				uv := in.Pixel(in.Distort(x, y))
				gx, gy, ok := in.Normalize(uv)
				if !ok || math.Hypot(gx-x, gy-y) > 1e-12 {
					t.Fatalf("D %v: Normalize(Pixel(Distort(%v, %v))) = %v, %v, %v", d, x, y, gx, gy, ok)
				}
			}
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		in   Intrinsics
		want string
	}{
		{NewIntrinsics("a", 0, 480, [9]float64{500, 0, 1, 0, 500, 1, 0, 0, 1}, [5]float64{}), "image size"},
		{NewIntrinsics("b", 640, 480, [9]float64{-500, 0, 1, 0, 500, 1, 0, 0, 1}, [5]float64{}), "focal"},
		{NewIntrinsics("c", 640, 480, [9]float64{500, 0, 1, 0, 500, 1, 0, 0, 2}, [5]float64{}), "camera matrix"},
		{NewIntrinsics("d", 640, 480, [9]float64{500, 0, 1, 0, 500, 1, 0, 0, 1}, [5]float64{math.NaN()}), "non-finite"},
	} {
		if err := tc.in.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want %q", tc.in.Name, err, tc.want)
		}
	}
}

// board returns the inner corners of a cols x rows chessboard with the given square, in
// the board frame (z = 0), row by row.
func board(cols, rows int, square float64) []mgl64.Vec3 {
	pts := make([]mgl64.Vec3, 0, cols*rows)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			pts = append(pts, mgl64.Vec3{float64(c) * square, float64(r) * square, 0})
		}
	}
	return pts
}

// lookAt is the pose T_cam_board of a camera at distance dist from the board's centre c
// (board frame), looking at it along the direction dir (board frame, pointing from the
// board towards the camera... negative z is in front of the board's face).
func lookAt(c, from mgl64.Vec3, roll float64) control.Pose {
	z := c.Sub(from).Normalize() // optical axis, board frame
	up := mgl64.Vec3{0, 1, 0}
	if math.Abs(z.Dot(up)) > 0.95 {
		up = mgl64.Vec3{1, 0, 0}
	}
	x := up.Cross(z).Normalize()
	y := z.Cross(x)
	boardFromCam := control.Pose{Pos: from, Rot: control.QuatFromMat(mgl64.Mat3FromCols(x, y, z)).Mul(mgl64.QuatRotate(roll, mgl64.Vec3{0, 0, 1}))}
	return Invert(boardFromCam)
}

func TestSolvePnP(t *testing.T) {
	obj := board(9, 6, 0.025)
	centre := mgl64.Vec3{4 * 0.025, 2.5 * 0.025, 0}
	lenses := map[string]Intrinsics{
		"pinhole":   NewIntrinsics("p", 640, 480, [9]float64{520, 0, 319.5, 0, 520, 239.5, 0, 0, 1}, [5]float64{}),
		"distorted": NewIntrinsics("d", 640, 480, [9]float64{610, 0.3, 325.2, 0, 605, 236.8, 0, 0, 1}, [5]float64{-0.28, 0.09, 0.0012, -0.0007, -0.01}),
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for name, in := range lenses {
		for i := 0; i < 50; i++ {
			// Cameras 0.25-0.8 m away on the board's front (z < 0) side, up to 55 deg off-axis.
			dist := 0.25 + 0.55*rng.Float64()
			tilt := 55 * math.Pi / 180 * rng.Float64()
			az := 2 * math.Pi * rng.Float64()
			from := centre.Add(mgl64.Vec3{math.Sin(tilt) * math.Cos(az), math.Sin(tilt) * math.Sin(az), -math.Cos(tilt)}.Mul(dist))
			truth := lookAt(centre, from, 2*math.Pi*rng.Float64())
			img := make([]mgl64.Vec2, len(obj))
			if !in.ProjectPoints(img, truth, obj) {
				t.Fatal("board behind the camera")
			}
			for _, sigma := range []float64{0, 0.3} {
				noisy := make([]mgl64.Vec2, len(img))
				for k := range img {
					noisy[k] = img[k].Add(mgl64.Vec2{sigma * rng.NormFloat64(), sigma * rng.NormFloat64()})
				}
				pose, rms, err := SolvePnP(obj, noisy, &in)
				if err != nil {
					t.Fatalf("%s view %d: %v", name, i, err)
				}
				dt, dr := PoseDistance(pose, truth)
				if sigma == 0 {
					if dt > 1e-9 || dr > 1e-9 || rms > 1e-7 {
						t.Fatalf("%s view %d noise-free: %.3g m, %.3g rad off, RMS %.3g px", name, i, dt, dr, rms)
					}
					continue
				}
				// 0.3 px noise: the solution fits the noisy pixels at least as well as the
				// truth does (it is the least-squares optimum, not a nearby point), its
				// residual matches the noise (RMS of a 2D error ~ sigma*sqrt(2)), and the
				// pose stays close. Rotation about axes in the board plane is the weakly
				// observed part of a planar target's pose: up to about a degree here.
				truthRMS := in.ReprojectionRMS(truth, obj, noisy)
				if rms > truthRMS+1e-9 || rms > 2*sigma*math.Sqrt2 || rms < 0.5*sigma ||
					dt > 0.01*dist || deg(dr) > 2 {
					t.Errorf("%s view %d (%.2f m): noisy: %.2f mm, %.3f deg off, RMS %.4f px (truth %.4f)", name, i, dist, 1000*dt, deg(dr), rms, truthRMS)
				}
			}
		}
	}
}

// A target whose plane is not z = 0 (a board expressed in another frame).
func TestSolvePnPTiltedPlane(t *testing.T) {
	in := NewIntrinsics("p", 640, 480, [9]float64{520, 0, 319.5, 0, 520, 239.5, 0, 0, 1}, [5]float64{-0.1, 0.01, 0, 0, 0})
	frame := control.Pose{Pos: mgl64.Vec3{0.2, -0.1, 0.05}, Rot: mgl64.QuatRotate(0.7, mgl64.Vec3{1, 1, 0}.Normalize())}
	flat := board(7, 5, 0.03)
	obj := make([]mgl64.Vec3, len(flat))
	for i, p := range flat {
		obj[i] = Apply(frame, p)
	}
	truth := Compose(lookAt(mgl64.Vec3{0.09, 0.06, 0}, mgl64.Vec3{0.2, 0, -0.5}, 0.3), Invert(frame))
	img := make([]mgl64.Vec2, len(obj))
	in.ProjectPoints(img, truth, obj)
	pose, rms, err := SolvePnP(obj, img, &in)
	if err != nil {
		t.Fatal(err)
	}
	if dt, dr := PoseDistance(pose, truth); dt > 1e-9 || dr > 1e-9 || rms > 1e-7 {
		t.Errorf("%.3g m, %.3g rad off, RMS %.3g", dt, dr, rms)
	}
}

func TestSolvePnPErrors(t *testing.T) {
	in := NewIntrinsics("p", 640, 480, [9]float64{520, 0, 319.5, 0, 520, 239.5, 0, 0, 1}, [5]float64{})
	obj := board(9, 6, 0.025)
	img := make([]mgl64.Vec2, len(obj))
	in.ProjectPoints(img, lookAt(mgl64.Vec3{0.1, 0.06, 0}, mgl64.Vec3{0.1, 0.06, -0.5}, 0), obj)
	line := []mgl64.Vec3{{0, 0, 0}, {1, 0, 0}, {2, 0, 0}, {3, 0, 0}, {4, 0, 0}}
	bent := append([]mgl64.Vec3(nil), obj...)
	bent[10][2] = 0.01
	nan := append([]mgl64.Vec2(nil), img...)
	nan[3][0] = math.NaN()
	bad := in
	bad.K[0] = 0
	for _, tc := range []struct {
		name       string
		obj        []mgl64.Vec3
		img        []mgl64.Vec2
		in         *Intrinsics
		want       string
		degenerate bool
	}{
		{"mismatch", obj, img[:10], &in, "54 object points and 10 image points", false},
		{"three points", obj[:3], img[:3], &in, "3 points, need at least 4", true},
		{"collinear", line, img[:5], &in, "collinear", true},
		{"not planar", bent, img, &in, "not coplanar", true},
		{"nan", obj, nan, &in, "point 3 is not finite", false},
		{"bad intrinsics", obj, img, &bad, "focal", false},
	} {
		_, _, err := SolvePnP(tc.obj, tc.img, tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrDegenerate) != tc.degenerate {
			t.Errorf("%s: %v, want %q (degenerate %v)", tc.name, err, tc.want, tc.degenerate)
		}
	}
}

// handEyeScene makes n views of a hand-eye setup with known ground truth: robot poses
// T_base_ee and board poses T_cam_board (with optional noise on the board poses, as
// PnP would give them).
func handEyeScene(rng *rand.Rand, mode Mode, n int, transNoise, rotNoiseDeg float64) (X control.Pose, robot, boards []control.Pose) {
	X = control.Pose{Pos: mgl64.Vec3{0.05, -0.03, 0.04}, Rot: randomRotation(rng, math.Pi)}
	// Z: eye-in-hand, the board in the base; eye-to-hand, the board in the gripper.
	Z := control.Pose{Pos: mgl64.Vec3{0.5, 0.1, 0}, Rot: randomRotation(rng, math.Pi)}
	if mode == EyeToHand {
		X = control.Pose{Pos: mgl64.Vec3{1.2, 0.6, 0.9}, Rot: randomRotation(rng, math.Pi)}
		Z = control.Pose{Pos: mgl64.Vec3{0, 0.05, 0.12}, Rot: randomRotation(rng, math.Pi)}
	}
	nominal := control.Pose{Pos: mgl64.Vec3{0.45, 0, 0.45}, Rot: mgl64.Quat{W: 0, V: mgl64.Vec3{1, 0, 0}}}
	for i := 0; i < n; i++ {
		ee := control.Pose{
			Pos: nominal.Pos.Add(mgl64.Vec3{0.15 * rng.NormFloat64(), 0.15 * rng.NormFloat64(), 0.1 * rng.NormFloat64()}),
			Rot: randomRotation(rng, 0.6).Mul(nominal.Rot),
		}
		var C control.Pose
		if mode == EyeInHand { // Z = ee X C
			C = Compose(Invert(Compose(ee, X)), Z)
		} else { // Z = ee^-1 X C
			C = Compose(Invert(X), Compose(ee, Z))
		}
		C.Pos = C.Pos.Add(mgl64.Vec3{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}.Mul(transNoise))
		C.Rot = rotExp(mgl64.Vec3{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}.Mul(rotNoiseDeg * math.Pi / 180)).Mul(C.Rot)
		robot = append(robot, ee)
		boards = append(boards, C)
	}
	return X, robot, boards
}

func TestSolveHandEye(t *testing.T) {
	for _, mode := range []Mode{EyeInHand, EyeToHand} {
		for _, tc := range []struct {
			name                 string
			n                    int
			transNoise, rotNoise float64 // m, deg (per axis)
			tolMM, tolDeg        float64
		}{
			{"exact minimal", 3, 0, 0, 1e-6, 1e-6},
			{"exact", 12, 0, 0, 1e-6, 1e-6},
			// PnP-like noise, 0.5 mm and 0.05 deg per axis on every board pose: over 200
			// seeds the RMS error is about 1 mm and 0.06 deg with 15 views; the bounds are
			// about three times that.
			{"noisy", 15, 0.0005, 0.05, 4, 0.3},
			{"noisy many", 40, 0.0005, 0.05, 2.5, 0.2},
		} {
			rng := rand.New(rand.NewPCG(7, uint64(tc.n)))
			X, robot, boards := handEyeScene(rng, mode, tc.n, tc.transNoise, tc.rotNoise)
			res, err := SolveHandEye(robot, boards, mode)
			if err != nil {
				t.Fatalf("%s %s: %v", mode, tc.name, err)
			}
			dt, dr := PoseDistance(res.Camera, X)
			t.Logf("%s %s: error %.4f mm %.5f deg; residual RMS %.3f mm %.4f deg, axis spread %.1f deg",
				mode, tc.name, 1000*dt, deg(dr), res.RMS.TransMM, res.RMS.RotDeg, res.AxisSpreadDeg)
			if 1000*dt > tc.tolMM || deg(dr) > tc.tolDeg {
				t.Errorf("%s %s: camera pose %.4f mm, %.5f deg off (tolerance %g mm, %g deg)", mode, tc.name, 1000*dt, deg(dr), tc.tolMM, tc.tolDeg)
			}
			if len(res.Pairs) != tc.n*(tc.n-1)/2 || len(res.Views) != tc.n {
				t.Errorf("%d pair and %d view residuals for %d views", len(res.Pairs), len(res.Views), tc.n)
			}
			if tc.transNoise == 0 && (res.Max.TransMM > 1e-6 || res.Max.RotDeg > 1e-6) {
				t.Errorf("%s %s: noise-free residuals %+v", mode, tc.name, res.Max)
			}
		}
	}
}

// One view with a wrong robot pose stands out in the per-view residuals.
func TestHandEyeOutlierView(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	_, robot, boards := handEyeScene(rng, EyeInHand, 12, 0.0005, 0.05)
	robot[5].Pos = robot[5].Pos.Add(mgl64.Vec3{0.02, 0, 0})
	res, err := SolveHandEye(robot, boards, EyeInHand)
	if err != nil {
		t.Fatal(err)
	}
	if out := res.OutlierViews(3, 0.5, 0.05); len(out) == 0 || out[0] != 5 {
		t.Errorf("outliers %v, want view 5 first; views %+v", out, res.Views)
	}
}

func TestSolveHandEyeErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	X, robot, boards := handEyeScene(rng, EyeInHand, 8, 0, 0)

	if _, err := SolveHandEye(robot[:2], boards[:2], EyeInHand); !errors.Is(err, ErrTooFewPoses) || !strings.Contains(err.Error(), "2 views, need at least 3") {
		t.Errorf("2 views: %v", err)
	}
	if _, err := SolveHandEye(robot, boards[:7], EyeInHand); err == nil || !strings.Contains(err.Error(), "8 robot poses and 7 board poses") {
		t.Errorf("mismatch: %v", err)
	}
	nan := append([]control.Pose(nil), robot...)
	nan[2].Pos[1] = math.NaN()
	if _, err := SolveHandEye(nan, boards, EyeInHand); err == nil || !strings.Contains(err.Error(), "robot pose 2") {
		t.Errorf("NaN: %v", err)
	}

	// Degenerate motions: every rotation about the same axis (only the last joint turns),
	// or pure translations.
	Z := Compose(Compose(robot[0], X), boards[0])
	build := func(ees []control.Pose) []control.Pose {
		cs := make([]control.Pose, len(ees))
		for i, ee := range ees {
			cs[i] = Compose(Invert(Compose(ee, X)), Z)
		}
		return cs
	}
	var sameAxis, translated []control.Pose
	for i := 0; i < 6; i++ {
		ee := robot[0]
		ee.Rot = ee.Rot.Mul(mgl64.QuatRotate(0.3*float64(i), mgl64.Vec3{0, 0, 1}))
		ee.Pos = ee.Pos.Add(mgl64.Vec3{0.02 * float64(i), 0, 0})
		sameAxis = append(sameAxis, ee)
		tr := robot[0]
		tr.Pos = tr.Pos.Add(mgl64.Vec3{0.05 * float64(i), 0.03 * float64(i%2), 0})
		translated = append(translated, tr)
	}
	for name, ees := range map[string][]control.Pose{"same axis": sameAxis, "translations": translated} {
		_, err := SolveHandEye(ees, build(ees), EyeInHand)
		if !errors.Is(err, ErrDegenerateMotion) {
			t.Errorf("%s: %v, want ErrDegenerateMotion", name, err)
		}
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{EyeInHand, EyeToHand} {
		if got, err := ParseMode(m.String()); err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := ParseMode("hand-in-eye"); err == nil {
		t.Error("ParseMode(hand-in-eye): no error")
	}
}
