package eval

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeSpec writes a sweep spec beside two empty launch files and a bundle directory.
func writeSpec(t *testing.T, spec string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.yaml"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "b.yaml"), nil, 0o644)
	os.Mkdir(filepath.Join(dir, "bundle"), 0o755)
	p := filepath.Join(dir, "sweep.yaml")
	if err := os.WriteFile(p, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A sweep expands to every combination of its axes, launch varying slowest, paths against
// the spec's directory, each cell in its shards; the table merges each cell's shards and
// names a cell whose shard is missing. Bad specs are refused naming the key.
func TestSweep(t *testing.T) {
	p := writeSpec(t, "launch: [a.yaml, b.yaml]\ncamera_noise: [0, 8]\nsteer: [on, off]\nseed: 3\nepisodes: 5\nshards: 2\nout: out\n")
	s, err := LoadSweep(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(p)
	cells := s.Cells()
	if len(cells) != 8 {
		t.Fatalf("%d cells, want 2 x 2 x 2", len(cells))
	}
	want := []string{"--launch", filepath.Join(dir, "b.yaml"), "--camera-noise", "0", "--steer", "off", "--episodes", "5", "--seed", "3", "--videos", "0"}
	if got := cells[5].Flags; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("cell 5 flags %q, want %q", got, want)
	}
	if cells[5].Dir != filepath.Join(dir, "out", "cell_005") || cells[5].label() != "launch=b.yaml camera_noise=0 steer=off" {
		t.Errorf("cell 5: %s, %s", cells[5].Dir, cells[5].label())
	}
	jobs := s.Jobs()
	if len(jobs) != 16 || jobs[3].Cell != 1 || jobs[3].Shard != (Shard{1, 2}) || jobs[3].Dir != filepath.Join(dir, "out", "cell_001", "shard_1") ||
		strings.Join(jobs[3].Args[len(jobs[3].Args)-4:], " ") != "--shard 1/2 --out "+jobs[3].Dir {
		t.Errorf("job 3: %+v", jobs[3])
	}

	// The table from shards written as robotd eval --shard would.
	p = writeSpec(t, "launch: [a.yaml]\ncamera_noise: [0, 8]\nepisodes: 4\nshards: 2\nseed: 10\nout: out\n")
	s, _ = LoadSweep(p)
	for _, j := range s.Jobs() {
		tmp := fakeShard(t, t.TempDir(), j.Shard.Index, 2, 4, 10, func(_ *ShardRecord, r *Report) {
			if j.Cell == 1 {
				r.CameraNoise = 8
				for k := range r.PerEpisode {
					r.PerEpisode[k].Success = false
				}
			}
		})
		os.MkdirAll(filepath.Dir(j.Dir), 0o755)
		if err := os.Rename(tmp, j.Dir); err != nil {
			t.Fatal(err)
		}
	}
	rows, files, err := s.Table()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Report.Successes != 2 || rows[1].Report.Successes != 0 || len(files) != 3 {
		t.Errorf("rows %+v, files %q", rows, files)
	}
	csv, _ := os.ReadFile(filepath.Join(s.OutDir(), "sweep.csv"))
	if !strings.Contains(string(csv), "cell,launch,camera_noise,episodes,successes,success_rate,wilson95_lo,wilson95_hi,time_to_success_mean_s,faulted\n0,a.yaml,0,4,2,0.5000,") ||
		!strings.Contains(string(csv), "\n1,a.yaml,8,4,0,0.0000,0.0000,") {
		t.Errorf("sweep.csv:\n%s", csv)
	}
	if st, err := os.Stat(filepath.Join(s.OutDir(), "sweep.png")); err != nil || st.Size() < 1000 {
		t.Errorf("sweep.png: %v", err)
	}
	os.RemoveAll(filepath.Join(s.OutDir(), "cell_001", "shard_1"))
	if _, _, err := s.Table(); err == nil || !strings.Contains(err.Error(), "cell 1 (launch=a.yaml camera_noise=8)") {
		t.Errorf("a cell's shard missing: %v", err)
	}

	for _, c := range []struct{ spec, want string }{
		{"launch: [a.yaml]\nepisodes: 4\n", "out: missing"},
		{"launch: [a.yaml]\nepisodes: 4\nshards: 5\nout: o\n", "shards: 5: want 1..episodes (4)"},
		{"episodes: 4\nout: o\n", "launch: want at least one"},
		{"launch: [c.yaml]\nepisodes: 4\nout: o\n", "launch[0]"},
		{"launch: [a.yaml]\nepisodes: 4\nout: o\nlatency: [20]\n", `latency[0]: "20": want a duration`},
		{"launch: [a.yaml]\nepisodes: 4\nout: o\nbundles: [a.yaml]\n", "bundles[0]"},
		{"launch: [a.yaml]\nepisodes: 4\nout: o\ncamera_noise: [-1]\n", "camera_noise[0]"},
		{"launch: [a.yaml]\nepisodes: 4\nout: o\nseeds: 3\n", "field seeds not found"},
		{"", "empty file"},
	} {
		if _, err := LoadSweep(writeSpec(t, c.spec)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("spec %q: error %v, want %q", c.spec, err, c.want)
		}
	}
}
