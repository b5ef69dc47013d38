// Package env serves robotd's lockstep pick-and-place task to a learner over a local
// socket: the environment interface to the exact deploy path (issue 19). An episode is
// the one robotd eval runs (system.New on the launch file, the daemon in lockstep, the
// task's seeded reset, success and timeout), with the learner installed as the steering
// stage's Agent: at every decision point the policy goroutine waits for the client, which
// either lets the base policy act or hands it a whole chunk, the sampler's initial noise,
// or a bounded residual correction (per chunk or per action). Simulated time stands
// still while the client thinks, so an episode driven through env is as reproducible as
// robotd eval's, and a client that always answers "policy" sees eval's outcome.
//
// The protocol (protocol.go, docs/env.md) is a length-prefixed JSON header naming float32
// arrays followed by their raw little-endian values; tools/train/robotd_env.py is its
// Python client. robotd env (cmd/robotd/env.go) serves it on a Unix socket or a loopback
// TCP port.
package env
