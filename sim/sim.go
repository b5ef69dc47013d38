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
	"slices"
	"strings"
)

// Scene names the parts of a simulation model that robotd drives. Zero fields take the
// defaults of robotd's reference scene (sim/models/scene.xml).
type Scene struct {
	// Model is the MJCF file. Default: ReferenceModel() (see FindModels).
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

// ModelsDir returns the directory of robotd's MJCF models as FindModels() finds it, or
// sim/models (relative to the working directory) when it finds none.
func ModelsDir() string {
	d, err := FindModels()
	if err != nil {
		return filepath.Join("sim", "models")
	}
	return d
}

// FindModels returns the directory of robotd's MJCF models: $ROBOTD_MODELS if set, else
// the first sim/models holding scene.xml found walking up from each start directory in
// turn (a launch file's directory), then from the working directory (tests in any
// package directory, `go run`), then from the executable's directory (an installed or
// built robotd next to its repository, whatever the working directory). The error, when
// none has one, names every directory walked up from and the way out.
func FindModels(starts ...string) (string, error) {
	if d := os.Getenv(ModelsEnv); d != "" {
		return d, nil
	}
	var looked []string
	for _, dir := range searchStarts(starts) {
		looked = append(looked, dir)
		if d, ok := walkUp(dir, filepath.Join("sim", "models"), "scene.xml"); ok {
			return d, nil
		}
	}
	return "", fmt.Errorf("sim: %w: no sim/models/scene.xml in %s or any of their parents (set $%s to the models directory, or give the MJCF file's path)",
		ErrNoModel, strings.Join(looked, ", "), ModelsEnv)
}

// searchStarts is starts (absolute, empty ones dropped), then the working directory,
// then the executable's directory, without repeats.
func searchStarts(starts []string) []string {
	var out []string
	add := func(d string, err error) {
		if err != nil || d == "" {
			return
		}
		if a, err := filepath.Abs(d); err == nil && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	for _, s := range starts {
		add(s, nil)
	}
	add(os.Getwd())
	if exe, err := os.Executable(); err == nil {
		if r, err := filepath.EvalSymlinks(exe); err == nil {
			exe = r
		}
		add(filepath.Dir(exe), nil)
	}
	return out
}

// walkUp looks for dir/sub/file in dir and each of its parents and returns the first
// dir/sub that has it.
func walkUp(dir, sub, file string) (string, bool) {
	for {
		cand := filepath.Join(dir, sub)
		if st, err := os.Stat(filepath.Join(cand, file)); err == nil && !st.IsDir() {
			return cand, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// ReferenceModel is the path of robotd's reference scene.
func ReferenceModel() string { return filepath.Join(ModelsDir(), "scene.xml") }

// FindReferenceModel is the reference scene found from the start directories as
// FindModels looks for it.
func FindReferenceModel(starts ...string) (string, error) {
	d, err := FindModels(starts...)
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "scene.xml"), nil
}

// ErrNoModel is wrapped when a scene's model file does not exist.
var ErrNoModel = errors.New("model file not found")

// CheckModel reports a clear error when the scene's model file is missing.
func (s Scene) CheckModel() error {
	if _, err := os.Stat(s.Model); err != nil {
		return fmt.Errorf("sim: %w: %s (set %s or pass the path of an MJCF file)", ErrNoModel, s.Model, ModelsEnv)
	}
	return nil
}
