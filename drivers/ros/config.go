package ros

import (
	"errors"
	"fmt"
	"strings"
)

// ConfigError is a bad configuration value. Key is the field as a launch file spells it
// (its yaml key; a nested section's keys joined with dots, list items by index: "gripper.
// max_width", "joints.2"), Msg says what was wrong and what was expected. launch adds the
// section and the file's line.
type ConfigError struct {
	Key, Msg string
}

func (e *ConfigError) Error() string { return e.Key + ": " + e.Msg }

// ConfigField returns the key and the message (the interface launch looks for).
func (e *ConfigError) ConfigField() (key, msg string) { return e.Key, e.Msg }

func configErrorf(key, format string, args ...any) error {
	return &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// prefixConfigError puts section before the key of a *ConfigError (nil stays nil).
func prefixConfigError(section string, err error) error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return &ConfigError{Key: section + "." + ce.Key, Msg: ce.Msg}
	}
	return err
}

// isROSName reports whether s can be a ROS graph name (no blanks; more is checked by the
// master).
func isROSName(s string) bool { return s != "" && !strings.ContainsAny(s, " \t\n") }
