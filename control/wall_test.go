package control

import (
	"math"
	"slices"
	"testing"
)

// stopArm is one joint of tools/franka_sim, the independent arm of the interop tests: a
// double integrator with its inertia (kg m^2) and viscous friction (N m s/rad), gravity
// compensated by the arm itself, a hard stop at each of the model's limits (the joint
// stops there, its velocity into the stop zeroed), and an effort controller that applies
// the last command it received, integrated at 1 kHz as that arm does.
type stopArm struct {
	inertia, friction float64
	lower, upper      float64
	q, dq             float64
}

// step integrates dt seconds under tau (semi-implicit Euler, as franka_sim).
func (a *stopArm) step(tau, dt float64) {
	v := a.dq + dt*(tau-a.friction*a.dq)/a.inertia
	p := a.q + dt*v
	switch {
	case p <= a.lower:
		p, v = a.lower, math.Max(v, 0)
	case p >= a.upper:
		p, v = a.upper, math.Min(v, 0)
	}
	a.q, a.dq = p, v
}

// A joint held against its hard stop while robotd's commands do not reach the arm (its
// command path stalled; the arm applies an old command that pushes the joint into the
// stop), then commanded again. Meanwhile the safety layer, fed the arm's states, built
// the joint-limit wall's torque up against the stop; once its commands arrive, the arm
// gets that torque at once (the jump is the stall's, not the rate limit's), and the
// layer must not then launch the joint: whatever it holds against a stop, it must take
// off as fast as the joint leaves the stop, and brake a joint that runs too fast at
// once. Measured on 2026-12-06 by tools/franka_sim under robotd with the old rate
// limit (every change at most 1 N m per tick, reductions included): joint 4 of the
// Panda, +60-70 N m against its lower stop, reached 2.6 rad/s within 40 ms and stayed
// over its 2.175 rad/s limit for 220 ticks under fresh commands.
func TestWallReleasedFromHardStop(t *testing.T) {
	r := panda(t)
	const (
		dt    = 0.001
		stall = 300 // ticks during which the arm applies the stale command
		after = 1000
	)
	for _, c := range []struct {
		name    string
		joint   int
		upper   bool    // the stop is the upper limit (else the lower)
		ctrl    float64 // the controller's torque toward the stop (N m): a target beyond the limit
		stale   float64 // the command the arm keeps applying during the stall, toward the stop
		inertia float64 // franka_sim's
	}{
		// The incident: joint 4 pulled toward its lower stop by the controller, the wall
		// at full torque against it: +67 N m left in the safety layer's last command.
		{name: "joint 4 lower stop, controller pulling in", joint: 3, ctrl: 20, stale: 30, inertia: 1.0},
		{name: "joint 4 lower stop, no controller torque", joint: 3, ctrl: 0, stale: 30, inertia: 1.0},
		{name: "joint 4 upper stop", joint: 3, upper: true, ctrl: 20, stale: 30, inertia: 1.0},
		// The lightest joint: its wall (12 N m at the limit) on 0.2 kg m^2.
		{name: "joint 7 upper stop", joint: 6, upper: true, ctrl: 3, stale: 5, inertia: 0.2},
	} {
		t.Run(c.name, func(t *testing.T) {
			j := r.Joints[c.joint]
			s, err := NewSafety(r, SafetyConfig{}) // franka_ros' 1000 N m/s
			if err != nil {
				t.Fatal(err)
			}
			arm := &stopArm{inertia: c.inertia, friction: 2 * c.inertia, lower: j.Lower, upper: j.Upper, q: j.Lower}
			in := &Input{Q: append([]float64(nil), ready...), DQ: make([]float64, 7)} // the arm compensates gravity
			toward := -1.0                                                            // the sign of a torque toward the stop
			if c.upper {
				arm.q, toward = j.Upper, 1
			}
			tau := make([]float64, 7)
			command := func() float64 {
				in.Q[c.joint], in.DQ[c.joint] = arm.q, arm.dq
				clear(tau)
				tau[c.joint] = toward * c.ctrl
				s.Torque(tau, in, dt)
				return tau[c.joint]
			}
			held := 0.0
			for range stall {
				held = command() // computed from the arm's states, never received
				arm.step(toward*c.stale, dt)
			}
			heldStall := held
			if held*toward > -0.5*j.TorqueLimit {
				t.Fatalf("the wall held %+.1f N m against the stop: the test needs a large torque built up there", held)
			}
			peak, over := 0.0, 0
			for range after {
				arm.step(held, dt) // the command computed from the previous tick's state
				held = command()
				peak = math.Max(peak, math.Abs(arm.dq))
				if math.Abs(arm.dq) > j.VelocityLimit {
					over++
				}
			}
			soft := s.Config().VelocitySoft * j.VelocityLimit
			t.Logf("held %+.1f N m against the stop; peak speed %.3f rad/s (soft limit %.3f, limit %.3f), %d ticks over the limit; last command %+.2f N m, peak step %.1f N m",
				heldStall, peak, soft, j.VelocityLimit, over, held, s.PeakTorqueStep()[c.joint])
			// The wall itself lets the joint go under the soft limit: the velocity
			// brake, the last line of defence, is not needed.
			if peak > soft {
				t.Errorf("the joint left its stop at up to %.3f rad/s: over its soft velocity limit %.3f (limit %.3f; %d ticks over it)", peak, soft, j.VelocityLimit, over)
			}
			// Where the controller pulls toward the stop, the joint comes to rest where the
			// wall balances it (without, it coasts out of the wall).
			if c.ctrl != 0 && (math.Abs(arm.dq) > 0.01 || math.Abs(held) > 0.5) {
				t.Errorf("after %d ms the joint moves at %.4f rad/s under %+.2f N m: not at rest", after, arm.dq, held)
			}
		})
	}
}

