#!/usr/bin/python3
"""Regenerates the JPEG fixture of camera_peer.py and the pixels OpenCV decodes from it.

  /usr/bin/python3 camera_gen.py      (needs python3-opencv: scripts/setup.sh bench)

camera_peer.jpg      64x48 colour image (gradients, a disc, a bar, seeded noise), JPEG quality 90
camera_peer_jpg.bgr  cv2.imdecode(IMREAD_ANYCOLOR) of it: 64*48*3 bytes, BGR, rows top-down.
                     robotd decodes with the same libopencv (gocv), so its pixels must match
                     byte for byte.
"""
import os

import cv2
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(5)
h, w = 48, 64
y, x = np.mgrid[0:h, 0:w]
img = np.zeros((h, w, 3), np.float32)
img[..., 0] = x * 255.0 / w
img[..., 1] = y * 255.0 / h
img[..., 2] = 128 + 80 * np.sin(x / 5.0) * np.cos(y / 7.0)
cv2.circle(img, (20, 24), 10, (30, 220, 40), -1)
cv2.rectangle(img, (40, 5), (58, 15), (220, 40, 90), -1)
img += rng.normal(0, 4, img.shape)
img = np.clip(img, 0, 255).astype(np.uint8)
ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
assert ok
with open(os.path.join(here, "camera_peer.jpg"), "wb") as f:
    f.write(jpg.tobytes())
dec = cv2.imdecode(jpg, cv2.IMREAD_ANYCOLOR)
assert dec.shape == (h, w, 3)
with open(os.path.join(here, "camera_peer_jpg.bgr"), "wb") as f:
    f.write(dec.tobytes())
