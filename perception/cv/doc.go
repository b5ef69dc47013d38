// Package cv holds robotd's OpenCV adapters (gocv v0.31.0 on OpenCV 4.6, cgo): the
// preprocessing Pipeline that turns a perception.Frame into a policy input tensor as a
// perception.PipelineConfig describes it, and the V4L2 device and video file sources that
// implement perception.Camera.
//
// Every gocv Mat a value here owns is allocated when the value is built and freed by its
// Close; per-frame work reuses them (the matprofile-tagged tests count Mats). The per-frame
// path of Pipeline is one cgo call into preprocess.cpp, which borrows the frame's pixels
// and the output tensor for the duration of the call only, as cgo's pointer rules require.
package cv
