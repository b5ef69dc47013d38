// Package calib will own camera intrinsics, PnP and hand-eye calibration. Nothing is
// implemented yet: see the calibration issue in the tracker.
package calib
