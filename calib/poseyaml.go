package calib

import (
	"fmt"
	"math"
	"os"

	"github.com/go-gl/mathgl/mgl64"
	"go.yaml.in/yaml/v3"

	"github.com/robotd/robotd/control"
)

// CameraPose is the result of a hand-eye calibration as robotd stores it: the camera's
// optical frame (OpenCV convention: x right, y down, z forward) in its parent frame.
//
//	# T_ee_cam: the camera's optical frame (x right, y down, z forward) in frame ee.
//	camera_name: wrist
//	mode: eye-in-hand
//	parent_frame: ee
//	position: [0.0, 0.06, 0.03]           # metres
//	orientation: [0.0, 0.707, 0.707, 0.0]  # unit quaternion w, x, y, z
//	views: 12                              # optional: how it was measured
//	residual_rms_mm: 0.21
//	residual_rms_deg: 0.013
//
// parent_frame is "ee" for eye-in-hand and "base" for eye-to-hand.
type CameraPose struct {
	Camera string
	Mode   Mode
	Pose   control.Pose // T_parent_cam
	// Views and RMS describe the calibration; zero when unknown.
	Views int
	RMS   Residual
}

// Parent is the frame of Pose: Mode.Parent().
func (c *CameraPose) Parent() string { return c.Mode.Parent() }

// Marshal returns c as YAML.
func (c *CameraPose) Marshal() []byte {
	var l linesOf
	l.f("# T_%s_cam: the camera's optical frame (x right, y down, z forward) in frame %s.", c.Parent(), c.Parent())
	l.f("# Position in metres, orientation a unit quaternion w, x, y, z. Written by robotd calib.")
	l.f("camera_name: %s", yamlQuote(c.Camera))
	l.f("mode: %s", c.Mode)
	l.f("parent_frame: %s", c.Parent())
	p, q := c.Pose.Pos, c.Pose.Rot.Normalize()
	l.f("position: %s", flowList(p[:]))
	l.f("orientation: %s", flowList([]float64{q.W, q.V[0], q.V[1], q.V[2]}))
	if c.Views > 0 {
		l.f("views: %d", c.Views)
		l.f("residual_rms_mm: %s", formatFloat(c.RMS.TransMM))
		l.f("residual_rms_deg: %s", formatFloat(c.RMS.RotDeg))
	}
	return l.b.Bytes()
}

// WriteCameraPose writes c to path (atomically).
func WriteCameraPose(path string, c *CameraPose) error {
	if !finitePose(c.Pose) {
		return fmt.Errorf("calib: write %s: camera pose %v is not finite", path, c.Pose)
	}
	return writeFileAtomic(path, c.Marshal())
}

// ReadCameraPose reads a camera pose file written by WriteCameraPose. It is strict:
// unknown or missing fields, a parent frame that does not match the mode, or an
// orientation that is not a unit quaternion are errors naming the line and field.
func ReadCameraPose(path string) (CameraPose, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return CameraPose{}, fmt.Errorf("calib: read camera pose: %w", err)
	}
	return ParseCameraPose(path, data)
}

// ParseCameraPose parses the contents of a camera pose file; file names it in errors.
func ParseCameraPose(file string, data []byte) (CameraPose, error) {
	var c CameraPose
	root, err := yamlDoc(file, data)
	if err != nil {
		return c, err
	}
	f, err := fields(file, root, "",
		[]string{"camera_name", "mode", "parent_frame", "position", "orientation"},
		[]string{"views", "residual_rms_mm", "residual_rms_deg"})
	if err != nil {
		return c, err
	}
	if c.Camera, err = yamlString(file, f["camera_name"], "camera_name"); err != nil {
		return c, err
	}
	ms, err := yamlString(file, f["mode"], "mode")
	if err != nil {
		return c, err
	}
	if c.Mode, err = ParseMode(ms); err != nil {
		return c, fieldErr(file, f["mode"], "mode", "%q: want eye-in-hand or eye-to-hand", ms)
	}
	parent, err := yamlString(file, f["parent_frame"], "parent_frame")
	if err != nil {
		return c, err
	}
	if parent != c.Parent() {
		return c, fieldErr(file, f["parent_frame"], "parent_frame", "%q does not match mode %s (want %s)", parent, c.Mode, c.Parent())
	}
	if c.Pose, err = yamlPose(file, f["position"], f["orientation"], ""); err != nil {
		return c, err
	}
	if n, ok := f["views"]; ok {
		if c.Views, err = yamlInt(file, n, "views"); err != nil {
			return c, err
		}
	}
	if n, ok := f["residual_rms_mm"]; ok {
		if c.RMS.TransMM, err = yamlFloat(file, n, "residual_rms_mm"); err != nil {
			return c, err
		}
	}
	if n, ok := f["residual_rms_deg"]; ok {
		if c.RMS.RotDeg, err = yamlFloat(file, n, "residual_rms_deg"); err != nil {
			return c, err
		}
	}
	return c, nil
}

