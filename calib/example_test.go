package calib_test

import (
	"fmt"
	"math"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/calib"
	"github.com/robotd/robotd/control"
)

// A 9 x 6 chessboard with 25 mm squares, seen 0.5 m in front of a camera: its pose from
// the pixels of its corners.
func ExampleSolvePnP() {
	cam := calib.NewIntrinsics("wrist", 640, 480, [9]float64{600, 0, 319.5, 0, 600, 239.5, 0, 0, 1}, [5]float64{-0.1, 0.02, 0, 0, 0})
	var obj []mgl64.Vec3
	for j := 0; j < 6; j++ {
		for i := 0; i < 9; i++ {
			obj = append(obj, mgl64.Vec3{0.025 * float64(i), 0.025 * float64(j), 0})
		}
	}
	truth := control.Pose{Pos: mgl64.Vec3{-0.1, -0.06, 0.5}, Rot: mgl64.QuatRotate(0.3, mgl64.Vec3{1, 0, 0})}
	img := make([]mgl64.Vec2, len(obj)) // what a chessboard detector would find
	cam.ProjectPoints(img, truth, obj)

	pose, rms, err := calib.SolvePnP(obj, img, &cam)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("T_cam_board position %.3f m, rotated %.1f deg, RMS %.3f px\n", pose.Pos, 2*math.Acos(pose.Rot.W)*180/math.Pi, rms)
	// Output: T_cam_board position [-0.100 -0.060 0.500] m, rotated 17.2 deg, RMS 0.000 px
}

// A camera on the gripper, 6 cm beside the flange, looking along it; a board on the
// table. Three robot poses with the board's pose seen at each give the camera's mount.
func ExampleSolveHandEye() {
	eeFromCam := control.Pose{Pos: mgl64.Vec3{0.06, 0, -0.07}, Rot: mgl64.QuatRotate(-math.Pi/2, mgl64.Vec3{0, 0, 1})}
	baseFromBoard := control.Pose{Pos: mgl64.Vec3{0.5, 0, 0}, Rot: mgl64.Quat{V: mgl64.Vec3{1, 0, 0}}}
	down := mgl64.Quat{V: mgl64.Vec3{1, 0, 0}} // gripper pointing down
	var robot, boards []control.Pose
	for _, tilt := range []mgl64.Vec3{{0, 0, 0}, {0.3, 0, 0}, {0, 0.3, 0.2}, {-0.2, 0.1, -0.4}} {
		ee := control.Pose{Pos: mgl64.Vec3{0.45, 0.02, 0.45}, Rot: mgl64.QuatRotate(tilt.Len(), tilt.Normalize()).Mul(down)}
		if tilt.Len() == 0 {
			ee.Rot = down
		}
		robot = append(robot, ee)
		// What PnP would report: T_cam_board = (T_base_ee T_ee_cam)^-1 T_base_board.
		boards = append(boards, calib.Compose(calib.Invert(calib.Compose(ee, eeFromCam)), baseFromBoard))
	}
	res, err := calib.SolveHandEye(robot, boards, calib.EyeInHand)
	if err != nil {
		fmt.Println(err)
		return
	}
	t, r := calib.PoseDistance(res.Camera, eeFromCam)
	fmt.Printf("T_ee_cam within 1 um and 1 urad of the truth: %v; %d pairs of views\n", t < 1e-6 && r < 1e-6, len(res.Pairs))
	// Output: T_ee_cam within 1 um and 1 urad of the truth: true; 6 pairs of views
}
