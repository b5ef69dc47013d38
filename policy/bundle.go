package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Policy kinds.
const (
	KindChunked   = "chunked"   // one forward pass returns the whole chunk (ACT)
	KindDiffusion = "diffusion" // encoder once, denoiser K times (Diffusion Policy)
	KindFlow      = "flow"      // flow matching: velocity field integrated with Euler steps
)

// Normalization modes (LeRobot's NormalizationMode).
const (
	NormMeanStd  = "mean_std"
	NormMinMax   = "min_max"
	NormIdentity = "identity"
)

// ActionFeature is the name of the action feature in every bundle.
const ActionFeature = "action"

// Config is a policy bundle's policy.yaml (or policy.json). Field comments give the YAML
// key; docs/policy-bundle.md is the user-facing reference.
type Config struct {
	Name          string                   `yaml:"name" json:"name"`
	Kind          string                   `yaml:"kind" json:"kind"`
	ControlRateHz float64                  `yaml:"control_rate_hz" json:"control_rate_hz"`
	NObsSteps     int                      `yaml:"n_obs_steps" json:"n_obs_steps"`
	Horizon       int                      `yaml:"horizon" json:"horizon"`
	NActionSteps  int                      `yaml:"n_action_steps" json:"n_action_steps"`
	Features      map[string]FeatureConfig `yaml:"features" json:"features"`
	Stats         string                   `yaml:"stats" json:"stats"`
	Models        ModelsConfig             `yaml:"models" json:"models"`
	Diffusion     *DiffusionConfig         `yaml:"diffusion" json:"diffusion"`
}

// FeatureConfig is one entry of features:.
type FeatureConfig struct {
	Shape         []int  `yaml:"shape" json:"shape"`
	Normalization string `yaml:"normalization" json:"normalization"`
}

// ModelsConfig names the ONNX files, relative to the bundle directory.
type ModelsConfig struct {
	Policy   string `yaml:"policy" json:"policy"`
	Encoder  string `yaml:"encoder" json:"encoder"`
	Denoiser string `yaml:"denoiser" json:"denoiser"`
}

// DiffusionConfig is the diffusion: section, with the diffusers scheduler's names.
type DiffusionConfig struct {
	NumTrainTimesteps int     `yaml:"num_train_timesteps" json:"num_train_timesteps"`
	BetaSchedule      string  `yaml:"beta_schedule" json:"beta_schedule"`
	BetaStart         float64 `yaml:"beta_start" json:"beta_start"`
	BetaEnd           float64 `yaml:"beta_end" json:"beta_end"`
	PredictionType    string  `yaml:"prediction_type" json:"prediction_type"`
	Sampler           string  `yaml:"sampler" json:"sampler"`
	NumInferenceSteps int     `yaml:"num_inference_steps" json:"num_inference_steps"`
	ClipSample        bool    `yaml:"clip_sample" json:"clip_sample"`
	ClipSampleRange   float64 `yaml:"clip_sample_range" json:"clip_sample_range"`
	SetAlphaToOne     *bool   `yaml:"set_alpha_to_one" json:"set_alpha_to_one"`
	StepsOffset       int     `yaml:"steps_offset" json:"steps_offset"`
	Eta               float64 `yaml:"eta" json:"eta"`
}

// Feature is a validated feature with its normalization statistics.
type Feature struct {
	Name  string
	Shape []int
	Size  int // product of Shape
	Norm  Normalizer
}

// IsImage reports whether the feature is a camera image (observation.images.*).
func (f *Feature) IsImage() bool { return strings.HasPrefix(f.Name, "observation.images.") }

// Bundle is a loaded, validated policy bundle (configuration and statistics; the ONNX
// models are opened by Load with a backend).
type Bundle struct {
	Dir          string
	Config       Config
	Observations []Feature // observation features, sorted by name
	Action       Feature
}

// ObservationNames lists the observation features, comma-separated, in order.
func (b *Bundle) ObservationNames() string { return featureNames(b.Observations) }

// ActionDim is the size of one action.
func (b *Bundle) ActionDim() int { return b.Action.Size }

// ModelPath returns the absolute path of a model file named in models:.
func (b *Bundle) ModelPath(name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(b.Dir, name)
}

