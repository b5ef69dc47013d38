#!/usr/bin/python3
"""rospy in robotd's seat for the JointState round-trip benchmark (drivers/ros
BenchmarkJointStateRTT/rospy, scripts/bench.d/ros_rtt.sh).

Subscribes sensor_msgs/JointState on <ns>/joint_states and answers every message with a
std_msgs/Float64MultiArray on <ns>/effort_controller/command, as robotd's Arm does: seven
torques, zero but the last, which carries the state's identity (its header stamp in
milliseconds after the sim epoch of 1 s, times 1e-6 Nm). Runs until SIGTERM or SIGINT.

The subscriber uses tcp_nodelay and queue_size=--queue (the benchmark passes the queue
robotd's Arm gets, ArmConfig.Queue, so that both answer every state in order; 1 keeps
only the newest state of each read); the publisher is synchronous (queue_size=None): the
answer leaves from the callback thread, the lowest-latency rospy configuration.
"""
import argparse
import warnings

import rospy
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, MultiArrayDimension

EPOCH_NS = 1_000_000_000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ns", required=True, help="topic namespace, e.g. /rtt_rospy")
    ap.add_argument("--queue", type=int, default=1, help="subscriber queue_size")
    args = ap.parse_args(rospy.myargv()[1:])
    rospy.init_node("rtt_rospy")
    warnings.simplefilter("ignore")  # rospy warns about queue_size=None
    pub = rospy.Publisher(args.ns + "/effort_controller/command", Float64MultiArray, queue_size=None, tcp_nodelay=True)
    dim = [MultiArrayDimension(label="joints", size=7, stride=7)]

    def on_state(m):
        k = round((m.header.stamp.to_nsec() - EPOCH_NS) / 1e6)
        cmd = Float64MultiArray(data=[0.0] * 6 + [k * 1e-6])
        cmd.layout.dim = dim
        pub.publish(cmd)

    rospy.Subscriber(args.ns + "/joint_states", JointState, on_state, queue_size=args.queue, tcp_nodelay=True)
    rospy.spin()


if __name__ == "__main__":
    main()
