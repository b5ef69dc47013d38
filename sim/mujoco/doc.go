// Package mujoco is robotd's cgo binding to MuJoCo 2.2.2 (Debian's libmujoco) and its
// offscreen renderer (OSMesa, no GPU and no display needed).
//
// # What it owns
//
// A [Sim] owns one mjModel and one mjData, loaded from an MJCF file by [Load] and freed by
// [Sim.Close]. It exposes stepping (Step, or Step1/Step2 to read state and bias forces between
// the two halves), resets and keyframes, name/id lookup, poses, site Jacobians, contacts,
// sensors and MuJoCo's warning counters. The slices returned by Qpos, Qvel, Ctrl and friends
// are zero-copy views of mjData: reading or writing them allocates nothing and they stay valid
// until Close. Per-tick methods (Step, Forward, GravityForce, JacSite, BodyPose, SitePose,
// Contacts into a slice with room, Warnings) allocate nothing; a test proves it.
//
// [Arm] adapts a Sim of a scene to the drivers.Arm contract in lockstep with simulated time.
//
// A [Renderer] owns one OSMesa GL context, MuJoCo's mjrContext and an mjvScene, all living on
// one OS thread held by the Renderer's own goroutine. RGB and Depth hand a request to that
// goroutine and wait for the reply.
//
// # Errors
//
// The package installs MuJoCo's process-wide mju_user_error and mju_user_warning hooks once.
// MuJoCo errors never exit the process, never wait for Enter and never write MUJOCO_LOG.TXT:
// every C call that can reach mju_error is guarded (sigsetjmp in the same C function, so no
// jump crosses a Go frame) and comes back as an [*Error] carrying MuJoCo's message. After a
// run-time error the mjData contents are unspecified; call Reset or ResetKeyframe before
// stepping again. Runtime warnings (bad qpos/qvel/qacc, full contact list, ...) are counted per
// Sim by [Sim.Warnings] (MuJoCo's own mjData.warning counters, which survive the automatic
// reset MuJoCo does on a bad state) and process-wide by [LastWarning]. Compiler warnings from
// Load are in [Sim.CompileWarning].
//
// # Threading
//
// A Sim is not safe for concurrent use: one goroutine steps it, reads its views and writes
// ctrl. Different Sims may be used from different goroutines (loading is thread-safe in MuJoCo
// 2.2.2). The calling goroutine need not be locked to an OS thread.
//
// A Renderer reads the Sim's model and data (mjv_updateScene), so the caller must not Step,
// Forward, Reset or otherwise write that Sim while RGB or Depth is running: render between
// steps from the goroutine that steps, or hold the caller's own lock. The image shows the
// kinematics of the last Forward/Step1 (mj_step computes positions before integrating, so after
// Step the image lags qpos by one step; call Forward first for an exact frame). Close every
// Renderer before closing its Sim.
package mujoco
