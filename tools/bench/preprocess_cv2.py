#!/usr/bin/env python3
"""Python OpenCV + numpy peer for the camera preprocessing benchmark.

Does what perception/cv's BenchmarkPipeline does, the usual way in Python: a synthetic
640x480 BGR frame (the same pixels as the Go benchmark: (7x + 13y + 51c) mod 256),
center crop 480x480, cv2.resize to SIZE x SIZE with INTER_AREA, BGR -> RGB, uint8 ->
float32 CHW / 255, (x - mean) / std with ImageNet's statistics. Prints the median latency
per frame, one line per size, in microseconds:

    preprocess_96 <us>
    preprocess_224 <us>

Nothing else goes to stdout (errors go to stderr, with a non-zero exit).

    /usr/bin/python3 tools/bench/preprocess_cv2.py [--rounds 300] [--warmup 30]

Run with Debian's /usr/bin/python3 (python3-opencv, python3-numpy). OpenCV keeps its
default thread count, as in the Go process.
"""
import argparse
import statistics
import sys
import time

import cv2
import numpy as np

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


def synthetic_frame(w=640, h=480):
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    return ((7 * x + 13 * y + 51 * c) % 256).astype(np.uint8)


def preprocess(frame, size, crop=480):
    h, w = frame.shape[:2]
    y0, x0 = (h - crop) // 2, (w - crop) // 2
    roi = frame[y0:y0 + crop, x0:x0 + crop]  # a view, no copy
    small = cv2.resize(roi, (size, size), interpolation=cv2.INTER_AREA)
    rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
    x = np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32)  # CHW float32
    x *= np.float32(1 / 255)
    x -= MEAN
    x /= STD
    return x


def median_us(fn, rounds, warmup):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1000.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    args = ap.parse_args()

    frame = synthetic_frame()
    for size in (96, 224):
        out = preprocess(frame, size)
        # sanity: shape, layout and one value against the formula
        ref = cv2.resize(frame[:, 80:560], (size, size), interpolation=cv2.INTER_AREA)
        want = (ref[0, 0, 2] / 255 - 0.485) / 0.229  # output channel 0 is R = BGR channel 2
        if out.shape != (3, size, size) or not out.flags.c_contiguous or abs(out[0, 0, 0] - want) > 1e-5:
            sys.stderr.write(f"preprocess_cv2: wrong output for {size}: {out.shape}, {out[0, 0, 0]} vs {want}\n")
            sys.exit(1)
        print(f"preprocess_{size} {median_us(lambda: preprocess(frame, size), args.rounds, args.warmup):.1f}")


if __name__ == "__main__":
    main()
