#!/usr/bin/python3
"""A rospy robot's joint-state publisher at 1 kHz, for robotd's receive-latency benchmark and
staleness measurements (drivers/ros BenchmarkStateLatency, scripts/bench.d/ros_state_latency.sh).

Publishes sensor_msgs/JointState on --topic every 1/--rate s, paced to absolute deadlines
on CLOCK_MONOTONIC (1 ns timer slack): header.stamp = rospy.Time.now() just before the
publish, positions q0 + amp sin(2 pi f t) per joint (t from the stamp), velocities their
exact derivative (none with --no-velocity), efforts zero. The publisher is synchronous
(queue_size=None): the message leaves from this thread, as in a realtime driver's loop.

Prints "ready" on stderr once advertised. Runs until stdin closes, then prints one JSON
line on stdout: messages sent, and the gaps between consecutive publishes (ms: p50, p99,
p99.9, max, and every gap over --report-gap ms with its time after the first message), so
that a receiver can tell a gap on the publisher's side from a delay on its own.
"""
import argparse
import ctypes
import json
import math
import sys
import threading
import time

import rospy
from sensor_msgs.msg import JointState


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--topic", default="/joint_states")
    ap.add_argument("--names", required=True, help="comma-separated joint names")
    ap.add_argument("--q0", required=True, help="comma-separated centre positions (rad)")
    ap.add_argument("--amp", type=float, default=0.1, help="sine amplitude (rad)")
    ap.add_argument("--freq", type=float, default=0.5, help="sine frequency (Hz)")
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--no-velocity", action="store_true")
    ap.add_argument("--node", default="bench_arm")
    ap.add_argument("--report-gap", type=float, default=3.0)
    args = ap.parse_args(rospy.myargv()[1:])
    names = args.names.split(",")
    q0 = [float(v) for v in args.q0.split(",")]
    if len(q0) != len(names):
        sys.exit("--q0 needs one value per name")
    try:
        ctypes.CDLL(None).prctl(29, 1, 0, 0, 0)  # PR_SET_TIMERSLACK 1 ns
    except Exception:
        pass

    rospy.init_node(args.node, disable_signals=True)
    pub = rospy.Publisher(args.topic, JointState, queue_size=None, tcp_nodelay=True)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    print("ready", file=sys.stderr, flush=True)

    period = 1.0 / args.rate
    w = 2 * math.pi * args.freq
    msg = JointState(name=names)
    if args.no_velocity:
        msg.velocity = []
    msg.effort = [0.0] * len(names)
    gaps, big = [], []
    next_t = time.monotonic()
    first = prev = None
    while not done.is_set():
        next_t += period
        d = next_t - time.monotonic()
        if d > 0:
            time.sleep(d)
        elif d < -0.1:
            next_t = time.monotonic()  # far behind (stopped): no burst
        now = rospy.Time.now()
        t = now.to_sec()
        msg.header.stamp = now
        msg.position = [q + args.amp * math.sin(w * t) for q in q0]
        if not args.no_velocity:
            msg.velocity = [args.amp * w * math.cos(w * t)] * len(names)
        pub.publish(msg)
        m = time.monotonic()
        if prev is not None:
            g = (m - prev) * 1e3
            gaps.append(g)
            if g > args.report_gap:
                big.append([round(m - first, 3), round(g, 2)])
        else:
            first = m
        prev = m
    gaps.sort()

    def pct(p):
        return round(gaps[min(len(gaps) - 1, int(p * len(gaps)))], 3) if gaps else 0

    print(json.dumps({"sent": len(gaps) + (1 if prev else 0), "p50": pct(0.5), "p99": pct(0.99),
                      "p999": pct(0.999), "max": round(gaps[-1], 3) if gaps else 0, "big": big}))
    sys.stdout.flush()
    rospy.signal_shutdown("stdin closed")


if __name__ == "__main__":
    main()
