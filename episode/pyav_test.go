package episode

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// checkWithPyAV decodes every video of a dataset with PyAV (Debian python3-av) as
// LeRobot's decode_video_frames_pyav does, and checks frame counts and timestamps
// against the data's.
func checkWithPyAV(t *testing.T, dir string) {
	t.Helper()
	py := "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import av").CombinedOutput(); err != nil {
		t.Skipf("python3-av not installed (run scripts/setup.sh): %v %s", err, out)
	}
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	type ep struct {
		Episode    int       `json:"episode"`
		Key        string    `json:"key"`
		Path       string    `json:"path"`
		From       float64   `json:"from"`
		To         float64   `json:"to"`
		Timestamps []float32 `json:"timestamps"`
		Width      int       `json:"width"`
		Height     int       `json:"height"`
	}
	var eps []ep
	for i, e := range ds.Episodes {
		d, err := ds.Episode(i)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ds.Info.VideoKeys() {
			f, _ := ds.Info.Feature(k)
			eps = append(eps, ep{i, k, filepath.Join(dir, ds.VideoPath(e, k)), e.Videos[k].From, e.Videos[k].To, d.Timestamp, f.Shape[1], f.Shape[0]})
		}
	}
	in, _ := json.Marshal(map[string]any{"fps": ds.Info.FPS, "episodes": eps, "tolerance_s": 1e-4})
	job := filepath.Join(t.TempDir(), "job.json")
	os.WriteFile(job, in, 0o644)
	out, err := exec.Command(py, "testdata/pyav_check.py", job).CombinedOutput()
	if err != nil {
		t.Fatalf("pyav_check.py: %v\n%s", err, out)
	}
	t.Logf("PyAV: %s", out)
}
