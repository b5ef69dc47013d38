#!/usr/bin/env python3
"""Peer for BenchmarkCartesianTick: the same Cartesian impedance tick written the way
Python deployment scripts write it (numpy, SVD-damped pseudo-inverse as in franka_ros),
on the same 7-joint Panda kinematics (modified DH from Franka's published table, tool
0.1034 m past the flange). Prints the mean time per tick in microseconds as JSON.

Written for robotd's benchmarks; run with Debian's /usr/bin/python3.
"""
import json
import sys
import time

import numpy as np

DH = [(0, 0.333, 0), (0, 0, -np.pi / 2), (0, 0.316, np.pi / 2), (0.0825, 0, np.pi / 2),
      (-0.0825, 0.384, -np.pi / 2), (0, 0, np.pi / 2), (0.088, 0, np.pi / 2)]


def tf(a, d, alpha, theta):
    ca, sa, ct, st = np.cos(alpha), np.sin(alpha), np.cos(theta), np.sin(theta)
    return np.array([[ct, -st, 0, a],
                     [st * ca, ct * ca, -sa, -d * sa],
                     [st * sa, ct * sa, ca, d * ca],
                     [0, 0, 0, 1]])


def fk_jac(q):
    T = np.eye(4)
    axes, origins = [], []
    for (a, d, alpha), qi in zip(DH, q):
        T = T @ tf(a, d, alpha, qi)
        axes.append(T[:3, 2].copy())
        origins.append(T[:3, 3].copy())
    T = T @ tf(0, 0.107, 0, -np.pi / 4) @ tf(0, 0.1034, 0, 0)
    p = T[:3, 3]
    J = np.zeros((6, 7))
    for i in range(7):
        J[:3, i] = np.cross(axes[i], p - origins[i])
        J[3:, i] = axes[i]
    return p, T[:3, :3], J


def quat_from_mat(R):
    w = np.sqrt(max(0.0, 1 + R[0, 0] + R[1, 1] + R[2, 2])) / 2
    x = np.copysign(np.sqrt(max(0.0, 1 + R[0, 0] - R[1, 1] - R[2, 2])) / 2, R[2, 1] - R[1, 2])
    y = np.copysign(np.sqrt(max(0.0, 1 - R[0, 0] + R[1, 1] - R[2, 2])) / 2, R[0, 2] - R[2, 0])
    z = np.copysign(np.sqrt(max(0.0, 1 - R[0, 0] - R[1, 1] + R[2, 2])) / 2, R[1, 0] - R[0, 1])
    return np.array([w, x, y, z])


def qmul(a, b):
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2])


K = np.diag([200.0, 200, 200, 10, 10, 10])
D = 2 * np.sqrt(K)
KNS, LAM = 0.5, 0.2


def tick(q, dq, coriolis, gravity, pos_d, quat_d, q_ns, tau_prev):
    p, R, J = fk_jac(q)
    quat = quat_from_mat(R)
    if quat @ quat_d < 0:
        quat = -quat
    e = np.zeros(6)
    e[:3] = p - pos_d
    qinv = quat * np.array([1, -1, -1, -1])
    e[3:] = -R @ qmul(qinv, quat_d)[1:]
    tau_task = J.T @ (-K @ e - D @ (J @ dq))
    U, S, Vt = np.linalg.svd(J.T, full_matrices=False)
    pinv = Vt.T @ np.diag(S / (S ** 2 + LAM ** 2)) @ U.T
    tau_ns = (np.eye(7) - J.T @ pinv) @ (KNS * (q_ns - q) - 2 * np.sqrt(KNS) * dq)
    tau = tau_task + tau_ns + coriolis
    tau = tau_prev + np.clip(tau - tau_prev, -1, 1)
    return tau + gravity


def main():
    q = np.array([0, -np.pi / 4, 0, -3 * np.pi / 4, 0, np.pi / 2, np.pi / 4])
    dq = 0.1 * np.arange(7.0)
    args = (q, dq, np.zeros(7), np.arange(7.0), np.array([0.45, 0.1, 0.3]), np.array([0, 1.0, 0, 0]), q.copy(), np.zeros(7))
    for _ in range(200):
        tick(*args)
    n, best = 2000, float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            tick(*args)
        best = min(best, (time.perf_counter() - t0) / n)
    json.dump({"us_per_tick": best * 1e6, "numpy": np.__version__}, sys.stdout)


if __name__ == "__main__":
    main()
