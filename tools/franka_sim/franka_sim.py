#!/usr/bin/python3
"""franka_sim: a Franka-Panda-like ros_control arm in rospy, independent of robotd.

It shares no code with robotd: it follows only the public conventions of franka_ros and
ros_control, so robotd can be tested against a robot it was not written with.

  * sensor_msgs/JointState on /joint_states at 1 kHz (wall clock): panda_joint1..7 plus
    panda_finger_joint1/2, header.stamp = rospy.Time.now(), seq incrementing, position,
    velocity and effort (the applied torque).
  * A JointGroupEffortController: std_msgs/Float64MultiArray on
    /effort_joint_group_controller/command, 7 values in panda_joint1..7 order; a command of
    another length is rejected (logged, counted). The last accepted command is applied
    until the next one, forever, also after the commanding node is gone (ros_control).
  * Dynamics: per joint a double integrator with a diagonal inertia and a small viscous
    friction; gravity is compensated by the robot itself (as a Franka), so a zero command
    keeps the arm still. Integrated in 1 ms steps of wall-clock time.
  * Franka datasheet limits: commands are clipped to the torque limits (counted); joints
    stop hard at the position limits (velocity zeroed, hits counted); velocities over the
    limits are counted (a real Panda would trigger a reflex; this one keeps going so a test
    can see how far a runaway goes).
  * A wrist camera: sensor_msgs/Image 640x480 rgb8 at 30 Hz on /camera/wrist/image_raw and
    sensor_msgs/CameraInfo on /camera/wrist/camera_info. The picture is one of a few
    precomputed noisy gradients, picked by the frame counter and the joint positions.

Variants, as real drivers show them: --no-fingers (7 joints), --shuffle (another joint
order), --no-velocity / --no-effort (empty arrays).

Observability: --report FILE gets a JSON report once 200 joint states are out (reason
"started"), on SIGUSR1 (the node keeps running) and on SIGTERM/SIGINT (then the node
exits 0). See README.md for its fields.

Run with Debian's python3 and ROS_MASTER_URI set:
  /usr/bin/python3 tools/franka_sim/franka_sim.py --report /tmp/franka.json
"""
import argparse
import collections
import ctypes
import json
import math
import os
import random
import signal
import sys
import threading
import time

import rospy
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray

ARM = ["panda_joint%d" % i for i in range(1, 8)]
FINGERS = ["panda_finger_joint1", "panda_finger_joint2"]
# Franka Emika Panda datasheet limits.
Q_MIN = [-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973]
Q_MAX = [2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973]
DQ_MAX = [2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61]
TAU_MAX = [87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0]
# The dynamics: diagonal inertia (kg m^2, link plus reflected rotor inertia, smaller
# towards the hand; a Panda's mass matrix diagonal at the ready pose is about 0.6, 1.6,
# 1.0, 1.0, 0.15, 0.15, 0.1: the wrist here is twice as heavy as that, the base a bit
# lighter, so a controller's model never matches it exactly) and viscous friction
# (N m s/rad) with a 0.5 s time constant per joint: a coasting joint slows down within
# about 2 s, while a leftover torque still moves it for good: 0.02 N m holds joint 7 at
# 0.05 rad/s, well over the 0.01 rad/s of "still".
INERTIA = [1.0, 1.5, 1.0, 1.0, 0.3, 0.3, 0.2]
FRICTION = [2.0 * i for i in INERTIA]
# franka_ros' "ready" pose.
READY = [0.0, -0.785398, 0.0, -2.356194, 0.0, 1.570796, 0.785398]
# The other joint order of --shuffle (fixed, so runs compare).
SHUFFLED = ["panda_finger_joint2", "panda_joint4", "panda_joint1", "panda_joint7",
            "panda_joint3", "panda_finger_joint1", "panda_joint6", "panda_joint2", "panda_joint5"]

