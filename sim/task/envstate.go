package task

import (
	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
)

// EnvNames is the layout of the task's environment state (LeRobot's
// observation.environment_state, which robotd records and replay restores): the cube's
// position in the base frame (m) and its orientation, scalar first.
var EnvNames = []string{"cube_x", "cube_y", "cube_z", "cube_qw", "cube_qx", "cube_qy", "cube_qz"}

// EnvValues writes a cube pose in EnvNames' layout; dst holds len(EnvNames) values.
func EnvValues(dst []float32, p control.Pose) {
	q := p.Rot
	for i, v := range [7]float64{p.Pos[0], p.Pos[1], p.Pos[2], q.W, q.V[0], q.V[1], q.V[2]} {
		dst[i] = float32(v)
	}
}

// EnvPose reads a cube pose in EnvNames' layout (the quaternion normalized).
func EnvPose(v []float32) control.Pose {
	return control.Pose{Pos: mgl64.Vec3{float64(v[0]), float64(v[1]), float64(v[2])},
		Rot: mgl64.Quat{W: float64(v[3]), V: mgl64.Vec3{float64(v[4]), float64(v[5]), float64(v[6])}}.Normalize()}
}
