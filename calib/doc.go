// Package calib owns camera calibration math: pinhole intrinsics with plumb_bob
// distortion and their ROS camera_calibration YAML files, the pose of a planar target
// from one image (SolvePnP), and hand-eye calibration (SolveHandEye) for a camera on the
// robot's hand or fixed in the world, with the camera pose file robotd writes.
//
// It is pure Go (gonum and mathgl), no cgo: chessboard detection and OpenCV's
// calibrateCamera live in perception/cv, which returns plain values that NewIntrinsics
// takes; Intrinsics.Perception hands a calibration to perception's undistort step.
// Package calibsim renders calibration images with known ground truth in MuJoCo. Geometry follows control's conventions: SI units, control.Pose with
// quaternions w, x, y, z, frames named T_parent_child. Camera frames are optical frames
// (OpenCV: x right, y down, z forward); pixel (0, 0) is the centre of the top-left pixel.
package calib
