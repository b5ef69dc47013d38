#!/usr/bin/env python3
"""Peer for robotd's control-loop jitter row: a 1 kHz control loop written the way Python
deployment scripts write it (pace with time.sleep to absolute deadlines, the numpy
Cartesian impedance tick of impedance_numpy.py every period), with the fixture diffusion
policy (same weights as policy/testdata/unet, PyTorch eager, 10 DDIM steps) inferring in a
background thread every 0.8 s, as robotd's policy loop does with launch/test_fixture_realtime.yaml.

Prints one line: "loop_python p50_us p99_us p999_us max_us over2ms periods".
Written for robotd's benchmarks; run with Debian's /usr/bin/python3.
"""
import argparse
import contextlib
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "..", "policy", "testdata")))
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "train")))  # ref_sampler

import numpy as np  # noqa: E402
import torch  # noqa: E402

import gen_fixtures as gf  # noqa: E402
import impedance_numpy as imp  # noqa: E402
import ref_sampler as rs  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--every", type=float, default=0.8, help="policy inference period (s)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)

    enc, den = gf.build_unet_encoder(), gf.build_unet_denoiser()
    cfg = dict(gf.UNET_DIFFUSION)
    H, A = gf.UNET["horizon"], gf.UNET["action_dim"]
    run = np.load(os.path.join(HERE, "..", "..", "policy", "testdata", "unet", "ddim_run.npz"))
    raw_state, raw_img = run["observation.state"], run[gf.UNET["img_key"]]
    stop = threading.Event()

    def policy():
        with torch.inference_mode():
            while not stop.is_set():
                t0 = time.monotonic()
                gc = enc(torch.from_numpy(raw_state[None]), torch.from_numpy(raw_img[None]))
                rs.sample_diffusion(lambda x, t: den(x, t, gc), torch.randn(1, H, A).numpy(), cfg, "ddim")
                stop.wait(max(0.0, args.every - (time.monotonic() - t0)))

    th = threading.Thread(target=policy, daemon=True)
    th.start()
    q = np.array([0, -np.pi / 4, 0, -3 * np.pi / 4, 0, np.pi / 2, np.pi / 4])
    targs = (q, 0.1 * np.arange(7.0), np.zeros(7), np.arange(7.0), np.array([0.45, 0.1, 0.3]),
             np.array([0, 1.0, 0, 0]), q.copy(), np.zeros(7))
    period = 1_000_000  # ns
    n = int(args.seconds * 1000)
    periods = np.empty(n, dtype=np.int64)
    nxt = time.monotonic_ns()
    prev = None
    for i in range(n):
        nxt += period
        delay = nxt - time.monotonic_ns()
        if delay > 0:
            time.sleep(delay / 1e9)
        wake = time.monotonic_ns()
        if prev is not None:
            periods[i] = wake - prev
        prev = wake
        if wake - nxt > period:
            nxt = wake
        imp.tick(*targs)
    stop.set()
    th.join()
    p = periods[1:] / 1000.0
    dev = np.abs(p - 1000.0)
    print("loop_python %.1f %.1f %.1f %.1f %d %d" % (
        np.percentile(dev, 50), np.percentile(dev, 99), np.percentile(dev, 99.9), dev.max(),
        int((p > 2000).sum()), len(p)))


if __name__ == "__main__":
    main()
