package control

import (
	"fmt"
	"math"

	"github.com/go-gl/mathgl/mgl64"
)

// Input is what a controller reads each tick: the measured joint state and the model
// terms the robot reports. Slices have one entry per joint, in the Robot's order; the
// caller owns them and the controller only reads them during Update.
type Input struct {
	Q, DQ []float64 // joint positions (rad) and velocities (rad/s)
	// Coriolis is the Coriolis/centrifugal torque C(q, dq) dq.
	Coriolis []float64
	// Gravity is the gravity torque g(q) the controller must add, or nil where the robot
	// compensates gravity itself (a real Franka does; the simulator does not).
	Gravity []float64
}

func (in *Input) check(n int) {
	if len(in.Q) != n || len(in.DQ) != n || len(in.Coriolis) != n || (in.Gravity != nil && len(in.Gravity) != n) {
		panic(fmt.Sprintf("control: input has %d/%d/%d/%d values for %d joints",
			len(in.Q), len(in.DQ), len(in.Coriolis), len(in.Gravity), n))
	}
}

// CartesianConfig configures CartesianImpedance. Zero fields take the defaults noted,
// which are those of franka_ros' cartesian_impedance_example_controller. The yaml tags
// are the keys of a launch file's control section (which sets the gains; the damping
// follows from them).
type CartesianConfig struct {
	// Stiffness along x, y, z (N/m) and about x, y, z (Nm/rad) of the base frame.
	// Default 200 N/m and 10 Nm/rad (a zero axis takes its default). At most 3000 N/m and
	// 300 Nm/rad (franka_ros' dynamic-reconfigure bounds are 400 and 30; the arm's own
	// limits are higher).
	Stiffness [6]float64 `yaml:"stiffness"`
	// Damping per axis (Ns/m, Nms/rad). Default 2 sqrt(stiffness), critical for unit mass.
	Damping [6]float64 `yaml:"-"`
	// NullspaceStiffness (Nm/rad) pulls the joints toward the nullspace target inside the
	// Jacobian's nullspace; damping is 2 sqrt of it. Default 0.5; at most 100.
	NullspaceStiffness float64 `yaml:"nullspace_stiffness"`
	// PinvDamping is lambda of the damped pseudo-inverse used by the nullspace projector.
	// Default 0.2.
	PinvDamping float64 `yaml:"-"`
	// MaxTorqueRate (Nm/s) bounds how fast the commanded torque (before gravity) may
	// change. Default DefaultMaxTorqueRate; finite and > 0 (a launch file's control
	// section allows at most 10000).
	MaxTorqueRate float64 `yaml:"max_torque_rate"`
	// FilterRate is the fraction of the remaining distance to the target that the
	// internal equilibrium pose moves per millisecond (first-order filter; slerp for the
	// orientation). Default DefaultFilterRate; (0, 1].
	FilterRate float64 `yaml:"filter_rate"`
}

// The controllers' and the safety layer's shared defaults.
const (
	// DefaultMaxTorqueRate (Nm/s) is franka_ros' torque-rate limit: 1 Nm per 1 ms tick.
	DefaultMaxTorqueRate = 1000
	// DefaultFilterRate is franka_ros' target filter per millisecond.
	DefaultFilterRate = 0.005
)

// WithDefaults returns the config with its zero fields filled.
func (c CartesianConfig) WithDefaults() CartesianConfig {
	for i := range c.Stiffness {
		if c.Stiffness[i] == 0 {
			c.Stiffness[i] = 200
			if i >= 3 {
				c.Stiffness[i] = 10
			}
		}
		if c.Damping[i] == 0 && c.Stiffness[i] > 0 {
			c.Damping[i] = 2 * math.Sqrt(c.Stiffness[i])
		}
	}
	if c.NullspaceStiffness == 0 {
		c.NullspaceStiffness = 0.5
	}
	if c.PinvDamping == 0 {
		c.PinvDamping = 0.2
	}
	if c.MaxTorqueRate == 0 {
		c.MaxTorqueRate = DefaultMaxTorqueRate
	}
	if c.FilterRate == 0 {
		c.FilterRate = DefaultFilterRate
	}
	return c
}

