package steer

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/robotd/robotd/policy"
)

// BundleFile is the configuration file that makes a directory a steering bundle.
const BundleFile = "steer.yaml"

// Steering bundle kinds.
const (
	// KindValue is a value model Q(observation features, candidate actions) -> one score
	// per candidate, higher is better (V-GPS, EXPO).
	KindValue = "value"
	// KindNoise is a noise policy (DSRL): observation features -> the sampler's initial
	// noise over the whole horizon, in the normalized action space.
	KindNoise = "noise"
	// KindResidual is a residual policy (ResFiT, EXPO's edit): observation features and one
	// base action -> a correction to that action, in the normalized action space.
	KindResidual = "residual"
)

// kinds lists the bundle kinds for errors.
const kinds = "value, noise or residual"

// EpsInput is the optional input of a noise model holding standard normal draws, one per
// noise value: a stochastic noise policy in reparameterized form.
const EpsInput = "eps"

// Action spans: which of a candidate's actions a value model takes.
const (
	// SpanChunk is the executed window [Start, Horizon): horizon - n_obs_steps + 1 actions.
	SpanChunk = "chunk"
	// SpanFirst is the first executed action, index Start (V-GPS's Q(s, a)).
	SpanFirst = "first"
)

// BundleConfig is a steering bundle's steer.yaml, decoded strictly (an unknown key is an
// error naming it). docs/steering.md ("Steering bundles") is the user-facing reference.
type BundleConfig struct {
	// Kind is what the model computes: value, noise or residual.
	Kind string `yaml:"kind"`
	// Model is the ONNX file, relative to the bundle directory.
	Model string `yaml:"model"`
	// Horizon and NObsSteps are those of the policy the model was trained with: a
	// candidate holds Horizon actions, the executed window starts at NObsSteps-1.
	Horizon   int `yaml:"horizon"`
	NObsSteps int `yaml:"n_obs_steps"`
	// ActionSpan is chunk (the default) or first; kind value only.
	ActionSpan string `yaml:"action_span"`
	// Features are the model's inputs, by the policy bundle's feature names: the
	// observation.* features it reads (each an ONNX input of that name, the latest
	// observation) and action (the ONNX input holding the candidate's actions, or a
	// residual's base action), each with the shape and normalization it was trained with.
	// A noise model has no action input: its action entry declares the action dimension
	// and the policy's action normalization, which defines the space the noise lives in,
	// and reads no statistics.
	Features map[string]policy.FeatureConfig `yaml:"features"`
	// Stats is the bundle's own LeRobot-style stats.json; empty normalizes with the policy
	// bundle's statistics (the modes in Features must then be the policy's).
	Stats string `yaml:"stats"`
	// Output is the ONNX output: for value one score per candidate ([N] or [N, 1]),
	// default "value"; for noise the noise [N, horizon, A], default "noise"; for residual
	// the correction [R, A], default "residual".
	Output string `yaml:"output"`
}

// Input is one model input: a policy feature, its shape and its normalization.
type Input struct {
	Name  string
	Shape []int
	Size  int    // product of Shape
	Mode  string // normalization mode
	// norm is the bundle's own normalizer (Stats set); nil when the policy's is taken.
	norm *policy.Normalizer
}

// Bundle is a loaded, validated steering bundle: its configuration and, with its own
// statistics, its normalizers. The ONNX model is opened by NewValue, NewNoise or
// NewResidual (or WriteInfo) with a backend.
type Bundle struct {
	Dir          string
	Config       BundleConfig
	Observations []Input // sorted by name
	Action       Input
	// Start is the index of the first executed action (n_obs_steps - 1) and Steps the
	// number of actions per model row the action input or output holds: ActionSpan's for a
	// value model, the horizon for a noise model (its output), 1 for a residual.
	Start, Steps int
}

// IsBundle reports whether dir holds a steer.yaml.
func IsBundle(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, BundleFile))
	return err == nil && !st.IsDir()
}

// LoadBundle reads and validates the steering bundle in dir: steer.yaml, the model file's
// presence and its own stats.json when it names one. It does not check the fit with a
// policy (Fit does).
func LoadBundle(dir string) (*Bundle, error) {
	path := filepath.Join(dir, BundleFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("steering bundle: %w", err)
	}
	var cfg BundleConfig
	if err := policy.DecodeStrict(path, data, &cfg); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Dir: abs, Config: cfg}
	if err := b.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// path returns the absolute path of a file the bundle names.
func (b *Bundle) path(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(b.Dir, name)
}

// ModelPath is the ONNX file's absolute path.
func (b *Bundle) ModelPath() string { return b.path(b.Config.Model) }

