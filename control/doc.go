// Package control owns robotd's robot model and the laws that turn a target into joint
// torques: forward kinematics and the geometric Jacobian of a serial arm parsed from the
// same MJCF the simulator loads, the Cartesian and joint impedance controllers, and the
// safety layer that stands between any controller and the motors.
//
// Everything here is pure computation: no goroutines, no I/O after construction, no
// clock (dt is an argument), and no heap allocation in any per-tick method (tests assert
// it with testing.AllocsPerRun).
//
// # Conventions
//
//   - SI units: metres, radians, seconds, newtons, newton-metres.
//   - Frames are named T_parent_child: T_base_ee maps points in the end-effector frame to
//     the base frame. The "base" frame is MuJoCo's world frame of the model the robot was
//     parsed from.
//   - Vectors, rotations and quaternions are mathgl mgl64 value types. A quaternion is
//     mgl64.Quat{W, V: {X, Y, Z}}: scalar first, the same order as MuJoCo and as
//     LeRobot datasets store them; it rotates vectors from the child to the parent frame.
//     Rotation matrices are mgl64.Mat3 (column-major, as mathgl stores them).
//     Rotation vectors (axis times angle, rad, angle in [0, pi]) convert to and from
//     quaternions only through RotationVector and FromRotationVector (rotation.go).
//   - Jacobians are 6 x n, row-major in a flat []float64: rows 0-2 linear velocity of the
//     tool point in the base frame, rows 3-5 angular velocity in the base frame.
//   - Joint vectors ([]float64 of length n) follow the joint order of the Robot.
package control