// Validate checks the config after defaults. A bad value of a launch file's key is a
// *ConfigError naming it.
func (c CartesianConfig) Validate() error {
	for i := range c.Stiffness {
		limit, unit := 3000.0, "N/m"
		if i >= 3 {
			limit, unit = 300, "Nm/rad"
		}
		if !(c.Stiffness[i] > 0 && c.Stiffness[i] <= limit) {
			return configErrorf(fmt.Sprintf("stiffness.%d", i), "%v: want (0, %v] %s", c.Stiffness[i], limit, unit)
		}
		if !(c.Damping[i] > 0) || !finite(c.Damping[i]) {
			return fmt.Errorf("control: cartesian damping[%d] = %g: want finite and > 0", i, c.Damping[i])
		}
	}
	switch {
	case !(c.NullspaceStiffness >= 0 && c.NullspaceStiffness <= 100):
		return configErrorf("nullspace_stiffness", "%v: want 0..100 Nm/rad", c.NullspaceStiffness)
	case !(c.PinvDamping > 0) || !finite(c.PinvDamping):
		return fmt.Errorf("control: pseudo-inverse damping %g: want finite and > 0", c.PinvDamping)
	case !(c.MaxTorqueRate > 0) || !finite(c.MaxTorqueRate):
		return configErrorf("max_torque_rate", "%v: want finite and > 0 Nm/s", c.MaxTorqueRate)
	case !(c.FilterRate > 0 && c.FilterRate <= 1):
		return configErrorf("filter_rate", "%v: want (0, 1]", c.FilterRate)
	}
	return nil
}

// CartesianImpedance is the Cartesian impedance law of franka_ros'
// cartesian_impedance_example_controller:
//
//	tau = J^T (-K e - D J dq) + N (k_ns (q_ns - q) - 2 sqrt(k_ns) dq) + coriolis
//	N   = I - J^T pinv(J^T),  pinv damped: s / (s^2 + lambda^2) per singular value
//
// with e the pose error (position error, and the vector part of the quaternion error
// rotated into the base frame, signs aligned), the commanded torque's rate bounded, and
// gravity added for robots that do not compensate it. The equilibrium pose follows the
// target through a first-order filter, so a step target becomes a smooth motion.
//
// Nullspace leakage: with lambda > 0 the projector N is not exact, so a nullspace torque
// leaks into the task in proportion to lambda^2 / (s^2 + lambda^2) for each singular
// value s of J. With the nullspace posture far from the configuration that reaches the
// target, the tool settles off the target: in robotd's reach test (moves up to 40 cm and
// 1.4 rad, posture left at the start configuration) the final errors were 1-7 mm and up
// to 0.06 rad; with the posture set to a configuration that reaches the target they were
// under 0.1 mm and 0.003 rad. Give the posture (SetNullspaceTarget) when one is known.
//
// The damped pseudo-inverse is computed as (J J^T + lambda^2 I)^-1 J, which equals the
// SVD form above exactly (a test checks it against gonum's SVD) and costs a 6x6
// Cholesky solve instead of an SVD.
type CartesianImpedance struct {
	robot *Robot
	cfg   CartesianConfig
	kin   *Kinematics

	target, eq Pose // target, and the filtered equilibrium the law pulls toward
	qNull      []float64
	tauPrev    []float64 // last command before gravity, for the rate limit
	started    bool

	// Scratch, sized at construction.
	jjt  [36]float64
	y    []float64
	wrk6 [6]float64

	// Diagnostics of the last Update.
	posErr, rotErr float64
}

// NewCartesianImpedance validates cfg, fills its defaults and returns a controller for r.
func NewCartesianImpedance(r *Robot, cfg CartesianConfig) (*CartesianImpedance, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := r.DoF()
	return &CartesianImpedance{
		robot:   r,
		cfg:     cfg,
		kin:     r.NewKinematics(),
		qNull:   make([]float64, n),
		tauPrev: make([]float64, n),
		y:       make([]float64, n),
	}, nil
}

