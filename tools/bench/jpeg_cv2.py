#!/usr/bin/env python3
"""Python OpenCV peer for viz's JPEG benchmark (BenchmarkJPEG): the same synthetic RGB
frame (value (x*255//w + int(8 sin(y/3))) mod 256 in every channel), encoded with
cv2.imencode at JPEG quality 80, as a Python node publishing CompressedImage would.
Prints the median time per frame, one line per size, in microseconds:

    jpeg_96x96 <us> <bytes>
    jpeg_640x480 <us> <bytes>

    /usr/bin/python3 tools/bench/jpeg_cv2.py [--rounds 300]

Run with Debian's /usr/bin/python3 (python3-opencv, python3-numpy).
"""
import argparse
import math
import statistics
import time

import cv2
import numpy as np


def frame(w, h):
    x = np.arange(w) * 255 // w
    s = np.array([int(8 * math.sin(y / 3)) for y in range(h)])
    v = np.mod(x[None, :] + s[:, None], 256).astype(np.uint8)
    return np.repeat(v[:, :, None], 3, axis=2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=300)
    a = ap.parse_args()
    for w, h in [(96, 96), (640, 480)]:
        img = cv2.cvtColor(frame(w, h), cv2.COLOR_RGB2BGR)
        ts, n = [], 0
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
            ts.append(time.perf_counter() - t0)
            n = len(buf)
        print(f"jpeg_{w}x{h} {statistics.median(ts) * 1e6:.1f} {n}")


if __name__ == "__main__":
    main()
