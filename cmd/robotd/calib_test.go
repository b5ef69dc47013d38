package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/robotd/robotd/calib"
	"github.com/robotd/robotd/calib/calibsim"
)

// writeDataset writes a calibsim dataset's images as view_NN.png into a new directory,
// and the robot poses file next to it when the views have robot poses.
func writeDataset(t *testing.T, ds *calibsim.Dataset) (imagesDir, posesFile string) {
	t.Helper()
	root := t.TempDir()
	imagesDir = filepath.Join(root, "images")
	if err := os.Mkdir(imagesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var poses []calib.RobotPose
	for i, v := range ds.Views {
		name := fmt.Sprintf("view_%02d.png", i)
		if err := calibsim.WritePNG(filepath.Join(imagesDir, name), &v.Frame); err != nil {
			t.Fatal(err)
		}
		poses = append(poses, calib.RobotPose{Image: name, Pose: v.Robot})
	}
	posesFile = filepath.Join(root, "poses.yaml")
	if err := calib.WriteRobotPoses(posesFile, poses); err != nil {
		t.Fatal(err)
	}
	return imagesDir, posesFile
}

func TestCalibIntrinsicsCLI(t *testing.T) {
	ds, err := calibsim.IntrinsicsDataset(calibsim.Options{Views: 10, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	images, _ := writeDataset(t, ds)
	out := filepath.Join(t.TempDir(), "cams", "calib.yaml")
	args := []string{"calib", "intrinsics", "--images", images, "--board", "9x6", "--square", "0.025", "--name", "calib", "--out", out}
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
	}
	for _, want := range []string{"[ 1/10] view_00.png  640x480  board found, 54 corners", "reprojection error per view", "view_09.png",
		`camera "calib", 640x480, from 10 of 10 images`, "wrote " + out} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	got, err := calib.ReadIntrinsics(out)
	if err != nil {
		t.Fatal(err)
	}
	truth := ds.Intrinsics
	fErr := 100 * math.Max(math.Abs(got.Fx()-truth.Fx()), math.Abs(got.Fy()-truth.Fy())) / truth.Fx()
	cErr := math.Max(math.Abs(got.Cx()-truth.Cx()), math.Abs(got.Cy()-truth.Cy()))
	t.Logf("focal %.3f %% off, principal point %.2f px off", fErr, cErr)
	if got.Name != "calib" || got.Width != 640 || got.Height != 480 || fErr > 1 || cErr > 2 {
		t.Errorf("wrote %+v; truth %+v", got, truth)
	}

	// The file is kept unless --force.
	code, _, stderr = runCLI(t, args...)
	if code != 1 || !strings.Contains(stderr, "exists; pass --force to overwrite it") {
		t.Errorf("existing --out: exit %d: %s", code, stderr)
	}
	if code, _, stderr = runCLI(t, append(args, "--force")...); code != 0 {
		t.Errorf("--force: exit %d: %s", code, stderr)
	}
	// Without --out the YAML goes to stdout.
	code, stdout, _ = runCLI(t, args[:len(args)-2]...)
	if code != 0 || !strings.Contains(stdout, "camera_matrix:\n  rows: 3") {
		t.Errorf("no --out: exit %d:\n%s", code, stdout)
	}
}

func TestCalibIntrinsicsCLIErrors(t *testing.T) {
	ds, err := calibsim.IntrinsicsDataset(calibsim.Options{Views: 2, Seed: 12})
	if err != nil {
		t.Fatal(err)
	}
	images, _ := writeDataset(t, ds)
	// A third image shows no board.
	blank := ds.Views[0].Frame
	blank.Data = make([]byte, len(blank.Data))
	if err := calibsim.WritePNG(filepath.Join(images, "empty.png"), &blank); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	junk := t.TempDir()
	if err := os.WriteFile(filepath.Join(junk, "broken.png"), []byte("not a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	small := t.TempDir()
	half := ds.Views[0].Frame
	half.Width, half.Height, half.Data = 320, 240, half.Data[:320*240*3]
	if err := calibsim.WritePNG(filepath.Join(small, "a.png"), &ds.Views[0].Frame); err != nil {
		t.Fatal(err)
	}
	if err := calibsim.WritePNG(filepath.Join(small, "b.png"), &half); err != nil {
		t.Fatal(err)
	}
	base := []string{"calib", "intrinsics", "--board", "9x6", "--square", "0.025"}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--images", filepath.Join(empty, "nope")}, 1, "--images: open " + filepath.Join(empty, "nope")},
		{[]string{"--images", empty}, 1, "no image files"},
		{[]string{"--images", junk}, 1, "broken.png: not an image OpenCV can decode"},
		{[]string{"--images", small}, 1, "b.png is 320x240, the other images (or the intrinsics) 640x480"},
		{[]string{"--images", images}, 1, "board found in 2 of 3 images, need at least 3; not found in: empty.png"},
		{[]string{"--images", images, "--board", "9by6"}, 1, `--board "9by6"`},
		{[]string{"--images", images, "--square", "25"}, 1, "the size is in metres"},
		{[]string{"--board", "9x6"}, 2, "--images is required"},
	} {
		code, _, stderr := runCLI(t, append(append([]string(nil), base...), tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// Hand-eye end to end, as a user would run it: calibrate the intrinsics, then solve the
// hand-eye problem; check against the simulator's ground truth. The wrist camera's
// intrinsics come from the hand-eye images themselves (the arm moved it around the
// board). The scene camera's come from views up close: from its own eye-to-hand views,
// where the board is a metre away and small, the focal length comes out 0.3 % short,
// which moves the camera 3 mm along its axis.
func TestCalibHandEyeCLI(t *testing.T) {
	for _, mode := range []calib.Mode{calib.EyeInHand, calib.EyeToHand} {
		t.Run(mode.String(), func(t *testing.T) {
			var ds *calibsim.Dataset
			var err error
			if mode == calib.EyeInHand {
				ds, err = calibsim.EyeInHandDataset(calibsim.Options{Views: 12, Seed: 21})
			} else {
				ds, err = calibsim.EyeToHandDataset(t.TempDir(), calibsim.Options{Views: 12, Seed: 22})
			}
			if err != nil {
				t.Fatal(err)
			}
			images, poses := writeDataset(t, ds)
			dir := t.TempDir()
			square := fmt.Sprint(ds.Square)
			intrImages, intrSquare := images, square
			if mode == calib.EyeToHand {
				upClose, err := calibsim.IntrinsicsDataset(calibsim.Options{Views: 12, Seed: 23, Camera: ds.Camera})
				if err != nil {
					t.Fatal(err)
				}
				intrImages, _ = writeDataset(t, upClose)
				intrSquare = fmt.Sprint(upClose.Square)
			}
			intr := filepath.Join(dir, ds.Camera+".yaml")
			code, stdout, stderr := runCLI(t, "calib", "intrinsics", "--images", intrImages, "--board", "9x6", "--square", intrSquare, "--name", ds.Camera, "--out", intr)
			if code != 0 {
				t.Fatalf("intrinsics: exit %d: %s\n%s", code, stderr, stdout)
			}
			got, err := calib.ReadIntrinsics(intr)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s intrinsics: f %.3f %.3f (truth %.3f), c %.2f %.2f (truth %.2f %.2f)", ds.Camera, got.Fx(), got.Fy(), ds.Intrinsics.Fx(),
				got.Cx(), got.Cy(), ds.Intrinsics.Cx(), ds.Intrinsics.Cy())
			out := filepath.Join(dir, "pose.yaml")
			code, stdout, stderr = runCLI(t, "calib", "handeye", "--mode", mode.String(), "--intrinsics", intr, "--poses", poses,
				"--images", images, "--board", "9x6", "--square", square, "--out", out)
			if code != 0 {
				t.Fatalf("handeye: exit %d: %s\n%s", code, stderr, stdout)
			}
			for _, want := range []string{"board pose per view", "residuals over 66 pairs of views", "T_" + mode.Parent() + "_cam", "wrote " + out} {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, stdout)
				}
			}
			cp, err := calib.ReadCameraPose(out)
			if err != nil {
				t.Fatal(err)
			}
			dt, dr := calib.PoseDistance(cp.Pose, ds.CameraTruth)
			t.Logf("%s via the CLI with calibrated intrinsics: %.3f mm, %.4f deg from the truth", mode, 1000*dt, dr*180/math.Pi)
			if cp.Mode != mode || cp.Camera != ds.Camera || cp.Views != 12 || 1000*dt > 2 || dr*180/math.Pi > 0.5 {
				t.Errorf("camera pose %+v, %.3f mm %.4f deg from the truth %v", cp, 1000*dt, dr*180/math.Pi, ds.CameraTruth)
			}
		})
	}
}

func TestCalibHandEyeCLIErrors(t *testing.T) {
	ds, err := calibsim.EyeInHandDataset(calibsim.Options{Views: 3, Seed: 31})
	if err != nil {
		t.Fatal(err)
	}
	images, poses := writeDataset(t, ds)
	dir := t.TempDir()
	intr := filepath.Join(dir, "wrist.yaml")
	if err := calib.WriteIntrinsics(intr, &ds.Intrinsics); err != nil {
		t.Fatal(err)
	}
	small := ds.Intrinsics
	small.Width, small.Height = 320, 240
	smallIntr := filepath.Join(dir, "small.yaml")
	if err := calib.WriteIntrinsics(smallIntr, &small); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	if err := os.WriteFile(missing, []byte("poses:\n  - image: gone.png\n    position: [0, 0, 0]\n    orientation: [1, 0, 0, 0]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The same robot pose for every image: no motion to solve from.
	still := filepath.Join(dir, "still.yaml")
	var same []calib.RobotPose
	for i := range ds.Views {
		same = append(same, calib.RobotPose{Image: fmt.Sprintf("view_%02d.png", i), Pose: ds.Views[0].Robot})
	}
	if err := calib.WriteRobotPoses(still, same); err != nil {
		t.Fatal(err)
	}
	// An image without a pose is ignored, and says so; two posed images are too few.
	if err := calibsim.WritePNG(filepath.Join(images, "extra.png"), &ds.Views[0].Frame); err != nil {
		t.Fatal(err)
	}
	two := filepath.Join(dir, "two.yaml")
	if err := calib.WriteRobotPoses(two, []calib.RobotPose{{Image: "view_00.png", Pose: ds.Views[0].Robot}, {Image: "view_01.png", Pose: ds.Views[1].Robot}}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "calib", "handeye", "--images", images, "--board", "9x6", "--square", "0.025", "--mode", "eye-in-hand", "--intrinsics", intr, "--poses", two)
	if code != 1 || !strings.Contains(stderr, "only 2 images, need at least 3") || !strings.Contains(stdout, "ignoring 2 images") || !strings.Contains(stdout, "extra.png") {
		t.Errorf("two posed images: exit %d\n%s%s", code, stdout, stderr)
	}
	base := []string{"calib", "handeye", "--images", images, "--board", "9x6", "--square", "0.025"}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--mode", "eye-on-hand", "--intrinsics", intr, "--poses", poses}, 1, `--mode "eye-on-hand"`},
		{[]string{"--mode", "eye-in-hand", "--poses", poses}, 2, "--intrinsics is required"},
		{[]string{"--mode", "eye-in-hand", "--intrinsics", filepath.Join(dir, "none.yaml"), "--poses", poses}, 1, "none.yaml"},
		{[]string{"--mode", "eye-in-hand", "--intrinsics", intr, "--poses", missing}, 1, "poses[0]: image gone.png"},
		{[]string{"--mode", "eye-in-hand", "--intrinsics", smallIntr, "--poses", poses}, 1, "view_00.png is 640x480, the other images (or the intrinsics) 320x240"},
		{[]string{"--mode", "eye-in-hand", "--intrinsics", intr, "--poses", still}, 1, "degenerate motion"},
	} {
		code, _, stderr := runCLI(t, append(append([]string(nil), base...), tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}
