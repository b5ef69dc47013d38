// Package policy will own policy bundles, normalisation, the diffusion samplers and the
// chunk executors, behind the Model port (ONNX Runtime lives in policy/onnx). Nothing is
// implemented yet: see the policy runtime issue in the tracker.
package policy
