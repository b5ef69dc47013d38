package system

import (
	"fmt"
	"slices"

	"github.com/robotd/robotd/clock"
	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/perception/cv"
	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/onnx"
	"github.com/robotd/robotd/policy/steer"
	"github.com/robotd/robotd/telemetry"
)

// daemonConfig is the daemon's configuration from the launch file and what New built.
func (s *System) daemonConfig(reg *telemetry.Registry) daemon.Config {
	f := s.File
	// The gains and safety sections are the controllers' own configs; the torque-rate
	// limit (control.max_torque_rate) and the target filter bound every controller.
	c := f.Control
	cfg := daemon.Config{
		Period:   c.Period(),
		Lockstep: f.Mode == launch.ModeLockstep,
		Servo: daemon.ServoConfig{
			Cartesian: c.CartesianConfig,
			Joint:     control.JointConfig{MaxTorqueRate: c.MaxTorqueRate, FilterRate: c.FilterRate},
			Safety:    f.Safety,
		},
		Home:          s.Home,
		HomeTolerance: c.HomeTolerance,
		HomeTimeout:   c.HomeTimeout,
		StopRamp:      c.StopRamp,
		StateStale:    f.Watchdog.StateStale,
		RTPriority:    *c.RTPriority,
		Duration:      f.Duration,
		Logger:        s.Log,
		Metrics:       reg,
	}
	if f.Arm.Driver == launch.DriverROS {
		// The wait for a fresh joint state before the arm is taken over.
		cfg.StartTimeout = f.Arm.ROS.ConnectTimeout
	}
	return cfg
}

// wirePolicy loads the bundle on ONNX Runtime (searched from the launch file's directory
// first, policy/onnx.Library) and builds the preprocessing of each camera the policy
// reads, before any camera or arm is connected. It returns the names of those cameras,
// in the order of s.Ports.Policy.Preprocess, for attachPolicyCameras.
func (s *System) wirePolicy() (cameras []string, err error) {
	f := s.File
	p := f.Policy
	opts := onnx.Options{Library: p.Library, Threads: p.Threads}
	if d := f.Dir(); d != "" {
		opts.Search = []string{d}
	}
	pol, err := policy.Load(p.Bundle, onnx.Opener(opts), policy.Options{Seed: p.Seed})
	if err != nil {
		return nil, err
	}
	s.addCloser(func() { pol.Close() })
	action, err := daemon.ParseSpace(p.Action)
	if err != nil {
		return nil, fmt.Errorf("policy.action: %w", err)
	}
	state, err := daemon.ParseSpace(p.State)
	if err != nil {
		return nil, fmt.Errorf("policy.state: %w", err)
	}
	pp := &daemon.PolicyPorts{
		Policy: pol, Action: action, State: state,
		MaxSkew: f.Watchdog.MaxSkew, LockstepLatency: p.LockstepLatency,
		MaxFailures: f.Watchdog.PolicyFailures, ChunkTimeout: f.Watchdog.ChunkTimeout,
		Executor: p.Executor,
	}
	if p.Steering != nil {
		st, err := steer.NewStage(*p.Steering, pol, steer.StageOptions{
			Open: onnx.Opener(opts), Bounds: p.Executor.Bounds, Now: clock.Real.Now, Seed: p.Seed})
		if err != nil {
			return nil, fmt.Errorf("policy.steering: %w", err)
		}
		s.addCloser(func() { st.Close() })
		pp.Steering = st
	}
	for _, c := range f.Cameras {
		feat := findFeature(pol.Bundle, "observation.images."+c.Name)
		if feat == nil {
			continue
		}
		pl, err := FeaturePipeline(feat, c.Pipeline, c.Width, c.Height)
		if err != nil {
			return nil, fmt.Errorf("camera %s: %w", c.Name, err)
		}
		s.addCloser(func() { pl.Close() })
		pp.Preprocess = append(pp.Preprocess, pl)
		cameras = append(cameras, c.Name)
	}
	s.Ports.Policy = pp
	return cameras, nil
}

// attachPolicyCameras hands the policy the cameras wirePolicy built preprocessing for
// (names, in that order), from cams, once they exist.
func attachPolicyCameras(pp *daemon.PolicyPorts, names []string, cams []*perception.Latest) error {
	for _, name := range names {
		i := slices.IndexFunc(cams, func(l *perception.Latest) bool { return l.Name() == name })
		if i < 0 {
			return fmt.Errorf("camera %s: the policy reads it but it was not set up", name)
		}
		pp.Cameras = append(pp.Cameras, cams[i])
	}
	return nil
}

// FeaturePipeline builds the preprocessing from width x height RGB frames to a policy's
// image feature: the launch file's pipeline when it gives one, else a resize to the
// feature's size. The pipeline must make exactly the feature's values.
func FeaturePipeline(feat *policy.Feature, custom *perception.PipelineConfig, width, height int) (*cv.Pipeline, error) {
	pc := perception.PipelineConfig{}
	if custom != nil {
		pc = *custom
	} else if len(feat.Shape) == 3 {
		pc.Resize = &perception.ResizeConfig{Width: feat.Shape[2], Height: feat.Shape[1]}
	}
	pl, err := cv.NewPipeline(pc, width, height, perception.RGB8, nil)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	if pl.Len() != feat.Size {
		pl.Close()
		return nil, fmt.Errorf("the pipeline makes %d values (%v) from %dx%d frames, policy feature %s wants %v",
			pl.Len(), shapeString(pl.Shape()), width, height, feat.Name, feat.Shape)
	}
	return pl, nil
}

func findFeature(b *policy.Bundle, name string) *policy.Feature {
	for i := range b.Observations {
		if b.Observations[i].Name == name {
			return &b.Observations[i]
		}
	}
	return nil
}

func shapeString(c, h, w int) string { return fmt.Sprintf("%dx%dx%d", c, h, w) }
