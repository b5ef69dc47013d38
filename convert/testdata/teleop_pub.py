#!/usr/bin/python3
"""A teleoperation session's topics published live with rospy, for convert's
TestRecordedBag (rosbag record against a real rosmaster records them):

    teleop_pub.py SECONDS

/joint_states (sensor_msgs/JointState, 100 Hz, the 7 arm joints and a finger in a
scrambled order, position of panda_joint<i> = 0.1 i + 0.01 k for the k-th message),
/joint_commands (std_msgs/Float64MultiArray, published right after each joint state,
data[i-1] = -0.1 i - 0.02 k) and /front/image_raw (sensor_msgs/Image rgb8 32x24 at 15 Hz,
every pixel (k mod 256, 100, 200) with k the joint state count when it is sent). It waits
until every topic has a subscriber before it starts.
"""
import sys
import time

import rospy
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray

NAMES = ["panda_joint3", "panda_joint1", "panda_finger_joint1", "panda_joint2", "panda_joint7",
         "panda_joint5", "panda_joint4", "panda_joint6"]


def main():
    secs = float(sys.argv[1])
    rospy.init_node("teleop_pub", anonymous=True, disable_signals=True)
    js_pub = rospy.Publisher("/joint_states", JointState, queue_size=100)
    cmd_pub = rospy.Publisher("/joint_commands", Float64MultiArray, queue_size=100)
    img_pub = rospy.Publisher("/front/image_raw", Image, queue_size=10)
    deadline = time.monotonic() + 20
    while min(p.get_num_connections() for p in (js_pub, cmd_pub, img_pub)) == 0:
        if time.monotonic() > deadline:
            sys.exit("teleop_pub: no subscriber within 20 s")
        time.sleep(0.05)
    time.sleep(0.5)
    t0 = time.monotonic()
    k = 0
    next_img = t0
    while time.monotonic() - t0 < secs:
        js = JointState()
        js.header.stamp = rospy.Time.now()
        js.name = NAMES
        js.position = [0.1 * int(n[-1]) + 0.01 * k if "finger" not in n else 0.04 for n in NAMES]
        js_pub.publish(js)
        cmd_pub.publish(Float64MultiArray(data=[-0.1 * i - 0.02 * k for i in range(1, 8)]))
        if time.monotonic() >= next_img:
            img = Image()
            img.header.stamp = rospy.Time.now()
            img.height, img.width, img.encoding, img.step = 24, 32, "rgb8", 32 * 3
            img.data = bytes([k % 256, 100, 200]) * (32 * 24)
            img_pub.publish(img)
            next_img += 1 / 15
        k += 1
        time.sleep(max(0.0, t0 + k * 0.01 - time.monotonic()))
    time.sleep(0.5)  # let the last messages reach the recorder


if __name__ == "__main__":
    main()
