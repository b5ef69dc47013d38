#!/usr/bin/python3
"""A rospy camera driver for robotd's camera tests (drivers/ros/camera_test.go).

Run with Debian's /usr/bin/python3 and ROS_MASTER_URI set. It publishes, at 20 Hz, stamped
with rospy.Time.now(), until killed (at most 60 s):

  /peer/image_raw             sensor_msgs/Image bgr8, 64x48, step 196 (4 padding bytes per
                              row), pixel (x, y) = B (7x + 3y) % 256, G (x y) % 256,
                              R (255 - x - 2y) % 256, padding bytes 0xEE
  /peer/image_raw/compressed  sensor_msgs/CompressedImage "jpeg": the bytes of
                              camera_peer.jpg (made by camera_gen.py with OpenCV)

Only rospy and the message packages are needed (scripts/setup.sh's ROS group).
"""
import os

import rospy
from sensor_msgs.msg import CompressedImage, Image

W, H, PAD = 64, 48, 4


def bgr_image():
    data = bytearray()
    for y in range(H):
        for x in range(W):
            data += bytes(((7 * x + 3 * y) % 256, (x * y) % 256, (255 - x - 2 * y) % 256))
        data += b"\xee" * PAD
    return bytes(data)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "camera_peer.jpg"), "rb") as f:
        jpg = f.read()
    rospy.init_node("camera_peer", anonymous=True, disable_signals=True)
    raw = rospy.Publisher("/peer/image_raw", Image, queue_size=2)
    comp = rospy.Publisher("/peer/image_raw/compressed", CompressedImage, queue_size=2)
    img = Image(height=H, width=W, encoding="bgr8", is_bigendian=0, step=W * 3 + PAD, data=bgr_image())
    img.header.frame_id = "peer_optical_frame"
    cimg = CompressedImage(format="jpeg", data=jpg)
    cimg.header.frame_id = "peer_optical_frame"
    rate = rospy.Rate(20)
    end = rospy.Time.now() + rospy.Duration(60)
    while not rospy.is_shutdown() and rospy.Time.now() < end:
        now = rospy.Time.now()
        img.header.stamp = now
        cimg.header.stamp = now
        raw.publish(img)
        comp.publish(cimg)
        rate.sleep()


if __name__ == "__main__":
    main()
