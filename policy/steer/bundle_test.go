package steer_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/robotd/robotd/policy/steer"
)

// TestLoadBundleOwnStats: a steering bundle's own stats.json is read and checked as a
// policy bundle's (policy.ReadStats, policy.NewFeature): a bare NaN, which Python's
// json.dump writes, is named by feature, statistic and index rather than reported as a
// JSON syntax error, and a missing statistic is named with its mode.
func TestLoadBundleOwnStats(t *testing.T) {
	cases := []struct {
		name, stats, want string
	}{
		{"bare NaN", `{"observation.state": {"mean": [NaN, 0, 0, 0, 0, 0], "std": [1, 1, 1, 1, 1, 1]},
			"action": {"min": [-1, -1, -1, -1], "max": [1, 1, 1, 1]}}`,
			"stats.json: observation.state.mean[0]: NaN: want a finite number"},
		{"no std", `{"observation.state": {"mean": [0, 0, 0, 0, 0, 0]},
			"action": {"min": [-1, -1, -1, -1], "max": [1, 1, 1, 1]}}`,
			`features: observation.state: stats.json has no "std" for normalization mean_std`},
		{"size", `{"observation.state": {"mean": [0, 0], "std": [1, 1]},
			"action": {"min": [-1, -1, -1, -1], "max": [1, 1, 1, 1]}}`,
			"features: observation.state: stats mean has 2 values (shape [2]), the feature has shape [6] (6 values)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyBundle(t, "value")
			if err := os.WriteFile(filepath.Join(dir, "stats.json"), []byte(c.stats), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := steer.LoadBundle(dir); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("LoadBundle: %v, want an error containing %q", err, c.want)
			}
		})
	}
	if _, err := steer.LoadBundle(copyBundle(t, "value")); err != nil {
		t.Fatalf("LoadBundle of the unchanged bundle: %v", err)
	}
}
