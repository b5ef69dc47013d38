// Package policy runs learned policies exported to ONNX: chunked-action policies (ACT:
// one forward pass returns H actions) and diffusion / flow-matching policies (an
// observation encoder run once, a denoiser run K times by a sampler written here).
//
// A policy bundle (docs/policy-bundle.md) is a directory with policy.yaml, a LeRobot
// stats.json and the ONNX files. LoadBundle validates it strictly; Load also opens the
// models through a backend (policy/onnx) and checks every tensor the contract names
// against the bundle's features, binding each dynamic axis (the batch, and e.g. the
// horizon of a PyTorch export) to the size the bundle implies (Dims, Policy.Axes).
//
// A Policy keeps the observation history (n_obs_steps, padded by repetition at episode
// start), normalizes it (LeRobot's mean_std / min_max), runs the networks, samples
// (DDPM and DDIM with diffusers' equations, Euler for flow matching; the initial noise may
// be supplied, N samples share one batched denoiser call, a prefix of actions can be
// frozen at every step), and unnormalizes the actions due from the latest observation on.
// After a batch size has been used once, Step allocates nothing.
//
// Chunks go to the executors of policy/chunk, which produce one setpoint per control tick.
package policy
