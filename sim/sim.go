// Package sim describes the simulated robot independently of the physics engine: which
// model file, which joints make the arm, which actuator is the gripper, which site is the
// tool, and where the arm starts. The MuJoCo adapter (sim/mujoco) builds a drivers.Arm
// from a Scene; in lockstep mode it advances exactly one control period of physics per
// control tick, so closed-loop runs are deterministic and faster than real time.
package sim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Scene names the parts of a simulation model that robotd drives. Zero fields take the
// defaults of robotd's reference scene (sim/models/scene.xml).
type Scene struct {
	// Model is the MJCF file. Default: ReferenceModel().
	Model string
	// Keyframe is the initial state. Default "home".
	Keyframe string
	// Joints are the arm's joints in order; each is driven by a torque motor actuator of
	// the same name. Default joint1 .. joint7.
	Joints []string
	// Gripper is the position actuator that commands one finger's travel (m); Fingers
	// are the two finger joints whose travel adds up to the opening. Default "gripper",
	// finger_left and finger_right. Gripper "none" means the arm has no gripper.
	Gripper string
	Fingers [2]string
	// Tool is the site whose frame is the end effector. Default "tcp".
	Tool string
}

// WithDefaults returns the scene with its zero fields filled.
func (s Scene) WithDefaults() Scene {
	if s.Model == "" {
		s.Model = ReferenceModel()
	}
	if s.Keyframe == "" {
		s.Keyframe = "home"
	}
	if len(s.Joints) == 0 {
		s.Joints = []string{"joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "joint7"}
	}
	if s.Gripper == "" {
		s.Gripper = "gripper"
	}
	if s.Fingers == [2]string{} {
		s.Fingers = [2]string{"finger_left", "finger_right"}
	}
	if s.Tool == "" {
		s.Tool = "tcp"
	}
	return s
}

// ModelsEnv names the environment variable that overrides where the models live.
const ModelsEnv = "ROBOTD_MODELS"

// ModelsDir returns the directory of robotd's MJCF models: $ROBOTD_MODELS if set, else
// sim/models found by walking up from the working directory (so it works from the
// repository root and from any package directory in tests).
func ModelsDir() string {
	if d := os.Getenv(ModelsEnv); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return filepath.Join("sim", "models")
	}
	for {
		cand := filepath.Join(dir, "sim", "models")
		if st, err := os.Stat(filepath.Join(cand, "scene.xml")); err == nil && !st.IsDir() {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Join("sim", "models")
		}
		dir = parent
	}
}

// ReferenceModel is the path of robotd's reference scene.
func ReferenceModel() string { return filepath.Join(ModelsDir(), "scene.xml") }

// ErrNoModel is wrapped when a scene's model file does not exist.
var ErrNoModel = errors.New("model file not found")

// CheckModel reports a clear error when the scene's model file is missing.
func (s Scene) CheckModel() error {
	if _, err := os.Stat(s.Model); err != nil {
		return fmt.Errorf("sim: %w: %s (set %s or pass the path of an MJCF file)", ErrNoModel, s.Model, ModelsEnv)
	}
	return nil
}