// Config returns the configuration in use, defaults filled.
func (c *CartesianImpedance) Config() CartesianConfig { return c.cfg }

// Start latches the current configuration: the target and equilibrium become the current
// tool pose, the nullspace target the current joint positions, and the torque-rate limit
// starts from zero. Call it before the first Update after taking over the arm.
func (c *CartesianImpedance) Start(q []float64) {
	c.robot.Forward(c.kin, q)
	c.eq = c.kin.Pose()
	c.target = c.eq
	copy(c.qNull, q)
	clear(c.tauPrev)
	c.started = true
}

// SetTarget sets the pose the equilibrium moves toward. The caller (the safety layer)
// is responsible for the target being finite and inside the workspace.
func (c *CartesianImpedance) SetTarget(p Pose) {
	p.Rot = p.Rot.Normalize()
	c.target = p
}

// Target returns the current target pose.
func (c *CartesianImpedance) Target() Pose { return c.target }

// Equilibrium returns the filtered pose the controller currently pulls toward.
func (c *CartesianImpedance) Equilibrium() Pose { return c.eq }

// SetNullspaceTarget sets the joint configuration the nullspace torque pulls toward.
func (c *CartesianImpedance) SetNullspaceTarget(q []float64) { copy(c.qNull, q) }

// Tool returns the tool pose computed in the last Update.
func (c *CartesianImpedance) Tool() Pose { return c.kin.Pose() }

// Errors returns the position (m) and orientation (rad) distance between the tool and the
// equilibrium in the last Update.
func (c *CartesianImpedance) Errors() (pos, rot float64) { return c.posErr, c.rotErr }

// Update computes the joint torques for one tick of length dt (s) into tau. It allocates
// nothing. Start must have been called.
func (c *CartesianImpedance) Update(tau []float64, in *Input, dt float64) {
	n := c.robot.DoF()
	in.check(n)
	if len(tau) != n {
		panic(fmt.Sprintf("control: %d torques for %d joints", len(tau), n))
	}
	if !c.started {
		c.Start(in.Q)
	}
	k := c.kin
	c.robot.Forward(k, in.Q)
	J := k.J

	// Pose error e (6): position, then orientation as franka_ros forms it.
	var e [6]float64
	dp := k.Pos.Sub(c.eq.Pos)
	e[0], e[1], e[2] = dp[0], dp[1], dp[2]
	cur := QuatFromMat(k.Rot)
	if c.eq.Rot.Dot(cur) < 0 {
		cur = cur.Scale(-1)
	}
	qe := cur.Inverse().Mul(c.eq.Rot)
	eo := k.Rot.Mul3x1(qe.V).Mul(-1)
	e[3], e[4], e[5] = eo[0], eo[1], eo[2]
	c.posErr = dp.Len()
	c.rotErr = 2 * math.Asin(math.Min(1, qe.V.Len()))

	// Task wrench w = -K e - D J dq, then tau_task = J^T w.
	var w [6]float64
	for r := 0; r < 6; r++ {
		v := 0.0
		for j := 0; j < n; j++ {
			v += J[r*n+j] * in.DQ[j]
		}
		w[r] = -c.cfg.Stiffness[r]*e[r] - c.cfg.Damping[r]*v
	}
	for j := 0; j < n; j++ {
		t := 0.0
		for r := 0; r < 6; r++ {
			t += J[r*n+j] * w[r]
		}
		tau[j] = t
	}

	// Nullspace: y = k_ns (q_ns - q) - 2 sqrt(k_ns) dq; tau_ns = y - J^T (JJ^T + l^2 I)^-1 J y.
	kns := c.cfg.NullspaceStiffness
	dns := 2 * math.Sqrt(kns)
	for j := 0; j < n; j++ {
		c.y[j] = kns*(c.qNull[j]-in.Q[j]) - dns*in.DQ[j]
	}
	c.dampedSolveJ(J, n)
	for j := 0; j < n; j++ {
		t := c.y[j]
		for r := 0; r < 6; r++ {
			t -= J[r*n+j] * c.wrk6[r]
		}
		tau[j] += t + in.Coriolis[j]
	}

	// Torque-rate limit on the command without gravity, as franka_ros does with tau_J_d.
	limitRate(tau, c.tauPrev, c.cfg.MaxTorqueRate*dt, in.Gravity)

	// Move the equilibrium toward the target.
	a := filterAlpha(c.cfg.FilterRate, dt)
	c.eq.Pos = c.eq.Pos.Add(c.target.Pos.Sub(c.eq.Pos).Mul(a))
	c.eq.Rot = slerp(c.eq.Rot, c.target.Rot, a)
}

