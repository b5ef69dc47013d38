package control

import (
	"fmt"
	"math"

	"github.com/go-gl/mathgl/mgl64"
)

// Box is an axis-aligned box in the base frame (m).
type Box struct {
	Min mgl64.Vec3 `yaml:"min"`
	Max mgl64.Vec3 `yaml:"max"`
}

// Contains reports whether p is inside the box (borders included).
func (b Box) Contains(p mgl64.Vec3) bool {
	return p[0] >= b.Min[0] && p[0] <= b.Max[0] && p[1] >= b.Min[1] && p[1] <= b.Max[1] &&
		p[2] >= b.Min[2] && p[2] <= b.Max[2]
}

// Clamp returns the point of the box nearest to p.
func (b Box) Clamp(p mgl64.Vec3) mgl64.Vec3 {
	for i := 0; i < 3; i++ {
		p[i] = math.Max(b.Min[i], math.Min(b.Max[i], p[i]))
	}
	return p
}

// DefaultWorkspace is the tool's allowed region for robotd's reference scene: in front of
// the arm's base, above the table top, within the arm's comfortable reach.
var DefaultWorkspace = Box{Min: mgl64.Vec3{0.15, -0.55, 0.005}, Max: mgl64.Vec3{0.85, 0.55, 0.85}}

// SafetyConfig configures Safety. Zero fields take the documented defaults. It is also a
// launch file's safety section (the yaml tags are its keys; the torque-rate limit is the
// control section's max_torque_rate, shared with the controllers).
type SafetyConfig struct {
	// Workspace bounds every Cartesian target: min and max corners (m, base frame).
	// Default DefaultWorkspace.
	Workspace Box `yaml:"workspace"`
	// PositionMargin (rad) is the zone inside each joint limit where a virtual wall
	// pushes the joint back: zero at the margin, the joint's full torque limit at the
	// limit. Default 0.1; (0, 0.5) (a joint's range must also exceed twice the margin).
	PositionMargin float64 `yaml:"position_margin"`
	// VelocitySoft is the fraction of each velocity limit from which the joint is braked;
	// at the limit the brake is the joint's full torque limit. Default 0.85; (0, 1).
	VelocitySoft float64 `yaml:"velocity_soft"`
	// MaxTorqueRate (Nm/s) bounds how fast every joint's command (gravity excluded) may
	// change between consecutive calls of Torque or Release: the controllers' output,
	// the joint-limit walls, the velocity brakes and the safe stop's damping alike.
	// Default DefaultMaxTorqueRate.
	MaxTorqueRate float64 `yaml:"-"`
}

// SafetyCounters counts what the safety layer stopped or changed. Each field only grows.
type SafetyCounters struct {
	TargetsRejected uint64 // non-finite or degenerate targets, dropped
	TargetsClamped  uint64 // targets moved into the workspace
	NonFinite       uint64 // ticks whose state or torque was NaN/Inf
	PositionWall    uint64 // ticks in which a joint-limit wall pushed
	VelocityBrake   uint64 // ticks in which a joint was braked near its velocity limit
	TorqueClamped   uint64 // ticks in which a torque was cut to its limit
	RateLimited     uint64 // ticks in which a joint's change was cut to the torque-rate limit
}

// Safety stands between every controller and the motors: it vets targets (finite, unit
// orientation, inside the workspace) and bounds torques (joint position walls, velocity
// brakes, torque limits, a NaN/Inf guard), counting each intervention. Nothing a policy,
// a message or a config value produces reaches the motors without passing through it.
// It allocates nothing per tick.
type Safety struct {
	robot *Robot
	cfg   SafetyConfig
	// Counters may be read between ticks by the loop's owner.
	Counters SafetyCounters

	last Pose // last accepted Cartesian target

	// The torque-rate limit: the last command sent, gravity excluded (zero before the
	// first, and after Reset: the next command starts from zero).
	prev []float64
	peak []float64 // largest |change| per joint between consecutive commands (Nm)
}

// WithDefaults returns the config with its zero fields filled.
func (c SafetyConfig) WithDefaults() SafetyConfig {
	if c.Workspace == (Box{}) {
		c.Workspace = DefaultWorkspace
	}
	if c.PositionMargin == 0 {
		c.PositionMargin = 0.1
	}
	if c.VelocitySoft == 0 {
		c.VelocitySoft = 0.85
	}
	if c.MaxTorqueRate == 0 {
		c.MaxTorqueRate = DefaultMaxTorqueRate
	}
	return c
}