func (b *Bundle) validate() error {
	c := &b.Config
	switch c.Kind {
	case KindValue, KindNoise, KindResidual:
	case "":
		return errors.New("kind: missing (" + kinds + ")")
	default:
		return fmt.Errorf("kind: unknown %q (%s)", c.Kind, kinds)
	}
	if c.Model == "" {
		return errors.New("model: missing (the ONNX file)")
	}
	if st, err := os.Stat(b.ModelPath()); err != nil {
		return fmt.Errorf("model: %w", err)
	} else if st.IsDir() {
		return fmt.Errorf("model: %s is a directory", c.Model)
	}
	if c.NObsSteps < 1 {
		return fmt.Errorf("n_obs_steps: must be >= 1, got %d", c.NObsSteps)
	}
	if c.Horizon < c.NObsSteps {
		return fmt.Errorf("horizon: must be >= n_obs_steps (%d), got %d", c.NObsSteps, c.Horizon)
	}
	b.Start = c.NObsSteps - 1
	switch {
	case c.Kind != KindValue:
		if c.ActionSpan != "" {
			return fmt.Errorf("action_span: only for kind value (kind %s)", c.Kind)
		}
		b.Steps = 1
		if c.Kind == KindNoise {
			b.Steps = c.Horizon
		}
	case c.ActionSpan == "" || c.ActionSpan == SpanChunk:
		c.ActionSpan = SpanChunk
		b.Steps = c.Horizon - b.Start
	case c.ActionSpan == SpanFirst:
		b.Steps = 1
	default:
		return fmt.Errorf("action_span: unknown %q (chunk or first)", c.ActionSpan)
	}
	if c.Output == "" {
		c.Output = c.Kind
	}
	var stats policy.Stats
	if c.Stats != "" {
		var err error
		if stats, err = policy.ReadStats(b.path(c.Stats)); err != nil {
			return fmt.Errorf("stats: %w", err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Features)) {
		in, err := newInput(name, c.Features[name], stats, c.Stats != "" && !b.policyAction(name))
		if err != nil {
			return fmt.Errorf("features: %s: %w", name, err)
		}
		switch {
		case name == policy.ActionFeature:
			if len(in.Shape) != 1 {
				return fmt.Errorf("features: action: shape must be one-dimensional, got %v", in.Shape)
			}
			b.Action = in
		case strings.HasPrefix(name, "observation."):
			b.Observations = append(b.Observations, in)
		default:
			return fmt.Errorf("features: %s: unknown feature (want action or observation.*)", name)
		}
	}
	if b.Action.Size == 0 {
		return errors.New("features: action: missing")
	}
	if len(b.Observations) == 0 {
		return errors.New("features: no observation.* feature")
	}
	return nil
}

// policyAction reports whether the feature name is a noise bundle's action entry, which
// always takes the policy's normalization (the noise lives in the policy's normalized
// action space) and reads no statistics of the bundle's own.
func (b *Bundle) policyAction(name string) bool {
	return b.Config.Kind == KindNoise && name == policy.ActionFeature
}

// newInput validates the feature name as fc configures it. With the bundle's own
// statistics (own) it builds the normalizer as a policy bundle's feature (policy.NewFeature,
// whose errors name the statistic); without, the policy's normalizer is used (NewValue) and
// only the shape and the mode are checked here, the mode's fit with the policy by Fit.
func newInput(name string, fc policy.FeatureConfig, stats policy.Stats, own bool) (Input, error) {
	in := Input{Name: name, Shape: fc.Shape, Mode: fc.Normalization}
	if own {
		f, err := policy.NewFeature(name, fc, stats)
		if err != nil {
			return in, err
		}
		in.Size, in.norm = f.Size, &f.Norm
		return in, nil
	}
	// The identity needs no statistics: NewFeature checks the shape alone.
	f, err := policy.NewFeature(name, policy.FeatureConfig{Shape: fc.Shape, Normalization: policy.NormIdentity}, nil)
	if err != nil {
		return in, err
	}
	in.Size = f.Size
	switch in.Mode {
	case policy.NormMeanStd, policy.NormMinMax, policy.NormIdentity:
	case "":
		return in, errors.New("normalization: missing (mean_std, min_max or identity)")
	default:
		return in, fmt.Errorf("normalization: unknown %q (mean_std, min_max or identity)", in.Mode)
	}
	return in, nil
}

// Fit checks that the bundle fits the policy bundle p: the same horizon and n_obs_steps,
// every observation feature one of p's with p's shape, the action dimension p's, and,
// without the bundle's own statistics, every normalization mode p's (a noise bundle's
// action mode always: its noise is in p's normalized action space). The error names
// every mismatch.
func (b *Bundle) Fit(p *policy.Bundle) error {
	var errs []error
	c, pc := &b.Config, &p.Config
	if c.Horizon != pc.Horizon {
		errs = append(errs, fmt.Errorf("horizon %d, the policy's is %d", c.Horizon, pc.Horizon))
	}
	if c.NObsSteps != pc.NObsSteps {
		errs = append(errs, fmt.Errorf("n_obs_steps %d, the policy's is %d", c.NObsSteps, pc.NObsSteps))
	}
	check := func(in Input, f policy.Feature) {
		if !slices.Equal(in.Shape, f.Shape) {
			what := "shape"
			if in.Name == policy.ActionFeature {
				what = "action dimension: shape"
			}
			errs = append(errs, fmt.Errorf("features: %s: %s %v, the policy's is %v", in.Name, what, in.Shape, f.Shape))
		}
		switch {
		case b.policyAction(in.Name) && in.Mode != f.Norm.Mode:
			errs = append(errs, fmt.Errorf("features: %s: normalization %s, the policy's is %s (a noise model's noise is in the policy's normalized action space)",
				in.Name, in.Mode, f.Norm.Mode))
		case c.Stats == "" && in.Mode != f.Norm.Mode:
			errs = append(errs, fmt.Errorf("features: %s: normalization %s, the policy's is %s (without stats: the policy's statistics are used)",
				in.Name, in.Mode, f.Norm.Mode))
		}
	}
	for _, in := range b.Observations {
		i := slices.IndexFunc(p.Observations, func(f policy.Feature) bool { return f.Name == in.Name })
		if i < 0 {
			errs = append(errs, fmt.Errorf("features: %s: the policy has no such feature (its observation features: %s)",
				in.Name, p.ObservationNames()))
			continue
		}
		check(in, p.Observations[i])
	}
	check(b.Action, p.Action)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("steering bundle %s does not fit policy %s: %w", b.Dir, p.Dir, err)
	}
	return nil
}