// A joint running toward its limit at just under its soft velocity limit (the brake not
// yet acting), pushed on by the controller, is stopped by the wall before its hard stop
// and never runs over its velocity limit. Measured with the old wall and rate limit
// (the inward damper's torque, up to 76 N m, built at 1 N m per tick): joint 4 under
// 20 N m reached 2.48 rad/s (limit 2.175) and came within 1.7 mrad of its stop.
func TestWallStopsARunningJoint(t *testing.T) {
	r := panda(t)
	const dt = 0.001
	for _, c := range []struct {
		name    string
		joint   int
		ctrl    float64 // the controller's torque toward the lower limit (N m)
		inertia float64
	}{
		{name: "joint 4", joint: 3, ctrl: 20, inertia: 1.0},
		{name: "joint 4, three times franka_sim's inertia", joint: 3, ctrl: 20, inertia: 3.0},
		{name: "joint 7", joint: 6, ctrl: 3, inertia: 0.2},
	} {
		t.Run(c.name, func(t *testing.T) {
			j := r.Joints[c.joint]
			s, err := NewSafety(r, SafetyConfig{})
			if err != nil {
				t.Fatal(err)
			}
			soft := s.Config().VelocitySoft * j.VelocityLimit
			arm := &stopArm{inertia: c.inertia, friction: 2 * c.inertia, lower: j.Lower, upper: j.Upper,
				q: j.Lower + 3*s.Config().PositionMargin, dq: -0.99 * soft}
			in := &Input{Q: append([]float64(nil), ready...), DQ: make([]float64, 7)}
			tau := make([]float64, 7)
			// The controller's torque has been on for long: the rate limit starts from it.
			s.prev[c.joint] = -c.ctrl
			held := -c.ctrl
			closest, peak, hit := math.Inf(1), 0.0, false
			for range 2000 {
				// The controller keeps the joint at speed until it is in the wall.
				ctrl := -c.ctrl
				arm.step(held, dt)
				in.Q[c.joint], in.DQ[c.joint] = arm.q, arm.dq
				clear(tau)
				tau[c.joint] = ctrl
				s.Torque(tau, in, dt)
				held = tau[c.joint]
				closest = math.Min(closest, arm.q-j.Lower)
				peak = math.Max(peak, math.Abs(arm.dq))
				hit = hit || arm.q == j.Lower
			}
			t.Logf("closest %.4f rad from the limit, peak speed %.3f rad/s (limit %.3f), peak step %.1f N m", closest, peak, j.VelocityLimit, s.PeakTorqueStep()[c.joint])
			if hit || peak > j.VelocityLimit {
				t.Errorf("hit the stop %v, peak speed %.3f rad/s", hit, peak)
			}
		})
	}
}