// Validate checks the config after defaults (NewSafety also checks the margin against
// each joint's range). A bad value of a launch file's key is a *ConfigError naming it.
func (c SafetyConfig) Validate() error {
	for i := 0; i < 3; i++ {
		if !(c.Workspace.Min[i] < c.Workspace.Max[i]) || !finite(c.Workspace.Min[i]) || !finite(c.Workspace.Max[i]) {
			return configErrorf("workspace", "min %v and max %v: want finite values with min < max on each axis (axis %d is [%g, %g])",
				[3]float64(c.Workspace.Min), [3]float64(c.Workspace.Max), i, c.Workspace.Min[i], c.Workspace.Max[i])
		}
	}
	if !(c.PositionMargin > 0 && c.PositionMargin < 0.5) {
		return configErrorf("position_margin", "%v: want (0, 0.5) rad", c.PositionMargin)
	}
	if !(c.VelocitySoft > 0 && c.VelocitySoft < 1) {
		return configErrorf("velocity_soft", "%v: want (0, 1)", c.VelocitySoft)
	}
	if !(c.MaxTorqueRate > 0) || math.IsInf(c.MaxTorqueRate, 0) {
		return fmt.Errorf("control: safety: max torque rate %g Nm/s: want finite and > 0", c.MaxTorqueRate)
	}
	return nil
}

// NewSafety builds the safety layer for r. Every joint of r must have position, velocity
// and torque limits: a robot without them cannot be run safely.
func NewSafety(r *Robot, cfg SafetyConfig) (*Safety, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, j := range r.Joints {
		if !j.Limited || !(j.VelocityLimit > 0) || !(j.TorqueLimit > 0) {
			return nil, fmt.Errorf("control: safety: joint %q lacks limits (position limited=%v, velocity %g, torque %g)",
				j.Name, j.Limited, j.VelocityLimit, j.TorqueLimit)
		}
		if j.Upper-j.Lower <= 2*cfg.PositionMargin {
			return nil, fmt.Errorf("control: safety: joint %q range %g..%g is narrower than twice the margin %g",
				j.Name, j.Lower, j.Upper, cfg.PositionMargin)
		}
	}
	n := len(r.Joints)
	return &Safety{robot: r, cfg: cfg, prev: make([]float64, n), peak: make([]float64, n)}, nil
}

// Reset forgets the last command: the next one is rate-limited from zero, the command an
// arm has before robotd first writes to it (call it when taking over the arm).
func (s *Safety) Reset() {
	clear(s.prev)
}

// rateStep is the largest change of a joint's command allowed dt seconds after the
// previous one (zero for a zero or invalid dt: the previous command holds).
func (s *Safety) rateStep(dt float64) float64 {
	if step := s.cfg.MaxTorqueRate * dt; step > 0 {
		return step
	}
	return 0
}

// PeakTorqueStep is the largest change of each joint's command (gravity excluded, Nm)
// between consecutive commands since the Safety was built; it never exceeds
// MaxTorqueRate times the largest dt passed (the torque limit clamp aside, which can only
// move a command toward zero). The slice is the Safety's: read it between ticks.
func (s *Safety) PeakTorqueStep() []float64 { return s.peak }

// Config returns the configuration in use, defaults filled.
func (s *Safety) Config() SafetyConfig { return s.cfg }

// Target vets a Cartesian target. A non-finite or zero-orientation target is rejected:
// the previous accepted target is returned with ok false (before any target was accepted
// there is none, and the caller keeps what it has). A target outside the workspace is
// moved to the nearest point inside and counted; the orientation is normalised.
func (s *Safety) Target(p Pose) (out Pose, ok bool) {
	if !p.IsFinite() || p.Rot.Len() < 1e-6 {
		s.Counters.TargetsRejected++
		return s.last, false
	}
	p.Rot = p.Rot.Normalize()
	if !s.cfg.Workspace.Contains(p.Pos) {
		p.Pos = s.cfg.Workspace.Clamp(p.Pos)
		s.Counters.TargetsClamped++
	}
	s.last = p
	return p, true
}

// JointTarget vets a joint-space target into dst: a non-finite target is rejected (dst
// untouched, false); each joint is clamped to its limits less the wall margin.
func (s *Safety) JointTarget(dst, q []float64) bool {
	if len(q) != len(s.robot.Joints) || !allFinite(q) {
		s.Counters.TargetsRejected++
		return false
	}
	clamped := false
	for i, j := range s.robot.Joints {
		lo, hi := j.Lower+s.cfg.PositionMargin, j.Upper-s.cfg.PositionMargin
		v := math.Max(lo, math.Min(hi, q[i]))
		clamped = clamped || v != q[i]
		dst[i] = v
	}
	if clamped {
		s.Counters.TargetsClamped++
	}
	return true
}

