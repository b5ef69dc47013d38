// Package rosbridge serves a MuJoCo simulation over ROS1 as a real robot and its workcell
// would, so that robotd's ROS client (drivers/ros) and any other ROS peer drive it with no
// code path that knows it is a simulation. It owns `robotd sim`.
//
//   - Server serves a lockstep arm (sim/mujoco) as a ros_control robot: it publishes
//     sensor_msgs/JointState, executes the command convention of ServerConfig.Command
//     ("effort", "pose" or "trajectory", drivers/ros's conventions) with a robot-side
//     controller, serves the gripper (width topic or GripperCommand action) and, in
//     lockstep, publishes /clock.
//   - Cameras publishes the scene's cameras as sensor_msgs/Image (rgb8, optionally 32FC1
//     depth) and CameraInfo, rendered between steps by the stepping goroutine and sent by
//     a goroutine of its own.
//   - Run is `robotd sim`'s loop: the arm, the Server, the Cameras rendering from a mirror
//     of the scene, the pick-and-place task served over ROS (drivers/ros's TaskServer),
//     and the stepping thread that keeps the simulation clock level with the wall clock
//     at real-time priority (internal/rt).
//
// It shares drivers/ros's node plumbing (ros.Connect, ros.WatchMaster, ros.CloseAll) and
// message conversions, so both ends of a topic agree on one copy. Unlike drivers/ros it
// needs cgo (sim/mujoco).
package rosbridge
