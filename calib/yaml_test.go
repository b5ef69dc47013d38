package calib

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// The fixtures were written by ROS's own tools (testdata/gen_ros_yaml.py).
func TestReadROSWrittenFiles(t *testing.T) {
	k := [9]float64{579.411376, 0, 320.5, 0, 580.25, 240.25, 0, 0, 1}
	d := [5]float64{-0.01, 0.02, 0.001, -0.002, 0.0005}
	for _, tc := range []struct {
		file, name string
		tol        float64 // the Python calibrator rounds K to 5 decimals
	}{
		{"ros_parsers.yaml", "scene", 0},
		{"ros_calibrator.yaml", "wrist", 1e-5},
	} {
		t.Run(tc.file, func(t *testing.T) {
			in, err := ReadIntrinsics(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if in.Name != tc.name || in.Width != 640 || in.Height != 480 {
				t.Errorf("name %q size %dx%d, want %q 640x480", in.Name, in.Width, in.Height, tc.name)
			}
			for i := range k {
				if !near(in.K[i], k[i], tc.tol) || !near(in.P[i+i/3], k[i], tc.tol) {
					t.Errorf("K[%d] = %v, P = %v, want %v", i, in.K[i], in.P[i+i/3], k[i])
				}
			}
			if in.D != d {
				t.Errorf("D = %v, want %v", in.D, d)
			}
			if in.R != [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1} {
				t.Errorf("R = %v", in.R)
			}
		})
	}
}

func near(a, b, tol float64) bool { return a-b <= tol && b-a <= tol }

// goldenIntrinsics is the camera of testdata/robotd_written.yaml; gen_ros_yaml.py checks
// that ROS's camera_calibration_parsers reads these exact values from that file.
func goldenIntrinsics() Intrinsics {
	return NewIntrinsics("wrist", 640, 480,
		[9]float64{600.5, 0.25, 319.5, 0, 601.125, 239.5, 0, 0, 1},
		[5]float64{-0.12, 0.034, 1e-05, -2.5e-06, 0.0015})
}

func TestWriteIntrinsicsGolden(t *testing.T) {
	in := goldenIntrinsics()
	got := in.MarshalROS()
	golden := filepath.Join("testdata", "robotd_written.yaml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("MarshalROS:\n%s\nwant (%s):\n%s", got, golden, want)
	}
	back, err := ParseIntrinsics(golden, got)
	if err != nil {
		t.Fatal(err)
	}
	if back != in {
		t.Errorf("round trip: %+v, want %+v", back, in)
	}
}

func TestWriteIntrinsicsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cam.yaml")
	for _, name := range []string{"wrist", "", "cam: with colon", "123", "true"} {
		in := NewIntrinsics(name, 1280, 720,
			[9]float64{1000.0000000000001, 0, 640.123456789, 0, 999.5, 360.987654321, 0, 0, 1},
			[5]float64{-0.3, 0.12, -1e-300, 7.25e-21, -0.02})
		if err := WriteIntrinsics(path, &in); err != nil {
			t.Fatal(err)
		}
		back, err := ReadIntrinsics(path)
		if err != nil {
			t.Fatal(err)
		}
		if back != in {
			t.Errorf("name %q: round trip: %+v, want %+v", name, back, in)
		}
	}
	bad := NewIntrinsics("x", 0, 480, [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}, [5]float64{})
	if err := WriteIntrinsics(path, &bad); err == nil {
		t.Error("writing a 0x480 camera: no error")
	}
	if _, err := ReadIntrinsics(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestParseIntrinsicsStrict(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "ros_parsers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(good)
	for _, tc := range []struct {
		name, old, new string
		want           []string // substrings of the error
	}{
		{"unknown field", "camera_name: scene", "camera_name: scene\nbinning_x: 1", []string{"line 4", "binning_x", "unknown field"}},
		{"missing field", "distortion_model: plumb_bob\n", "", []string{"missing field \"distortion_model\""}},
		{"duplicate", "image_height: 480", "image_height: 480\nimage_height: 480", []string{"line 3", "image_height", "duplicate"}},
		{"width not int", "image_width: 640", "image_width: 640.5", []string{"line 1", "image_width", "not an integer"}},
		{"height zero", "image_height: 480", "image_height: 0", []string{"line 2", "image_height", "positive"}},
		{"model", "plumb_bob", "rational_polynomial", []string{"line 8", "distortion_model", "rational_polynomial", "not supported"}},
		{"K short", "data: [579.41137600000002, 0, 320.5, 0, 580.25, 240.25, 0, 0, 1]", "data: [579.41137600000002, 0, 320.5, 0, 580.25, 240.25, 0, 0]",
			[]string{"line 7", "camera_matrix.data", "8 values", "9"}},
		{"D size", "  cols: 5", "  cols: 4", []string{"line 10", "distortion_coefficients", "1x4, want 1x5"}},
		{"P text", "data: [579.41137600000002, 0, 320.5, 0, 0,", "data: [579.41137600000002, zero, 320.5, 0, 0,", []string{"line 20", "projection_matrix.data[1]", "not a number"}},
		{"nan", "240.25, 0, 0, 1]", "240.25, 0, 0, .nan]", []string{"camera_matrix.data[8]", "not finite"}},
		{"K row", "240.25, 0, 0, 1]", "240.25, 0, 0, 2]", []string{"camera_matrix.data", "want [fx, s, cx, 0, fy, cy, 0, 0, 1]"}},
		{"matrix not mapping", "rectification_matrix:\n  rows: 3\n  cols: 3\n  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]", "rectification_matrix: [1, 0, 0, 0, 1, 0, 0, 0, 1]",
			[]string{"rectification_matrix", "want a mapping"}},
		{"not yaml", "image_width: 640", "image_width: [640", []string{"cam.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(src, tc.old, tc.new, 1)
			if doc == src {
				t.Fatalf("test case does not change the document")
			}
			_, err := ParseIntrinsics("cam.yaml", []byte(doc))
			if err == nil {
				t.Fatalf("no error for\n%s", doc)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := ParseIntrinsics("empty.yaml", nil); err == nil {
		t.Error("empty document: no error")
	}
}

func TestCameraPoseRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range []Mode{EyeInHand, EyeToHand} {
		c := CameraPose{Camera: "wrist", Mode: mode, Views: 14, RMS: Residual{TransMM: 0.25, RotDeg: 0.0125},
			Pose: control.Pose{Pos: mgl64.Vec3{0.01, -0.0625, 0.03}, Rot: mgl64.QuatRotate(2.5, mgl64.Vec3{1, 2, 3}.Normalize())}}
		path := filepath.Join(dir, mode.String()+".yaml")
		if err := WriteCameraPose(path, &c); err != nil {
			t.Fatal(err)
		}
		back, err := ReadCameraPose(path)
		if err != nil {
			t.Fatal(err)
		}
		if back.Camera != c.Camera || back.Mode != mode || back.Views != 14 || back.RMS != c.RMS {
			t.Errorf("round trip: %+v, want %+v", back, c)
		}
		if dt, dr := PoseDistance(back.Pose, c.Pose); dt > 1e-15 || dr > 1e-12 {
			t.Errorf("pose round trip: %v, want %v", back.Pose, c.Pose)
		}
	}
	good := "camera_name: wrist\nmode: eye-in-hand\nparent_frame: ee\nposition: [0, 0, 0.1]\norientation: [1, 0, 0, 0]\n"
	if _, err := ParseCameraPose("c.yaml", []byte(good)); err != nil {
		t.Fatalf("minimal file: %v", err)
	}
	for _, tc := range []struct{ old, new, want string }{
		{"parent_frame: ee", "parent_frame: base", "line 3: parent_frame: \"base\" does not match mode eye-in-hand"},
		{"mode: eye-in-hand", "mode: eye-on-hand", "line 2: mode: \"eye-on-hand\""},
		{"[1, 0, 0, 0]", "[1, 0, 0, 0.1]", "line 5: orientation: [1 0 0 0.1] has norm"},
		{"[0, 0, 0.1]", "[0, 0]", "line 4: position: 2 values, want 3"},
		{"position:", "translation:", "line 4: translation: unknown field"},
	} {
		_, err := ParseCameraPose("c.yaml", []byte(strings.Replace(good, tc.old, tc.new, 1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s -> %s: error %v, want %q", tc.old, tc.new, err, tc.want)
		}
	}
}

func TestRobotPosesRoundTrip(t *testing.T) {
	poses := []RobotPose{
		{"view_00.png", control.Pose{Pos: mgl64.Vec3{0.4, 0, 0.5}, Rot: mgl64.Quat{W: 0, V: mgl64.Vec3{1, 0, 0}}}},
		{"dir/view 01.png", control.Pose{Pos: mgl64.Vec3{0.45, -0.1, 0.35}, Rot: mgl64.QuatRotate(0.3, mgl64.Vec3{0, 1, 0})}},
	}
	path := filepath.Join(t.TempDir(), "poses.yaml")
	if err := WriteRobotPoses(path, poses); err != nil {
		t.Fatal(err)
	}
	back, err := ReadRobotPoses(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(poses) {
		t.Fatalf("%d poses, want %d", len(back), len(poses))
	}
	for i := range poses {
		dt, dr := PoseDistance(back[i].Pose, poses[i].Pose)
		if back[i].Image != poses[i].Image || dt > 1e-15 || dr > 1e-12 {
			t.Errorf("pose %d: %+v, want %+v", i, back[i], poses[i])
		}
	}
	for _, tc := range []struct{ doc, want string }{
		{"poses: []\n", "line 1: poses: want a non-empty list"},
		{"poses:\n  - image: a.png\n    position: [0, 0, 0]\n    orientation: [1, 0, 0, 0]\n  - image: a.png\n    position: [0, 0, 0]\n    orientation: [1, 0, 0, 0]\n",
			"line 5: poses[1].image: \"a.png\" is also poses[0]"},
		{"poses:\n  - image: a.png\n    position: [0, 0, 0]\n", "line 2: poses[0]: missing field \"orientation\""},
		{"poses:\n  - image: a.png\n    position: [0, 0, 0]\n    orientation: [0, 0, 0, 0]\n", "line 4: poses[0].orientation"},
		{"pose: []\n", "line 1: pose: unknown field"},
	} {
		_, err := ParseRobotPoses("p.yaml", []byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.doc, err, tc.want)
		}
	}
}

func TestPerception(t *testing.T) {
	in := goldenIntrinsics()
	p := in.Perception()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.Width != 640 || p.Height != 480 || p.K != in.K || len(p.D) != 5 || p.D[4] != in.D[4] || p.DistortionModel != "plumb_bob" {
		t.Errorf("Perception() = %+v", p)
	}
	p.D[0] = 1 // its own copy
	if in.D[0] == 1 {
		t.Error("Perception shares D with the intrinsics")
	}
}

func TestFormatFloat(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 1: "1", -2.5: "-2.5", 1e-05: "1.0e-05", 1.5e-07: "1.5e-07", 1e21: "1.0e+21", 579.411376: "579.411376",
	} {
		if got := formatFloat(v); got != want {
			t.Errorf("formatFloat(%v) = %q, want %q", v, got, want)
		}
	}
}