// Torque bounds tau in place for the measured state in, dt seconds after the previous
// command. Non-finite state or torque replaces the command by gravity compensation alone
// (zero where gravity is unknown or itself non-finite). Then, per joint: a spring-damper
// wall inside each position limit, a brake above the soft velocity limit, the torque
// limit, and last the torque-rate limit, which bounds the change from the previous
// command (gravity excluded) to MaxTorqueRate*dt whatever asked for it.
func (s *Safety) Torque(tau []float64, in *Input, dt float64) {
	n := len(s.robot.Joints)
	if len(tau) != n || len(in.Q) != n || len(in.DQ) != n {
		panic(fmt.Sprintf("control: safety: %d torques, %d positions, %d velocities for %d joints", len(tau), len(in.Q), len(in.DQ), n))
	}
	stateOK := allFinite(in.Q) && allFinite(in.DQ)
	if !stateOK || !allFinite(tau) {
		s.Counters.NonFinite++
		for i := range tau {
			tau[i] = 0
			if in.Gravity != nil && finite(in.Gravity[i]) {
				tau[i] = in.Gravity[i]
			}
		}
	}
	wall, brake, clamp := false, false, false
	for i, j := range s.robot.Joints {
		lim := j.TorqueLimit
		if stateOK {
			q, dq := in.Q[i], in.DQ[i]
			k := lim / s.cfg.PositionMargin // full torque at the limit
			d := lim / j.VelocityLimit      // full torque at full speed into the wall
			if gap := q - j.Lower; gap < s.cfg.PositionMargin {
				tau[i] += k * (s.cfg.PositionMargin - gap)
				if dq < 0 {
					tau[i] -= d * dq
				}
				wall = true
			}
			if gap := j.Upper - q; gap < s.cfg.PositionMargin {
				tau[i] -= k * (s.cfg.PositionMargin - gap)
				if dq > 0 {
					tau[i] -= d * dq
				}
				wall = true
			}
			soft := s.cfg.VelocitySoft * j.VelocityLimit
			if over := math.Abs(dq) - soft; over > 0 {
				b := lim * math.Min(1, over/(j.VelocityLimit-soft))
				tau[i] -= math.Copysign(b, dq)
				brake = true
			}
		}
		if tau[i] > lim {
			tau[i], clamp = lim, true
		} else if tau[i] < -lim {
			tau[i], clamp = -lim, true
		}
	}
	s.limitRate(tau, in.Gravity, dt)
	if wall {
		s.Counters.PositionWall++
	}
	if brake {
		s.Counters.VelocityBrake++
	}
	if clamp {
		s.Counters.TorqueClamped++
	}
}

// gravityAt is joint i's gravity torque in in (zero when the arm compensates gravity, or
// the value is not finite).
func gravityAt(g []float64, i int) float64 {
	if g == nil || !finite(g[i]) {
		return 0
	}
	return g[i]
}

// limitRate bounds each joint's change of command (gravity excluded) to MaxTorqueRate*dt
// from the previous one, keeps the torque limit, and records the command and its step.
func (s *Safety) limitRate(tau, gravity []float64, dt float64) {
	step := s.rateStep(dt)
	limited := false
	for i, j := range s.robot.Joints {
		g := gravityAt(gravity, i)
		cmd := tau[i] - g
		if d := cmd - s.prev[i]; d > step {
			cmd, limited = s.prev[i]+step, true
		} else if d < -step {
			cmd, limited = s.prev[i]-step, true
		}
		// The torque limit holds over everything; gravity beyond it is not added.
		cmd = math.Max(-j.TorqueLimit-g, math.Min(j.TorqueLimit-g, cmd))
		s.record(i, cmd)
		tau[i] = cmd + g
	}
	if limited {
		s.Counters.RateLimited++
	}
}

// record makes cmd joint i's previous command, tracking the largest step.
func (s *Safety) record(i int, cmd float64) {
	if d := math.Abs(cmd - s.prev[i]); d > s.peak[i] {
		s.peak[i] = d
	}
	s.prev[i] = cmd
}

// Release writes into tau the next command of the ramp from the previous command to the
// hold command, dt seconds later: gravity alone for an arm that does not compensate it
// (in.Gravity), zero for one that does. Each joint moves toward it by at most
// MaxTorqueRate*dt; nothing else is added (no joint-limit wall, no damping: this is the
// command an arm keeps once robotd stops commanding it, and a robot-side effort
// controller applies it for ever). done reports that tau is the hold command exactly.
func (s *Safety) Release(tau []float64, in *Input, dt float64) (done bool) {
	step := s.rateStep(dt)
	done = true
	for i := range s.robot.Joints {
		cmd := s.prev[i]
		if math.Abs(cmd) <= step || !finite(cmd) {
			cmd = 0
		} else {
			cmd -= math.Copysign(step, cmd)
			done = false
		}
		s.record(i, cmd)
		tau[i] = cmd + gravityAt(in.Gravity, i)
	}
	return done
}
