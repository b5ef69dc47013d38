// Package steer owns the model-free core of test-time steering: it sits between a
// policy's batched sampling (policy.Policy.Step with StepOptions.Samples = N) and the
// chunk executor, and picks one of N candidate chunks per policy step.
//
//   - Candidates holds N predicted chunks over the whole horizon, the n_obs_steps-1 past
//     actions a diffusion-policy-style horizon predicts included, in dataset units, with a
//     validity mask: a candidate that fails chunk.Validate (non-finite, out of bounds) is
//     never chosen.
//
//   - Scorers rate candidates; every score is higher-is-better (a distance d enters as
//     -d). Coherence and Contrast are Bidirectional Decoding's backward and forward
//     criteria (Liu et al. 2024), Past is past-token consistency (Torne et al. 2025).
//
//   - Steer combines the scorers by a weighted sum and a Selector picks the chosen index:
//     argmax, or softmax sampling with a temperature from a seeded generator.
//
//   - A steering bundle (steer.yaml, an ONNX file, optionally its own stats.json) holds
//     a learned model; LoadBundle reads one and Bundle.Fit refuses one that does not fit
//     the policy bundle. Value is the value scorer (V-GPS, Nakamoto et al. 2024): a Q
//     model over the observation features and each candidate's actions, run for all N
//     candidates in one batched call, its scores passed to Steer as Inputs.Values.
//
//   - Noise is a noise policy (DSRL): a learned initial noise for a deterministic sampler,
//     bounded. Residual is a bounded learned correction of each action (ResFiT, EXPO's
//     edit). Guidance is the policy's own (policy.Policy.SetGuidance).
//
//   - Stage composes them into the daemon's steering stage: N candidates in one batched
//     call, the weak policy's samples, the value's scores, the selection and the
//     residual, with a record of each step (StepInfo). Config is the launch file's
//     policy.steering section.
//
// docs/steering.md describes the methods, their sources, formulas, keys and cost, and the
// steering bundle format.
//
// Everything here is pure Go: models are opened through the policy.Open the caller
// passes (policy/onnx's Opener). Buffers are sized at construction for at most MaxN
// candidates; scoring and selection then allocate nothing (tested), except that a
// candidate rejected by chunk.Validate costs the one *chunk.Error that Validate returns.
// Types are used by one goroutine, the policy's.
package steer
