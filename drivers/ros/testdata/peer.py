#!/usr/bin/python3
"""A small rospy node that exchanges joint states and effort commands with robotd.

Run with Debian's /usr/bin/python3 and ROS_MASTER_URI set (drivers/ros/peer_test.go does).

  peer.py controller
      Plays the controller against robotd's SimServer: subscribes sensor_msgs/JointState
      on /joint_states and answers every state with a std_msgs/Float64MultiArray on
      /effort_controller/command whose data is -0.5 * position, in joint1..joint7 order
      whatever the message's order. When its stdin closes it prints one JSON line:
      {"states": count, "names": [...] (of the last state), "seqs": [every header seq]}.

  peer.py robot --rate HZ
      Plays the robot against robotd's Arm: publishes JointState for joint7..joint1
      (reversed, so the adapter must map by name) at HZ with position[i] = k/1000 +
      (7-i) for message k and effort = the last command received (per joint1..joint7
      order, like a robot reporting its applied torques), and subscribes
      /effort_controller/command. When its stdin closes it prints {"commands": distinct
      commands received, "last": [...]}.

Both exit with status 2 on a malformed message; the robot exits with 3 when its stdin
stays open for 30 s.
"""
import argparse
import json
import os
import sys
import threading

import rospy
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, MultiArrayDimension

JOINTS = ["joint%d" % i for i in range(1, 8)]


def fail(code, why):
    print(json.dumps({"error": why}), flush=True)
    os._exit(code)  # also from a callback thread


def controller():
    lock = threading.Lock()
    got = {"states": 0, "names": None, "seqs": []}
    pub = rospy.Publisher("/effort_controller/command", Float64MultiArray, queue_size=100, tcp_nodelay=True)

    def on_state(m):
        if len(m.position) != len(m.name) or sorted(m.name) != sorted(JOINTS):
            fail(2, "bad JointState: names %r, %d positions" % (m.name, len(m.position)))
        # Answer in joint1..joint7 order, whatever order the state came in.
        q = dict(zip(m.name, m.position))
        cmd = Float64MultiArray(data=[-0.5 * q[j] for j in JOINTS])
        cmd.layout.dim = [MultiArrayDimension(label="joints", size=7, stride=7)]
        with lock:  # before publishing: once the answer is out, the test may close stdin
            got["states"] += 1
            got["names"] = list(m.name)
            got["seqs"].append(m.header.seq)
        pub.publish(cmd)

    rospy.Subscriber("/joint_states", JointState, on_state, queue_size=100, tcp_nodelay=True)
    sys.stdin.read()  # until the test closes it
    with lock:
        print(json.dumps(got), flush=True)


def robot(rate):
    lock = threading.Lock()
    last = [0.0] * 7
    seen = []

    def on_command(m):
        if len(m.data) != 7:
            fail(2, "bad command: %d values" % len(m.data))
        with lock:
            if list(m.data) != last:
                last[:] = m.data
                seen.append(list(m.data))

    rospy.Subscriber("/effort_controller/command", Float64MultiArray, on_command, queue_size=100, tcp_nodelay=True)
    pub = rospy.Publisher("/joint_states", JointState, queue_size=10, tcp_nodelay=True)
    names = list(reversed(JOINTS))
    stdin_closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stdin_closed.set()), daemon=True).start()
    r = rospy.Rate(rate)
    deadline = rospy.get_time() + 30
    k = 0
    while not rospy.is_shutdown() and not stdin_closed.is_set():
        with lock:
            effort = [last[JOINTS.index(j)] for j in names]
        k += 1
        m = JointState(name=names, position=[k / 1000.0 + (7 - i) for i in range(7)], velocity=[0.0] * 7, effort=effort)
        m.header.stamp = rospy.Time.now()
        pub.publish(m)
        if rospy.get_time() > deadline:
            fail(3, "stdin still open after 30 s (%d commands)" % len(seen))
        r.sleep()
    with lock:
        print(json.dumps({"commands": len(seen), "last": last}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="role", required=True)
    sub.add_parser("controller")
    r = sub.add_parser("robot")
    r.add_argument("--rate", type=float, default=200)
    args = ap.parse_args(rospy.myargv()[1:])
    rospy.init_node("peer_" + args.role, disable_signals=True)
    if args.role == "controller":
        controller()
    else:
        robot(args.rate)
    rospy.signal_shutdown("done")


if __name__ == "__main__":
    main()
