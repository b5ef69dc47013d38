#!/usr/bin/python3
"""Fixtures written by ROS's own tools, and a check that ROS reads robotd's files.

Run from this directory with Debian's python3 and the ROS packages
python3-camera-calibration, python3-camera-calibration-parsers and
camera-calibration-parsers-tools installed:

    /usr/bin/python3 gen_ros_yaml.py

It writes
  ros_calibrator.yaml  camera_calibration's MonoCalibrator.lryaml (the cameracalibrator
                       GUI's "save" and "commit" output), multi-line matrices
  ros_parsers.yaml     camera_calibration_parsers' writer (camera_info_manager's format),
                       produced by its `convert` tool from an .ini file
and, if robotd_written.yaml exists (the golden file TestWriteIntrinsicsGolden writes),
reads it with camera_calibration_parsers.readCalibration and checks every value.
The Go tests read the committed files; they need none of this.
"""
import os
import subprocess
import sys
import tempfile
import types

import numpy as np

# The calibrator module imports ROS image plumbing it does not need for lryaml.
for name in ("cv_bridge", "image_geometry", "message_filters"):
    sys.modules.setdefault(name, types.ModuleType(name))
sys.modules["cv_bridge"].CvBridge = object
sys.modules["cv_bridge"].CvBridgeError = Exception
from camera_calibration.calibrator import CAMERA_MODEL, MonoCalibrator  # noqa: E402
import camera_calibration_parsers  # noqa: E402

K = np.array([[579.411376, 0, 320.5], [0, 580.25, 240.25], [0, 0, 1.0]])
D = np.array([[-0.01, 0.02, 0.001, -0.002, 0.0005]])
R = np.eye(3)
P = np.hstack([K, np.zeros((3, 1))])

with open("ros_calibrator.yaml", "w") as f:
    f.write(MonoCalibrator.lryaml("wrist", D, K, R, P, (640, 480), CAMERA_MODEL.PINHOLE))

INI = """# oST version 5.0 parameters


[image]

width
640

height
480

[scene]

camera matrix
%s

distortion
%s

rectification
%s

projection
%s
"""


def rows(m):
    return "\n".join(" ".join("%.6f" % v for v in row) for row in np.atleast_2d(m))


with tempfile.TemporaryDirectory() as tmp:
    ini = os.path.join(tmp, "in.ini")
    with open(ini, "w") as f:
        f.write(INI % (rows(K), rows(D), rows(R), rows(P)))
    subprocess.run(["/usr/lib/camera_calibration_parsers/convert", ini, "ros_parsers.yaml"], check=True)

if os.path.exists("robotd_written.yaml"):
    name, info = camera_calibration_parsers.readCalibration("robotd_written.yaml")
    want = {
        "name": "wrist",
        "size": (640, 480),
        "K": [600.5, 0.25, 319.5, 0, 601.125, 239.5, 0, 0, 1],
        "D": [-0.12, 0.034, 1e-05, -2.5e-06, 0.0015],
    }
    got = {"name": name, "size": (info.width, info.height), "K": list(info.K), "D": list(info.D)}
    assert info.distortion_model == "plumb_bob", info.distortion_model
    assert got == want, (got, want)
    print("ROS camera_calibration_parsers reads robotd_written.yaml: ok")
