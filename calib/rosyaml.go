package calib

import (
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// The ROS camera calibration file: what ROS's camera_calibration tool writes and
// camera_info_manager (camera_calibration_parsers) reads and writes.
//
//	image_width: 640
//	image_height: 480
//	camera_name: wrist
//	camera_matrix:
//	  rows: 3
//	  cols: 3
//	  data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]
//	distortion_model: plumb_bob
//	distortion_coefficients:
//	  rows: 1
//	  cols: 5
//	  data: [k1, k2, p1, p2, k3]
//	rectification_matrix:
//	  rows: 3
//	  cols: 3
//	  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
//	projection_matrix:
//	  rows: 3
//	  cols: 4
//	  data: [fx', 0, cx', Tx, 0, fy', cy', Ty, 0, 0, 1, 0]

// DistortionModel is the only distortion model Intrinsics holds.
const DistortionModel = "plumb_bob"

var rosFields = []string{
	"image_width", "image_height", "camera_name", "camera_matrix", "distortion_model",
	"distortion_coefficients", "rectification_matrix", "projection_matrix",
}

// MarshalROS returns in as a ROS camera calibration YAML file, in the layout
// camera_calibration_parsers writes, with every number written so that it reads back
// exactly.
func (in *Intrinsics) MarshalROS() []byte {
	var l linesOf
	l.f("image_width: %d", in.Width)
	l.f("image_height: %d", in.Height)
	l.f("camera_name: %s", yamlQuote(in.Name))
	mat := func(name string, rows, cols int, data []float64) {
		l.f("%s:", name)
		l.f("  rows: %d", rows)
		l.f("  cols: %d", cols)
		l.f("  data: %s", flowList(data))
	}
	mat("camera_matrix", 3, 3, in.K[:])
	l.f("distortion_model: %s", DistortionModel)
	mat("distortion_coefficients", 1, 5, in.D[:])
	mat("rectification_matrix", 3, 3, in.R[:])
	mat("projection_matrix", 3, 4, in.P[:])
	return l.b.Bytes()
}

// WriteIntrinsics validates in and writes it to path as ROS camera calibration YAML
// (atomically: a reader never sees half a file).
func WriteIntrinsics(path string, in *Intrinsics) error {
	if err := in.Validate(); err != nil {
		return err
	}
	return writeFileAtomic(path, in.MarshalROS())
}

// ReadIntrinsics reads a ROS camera calibration YAML file.
func ReadIntrinsics(path string) (Intrinsics, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Intrinsics{}, fmt.Errorf("calib: read intrinsics: %w", err)
	}
	return ParseIntrinsics(path, data)
}

// ParseIntrinsics parses a ROS camera calibration YAML document; file names it in
// errors. It is strict: all eight fields must be present and no other, the matrices must
// have the sizes ROS uses (camera 3x3, distortion 1x5, rectification 3x3, projection
// 3x4) with rows*cols values, and the distortion model must be plumb_bob. Each error
// names the line and the field.
func ParseIntrinsics(file string, data []byte) (Intrinsics, error) {
	var in Intrinsics
	root, err := yamlDoc(file, data)
	if err != nil {
		return in, err
	}
	f, err := fields(file, root, "", rosFields, nil)
	if err != nil {
		return in, err
	}
	if in.Width, err = yamlInt(file, f["image_width"], "image_width"); err != nil {
		return in, err
	}
	if in.Height, err = yamlInt(file, f["image_height"], "image_height"); err != nil {
		return in, err
	}
	if in.Width <= 0 {
		return in, fieldErr(file, f["image_width"], "image_width", "%d: want a positive width", in.Width)
	}
	if in.Height <= 0 {
		return in, fieldErr(file, f["image_height"], "image_height", "%d: want a positive height", in.Height)
	}
	if in.Name, err = yamlString(file, f["camera_name"], "camera_name"); err != nil {
		return in, err
	}
	model, err := yamlString(file, f["distortion_model"], "distortion_model")
	if err != nil {
		return in, err
	}
	if model != DistortionModel {
		return in, fieldErr(file, f["distortion_model"], "distortion_model", "%q is not supported (want %s)", model, DistortionModel)
	}
	for _, m := range []struct {
		name       string
		rows, cols int
		dst        []float64
	}{
		{"camera_matrix", 3, 3, in.K[:]},
		{"distortion_coefficients", 1, 5, in.D[:]},
		{"rectification_matrix", 3, 3, in.R[:]},
		{"projection_matrix", 3, 4, in.P[:]},
	} {
		if err := rosMatrix(file, f[m.name], m.name, m.rows, m.cols, m.dst); err != nil {
			return in, err
		}
	}
	if in.K[0] <= 0 || in.K[4] <= 0 || in.K[3] != 0 || in.K[6] != 0 || in.K[7] != 0 || in.K[8] != 1 {
		return in, fieldErr(file, f["camera_matrix"], "camera_matrix.data",
			"%v: want [fx, s, cx, 0, fy, cy, 0, 0, 1] with fx, fy > 0", in.K)
	}
	return in, nil
}

// rosMatrix reads a {rows, cols, data} mapping of the given size into dst.
func rosMatrix(file string, n *yaml.Node, path string, rows, cols int, dst []float64) error {
	f, err := fields(file, n, path, []string{"rows", "cols", "data"}, nil)
	if err != nil {
		return err
	}
	r, err := yamlInt(file, f["rows"], path+".rows")
	if err != nil {
		return err
	}
	c, err := yamlInt(file, f["cols"], path+".cols")
	if err != nil {
		return err
	}
	if r != rows || c != cols {
		return fieldErr(file, n, path, "%dx%d, want %dx%d", r, c, rows, cols)
	}
	data, err := yamlFloats(file, f["data"], path+".data", -1)
	if err != nil {
		return err
	}
	if len(data) != rows*cols {
		return fieldErr(file, f["data"], path+".data", "%d values, want rows x cols = %d", len(data), rows*cols)
	}
	copy(dst, data)
	return nil
}
