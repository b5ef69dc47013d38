package telemetry

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(&buf, "text", slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("hidden")
	log.Info("loop started", "rate_hz", 1000)
	if got := buf.String(); strings.Contains(got, "hidden") || !strings.Contains(got, `level=INFO msg="loop started" rate_hz=1000`) {
		t.Errorf("text log = %q", got)
	}

	buf.Reset()
	log, err = NewLogger(&buf, "json", slog.LevelDebug)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("tick", "n", 3)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec["level"] != "DEBUG" || rec["msg"] != "tick" || rec["n"] != 3.0 {
		t.Errorf("json log %q: %v %v", buf.String(), rec, err)
	}

	if _, err := NewLogger(&buf, "xml", slog.LevelInfo); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("NewLogger(xml) = %v, want an error naming the format", err)
	}
}
