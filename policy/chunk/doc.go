// Package chunk owns action chunks and the executors that turn them into setpoints: a
// policy emits a plan of H actions at its own rate (ACT, Diffusion Policy: e.g. 16 actions
// at 10 Hz, a new plan every few hundred milliseconds), and the 1 kHz control loop asks an
// Executor for one setpoint per tick.
//
// # Time
//
// Every time is a time.Duration on the session clock. A Chunk's action i is due at
// T0 + i*Dt, where T0 is the time of the observation the chunk was computed from: a chunk
// that took 80 ms to compute arrives with its first actions already in the past. Each
// action owns the slot [due, due+Dt): with linear interpolation the setpoint moves from it
// towards the next action across the slot, with hold interpolation it stays on it, and the
// last action of a plan is held for its whole slot. A chunk of H actions therefore spans
// [T0, T0+H*Dt); before T0 the setpoint is action 0. Past the end of the newest plan the
// executor keeps holding the last action and counts a starved tick (Stats.Starved).
//
// # Strategies
//
//   - Receding: the synchronous baseline (what LeRobot's action queue does). A pushed
//     chunk starts at the push time, whatever its T0 (latency is ignored), NActionSteps
//     of its actions are executed, then a new chunk is wanted and the last executed
//     action is held until it arrives.
//   - Ensemble: ACT's temporal ensembling. A chunk is wanted every Dt; the most recent
//     Horizon chunks are kept, and at time t every chunk whose span covers t contributes
//     its interpolated action with weight exp(-k*i), i = 0 for the oldest contributor
//     (ACT's convention: older predictions weigh more), normalised.
//   - Async: latency-aware execution. Actions are played at their due times, so on a push
//     the actions already due are skipped (Stats.Skipped). The next chunk is wanted once
//     NActionSteps actions of the current one have come due, which leaves
//     Horizon-NActionSteps actions to cover the policy's latency. Blend says how the new
//     chunk takes over from the plan running at the push: Latest switches at the push,
//     Average takes the equal-weight mean while the previous chunk still covers t, and
//     Weighted crossfades linearly from the old plan to the new one over BlendWindow from
//     the push (continuous: no jump at all).
//   - Inpaint: async with prefix-inpainted chunks (real-time chunking). When it requests a
//     chunk the caller reads Plan and the policy freezes the first actions of the new
//     chunk to it; the executor switches at the new chunk's first action due at or after
//     the push, where the frozen action equals the running plan, so the handover has no
//     jump as long as the prefix covers the latency.
//
// # Use from the control loop
//
// An Executor belongs to one goroutine, the control loop: chunks travel from the policy
// goroutine through a mailbox and the loop pushes them. New allocates storage for every
// chunk the executor keeps, each up to Config.Horizon actions of Config.Dim values; Push,
// Setpoint, Want, Plan and Stats allocate nothing, not even when a chunk is refused. A refused chunk
// (Validate: NaN, Inf, out of bounds, malformed) is counted and the previous plan keeps
// running.
package chunk
