// Package perception will own camera frames, the preprocessing pipeline that turns a frame
// into a policy input tensor, multi-camera synchronisation and staleness detection, and
// the Camera port (gocv sources live in perception/cv). Nothing is implemented yet: see
// the perception issue in the tracker.
package perception
