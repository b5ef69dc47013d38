#!/usr/bin/python3
"""The rospy peer of BenchmarkROSCamera (drivers/ros/camera_bench_test.go).

Subscribes sensor_msgs/Image 640x480 rgb8 (published at 30 Hz by the benchmark, stamped
just before publishing, with the message number in the first four data bytes) the way a
Python policy node would: rospy.Subscriber with queue_size=1 (keep the newest, like
robotd's latest-value Camera) and a 16 MiB buff_size (rospy's default 64 KiB makes large
messages wait; raising it is the standard advice). Each callback copies the image into a
numpy array (robotd's Read copies into the caller's frame) and then takes the time.

After --warmup frames it records --frames latencies (stamp to image in hand) and prints one
JSON line: {"p50_us", "p99_us", "frames", "drops"} (drops: message numbers never seen in
the window). Run with Debian's /usr/bin/python3 and ROS_MASTER_URI set.
"""
import argparse
import json
import math
import threading
import time

import numpy as np
import rospy
from sensor_msgs.msg import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--topic", default="/bench/image_raw")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()

    lat_ns, nums = [], []
    seen = [0]
    done = threading.Event()

    def callback(msg):
        img = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, 3).copy()
        now = time.time_ns()
        seen[0] += 1
        if seen[0] <= args.warmup or done.is_set():
            return
        lat_ns.append(now - (msg.header.stamp.secs * 1_000_000_000 + msg.header.stamp.nsecs))
        nums.append(int.from_bytes(img.reshape(-1)[:4].tobytes(), "little"))
        if len(lat_ns) >= args.frames:
            done.set()

    rospy.init_node("camera_bench_rospy", anonymous=True, disable_signals=True)
    rospy.Subscriber(args.topic, Image, callback, queue_size=1, buff_size=1 << 24)
    if not done.wait(args.timeout):
        raise SystemExit("ros_camera_rospy: %d of %d frames within %.0f s" % (len(lat_ns), args.frames, args.timeout))
    lat = sorted(lat_ns)
    n = len(lat)
    print(json.dumps({
        "p50_us": lat[n // 2] / 1e3,
        "p99_us": lat[math.ceil(n * 0.99) - 1] / 1e3,
        "frames": n,
        "drops": nums[-1] - nums[0] + 1 - n,
    }))
    rospy.signal_shutdown("done")


if __name__ == "__main__":
    main()
