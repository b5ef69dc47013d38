package telemetry

import (
	"fmt"
	"io"
	"log/slog"
)

// NewLogger returns a structured logger writing to w at level and above, in format "text"
// (slog's key=value lines) or "json" (one JSON object per line). Any other format is an
// error naming it.
func NewLogger(w io.Writer, format string, level slog.Level) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("telemetry: log format %q: want \"text\" or \"json\"", format)
}
