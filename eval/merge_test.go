package eval

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The slices of ParseShard's shards cover every episode once, in order, sizes within one.
func TestShardRange(t *testing.T) {
	for _, c := range []struct{ episodes, shards int }{{4, 2}, {7, 3}, {100, 4}, {5, 5}, {1, 1}, {10, 4}} {
		next := 0
		for i := 0; i < c.shards; i++ {
			first, n := Shard{i, c.shards}.Range(c.episodes)
			if first != next || n < c.episodes/c.shards || n > c.episodes/c.shards+1 {
				t.Errorf("%d episodes, shard %d/%d: first %d, n %d (want first %d, n %d or %d)", c.episodes, i, c.shards, first, n, next, c.episodes/c.shards, c.episodes/c.shards+1)
			}
			next = first + n
		}
		if next != c.episodes {
			t.Errorf("%d episodes in %d shards: covered %d", c.episodes, c.shards, next)
		}
	}
	for _, s := range []string{"1/4", "0/1", "3/4"} {
		if sh, err := ParseShard(s); err != nil || sh.String() != s {
			t.Errorf("ParseShard(%q) = %v, %v", s, sh, err)
		}
	}
	for _, s := range []string{"4/4", "-1/4", "1/0", "1", "a/b", "1/4/2", ""} {
		if _, err := ParseShard(s); err == nil {
			t.Errorf("ParseShard(%q): no error", s)
		}
	}
}