// quatTolerance is how far from 1 the norm of a quaternion read from a file may be.
const quatTolerance = 1e-3

// yamlPose reads position [x, y, z] and orientation [w, x, y, z] nodes.
func yamlPose(file string, posN, rotN *yaml.Node, path string) (control.Pose, error) {
	p, err := yamlFloats(file, posN, join(path, "position"), 3)
	if err != nil {
		return control.Pose{}, err
	}
	q, err := yamlFloats(file, rotN, join(path, "orientation"), 4)
	if err != nil {
		return control.Pose{}, err
	}
	quat := mgl64.Quat{W: q[0], V: mgl64.Vec3{q[1], q[2], q[3]}}
	if n := quat.Len(); math.Abs(n-1) > quatTolerance {
		return control.Pose{}, fieldErr(file, rotN, join(path, "orientation"),
			"%v has norm %.6g: want a unit quaternion w, x, y, z", q, n)
	}
	return control.Pose{Pos: mgl64.Vec3{p[0], p[1], p[2]}, Rot: quat.Normalize()}, nil
}

// RobotPose is the robot's end-effector pose T_base_ee when one image was taken.
type RobotPose struct {
	Image string // image file name, relative to the images directory
	Pose  control.Pose
}

// MarshalRobotPoses returns poses as a robot poses file:
//
//	# T_base_ee per image: position in metres, orientation a unit quaternion w, x, y, z.
//	poses:
//	  - image: view_00.png
//	    position: [0.4, 0, 0.5]
//	    orientation: [0, 1, 0, 0]
func MarshalRobotPoses(poses []RobotPose) []byte {
	var l linesOf
	l.f("# T_base_ee per image: position in metres, orientation a unit quaternion w, x, y, z.")
	l.f("poses:")
	for _, p := range poses {
		q := p.Pose.Rot.Normalize()
		l.f("  - image: %s", yamlQuote(p.Image))
		l.f("    position: %s", flowList(p.Pose.Pos[:]))
		l.f("    orientation: %s", flowList([]float64{q.W, q.V[0], q.V[1], q.V[2]}))
	}
	return l.b.Bytes()
}

// WriteRobotPoses writes a robot poses file (atomically).
func WriteRobotPoses(path string, poses []RobotPose) error {
	return writeFileAtomic(path, MarshalRobotPoses(poses))
}

// ReadRobotPoses reads a robot poses file (see MarshalRobotPoses). Every entry needs an
// image name, unique within the file, a position and a unit quaternion.
func ReadRobotPoses(path string) ([]RobotPose, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("calib: read robot poses: %w", err)
	}
	return ParseRobotPoses(path, data)
}

// ParseRobotPoses parses the contents of a robot poses file; file names it in errors.
func ParseRobotPoses(file string, data []byte) ([]RobotPose, error) {
	root, err := yamlDoc(file, data)
	if err != nil {
		return nil, err
	}
	f, err := fields(file, root, "", []string{"poses"}, nil)
	if err != nil {
		return nil, err
	}
	list := f["poses"]
	if list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		return nil, fieldErr(file, list, "poses", "want a non-empty list of {image, position, orientation}")
	}
	out := make([]RobotPose, len(list.Content))
	seen := map[string]int{}
	for i, e := range list.Content {
		path := fmt.Sprintf("poses[%d]", i)
		ef, err := fields(file, e, path, []string{"image", "position", "orientation"}, nil)
		if err != nil {
			return nil, err
		}
		img, err := yamlString(file, ef["image"], path+".image")
		if err != nil {
			return nil, err
		}
		if img == "" {
			return nil, fieldErr(file, ef["image"], path+".image", "empty image name")
		}
		if j, dup := seen[img]; dup {
			return nil, fieldErr(file, ef["image"], path+".image", "%q is also poses[%d]", img, j)
		}
		seen[img] = i
		pose, err := yamlPose(file, ef["position"], ef["orientation"], path)
		if err != nil {
			return nil, err
		}
		out[i] = RobotPose{Image: img, Pose: pose}
	}
	return out, nil
}
