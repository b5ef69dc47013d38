package control

import (
	"errors"
	"math"
	"testing"
)

// The gains' and the safety layer's Validate name the launch-file key of a bad value.
func TestConfigErrorsNameTheKey(t *testing.T) {
	cart := []struct {
		cfg CartesianConfig
		key string
	}{
		{CartesianConfig{Stiffness: [6]float64{-1}}, "stiffness.0"},
		{CartesianConfig{Stiffness: [6]float64{0, 0, 0, 0, 400}}, "stiffness.4"},
		{CartesianConfig{Stiffness: [6]float64{math.NaN()}}, "stiffness.0"},
		{CartesianConfig{NullspaceStiffness: 200}, "nullspace_stiffness"},
		{CartesianConfig{MaxTorqueRate: math.Inf(1)}, "max_torque_rate"},
		{CartesianConfig{FilterRate: 2}, "filter_rate"},
	}
	for _, c := range cart {
		var ce *ConfigError
		if err := c.cfg.WithDefaults().Validate(); !errors.As(err, &ce) || ce.Key != c.key {
			t.Errorf("%+v: Validate() = %v, want a *ConfigError for %s", c.cfg, err, c.key)
		}
	}
	safety := []struct {
		cfg SafetyConfig
		key string
	}{
		{SafetyConfig{Workspace: Box{Min: [3]float64{1, 0, 0}, Max: [3]float64{0, 1, 1}}}, "workspace"},
		{SafetyConfig{PositionMargin: 0.5}, "position_margin"},
		{SafetyConfig{VelocitySoft: 1}, "velocity_soft"},
	}
	for _, c := range safety {
		var ce *ConfigError
		if err := c.cfg.WithDefaults().Validate(); !errors.As(err, &ce) || ce.Key != c.key {
			t.Errorf("%+v: Validate() = %v, want a *ConfigError for %s", c.cfg, err, c.key)
		}
	}
	if err := (CartesianConfig{}).WithDefaults().Validate(); err != nil {
		t.Errorf("cartesian defaults: %v", err)
	}
	if err := (SafetyConfig{}).WithDefaults().Validate(); err != nil {
		t.Errorf("safety defaults: %v", err)
	}
}