// fakeShard writes shard i of n of an evaluation of episodes seeds from seed into a new
// directory: shard.json and an eval.json whose episodes succeed on even seeds, with a
// video for the evaluation's episode 0; edit changes the record or report first.
func fakeShard(t *testing.T, root string, i, n, episodes int, seed int64, edit func(*ShardRecord, *Report)) string {
	t.Helper()
	dir := filepath.Join(root, "shard_"+Shard{i, n}.String()[:1]+"_"+filepath.Base(t.TempDir()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rec := &ShardRecord{Shard: i, Shards: n, Seed: seed, Episodes: episodes, Videos: 1, Version: "v1", LaunchSHA256: "l", BundleSHA256: "b", Flags: []string{"camera-noise=4"}}
	first, k := Shard{i, n}.Range(episodes)
	r := &Report{Launch: "launch/x.yaml", Bundle: "models/x", Executor: "inpaint", Latency: "20ms", CameraNoise: 4, Seed: seed + int64(first)}
	for j := 0; j < k; j++ {
		e := Episode{Seed: seed + int64(first+j), Success: (first+j)%2 == 0, Duration: 30}
		if e.Success {
			e.TimeToSuccess, e.Duration = 9+float64(j), 9.5+float64(j)
		}
		if first+j == 0 {
			e.Video = filepath.Join("/elsewhere", "episode_000.mp4")
			if err := os.WriteFile(filepath.Join(dir, "episode_000.mp4"), []byte("video"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		r.add(e)
	}
	r.Inference = Latency{Count: uint64(10 * k), P50: float64(10 + i), P99: float64(20 + i), Max: float64(30 + i)}
	r.Wall, r.Clamps, r.PeakSpeed, r.Faulted = 1, uint64(i), float64(i), i
	st := &Steering{Config: map[string]any{"samples": 4}, Time: map[string]Latency{"total": {Count: uint64(10 * k), P50: 4, P99: float64(5 + i), Max: 9}}}
	st.Samples, st.Steps, st.Rejected, st.Chosen, st.SpreadMean, st.SpreadMax = 4, uint64(10*k), uint64(i), []uint64{uint64(k), 0, uint64(i), 0}, float64(i), float64(i)
	r.Steering = st
	if edit != nil {
		edit(rec, r)
	}
	r.Episodes = len(r.PerEpisode)
	if err := rec.Write(dir); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(filepath.Join(dir, "eval.json")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Merge joins shards in shard order whatever the argument order, recomputes the success
// figures, combines the counters, links the video; and names the shard that is missing,
// duplicated, incomplete or from another evaluation.
func TestMerge(t *testing.T) {
	root := t.TempDir()
	s0, s1, s2 := fakeShard(t, root, 0, 3, 7, 10, nil), fakeShard(t, root, 1, 3, 7, 10, nil), fakeShard(t, root, 2, 3, 7, 10, nil)
	out := filepath.Join(root, "merged")
	r, files, err := Merge(out, []string{s2, s0, s1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Episodes != 7 || r.Successes != 4 || r.Seed != 10 || r.Clamps != 3 || r.Faulted != 3 || r.PeakSpeed != 2 || r.Wall != 3 ||
		r.Inference.Count != 70 || r.Inference.P99 != 22 || r.Inference.Max != 32 {
		t.Errorf("merged %+v", r)
	}
	// Shards of 2, 2 and 3 episodes: steps 20, 20, 30.
	if st := r.Steering; st == nil || st.Steps != 70 || st.Rejected != 3 || fmt.Sprint(st.Chosen) != "[7 0 3 0]" ||
		math.Abs(st.SpreadMean-(0*20+1*20+2*30)/70.0) > 1e-12 || st.SpreadMax != 2 || st.Time["total"].Count != 70 || st.Time["total"].P99 != 7 ||
		st.Config["samples"] != float64(4) {
		t.Errorf("merged steering %+v", r.Steering)
	}
	if lo, hi := Wilson(4, 7); r.Wilson95 != [2]float64{lo, hi} || r.SuccessRate != 4.0/7 {
		t.Errorf("rate %v, interval %v", r.SuccessRate, r.Wilson95)
	}
	for i, e := range r.PerEpisode {
		if e.Seed != 10+int64(i) || e.Success != (i%2 == 0) {
			t.Errorf("episode %d: %+v", i, e)
		}
	}
	if v := r.PerEpisode[0].Video; v != filepath.Join(out, "episode_000.mp4") {
		t.Errorf("video %q", v)
	} else if b, err := os.ReadFile(v); err != nil || string(b) != "video" {
		t.Errorf("video not linked: %v", err)
	}
	if back, err := ReadJSON(files[0]); err != nil || back.Successes != 4 || len(back.PerEpisode) != 7 {
		t.Errorf("merged eval.json %s: %+v, %v", files[0], back, err)
	}

	for _, c := range []struct {
		name string
		dirs []string
		want string
	}{
		{"missing", []string{s0, s2}, "shard(s) 1/3 missing"},
		{"duplicated", []string{s0, s1, s1, s2}, "shard 1/3 given twice"},
		{"other bundle", []string{s0, s1, fakeShard(t, root, 2, 3, 7, 10, func(s *ShardRecord, _ *Report) { s.BundleSHA256 = "c" })}, "policy bundle (sha256) c, not b"},
		{"other launch file", []string{s0, s1, fakeShard(t, root, 2, 3, 7, 10, func(s *ShardRecord, _ *Report) { s.LaunchSHA256 = "m" })}, "launch file (sha256)"},
		{"other build", []string{s0, s1, fakeShard(t, root, 2, 3, 7, 10, func(s *ShardRecord, _ *Report) { s.Version = "v2" })}, "robotd version v2, not v1"},
		{"other condition", []string{s0, s1, fakeShard(t, root, 2, 3, 7, 10, func(s *ShardRecord, _ *Report) { s.Flags = []string{"camera-noise=8"} })}, "flags [camera-noise=8]"},
		{"other steering", []string{s0, s1, fakeShard(t, root, 2, 3, 7, 10, func(_ *ShardRecord, r *Report) { r.Steering.Config["samples"] = 8 })}, "eval.json steering map[samples:8], not map[samples:4]"},
		{"other executor", []string{s0, s1, fakeShard(t, root, 2, 3, 7, 10, func(_ *ShardRecord, r *Report) { r.Executor = "receding" })}, "eval.json executor receding, not inpaint"},
		{"other evaluation", []string{s0, s1, fakeShard(t, root, 2, 3, 8, 10, nil)}, "first seed, episodes"},
		{"shard count", []string{s0, s1, fakeShard(t, root, 2, 4, 7, 10, nil)}, "shard count 4, not 3"},
		{"interrupted", []string{s0, s1, fakeShard(t, root, 2, 3, 7, 10, func(_ *ShardRecord, r *Report) { r.PerEpisode = r.PerEpisode[:1] })}, "has 1 episodes, want 3 (seeds 14..16): interrupted?"},
		{"wrong seeds", []string{s0, s1, fakeShard(t, root, 2, 3, 7, 10, func(_ *ShardRecord, r *Report) { r.PerEpisode[1].Seed = 99 })}, "episode 1 has seed 99, want 15"},
		{"not a shard", []string{s0, s1, root}, "no shard.json"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Merge(filepath.Join(root, "bad"), c.dirs)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if c.name != "missing" && c.name != "not a shard" && c.name != "duplicated" && !strings.Contains(err.Error(), c.dirs[len(c.dirs)-1]) {
				t.Errorf("error %v does not name the shard's directory %s", err, c.dirs[len(c.dirs)-1])
			}
		})
	}
}
