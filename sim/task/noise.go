package task

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
)

// TargetNoise perturbs the target an expert executes while the recording keeps the
// expert's clean target as the action: DART (Laskey et al., "DART: Noise Injection for
// Robust Imitation Learning", 2017). A policy trained only on an expert's perfect runs has
// never seen the arm off the expert's path, so a small error compounds; with the executed
// target perturbed, the demonstrations show the arm (and the wrist camera's view of the
// cube) off the path together with the action that brings it back.
//
// The offset is an Ornstein-Uhlenbeck process: smooth (correlation time Tau), zero mean,
// stationary standard deviation Sigma per horizontal axis and YawSigma about the vertical.
// It is driven only while the expert is moving freely (Approach, Carry); in the other
// phases it decays with time constant Decay, so the fingers close on, and release, the
// cube where the expert intends (a grasp the noise spoils is retried by the expert and an
// episode that fails is left out of training anyway).
type TargetNoise struct {
	Sigma    float64       // m, per horizontal axis
	YawSigma float64       // rad
	Tau      time.Duration // correlation time of the driven process
	Decay    time.Duration // time constant of the decay outside Approach and Carry

	rng     *rand.Rand
	started bool
	last    time.Duration
	off     mgl64.Vec2
	yaw     float64
}

// NewTargetNoise validates the parameters (zero Tau and Decay take 0.5 s and 0.2 s) and
// seeds the process.
func NewTargetNoise(sigma, yawSigma float64, tau, decay time.Duration, seed uint64) (*TargetNoise, error) {
	if tau == 0 {
		tau = 500 * time.Millisecond
	}
	if decay == 0 {
		decay = 200 * time.Millisecond
	}
	switch {
	case !(sigma >= 0 && sigma <= 0.05):
		return nil, fmt.Errorf("task: target noise %g m: want 0..0.05", sigma)
	case !(yawSigma >= 0 && yawSigma <= 0.5):
		return nil, fmt.Errorf("task: target yaw noise %g rad: want 0..0.5", yawSigma)
	case tau < 0 || decay < 0:
		return nil, fmt.Errorf("task: target noise time constants %v, %v: want > 0", tau, decay)
	}
	return &TargetNoise{Sigma: sigma, YawSigma: yawSigma, Tau: tau, Decay: decay,
		rng: rand.New(rand.NewPCG(seed, 0x6461727421))}, nil // "dart!"
}

// Reset zeroes the offset for a new episode (the random stream carries on).
func (n *TargetNoise) Reset() {
	n.started, n.off, n.yaw = false, mgl64.Vec2{}, 0
}

// Offset is the current horizontal position offset (m) and yaw offset (rad).
func (n *TargetNoise) Offset() (mgl64.Vec2, float64) { return n.off, n.yaw }

// Apply advances the process to time t (the expert in phase) and returns target moved by
// the offset: its position in x and y, its orientation turned about the vertical.
func (n *TargetNoise) Apply(t time.Duration, phase Phase, target control.Pose) control.Pose {
	if !n.started {
		n.started, n.last = true, t
	}
	dt := (t - n.last).Seconds()
	n.last = t
	if dt > 0 {
		if phase == Approach || phase == Carry {
			// Exact discretization of dx = -x/tau dt + sigma sqrt(2/tau) dW.
			a := math.Exp(-dt / n.Tau.Seconds())
			s := math.Sqrt(1 - a*a)
			n.off[0] = a*n.off[0] + n.Sigma*s*n.rng.NormFloat64()
			n.off[1] = a*n.off[1] + n.Sigma*s*n.rng.NormFloat64()
			n.yaw = a*n.yaw + n.YawSigma*s*n.rng.NormFloat64()
		} else {
			a := math.Exp(-dt / n.Decay.Seconds())
			n.off = n.off.Mul(a)
			n.yaw *= a
		}
	}
	out := target
	out.Pos = mgl64.Vec3{target.Pos[0] + n.off[0], target.Pos[1] + n.off[1], target.Pos[2]}
	out.Rot = mgl64.QuatRotate(n.yaw, mgl64.Vec3{0, 0, 1}).Mul(target.Rot).Normalize()
	return out
}