// ConfigFile returns the bundle's configuration file: policy.yaml, policy.yml or policy.json.
func ConfigFile(dir string) (string, error) {
	for _, name := range []string{"policy.yaml", "policy.yml", "policy.json"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if st, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("policy bundle %s: %w", dir, err)
	} else if !st.IsDir() {
		return "", fmt.Errorf("policy bundle %s: not a directory", dir)
	}
	return "", fmt.Errorf("policy bundle %s: no policy.yaml or policy.json", dir)
}

// LoadBundle reads and validates the bundle in dir: its configuration, the stats file and
// the presence of every model file it names.
func LoadBundle(dir string) (*Bundle, error) {
	path, err := ConfigFile(dir)
	if err != nil {
		return nil, err
	}
	cfg, err := ReadConfig(path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Dir: abs, Config: *cfg}
	if err := b.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// ReadConfig decodes a policy.yaml / policy.json strictly: an unknown key is an error that
// names it (and its line, for YAML).
func ReadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy config: %w", err)
	}
	var cfg Config
	if err := DecodeStrict(path, data, &cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// DecodeStrict decodes a bundle's configuration file (data, read from path) into dst:
// JSON when path ends in .json, YAML otherwise. An unknown key is an error that names it
// (and its line, for YAML); an empty YAML file is an error saying so. Errors start with
// path. Policy bundles' policy.yaml and steering bundles' steer.yaml are read with it.
func DecodeStrict(path string, data []byte, dst any) error {
	if strings.HasSuffix(path, ".json") {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(dst); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: empty file", path)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func (b *Bundle) validate() error {
	c := &b.Config
	switch c.Kind {
	case KindChunked, KindDiffusion, KindFlow:
	case "":
		return errors.New("kind: missing (chunked, diffusion or flow)")
	default:
		return fmt.Errorf("kind: unknown %q (chunked, diffusion or flow)", c.Kind)
	}
	if !(c.ControlRateHz > 0) || math.IsInf(c.ControlRateHz, 0) {
		return fmt.Errorf("control_rate_hz: must be > 0, got %v", c.ControlRateHz)
	}
	if c.NObsSteps < 1 {
		return fmt.Errorf("n_obs_steps: must be >= 1, got %d", c.NObsSteps)
	}
	if c.Horizon < c.NObsSteps {
		return fmt.Errorf("horizon: must be >= n_obs_steps (%d), got %d", c.NObsSteps, c.Horizon)
	}
	if c.NActionSteps < 1 || c.NActionSteps > c.Horizon-c.NObsSteps+1 {
		return fmt.Errorf("n_action_steps: must be in [1, horizon - n_obs_steps + 1 = %d], got %d",
			c.Horizon-c.NObsSteps+1, c.NActionSteps)
	}
	if len(c.Features) == 0 {
		return errors.New("features: missing")
	}
	if c.Stats == "" {
		return errors.New("stats: missing (a LeRobot-style stats.json)")
	}
	stats, err := ReadStats(b.ModelPath(c.Stats))
	if err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	names := make([]string, 0, len(c.Features))
	for name := range c.Features {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		f, err := NewFeature(name, c.Features[name], stats)
		if err != nil {
			return fmt.Errorf("features: %s: %w", name, err)
		}
		switch {
		case name == ActionFeature:
			b.Action = f
		case strings.HasPrefix(name, "observation."):
			b.Observations = append(b.Observations, f)
		default:
			return fmt.Errorf("features: %s: unknown feature (want action or observation.*)", name)
		}
	}
	if b.Action.Size == 0 {
		return errors.New("features: action: missing")
	}
	if len(b.Action.Shape) != 1 {
		return fmt.Errorf("features: action: shape must be one-dimensional, got %v", b.Action.Shape)
	}
	if len(b.Observations) == 0 {
		return errors.New("features: no observation.* feature")
	}
	if err := b.validateModels(); err != nil {
		return err
	}
	if c.Kind == KindChunked {
		if c.Diffusion != nil {
			return errors.New("diffusion: only for kind diffusion or flow")
		}
		return nil
	}
	if c.Diffusion == nil {
		return fmt.Errorf("diffusion: missing (kind %s needs the sampler settings)", c.Kind)
	}
	return c.Diffusion.validate(c.Kind)
}

func (b *Bundle) validateModels() error {
	m := &b.Config.Models
	need := func(key, file string) error {
		if file == "" {
			return fmt.Errorf("models: %s: missing (kind %s)", key, b.Config.Kind)
		}
		st, err := os.Stat(b.ModelPath(file))
		if err != nil {
			return fmt.Errorf("models: %s: %w", key, err)
		}
		if st.IsDir() {
			return fmt.Errorf("models: %s: %s is a directory", key, file)
		}
		return nil
	}
	forbid := func(key, file string) error {
		if file != "" {
			return fmt.Errorf("models: %s: not used by kind %s", key, b.Config.Kind)
		}
		return nil
	}
	if b.Config.Kind == KindChunked {
		return errors.Join(need("policy", m.Policy), forbid("encoder", m.Encoder), forbid("denoiser", m.Denoiser))
	}
	if err := errors.Join(need("denoiser", m.Denoiser), forbid("policy", m.Policy)); err != nil {
		return err
	}
	if m.Encoder != "" {
		return need("encoder", m.Encoder)
	}
	return nil
}

// Samplers and schedules understood by robotd (diffusers names).
var (
	samplers        = []string{"ddpm", "ddim", "euler"}
	betaSchedules   = []string{"linear", "scaled_linear", "squaredcos_cap_v2"}
	predictionTypes = []string{"epsilon", "sample", "v_prediction"}
)

func (d *DiffusionConfig) validate(kind string) error {
	oneOf := func(key, v string, allowed []string) error {
		if !slices.Contains(allowed, v) {
			return fmt.Errorf("diffusion: %s: unknown %q (one of %s)", key, v, strings.Join(allowed, ", "))
		}
		return nil
	}
	if err := oneOf("sampler", d.Sampler, samplers); err != nil {
		return err
	}
	if d.NumInferenceSteps < 1 {
		return fmt.Errorf("diffusion: num_inference_steps: must be >= 1, got %d", d.NumInferenceSteps)
	}
	if kind == KindFlow {
		if d.Sampler != "euler" {
			return fmt.Errorf("diffusion: sampler: kind flow integrates with euler, got %q", d.Sampler)
		}
		if d.PredictionType != "" && d.PredictionType != "velocity" {
			return fmt.Errorf("diffusion: prediction_type: kind flow predicts velocity, got %q", d.PredictionType)
		}
		return d.validateClip()
	}
	if d.Sampler == "euler" {
		return errors.New("diffusion: sampler: euler is the flow-matching integrator (kind flow); use ddpm or ddim")
	}
	if err := oneOf("beta_schedule", d.BetaSchedule, betaSchedules); err != nil {
		return err
	}
	if err := oneOf("prediction_type", d.PredictionType, predictionTypes); err != nil {
		return err
	}
	if d.NumTrainTimesteps < 1 {
		return fmt.Errorf("diffusion: num_train_timesteps: must be >= 1, got %d", d.NumTrainTimesteps)
	}
	if d.NumInferenceSteps > d.NumTrainTimesteps {
		return fmt.Errorf("diffusion: num_inference_steps: %d is more than num_train_timesteps %d",
			d.NumInferenceSteps, d.NumTrainTimesteps)
	}
	if d.BetaSchedule != "squaredcos_cap_v2" {
		if !(d.BetaStart > 0 && d.BetaEnd > d.BetaStart && d.BetaEnd < 1) {
			return fmt.Errorf("diffusion: beta_start %v, beta_end %v: need 0 < beta_start < beta_end < 1",
				d.BetaStart, d.BetaEnd)
		}
	}
	if d.StepsOffset < 0 || d.StepsOffset >= d.NumTrainTimesteps {
		return fmt.Errorf("diffusion: steps_offset: must be in [0, num_train_timesteps), got %d", d.StepsOffset)
	}
	if d.Eta < 0 || d.Eta > 1 || math.IsNaN(d.Eta) {
		return fmt.Errorf("diffusion: eta: must be in [0, 1], got %v", d.Eta)
	}
	return d.validateClip()
}

func (d *DiffusionConfig) validateClip() error {
	if d.ClipSample && !(d.ClipSampleRange > 0) {
		return fmt.Errorf("diffusion: clip_sample_range: must be > 0 when clip_sample is true, got %v", d.ClipSampleRange)
	}
	return nil
}

// AlphaToOne is set_alpha_to_one with diffusers' default (true).
func (d *DiffusionConfig) AlphaToOne() bool { return d.SetAlphaToOne == nil || *d.SetAlphaToOne }