// limitRate bounds the change of each tau[j] from prev[j] to rate, stores the bounded
// command in prev, then adds gravity (nil: the robot compensates it). A NaN command
// keeps the previous one.
func limitRate(tau, prev []float64, rate float64, gravity []float64) {
	for j := range tau {
		d := math.Max(-rate, math.Min(rate, tau[j]-prev[j]))
		if math.IsNaN(d) {
			d = 0
		}
		tau[j] = prev[j] + d
		prev[j] = tau[j]
		if gravity != nil {
			tau[j] += gravity[j]
		}
	}
}

// dampedSolveJ sets wrk6 = (J J^T + lambda^2 I)^-1 J y for the 6 x n Jacobian J.
func (c *CartesianImpedance) dampedSolveJ(J []float64, n int) {
	dampedGram(&c.jjt, J, n, c.cfg.PinvDamping*c.cfg.PinvDamping)
	for r := 0; r < 6; r++ {
		v := 0.0
		for j := 0; j < n; j++ {
			v += J[r*n+j] * c.y[j]
		}
		c.wrk6[r] = v
	}
	cholSolve6(&c.jjt, &c.wrk6)
}

// dampedGram sets a = J J^T + l2 I (row-major 6x6) for the 6 x n Jacobian J.
func dampedGram(a *[36]float64, J []float64, n int, l2 float64) {
	for r := 0; r < 6; r++ {
		for s := 0; s <= r; s++ {
			v := 0.0
			for j := 0; j < n; j++ {
				v += J[r*n+j] * J[s*n+j]
			}
			if r == s {
				v += l2
			}
			a[r*6+s], a[s*6+r] = v, v
		}
	}
}

// cholSolve6 solves A x = b in place for a symmetric positive definite 6x6 A (row-major;
// overwritten by its Cholesky factor) and b (overwritten by x). lambda^2 > 0 on the
// diagonal keeps A positive definite whatever J is.
func cholSolve6(a *[36]float64, b *[6]float64) {
	const n = 6
	for j := 0; j < n; j++ {
		d := a[j*n+j]
		for k := 0; k < j; k++ {
			d -= a[j*n+k] * a[j*n+k]
		}
		d = math.Sqrt(d)
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := 0; k < j; k++ {
				s -= a[i*n+k] * a[j*n+k]
			}
			a[i*n+j] = s / d
		}
	}
	for i := 0; i < n; i++ { // L z = b
		s := b[i]
		for k := 0; k < i; k++ {
			s -= a[i*n+k] * b[k]
		}
		b[i] = s / a[i*n+i]
	}
	for i := n - 1; i >= 0; i-- { // L^T x = z
		s := b[i]
		for k := i + 1; k < n; k++ {
			s -= a[k*n+i] * b[k]
		}
		b[i] = s / a[i*n+i]
	}
}

// filterAlpha converts a per-millisecond first-order filter rate to one step of dt
// seconds, so the filter's time constant does not depend on the control rate.
func filterAlpha(perMs, dt float64) float64 {
	return 1 - math.Pow(1-perMs, dt/1e-3)
}

// slerp interpolates from a toward b by t along the shorter arc (mathgl's QuatSlerp
// already flips b when the dot product is negative).
func slerp(a, b mgl64.Quat, t float64) mgl64.Quat { return mgl64.QuatSlerp(a, b, t) }
