// Package calibsim produces camera calibration data with known ground truth from the
// MuJoCo simulator: images of a chessboard seen by cameras of exactly known intrinsics
// and poses, with the robot poses that went with them. Tests of package calib's math,
// perception/cv's detector and the robotd calib command use it; it is test support, like
// drivers/driverstest, and imports the simulator and OpenCV adapters that calib itself
// does not.
//
// The scenes are sim/models/calib_board.xml (a board on the table, the arm with its wrist
// camera, the fixed scene camera and a free camera "calib") and a variant in which the
// hand holds a board (sim/models/calib_hand_board.xml), written by HandBoardModel.
package calibsim

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/calib"
	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
)

// The boards of the calibration scenes.
const (
	BoardCols, BoardRows = 9, 6 // inner corners
	// BoardSquare is the table board's square (m), in calib_board.xml.
	BoardSquare = 0.025
	// HandBoardSquare is the hand-held board's square (m), in calib_hand_board.xml.
	HandBoardSquare = 0.03
	// BoardSite and HandBoardSite are the sites at the boards' frames (corner 0, z into
	// the board, FindChessboard's order).
	BoardSite     = "board"
	HandBoardSite = "hand_board"
)

// BoardModel is the path of calib_board.xml.
func BoardModel() string { return filepath.Join(sim.ModelsDir(), "calib_board.xml") }

// HandBoardModel writes into dir a scene like calib_board.xml whose hand holds the board
// of calib_hand_board.xml instead of a board lying on the table (two boards in view would
// make the detection ambiguous), and returns the scene's path. MJCF cannot add a body to
// the hand from outside panda.xml, so it writes a copy of panda.xml that includes the
// board inside the hand body.
func HandBoardModel(dir string) (string, error) {
	models := sim.ModelsDir()
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(models, name))
		return string(b), err
	}
	scene, err := read("calib_board.xml")
	if err != nil {
		return "", fmt.Errorf("calibsim: %w", err)
	}
	panda, err := read("panda.xml")
	if err != nil {
		return "", fmt.Errorf("calibsim: %w", err)
	}
	board, err := read("calib_hand_board.xml")
	if err != nil {
		return "", fmt.Errorf("calibsim: %w", err)
	}
	const tcp = `<site name="tcp"`
	i := strings.Index(panda, tcp)
	if i < 0 || strings.Count(scene, `<include file="panda.xml"/>`) != 1 {
		return "", fmt.Errorf("calibsim: %s: cannot find the tcp site in panda.xml or its include in calib_board.xml", models)
	}
	eol := strings.IndexByte(panda[i:], '\n')
	panda = panda[:i+eol+1] + `<include file="calib_hand_board.xml"/>` + "\n" + panda[i+eol+1:]
	scene = strings.Replace(scene, `<include file="panda.xml"/>`, `<include file="panda_hand_board.xml"/>`, 1)
	// Drop the table board (a body with geoms and a site, no child bodies).
	start := strings.Index(scene, `<body name="calib_board"`)
	end := strings.Index(scene[max(start, 0):], "</body>")
	if start < 0 || end < 0 {
		return "", fmt.Errorf("calibsim: %s: cannot find the calib_board body in calib_board.xml", models)
	}
	scene = scene[:start] + scene[start+end+len("</body>"):]
	for name, text := range map[string]string{
		"calib_hand_board.xml":       board,
		"panda_hand_board.xml":       panda,
		"calib_hand_board_scene.xml": scene,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return "", fmt.Errorf("calibsim: %w", err)
		}
	}
	return filepath.Join(dir, "calib_hand_board_scene.xml"), nil
}

// poseFromRowMajor makes a pose from MuJoCo's position and row-major rotation.
func poseFromRowMajor(p [3]float64, m [9]float64) control.Pose {
	rot := mgl64.Mat3{m[0], m[3], m[6], m[1], m[4], m[7], m[2], m[5], m[8]}
	return control.Pose{Pos: mgl64.Vec3(p), Rot: mgl64.Mat4ToQuat(rot.Mat4()).Normalize()}
}

// flipYZ turns MuJoCo's camera frame (y up, looking along -z) into the optical frame
// (y down, looking along +z) and back: a half turn about x.
var flipYZ = mgl64.Quat{W: 0, V: mgl64.Vec3{1, 0, 0}}

// OpticalPose is the world pose of camera cam's optical frame (x right, y down, z forward),
// as of the last Forward/Kinematics.
func OpticalPose(s *mujoco.Sim, cam int) control.Pose {
	p := poseFromRowMajor(s.CameraPose(cam))
	p.Rot = p.Rot.Mul(flipYZ).Normalize()
	return p
}

