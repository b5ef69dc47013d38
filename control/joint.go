package control

import "fmt"

// JointConfig configures JointImpedance. Zero-length gains take the defaults of
// franka_ros' joint_impedance_example_controller for a 7-joint arm.
type JointConfig struct {
	// Stiffness (Nm/rad) and Damping (Nms/rad) per joint.
	// Defaults (7 joints): K = 600 600 600 600 250 150 50, D = 50 50 50 20 20 20 10.
	Stiffness, Damping []float64
	// MaxTorqueRate (Nm/s) bounds how fast the command (before gravity) may change.
	// Default DefaultMaxTorqueRate.
	MaxTorqueRate float64
	// FilterRate is the first-order target filter per millisecond. Default
	// DefaultFilterRate.
	FilterRate float64
}

// JointImpedance holds joints at a target configuration:
//
//	tau = K (q_eq - q) - D dq + coriolis (+ gravity)
//
// with q_eq following the target through a first-order filter and the torque rate
// bounded. robotd uses it for homing and joint-space targets.
type JointImpedance struct {
	n       int
	cfg     JointConfig
	target  []float64
	eq      []float64
	tauPrev []float64
	started bool
}

// NewJointImpedance validates cfg for an n-joint arm and fills its defaults.
func NewJointImpedance(n int, cfg JointConfig) (*JointImpedance, error) {
	if cfg.Stiffness == nil && cfg.Damping == nil && n == 7 {
		cfg.Stiffness = []float64{600, 600, 600, 600, 250, 150, 50}
		cfg.Damping = []float64{50, 50, 50, 20, 20, 20, 10}
	}
	if len(cfg.Stiffness) != n || len(cfg.Damping) != n {
		return nil, fmt.Errorf("control: joint impedance: %d stiffness and %d damping values for %d joints",
			len(cfg.Stiffness), len(cfg.Damping), n)
	}
	for i := 0; i < n; i++ {
		if !(cfg.Stiffness[i] >= 0) || !(cfg.Damping[i] >= 0) || !finite(cfg.Stiffness[i]) || !finite(cfg.Damping[i]) {
			return nil, fmt.Errorf("control: joint impedance: joint %d stiffness %g damping %g: want finite and >= 0",
				i, cfg.Stiffness[i], cfg.Damping[i])
		}
	}
	if cfg.MaxTorqueRate == 0 {
		cfg.MaxTorqueRate = DefaultMaxTorqueRate
	}
	if cfg.FilterRate == 0 {
		cfg.FilterRate = DefaultFilterRate
	}
	if !(cfg.MaxTorqueRate > 0) || !(cfg.FilterRate > 0 && cfg.FilterRate <= 1) {
		return nil, fmt.Errorf("control: joint impedance: max torque rate %g (want > 0), filter rate %g (want in (0, 1])",
			cfg.MaxTorqueRate, cfg.FilterRate)
	}
	cfg.Stiffness = append([]float64(nil), cfg.Stiffness...)
	cfg.Damping = append([]float64(nil), cfg.Damping...)
	return &JointImpedance{
		n: n, cfg: cfg,
		target: make([]float64, n), eq: make([]float64, n), tauPrev: make([]float64, n),
	}, nil
}

// Start latches the current configuration as target and equilibrium.
func (c *JointImpedance) Start(q []float64) {
	copy(c.target, q)
	copy(c.eq, q)
	clear(c.tauPrev)
	c.started = true
}

// SetTarget sets the joint configuration the equilibrium moves toward (copied).
func (c *JointImpedance) SetTarget(q []float64) { copy(c.target, q) }

// Equilibrium returns the filtered configuration the law pulls toward (not a copy).
func (c *JointImpedance) Equilibrium() []float64 { return c.eq }

// Config is the configuration in use, defaults filled (slices owned by the controller).
func (c *JointImpedance) Config() JointConfig { return c.cfg }

// Update computes the torques for one tick of dt seconds into tau; it allocates nothing.
func (c *JointImpedance) Update(tau []float64, in *Input, dt float64) {
	in.check(c.n)
	if len(tau) != c.n {
		panic(fmt.Sprintf("control: %d torques for %d joints", len(tau), c.n))
	}
	if !c.started {
		c.Start(in.Q)
	}
	for j := 0; j < c.n; j++ {
		tau[j] = c.cfg.Stiffness[j]*(c.eq[j]-in.Q[j]) - c.cfg.Damping[j]*in.DQ[j] + in.Coriolis[j]
	}
	limitRate(tau, c.tauPrev, c.cfg.MaxTorqueRate*dt, in.Gravity)
	a := filterAlpha(c.cfg.FilterRate, dt)
	for j := 0; j < c.n; j++ {
		c.eq[j] += a * (c.target[j] - c.eq[j])
	}
}
