package launch

import (
	"strings"
	"testing"
)

// telemetry.foxglove: empty by default (no server), an address without a host or with
// one loads as written (telemetry.ListenAddr binds the hostless one to loopback), and a
// malformed one is refused naming the key and line.
func TestFoxgloveKey(t *testing.T) {
	f, err := Load(writeFile(t, "name: x\n"))
	if err != nil || f.Telemetry.Foxglove != "" {
		t.Fatalf("default telemetry.foxglove %q (%v), want empty", f.Telemetry.Foxglove, err)
	}
	for _, addr := range []string{":8765", "0.0.0.0:8765", "127.0.0.1:0"} {
		f, err := Load(writeFile(t, "telemetry:\n  foxglove: \""+addr+"\"\n"))
		if err != nil || f.Telemetry.Foxglove != addr {
			t.Errorf("foxglove %q: loaded %q, %v", addr, f.Telemetry.Foxglove, err)
		}
	}
	_, err = Load(writeFile(t, "telemetry:\n  foxglove: localhost\n"))
	if err == nil || !strings.Contains(err.Error(), `bad.yaml:2: telemetry.foxglove: "localhost": want host:port or :port`) {
		t.Errorf("error %v, want one naming telemetry.foxglove at line 2", err)
	}
}