// SetOpticalPose places a worldbody camera so that its optical frame is at p (world) and
// runs Forward (MuJoCo computes camera poses in mj_camlight, part of mj_forward but not
// of mj_kinematics).
func SetOpticalPose(s *mujoco.Sim, cam int, p control.Pose) error {
	q := p.Rot.Mul(flipYZ).Normalize()
	if err := s.SetCameraPose(cam, p.Pos, [4]float64{q.W, q.V[0], q.V[1], q.V[2]}); err != nil {
		return err
	}
	return s.Forward()
}

// SitePose is site's world pose.
func SitePose(s *mujoco.Sim, site int) control.Pose {
	return poseFromRowMajor(s.SitePose(site))
}

// TrueIntrinsics is camera cam's exact model in images of width x height (no distortion).
func TrueIntrinsics(s *mujoco.Sim, cam, width, height int) calib.Intrinsics {
	f, cx, cy := s.CameraIntrinsics(cam, width, height)
	return calib.NewIntrinsics(s.Name(mujoco.ObjCamera, cam), width, height,
		[9]float64{f, 0, cx, 0, f, cy, 0, 0, 1}, [5]float64{})
}

// LookAt is the optical-frame pose of a camera at eye looking at target, rolled by roll
// (rad) about its optical axis from the orientation whose image "up" is closest to
// world +z.
func LookAt(eye, target mgl64.Vec3, roll float64) control.Pose {
	z := target.Sub(eye).Normalize()
	down := mgl64.Vec3{0, 0, -1}
	if math.Abs(z.Dot(down)) > 0.99 {
		down = mgl64.Vec3{-1, 0, 0}
	}
	x := down.Cross(z).Normalize() // x = y × z with y ~ down
	y := z.Cross(x)
	rot := quatFromCols(x, y, z)
	return control.Pose{Pos: eye, Rot: rot.Mul(mgl64.QuatRotate(roll, mgl64.Vec3{0, 0, 1})).Normalize()}
}

func quatFromCols(x, y, z mgl64.Vec3) mgl64.Quat {
	return mgl64.Mat4ToQuat(mgl64.Mat3FromCols(x, y, z).Mat4()).Normalize()
}

// BoardPoints are a board's inner corners in its frame, in FindChessboard's order.
func BoardPoints(square float64) []mgl64.Vec3 {
	pts := make([]mgl64.Vec3, 0, BoardCols*BoardRows)
	for j := 0; j < BoardRows; j++ {
		for i := 0; i < BoardCols; i++ {
			pts = append(pts, mgl64.Vec3{float64(i) * square, float64(j) * square, 0})
		}
	}
	return pts
}

// outline is the board's paper (with its margin) in the board frame: the corners of the
// inner-corner grid pushed out by 2.5 squares (1 square to the board's edge, 1.5 of
// margin).
func outline(square float64) []mgl64.Vec3 {
	m := 2.5 * square
	w, h := float64(BoardCols-1)*square, float64(BoardRows-1)*square
	return []mgl64.Vec3{{-m, -m, 0}, {w + m, -m, 0}, {w + m, h + m, 0}, {-m, h + m, 0}}
}

// BoardInView reports whether the whole board (with its margin) projects into the image
// at least margin pixels from the border, seen from camFromBoard = T_cam_board, and
// from its front (the camera on the board's -z side).
func BoardInView(in *calib.Intrinsics, camFromBoard control.Pose, square, margin float64) bool {
	boardFromCam := calib.Invert(camFromBoard)
	if boardFromCam.Pos[2] >= 0 {
		return false
	}
	for _, p := range outline(square) {
		uv, ok := in.Project(calib.Apply(camFromBoard, p))
		if !ok || uv[0] < margin || uv[1] < margin || uv[0] > float64(in.Width)-1-margin || uv[1] > float64(in.Height)-1-margin {
			return false
		}
	}
	return true
}

// Render draws camera cam into f (RGB8, reusing f.Data).
func Render(r *mujoco.Renderer, cam int, name string, f *perception.Frame) error {
	w, h := r.Size()
	if cap(f.Data) < w*h*3 {
		f.Data = make([]byte, w*h*3)
	}
	f.Data = f.Data[:w*h*3]
	f.Camera, f.Format, f.Width, f.Height = name, perception.RGB8, w, h
	return r.RGB(cam, f.Data)
}

// WritePNG writes an RGB8 frame as a PNG file.
func WritePNG(path string, f *perception.Frame) error {
	if f.Format != perception.RGB8 {
		return fmt.Errorf("calibsim: WritePNG: format %s, want rgb8", f.Format)
	}
	img := image.NewNRGBA(image.Rect(0, 0, f.Width, f.Height))
	for i := 0; i < f.Width*f.Height; i++ {
		img.SetNRGBA(i%f.Width, i/f.Width, color.NRGBA{f.Data[3*i], f.Data[3*i+1], f.Data[3*i+2], 255})
	}
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(file, img); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}
