package control

import "fmt"

// ConfigError is a bad configuration value. Key is the field as a launch file spells it
// (its yaml key; list items by index: "stiffness.3"), Msg says what was wrong and what
// was expected. launch adds the section and the file's line.
type ConfigError struct {
	Key, Msg string
}

func (e *ConfigError) Error() string { return "control: " + e.Key + ": " + e.Msg }

// ConfigField returns the key and the message (the interface launch looks for).
func (e *ConfigError) ConfigField() (key, msg string) { return e.Key, e.Msg }

func configErrorf(key, format string, args ...any) error {
	return &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)}
}