DT = 0.001          # the integration step (s)
# A Franka's controller expects a command every 1 ms from the FCI client (franka_ros'
# franka_control_node); after 20 missed in a row it stops the arm with the
# communication_constraints_violation reflex (brakes). This node's own loop stands for
# that client: a stall longer than COMM_LIMIT is integrated for COMM_LIMIT with the
# command in force (the robot holds the last command over lost packets), then the joints
# are at rest (counted, reported). Commands received afterwards apply again.
COMM_LIMIT = 0.02
STALE_COMMAND = 0.02  # a velocity violation under a command older than this (s) is "stale"
TRACE_WINDOW = 0.05  # speed trace: one entry per window (s)
TRACE_KEEP = 1200    # entries kept: the last 60 s
GAPS = (0.005, 0.01, 0.02, 0.05)  # publisher gaps counted over these (s)
STARTED = 200        # the first report is written after this many JointState messages
W, H = 640, 480
# The columns of the history rows (--history; the report holds those around the first
# velocity violation): the iteration's wall time (s), the wall time since the previous
# iteration (ms), how much of it was integrated (ms, at most COMM_LIMIT), the age of the
# command in force (ms since the last one arrived, -1 before any), then per joint the
# positions (rad), velocities (rad/s) and applied commands (N m) after the iteration.
HISTORY_FIELDS = (["wall", "gap_ms", "integrated_ms", "command_age_ms"] + ["q%d" % i for i in range(1, 8)]
                  + ["dq%d" % i for i in range(1, 8)] + ["tau%d" % i for i in range(1, 8)])


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--node", default="franka_sim", help="ROS node name")
    p.add_argument("--state-topic", default="/joint_states")
    p.add_argument("--command-topic", default="/effort_joint_group_controller/command",
                   help="the JointGroupEffortController's command topic")
    p.add_argument("--camera-topic", default="/camera/wrist/image_raw",
                   help="Image topic; CameraInfo goes to camera_info beside it")
    p.add_argument("--no-camera", action="store_true")
    p.add_argument("--rate", type=float, default=1000.0, help="JointState rate (Hz)")
    p.add_argument("--camera-rate", type=float, default=30.0)
    p.add_argument("--q0", default=",".join("%g" % q for q in READY),
                   help="initial joint positions, 7 comma-separated values (rad)")
    p.add_argument("--no-fingers", action="store_true", help="publish the 7 arm joints only")
    p.add_argument("--shuffle", action="store_true", help="publish the joints in another order")
    p.add_argument("--no-velocity", action="store_true", help="publish an empty velocity array")
    p.add_argument("--no-effort", action="store_true", help="publish an empty effort array")
    p.add_argument("--report", default="", help="write the JSON report here on SIGTERM/SIGINT/SIGUSR1")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--history", type=float, default=0.0,
                   help="keep every loop iteration of the last this many seconds; the report's history "
                        "holds those from 1 s before to 0.3 s after the first velocity violation (0: none)")
    p.add_argument("--rt-priority", type=int, default=70,
                   help="SCHED_FIFO priority for every thread of the node (0: normal scheduling)")
    a = p.parse_args(argv)
    a.q0 = [float(v) for v in a.q0.split(",")]
    if len(a.q0) != 7:
        p.error("--q0: want 7 values, got %d" % len(a.q0))
    for i, q in enumerate(a.q0):
        if not Q_MIN[i] <= q <= Q_MAX[i]:
            p.error("--q0: joint %d at %g is outside [%g, %g]" % (i + 1, q, Q_MIN[i], Q_MAX[i]))
    return a


