// Package ros reaches arms, grippers and cameras over ROS1 topics through goroslib; with
// the sim's ROS bridge (sim/rosbridge), which serves the other end of the same topics, it
// is the only package in robotd that imports goroslib (its repository is archived, so the
// dependency stays in two places that share this package's plumbing). It is pure Go: the
// driver of a real arm builds with CGO_ENABLED=0 (internal/purity keeps it so). Nothing
// here runs on the control loop's thread: the loop's calls hand values over through
// latest-value mailboxes (triple buffers) and return, and publishing happens on goroutines
// of this package, because goroslib's Publisher.Write blocks.
//
// # Arm
//
// Arm is a drivers.Arm over a ros_control-style robot. It subscribes a
// sensor_msgs/JointState topic (ArmConfig.StateTopic) and maps the message's names onto
// the configured joint order; messages with unknown, missing or repeated joints, arrays of
// the wrong size or non-finite values are dropped, counted by kind (ArmStats.Rejected)
// and logged once per kind. Header seq numbers are checked: numbers skipped between
// consecutive messages count as lost messages (ArmStats.SeqGaps), a numbering that goes
// back as a publisher restart (SeqRestarts); seq 0 means "not numbered". A state older
// than ArmConfig.StaleLimit (wall clock, even under /use_sim_time) makes ReadState
// return a *StaleError, on which the daemon puts the arm in its safe stop.
//
// ReadState and the Write methods hand over latest values, what a loop paced by its own
// clock wants. A loop paced by the robot, answering every state it sends (as libfranka's
// control callback does), sets ArmConfig.Queue and calls NextState instead: states and
// commands then pass through bounded in-order queues (overflow counted in
// ArmStats.QueueDrops and CommandDrops), and when that loop runs on a goroutine not locked
// to an OS thread, a state's arrival, the answer and its publication usually run on one
// thread without waking another (BenchmarkJointStateRTT measures the round trip).
//
// Commands follow one of three conventions real robots use (ArmConfig.Command):
//
//   - "effort": joint torques as std_msgs/Float64MultiArray to a ros_control
//     JointGroupEffortController on /<controller>/command (WriteTorque);
//   - "pose": the equilibrium pose as geometry_msgs/PoseStamped in FrameID to a
//     robot-side Cartesian impedance controller on /<controller>/equilibrium_pose
//     (franka_ros' convention; WriteEquilibrium);
//   - "trajectory": joint positions as a one-point trajectory_msgs/JointTrajectory,
//     reached over Lookahead, to a joint_trajectory_controller on /<controller>/command
//     (WriteJointTarget).
//
// The optional gripper (GripperConfig, drivers.Gripper through Arm.Gripper) takes width
// commands as std_msgs/Float64 or control_msgs/GripperCommand action goals
// (franka_gripper's gripper_action), and reads the opening from two finger joints of a
// JointState (possibly the arm's own) or a Float64 width topic.
//
// Dial retries the master with backoff until its context ends.
//
// # Master restarts
//
// goroslib registers a node's topics with the master only once. Every node this package
// makes (Arm, StopListener, StatusPublisher, Camera; and sim/rosbridge's Server and
// Cameras) therefore has a watch that asks the master every MasterCheck (a field of each
// config: default 250 ms, negative disables) whether it still knows the node, and after a
// restart registers its publications and subscriptions again and hands its subscribers the
// new master's publishers; each Stats counts these re-registrations
// (StopListener.Reregistrations). Peers that start after the restart then find the node
// (stop requests, the status topics, camera drivers, the sim's joint states and images).
// Connections made before the restart carry on throughout, and publishers connected before
// it are kept although the new master does not list them (rospy and roscpp never register
// again); a latched one among them may deliver its message once more when the new master's
// update drops it and the watch hands it back. Each XML-RPC call of a node times out after
// 2 s, so Close returns within seconds even when the master hangs. See masterWatch.
//
// # Cameras
//
// Camera is a perception.Camera over sensor_msgs/Image (rgb8, bgr8, mono8, 16UC1, 32FC1)
// or sensor_msgs/CompressedImage (jpeg, png; a topic ending in /compressed; decoded by
// CameraConfig.Decode: Go's decoders by default, OpenCV's as robotd wires it), with header
// stamps as capture times; malformed frames are counted and dropped. WaitCameraInfo and
// Camera.WaitInfo read a sensor_msgs/CameraInfo into the calibration model
// (calib.Intrinsics).
//
// # robotd's own topics
//
// StatusPublisher publishes what robotd does: <ns>/setpoint (geometry_msgs/PoseStamped,
// the Cartesian setpoint tracked), <ns>/mode (std_msgs/String, latched: idle, homing,
// running, stopping, faulted) and diagnostic_msgs/DiagnosticArray on /diagnostics. <ns> is
// /robotd by default.
//
// StopListener takes stop requests from ROS peers on <ns>/stop (graceful: ramp to a hold,
// as SIGINT) and <ns>/stop_now (immediate safe stop, as a second SIGINT), both
// std_msgs/String carrying the reason:
//
//	rostopic pub -1 /robotd/stop std_msgs/String "data: 'operator: end of shift'"
//
// # The simulator over ROS
//
// sim/rosbridge serves the MuJoCo arm (sim/mujoco) on the same topics, as a ros_control
// robot would: joint states, the command convention of ArmConfig.Command executed by a
// robot-side controller, the gripper, its cameras as Image and CameraInfo topics, and
// /clock in lockstep mode. `robotd sim` runs it, so the whole ROS path is tested against a
// real rosmaster without hardware (this package's tests use it as the robot peer);
// drivers/ros/rostest starts that master for tests. The plumbing both sides share (node
// connection, master watch, bounded close, message conversions) is exported in serve.go.
package ros
