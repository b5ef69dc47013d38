#!/usr/bin/python3
"""Writes a teleoperation-like ROS1 bag with Debian's rosbag (python3-rosbag), for
convert's tests: what a robot's own topics look like, with values the test predicts.

    teleop_bag.py OUT.bag [none|bz2|lz4]

From bag time 1000 s, for 2 s:
  /joint_states         sensor_msgs/JointState at 100 Hz: the fingers and the 7 arm joints
                        in a scrambled order, position of panda_joint<i> = 0.1 i + 0.01 k
                        (k the message's index), velocity and effort empty;
  /joint_commands       std_msgs/Float64MultiArray at 100 Hz: data[i-1] = -0.1 i - 0.02 k;
  /front/image_raw      sensor_msgs/Image, bgr8 32x24 at 15 Hz: one colour per frame,
                        RGB (10 n mod 250, 100, 200) for frame n;
  /wrist/image_raw/compressed  sensor_msgs/CompressedImage, png 16x16 at 15 Hz: grey 8 n;
  /tf_like               std_msgs/String at 1 Hz: a topic the mapping does not name.
Each message's record time is its stamp; they are written in time order.
"""
import struct
import sys
import zlib

import rosbag
import rospy
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float64MultiArray, String

NAMES = ["panda_finger_joint1", "panda_joint3", "panda_joint1", "panda_joint2", "panda_joint7",
         "panda_joint5", "panda_joint4", "panda_joint6", "panda_finger_joint2"]


def png(w, h, grey):
    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes([grey]) * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def main():
    out = sys.argv[1]
    comp = sys.argv[2] if len(sys.argv) > 2 else "none"
    events = []  # (time in ns, order, topic, msg)
    t0 = 1000 * 10**9
    for k in range(200):
        t = t0 + k * 10**7
        js = JointState()
        js.header.stamp = rospy.Time(nsecs=t)
        js.name = NAMES
        js.position = [0.1 * int(n[-1]) + 0.01 * k if "finger" not in n else 0.04 for n in NAMES]
        events.append((t, 0, "/joint_states", js))
        cmd = Float64MultiArray()
        cmd.data = [-0.1 * i - 0.02 * k for i in range(1, 8)]
        events.append((t, 1, "/joint_commands", cmd))
    for n in range(30):
        t = t0 + n * 10**9 // 15
        img = Image()
        img.header.stamp = rospy.Time(nsecs=t)
        img.height, img.width, img.encoding, img.step = 24, 32, "bgr8", 32 * 3
        img.data = bytes([200, 100, (10 * n) % 250]) * (32 * 24)
        events.append((t, 2, "/front/image_raw", img))
        ci = CompressedImage()
        ci.header.stamp = rospy.Time(nsecs=t)
        ci.format = "png"
        ci.data = png(16, 16, 8 * n)
        events.append((t, 3, "/wrist/image_raw/compressed", ci))
    for s in range(2):
        events.append((t0 + s * 10**9, 4, "/tf_like", String(data="unmapped")))
    events.sort(key=lambda e: (e[0], e[1]))
    with rosbag.Bag(out, "w", compression=comp) as bag:
        for t, _, topic, msg in events:
            bag.write(topic, msg, rospy.Time(nsecs=t))


if __name__ == "__main__":
    main()
