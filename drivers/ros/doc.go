// Package ros reaches arms over ROS1 topics through goroslib; it is the only package in
// robotd that imports goroslib (its repository is archived, so the dependency stays in
// one place).
//
// Arm is a drivers.Arm over a ros_control-style robot: it subscribes a
// sensor_msgs/JointState topic and publishes joint torques as std_msgs/Float64MultiArray
// to /<controller>/command (a JointGroupEffortController). The control loop never
// touches the network: received states and written commands pass through latest-value
// mailboxes, and publishing happens on the Arm's own goroutine, because goroslib's
// Publisher.Write blocks.
//
// SimServer serves the MuJoCo arm (sim/mujoco) on the same topics, as a ros_control robot
// would, so the whole ROS path is tested against a real rosmaster without hardware.
package ros