def realtime(priority):
    """1 ns timer slack (time.sleep wakes within tens of microseconds, not 50+) and, like a
    robot's own control process, SCHED_FIFO, before any thread starts so that rospy's
    threads inherit it: at normal priority beside robotd's realtime loop on two busy
    cores, this node was measured to stall for over 100 ms. Refusal is reported, not fatal."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(29, 1, 0, 0, 0)  # PR_SET_TIMERSLACK
    except Exception:
        pass
    if priority > 0:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        except OSError as e:
            sys.stderr.write("franka_sim: SCHED_FIFO %d refused (%s): normal scheduling\n" % (priority, e))


class Arm:
    """The robot: state, the controller's last command, dynamics and counters.

    The command is written by the subscriber thread and read by the loop; a tuple is
    replaced whole, which the GIL makes atomic.
    """

    def __init__(self, q0):
        self.q = list(q0)
        self.dq = [0.0] * 7
        self.cmd = (0.0,) * 7  # the last accepted command, clipped to the torque limits
        self.cmd_raw = None    # as received
        self.prev_raw = None
        self.received = 0
        self.rejected = 0
        self.first_cmd_wall = None
        self.last_cmd_wall = None
        self.last_cmd_mono = None
        self.max_cmd_gap = 0.0
        self.cmd_gaps = [0] * len(GAPS)
        self.at_stop = [False] * 7
        # Counters.
        self.max_dq = [0.0] * 7
        self.max_dq_at = [0.0] * 7  # wall time (s) of each peak
        self.now = 0.0              # wall time of the current step, set by the loop
        self.cmd_age = -1.0         # age (s) of the command in force in this step (-1: none yet)
        self.max_cmd_age = 0.0      # the largest age of a command in force, once commands came
        self.stale_violations = [0] * 7
        self.first_violation = None
        self.last_stale = None      # wall time of the last step under a stale command
        self.vel_violations = [0] * 7
        self.stop_hits = [0] * 7
        self.clips = [0] * 7
        self.max_tau = [0.0] * 7
        self.max_dtau = [0.0] * 7
        self.max_q = list(q0)
        self.min_q = list(q0)

    def on_command(self, msg):
        d = msg.data
        if len(d) != 7 or not all(math.isfinite(v) for v in d):
            self.rejected += 1
            rospy.logerr_throttle(1.0, "command: want 7 finite values (panda_joint1..7), got %d: ignored" % len(d))
            return
        now = time.time()
        mono = time.monotonic()
        if self.last_cmd_mono is not None:
            gap = mono - self.last_cmd_mono
            if gap > self.max_cmd_gap:
                self.max_cmd_gap = gap
            for k, lim in enumerate(GAPS):
                if gap > lim:
                    self.cmd_gaps[k] += 1
        self.last_cmd_mono = mono
        raw = tuple(d)
        if self.prev_raw is not None:
            for i in range(7):
                c = abs(raw[i] - self.prev_raw[i])
                if c > self.max_dtau[i]:
                    self.max_dtau[i] = c
        self.prev_raw = raw
        out = list(raw)
        for i in range(7):
            lim = TAU_MAX[i]
            if out[i] > lim:
                out[i] = lim
                self.clips[i] += 1
            elif out[i] < -lim:
                out[i] = -lim
                self.clips[i] += 1
            if abs(out[i]) > self.max_tau[i]:
                self.max_tau[i] = abs(out[i])
        self.cmd_raw = raw
        self.cmd = tuple(out)
        self.received += 1
        if self.first_cmd_wall is None:
            self.first_cmd_wall = now
        self.last_cmd_wall = now

    def step(self, dt):
        """One integration step; returns the largest |velocity| after it."""
        tau = self.cmd
        q, dq = self.q, self.dq
        top = 0.0
        for i in range(7):
            v = dq[i] + dt * (tau[i] - FRICTION[i] * dq[i]) / INERTIA[i]
            p = q[i] + dt * v
            if p <= Q_MIN[i]:
                p = Q_MIN[i]
                if v < 0:
                    v = 0.0
                if not self.at_stop[i]:
                    self.stop_hits[i] += 1
                    self.at_stop[i] = True
            elif p >= Q_MAX[i]:
                p = Q_MAX[i]
                if v > 0:
                    v = 0.0
                if not self.at_stop[i]:
                    self.stop_hits[i] += 1
                    self.at_stop[i] = True
            else:
                self.at_stop[i] = False
            q[i], dq[i] = p, v
            a = abs(v)
            if a > self.max_dq[i]:
                self.max_dq[i] = a
                self.max_dq_at[i] = self.now
            if a > DQ_MAX[i]:
                self.vel_violations[i] += 1
                if self.cmd_age > STALE_COMMAND:
                    self.stale_violations[i] += 1
                if self.first_violation is None:
                    self.first_violation = {"at": self.now, "joint": i + 1, "speed": a, "command": tau[i],
                                            "command_age_ms": self.cmd_age * 1e3,
                                            "since_stale_command_ms": -1.0 if self.last_stale is None
                                            else (self.now - self.last_stale) * 1e3}
            if a > top:
                top = a
            if p > self.max_q[i]:
                self.max_q[i] = p
            elif p < self.min_q[i]:
                self.min_q[i] = p
        return top


def make_frames(seed, n=16):
    """n noisy rgb8 gradients, 640x480 (each about 900 kB), built with big-int arithmetic
    so startup stays well under a second."""
    rng = random.Random(seed)
    size = W * H * 3
    mask = int.from_bytes(b"\x3f" * size, "big")
    frames = []
    for k in range(n):
        row = bytes(((x * 255) // (W * 3) + 16 * k) & 0xFF for x in range(W * 3))
        rows = bytearray()
        for y in range(0, H, 8):
            shade = bytes((b + y // 4) & 0xC0 | (b & 0x3F) for b in row)
            rows += shade * 8
        noise = int.from_bytes(rng.randbytes(size), "big") & mask
        frames.append((int.from_bytes(bytes(rows), "big") ^ noise).to_bytes(size, "big"))
    return frames


class Camera(threading.Thread):
    def __init__(self, arm, topic, rate, seed, stop):
        super().__init__(daemon=True, name="camera")
        self.arm, self.rate, self.stop = arm, rate, stop
        self.frames = make_frames(seed)
        self.pub = rospy.Publisher(topic, Image, queue_size=2)
        info_topic = topic.rsplit("/", 1)[0] + "/camera_info"
        self.info_pub = rospy.Publisher(info_topic, CameraInfo, queue_size=2)
        self.img = Image(height=H, width=W, encoding="rgb8", is_bigendian=0, step=W * 3)
        self.img.header.frame_id = "panda_hand_camera"
        f = 600.0
        self.info = CameraInfo(height=H, width=W, distortion_model="plumb_bob", D=[0.0] * 5,
                               K=[f, 0, W / 2, 0, f, H / 2, 0, 0, 1],
                               R=[1, 0, 0, 0, 1, 0, 0, 0, 1],
                               P=[f, 0, W / 2, 0, 0, f, H / 2, 0, 0, 0, 1, 0])
        self.info.header.frame_id = self.img.header.frame_id
        self.published = 0

    def run(self):
        period = 1.0 / self.rate
        nxt = time.monotonic()
        n = len(self.frames)
        while not self.stop.is_set():
            nxt += period
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)
            elif d < -1.0:
                nxt = time.monotonic()
            q = self.arm.q
            bucket = int(abs(q[0] * 7 + q[1] * 5 + q[3] * 3 + q[6]) * 20)
            self.img.data = self.frames[(bucket * 5 + self.published) % n]
            stamp = rospy.Time.now()
            self.img.header.stamp = stamp
            self.info.header.stamp = stamp
            try:
                self.pub.publish(self.img)
                self.info_pub.publish(self.info)
            except rospy.ROSException:
                return
            self.published += 1


class Trace:
    """Max |joint velocity| per TRACE_WINDOW of wall time, the last TRACE_KEEP windows."""

    def __init__(self):
        self.t = collections.deque(maxlen=TRACE_KEEP)
        self.v = collections.deque(maxlen=TRACE_KEEP)
        self.cur = 0.0
        self.end = 0.0

    def add(self, wall, speed):
        if speed > self.cur:
            self.cur = speed
        if wall >= self.end:
            if self.end:
                self.t.append(round(self.end, 4))
                self.v.append(self.cur)
            self.cur = 0.0
            self.end = wall + TRACE_WINDOW


def main(argv):
    a = parse_args(argv)
    realtime(a.rt_priority)
    rospy.init_node(a.node, anonymous=False, disable_signals=True)
    arm = Arm(a.q0)

    names = ARM if a.no_fingers else ARM + FINGERS
    if a.shuffle:
        names = [n for n in SHUFFLED if n in names]
    # For each published slot: the arm joint index, or -1 for a finger.
    slots = [ARM.index(n) if n in ARM else -1 for n in names]
    msg = JointState(name=names)
    msg.header.frame_id = ""
    pos = [0.04] * len(names)
    vel = [0.0] * len(names)
    eff = [0.0] * len(names)
    msg.position = pos
    msg.velocity = [] if a.no_velocity else vel
    msg.effort = [] if a.no_effort else eff

    pub = rospy.Publisher(a.state_topic, JointState, queue_size=50)
    rospy.Subscriber(a.command_topic, Float64MultiArray, arm.on_command, queue_size=1000, tcp_nodelay=True)

    stop = threading.Event()
    cam = None
    if not a.no_camera:
        cam = Camera(arm, a.camera_topic, a.camera_rate, a.seed, stop)
        cam.start()

    requests = []  # signals received, handled by the loop
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
        signal.signal(s, lambda sig, frame: requests.append(sig))

    trace = Trace()
    # One row per loop iteration (HISTORY_FIELDS), the last --history seconds.
    history = collections.deque(maxlen=int(a.history * a.rate)) if a.history > 0 else None
    reflexes = []  # wall times of communication_constraints_violation stops
    period = 1.0 / a.rate
    start_wall = time.time()
    t0 = time.monotonic()
    nxt = t0
    last = t0
    ticks = published = stalls = 0
    stall_time = 0.0
    max_gap = 0.0
    gaps = [0] * len(GAPS)
    max_publish = 0.0
    done = False
    while not done:
        nxt += period
        d = nxt - time.monotonic()
        if d > 0:
            time.sleep(d)
        now = time.monotonic()
        late = now - nxt
        if late > COMM_LIMIT:  # stalled (SIGSTOP, a loaded machine): start afresh
            nxt = now
        gap = now - last
        last = now
        if gap > max_gap:
            max_gap = gap
        if gap > 0.005:
            for k, lim in enumerate(GAPS):
                if gap > lim:
                    gaps[k] += 1
        # Integrate the elapsed wall time in 1 ms steps, at most COMM_LIMIT of it: after a
        # longer stall (the process stopped, or starved) the robot has stopped itself.
        waited = gap
        if gap > COMM_LIMIT:
            gap = COMM_LIMIT
        if waited > 0.1:
            stalls += 1
            stall_time += waited
        arm.now = time.time()
        arm.cmd_age = -1.0 if arm.last_cmd_mono is None else now - arm.last_cmd_mono
        if arm.last_cmd_mono is not None and arm.cmd_age > arm.max_cmd_age:
            arm.max_cmd_age = arm.cmd_age
        if arm.cmd_age > STALE_COMMAND:
            arm.last_stale = arm.now
        steps = max(1, int(round(gap / DT)))
        top = 0.0
        for _ in range(steps):
            top = max(top, arm.step(gap / steps))
        if waited > COMM_LIMIT:
            arm.dq = [0.0] * 7
            reflexes.append(round(arm.now, 4))
            sys.stderr.write("franka_sim: %.3f: no control for %.1f ms: communication_constraints_violation, the arm stopped\n"
                             % (arm.now, waited * 1e3))
        ticks += 1
        trace.add(time.time(), top)
        if history is not None:
            history.append([round(arm.now, 4), round(waited * 1e3, 2), round(gap * 1e3, 2), round(arm.cmd_age * 1e3, 2)]
                           + [round(v, 4) for v in arm.q] + [round(v, 4) for v in arm.dq]
                           + [round(v, 3) for v in arm.cmd])

        q, dq, tau = arm.q, arm.dq, arm.cmd
        for k, j in enumerate(slots):
            if j >= 0:
                pos[k] = q[j]
                vel[k] = dq[j]
                eff[k] = tau[j]
        msg.header.stamp = rospy.Time.now()
        msg.header.seq = published
        p0 = time.monotonic()
        try:
            pub.publish(msg)
            published += 1
        except rospy.ROSException:
            break
        p1 = time.monotonic()
        if p1 - p0 > max_publish:
            max_publish = p1 - p0
        # Where a long gap came from: the wake-up (sleep overshoot, preemption: the
        # machine) or the publish call (rospy).
        if late > 0.02 or p1 - p0 > 0.02:
            sys.stderr.write("franka_sim: %.3f: the loop woke %.1f ms late, publish took %.1f ms\n"
                             % (time.time(), late * 1e3, (p1 - p0) * 1e3))

        if published == STARTED and a.report:
            write_report(a, arm, trace, cam, {"reason": "started", "start_wall": start_wall})
        while requests:
            sig = requests.pop(0)
            if a.report:
                write_report(a, arm, trace, cam, {
                    "reason": signal.Signals(sig).name, "start_wall": start_wall,
                    "seconds": now - t0, "ticks": ticks, "published": published,
                    "stalls": stalls, "stall_seconds": stall_time, "max_gap_ms": max_gap * 1e3, "max_publish_ms": max_publish * 1e3,
                    "gaps_over_ms": {"%g" % (g * 1e3): n for g, n in zip(GAPS, gaps)},
                    "communication_reflexes": len(reflexes), "communication_reflex_at": reflexes[-20:],
                    "history": violation_history(arm, history),
                })
            if sig != signal.SIGUSR1:
                done = True
    stop.set()
    # Unregister from the master (a restarted franka_sim then takes over the node name
    # cleanly), then leave at once: rospy's remaining threads take seconds to wind down.
    rospy.signal_shutdown("franka_sim: %s" % ("signal" if done else "publisher closed"))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def violation_history(arm, history):
    """The history rows from 1 s before to 0.3 s after the first velocity violation (None
    without --history or a violation): the whole history would take the loop too long to
    write."""
    if history is None or arm.first_violation is None:
        return None
    t = arm.first_violation["at"]
    return {"fields": HISTORY_FIELDS, "rows": [r for r in history if t - 1.0 <= r[0] <= t + 0.3]}


def write_report(a, arm, trace, cam, extra):
    r = {
        "written_at": time.time(),
        "joints": ARM,
        "variant": {"fingers": not a.no_fingers, "shuffle": a.shuffle,
                    "velocity": not a.no_velocity, "effort": not a.no_effort},
        "limits": {"q_min": Q_MIN, "q_max": Q_MAX, "dq_max": DQ_MAX, "tau_max": TAU_MAX},
        "q": arm.q, "dq": arm.dq, "q_min_seen": arm.min_q, "q_max_seen": arm.max_q,
        "max_abs_velocity": arm.max_dq,
        "max_abs_velocity_at": arm.max_dq_at,
        "velocity_limit_violations": arm.vel_violations,
        "velocity_limit_violations_stale_command": arm.stale_violations,
        "first_velocity_violation": arm.first_violation,
        "hard_stop_hits": arm.stop_hits,
        "commands": {
            "received": arm.received, "rejected": arm.rejected,
            "first_at": arm.first_cmd_wall, "last_at": arm.last_cmd_wall,
            "last": list(arm.cmd_raw) if arm.cmd_raw else None,
            "last_applied": list(arm.cmd),
            "torque_clips": arm.clips,
            "max_abs_torque": arm.max_tau,
            "max_torque_change": arm.max_dtau,
            "max_gap_ms": arm.max_cmd_gap * 1e3,
            "gaps_over_ms": {"%g" % (g * 1e3): n for g, n in zip(GAPS, arm.cmd_gaps)},
            "max_age_ms": arm.max_cmd_age * 1e3,
        },
        "camera_frames": cam.published if cam else 0,
        "speed_trace": {"window_s": TRACE_WINDOW, "end": list(trace.t), "max_speed": list(trace.v)},
    }
    r.update(extra)
    tmp = a.report + ".tmp"
    with open(tmp, "w") as f:
        json.dump(r, f)
    os.replace(tmp, a.report)


if __name__ == "__main__":
    main(sys.argv[1:])
