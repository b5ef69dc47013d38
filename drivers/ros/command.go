package ros

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/geometry_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/trajectory_msgs"
	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/drivers"
)

// The command conventions of ArmConfig.Command (and of sim/rosbridge's ServerConfig.Command).
const (
	// CommandEffort: joint torques as std_msgs/Float64MultiArray to a ros_control
	// JointGroupEffortController on /<controller>/command (drivers.CommandTorque).
	CommandEffort = "effort"
	// CommandPose: the equilibrium pose as geometry_msgs/PoseStamped to a robot-side
	// Cartesian impedance controller on /<controller>/equilibrium_pose, franka_ros'
	// cartesian_impedance_example_controller convention (drivers.CommandPose).
	CommandPose = "pose"
	// CommandTrajectory: joint positions as a one-point trajectory_msgs/JointTrajectory to
	// a joint_trajectory_controller on /<controller>/command (drivers.CommandJointTarget).
	CommandTrajectory = "trajectory"
)

var commandKinds = map[string]drivers.CommandKind{
	CommandEffort:     drivers.CommandTorque,
	CommandPose:       drivers.CommandPose,
	CommandTrajectory: drivers.CommandJointTarget,
}

// DefaultSimNode is the node name under which robotd sim (sim/rosbridge) serves the
// simulated robot; its cameras' node adds "_cameras".
const DefaultSimNode = "robotd_sim"

// DefaultController is the robot-side controller a command convention's commands go to
// when none is configured: franka_ros' names ("" for an unknown convention).
func DefaultController(command string) string {
	switch command {
	case CommandEffort:
		return "effort_controller"
	case CommandPose:
		return "cartesian_impedance_example_controller"
	case CommandTrajectory:
		return "position_joint_trajectory_controller"
	}
	return ""
}

// commandMessage is the message type published in a command mode.
func commandMessage(mode string) any {
	switch mode {
	case CommandPose:
		return &geometry_msgs.PoseStamped{}
	case CommandTrajectory:
		return &trajectory_msgs.JointTrajectory{}
	}
	return &std_msgs.Float64MultiArray{}
}

// WriteEquilibrium implements drivers.PoseCommander (ArmConfig.Command "pose"): the pose
// replaces any not yet published (with ArmConfig.Queue: waits behind them, as in
// WriteTorque) and the publisher goroutine sends it as a PoseStamped
// in FrameID; it never waits for the network and allocates nothing.
func (a *Arm) WriteEquilibrium(pos mgl64.Vec3, rot mgl64.Quat) error {
	if a.info.Command != drivers.CommandPose {
		return a.kindErr[drivers.CommandPose]
	}
	if err := drivers.CheckPose(pos, rot); err != nil {
		return fmt.Errorf("ros: %w", err)
	}
	if c := a.slot(); c != nil {
		c.pos, c.rot = pos, rot
		a.post(c)
	}
	return nil
}

// WriteJointTarget implements drivers.JointTargetCommander (ArmConfig.Command
// "trajectory"): the positions replace any not yet published (with ArmConfig.Queue: wait
// behind them, as in WriteTorque) and the publisher goroutine sends them as a one-point JointTrajectory (zero stamp, time_from_start =
// Lookahead); it never waits for the network and allocates nothing.
func (a *Arm) WriteJointTarget(q []float64) error {
	if a.info.Command != drivers.CommandJointTarget {
		return a.kindErr[drivers.CommandJointTarget]
	}
	if err := drivers.CheckJointTarget(q, len(a.info.Joints)); err != nil {
		return fmt.Errorf("ros: %w", err)
	}
	if c := a.slot(); c != nil {
		copy(c.tau, q)
		a.post(c)
	}
	return nil
}

// publishOther is publish for pose and trajectory commands.
func (a *Arm) publishOther(ctx context.Context) {
	var seq uint32
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		}
		for c := a.next(); c != nil; c = a.next() {
			seq++
			if a.info.Command == drivers.CommandPose {
				a.pub.Write(poseMessage(seq, a.node.TimeNow(), a.cfg.FrameID, c.pos, c.rot))
			} else {
				a.pub.Write(&trajectory_msgs.JointTrajectory{
					// Zero stamp: the controller starts the trajectory when it receives it.
					Header:     std_msgs.Header{Seq: seq},
					JointNames: a.info.Joints, // never modified: shared with goroslib's encoder
					Points: []trajectory_msgs.JointTrajectoryPoint{{
						Positions:     slices.Clone(c.tau),
						TimeFromStart: a.cfg.Lookahead,
					}},
				})
			}
			a.sent(c)
		}
	}
}

// poseMessage converts a pose (mathgl, W first) to a PoseStamped (x y z w).
func poseMessage(seq uint32, stamp time.Time, frame string, pos mgl64.Vec3, rot mgl64.Quat) *geometry_msgs.PoseStamped {
	return &geometry_msgs.PoseStamped{
		Header: std_msgs.Header{Seq: seq, Stamp: stamp, FrameId: frame},
		Pose: geometry_msgs.Pose{
			Position:    geometry_msgs.Point{X: pos[0], Y: pos[1], Z: pos[2]},
			Orientation: geometry_msgs.Quaternion{X: rot.V[0], Y: rot.V[1], Z: rot.V[2], W: rot.W},
		},
	}
}

// poseFromMessage is poseMessage's inverse.
func poseFromMessage(p *geometry_msgs.Pose) (mgl64.Vec3, mgl64.Quat) {
	o := p.Orientation
	return mgl64.Vec3{p.Position.X, p.Position.Y, p.Position.Z}, mgl64.Quat{W: o.W, V: mgl64.Vec3{o.X, o.Y, o.Z}}
}