// The exception to the torque-rate limit, joint by joint: a change against the motion of
// a joint inside a wall's margin or over its soft velocity limit is applied at once, any
// other change at 1 N m per 1 ms tick; and the wall's torque has no step at the edge of
// its margin, whatever the velocity.
func TestSafetyBrakesAtOnce(t *testing.T) {
	r := panda(t)
	s, err := NewSafety(r, SafetyConfig{}) // 1000 N m/s
	if err != nil {
		t.Fatal(err)
	}
	const dt = 0.001
	m := s.Config().PositionMargin
	j3, j6 := r.Joints[3], r.Joints[6]
	in := &Input{Q: append([]float64(nil), ready...), DQ: make([]float64, 7)}
	in.Q[1] = r.Joints[1].Upper - m/2          // joint 2 inside its upper wall, moving away from it
	in.DQ[1] = -0.5                            //
	in.Q[2] = r.Joints[2].Lower + m/2          // joint 3 inside its lower wall, moving into it
	in.DQ[2] = -0.5                            //
	in.DQ[3] = 0.9 * j3.VelocityLimit          // joint 4 over its soft velocity limit, mid-range
	in.DQ[4] = 0.5 * r.Joints[4].VelocityLimit // joint 5 moving, nowhere near a limit
	copy(s.prev, []float64{0, 30, -30, 40, 5, 0, 0})
	// Asked for: a large change against each joint's motion (joints 2, 3, 4, 5) or along it.
	want := func(name string, tau []float64, ok func(i int, v float64) bool) {
		t.Helper()
		for i, v := range tau {
			if !ok(i, v) {
				t.Errorf("%s: joint %d got %+.3f N m (previous %+.3f)", name, i+1, v, s.prev[i])
			}
		}
	}
	tau := []float64{0, 0, 0, -40, -5, 0, 0}
	s.Torque(tau, in, dt)
	// Joint 2: its wall (spring -43.5, damper +20) and the command 0; from +30 the
	// change is negative, along -0.5 rad/s: rate-limited to 29. Joint 3: wall +43.5 +20
	// = +63.5 from -30: against -0.5 rad/s: at once. Joint 4: -40 and its brake, against
	// its motion: at once. Joint 5, mid-range under its soft limit: rate-limited.
	want("brakes", tau, func(i int, v float64) bool {
		switch i {
		case 1:
			return math.Abs(v-29) < 1e-9
		case 2:
			return v > 60
		case 3:
			return v < -40
		case 4:
			return math.Abs(v-4) < 1e-9
		}
		return v == 0
	})
	// Joint 2 now moving into its wall: braked at once. Joint 3 moving out of its own,
	// asked to push back toward its limit: at once to zero, then 1 N m beyond. Joints 4
	// and 5 asked for more along their motion: 1 N m.
	before := slices.Clone(s.prev)
	tau = []float64{0, 87, -87, 87, 12, 0, 0}
	in.DQ[1], in.DQ[2] = 0.5, 0.5
	s.Torque(tau, in, dt)
	want("along the motion", tau, func(i int, v float64) bool {
		d := v - before[i]
		switch i {
		case 1:
			return d < -1
		case 2:
			return before[i] > 60 && math.Abs(v+1) < 1e-9
		case 3, 4:
			return math.Abs(d-1) < 1e-9
		}
		return true
	})
	// The wall at the edge of its margin: nothing, at any speed.
	for _, dq := range []float64{-j6.VelocityLimit, 0, j6.VelocityLimit} {
		for _, q := range []float64{j6.Upper - m, j6.Upper - m*(1-1e-9)} {
			if w, _ := s.wallTorque(j6, q, dq); math.Abs(w) > 1e-6 {
				t.Errorf("wall at %.10f rad (margin edge %.4f), %+.2f rad/s: %+.6f N m, want 0", q, j6.Upper-m, dq, w)
			}
		}
	}
	// Saturated: never over the torque limit, however deep or fast.
	if w, _ := s.wallTorque(j3, j3.Upper+1, 10); w != -j3.TorqueLimit {
		t.Errorf("wall 1 rad past the limit at 10 rad/s: %+.2f N m, want %+.2f", w, -j3.TorqueLimit)
	}
}
