package episode

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// What LeRobot reads from meta/info.json (lerobot/datasets/utils.py DatasetInfo,
// feature_utils.py, constants.py DEFAULT_FEATURES, video_utils.py get_video_info).
var (
	lerobotInfoFields = map[string]bool{"codebase_version": true, "fps": true, "features": true,
		"total_episodes": true, "total_frames": true, "total_tasks": true, "chunks_size": true,
		"data_files_size_in_mb": true, "video_files_size_in_mb": true, "data_path": true,
		"video_path": true, "robot_type": true, "splits": true, "tools": true}
	lerobotDefaultFeatures = map[string]string{"timestamp": "float32", "frame_index": "int64",
		"episode_index": "int64", "index": "int64", "task_index": "int64"}
	lerobotVideoInfo = []string{"video.height", "video.width", "video.codec", "video.pix_fmt",
		"video.fps", "video.channels", "has_audio", "is_depth_map"}
	lerobotCodecs = map[string]bool{"h264": true, "hevc": true, "av1": true}
)

// checkSchema checks info.json and stats.json against what LeRobot expects of them.
func checkSchema(t *testing.T, dir string) {
	t.Helper()
	var info map[string]any
	readJSON(t, filepath.Join(dir, InfoPath), &info)
	for k := range info {
		if !lerobotInfoFields[k] {
			t.Errorf("info.json: %q is not a DatasetInfo field (LeRobot warns and drops it)", k)
		}
	}
	num := func(k string) int {
		v, ok := info[k].(float64)
		if !ok || v != math.Trunc(v) || v < 0 {
			t.Errorf("info.json: %s = %v, want a non-negative integer", k, info[k])
		}
		return int(v)
	}
	if info["codebase_version"] != "v3.0" {
		t.Errorf("info.json: codebase_version %v", info["codebase_version"])
	}
	for _, k := range []string{"fps", "chunks_size", "data_files_size_in_mb", "video_files_size_in_mb"} {
		if num(k) <= 0 {
			t.Errorf("info.json: %s must be positive", k)
		}
	}
	episodes, frames := num("total_episodes"), num("total_frames")
	num("total_tasks")
	if info["data_path"] != defaultDataPath || info["video_path"] != defaultVideoPath {
		t.Errorf("info.json: data_path %v video_path %v, want LeRobot's defaults", info["data_path"], info["video_path"])
	}
	if sp, _ := info["splits"].(map[string]any); sp["train"] != fmt.Sprintf("0:%d", episodes) {
		t.Errorf("info.json: splits %v", info["splits"])
	}
	feats, _ := info["features"].(map[string]any)
	shapes := map[string][]int{}
	for key, fv := range feats {
		f, _ := fv.(map[string]any)
		dtype, _ := f["dtype"].(string)
		shapeAny, _ := f["shape"].([]any)
		var shape []int
		for _, d := range shapeAny {
			shape = append(shape, int(d.(float64)))
		}
		shapes[key] = shape
		if _, ok := f["names"]; !ok || len(shape) == 0 || dtype == "" {
			t.Errorf("info.json: feature %q: want dtype, shape and names, have %v", key, f)
		}
		if want, ok := lerobotDefaultFeatures[key]; ok && (dtype != want || len(shape) != 1 || shape[0] != 1 || f["names"] != nil) {
			t.Errorf("info.json: feature %q = %v, want %s (1,) names null", key, f, want)
		}
		if dtype == "video" {
			vi, _ := f["info"].(map[string]any)
			for _, k := range lerobotVideoInfo {
				if _, ok := vi[k]; !ok {
					t.Errorf("info.json: video %q: info lacks %q", key, k)
				}
			}
			if len(shape) != 3 || shape[2] != 3 || vi["video.height"] != float64(shape[0]) || vi["video.width"] != float64(shape[1]) ||
				!lerobotCodecs[fmt.Sprint(vi["video.codec"])] || vi["video.pix_fmt"] != "yuv420p" || vi["video.fps"] != info["fps"] || vi["is_depth_map"] != false {
				t.Errorf("info.json: video %q: shape %v info %v", key, shape, vi)
			}
		}
	}
	for k := range lerobotDefaultFeatures {
		if _, ok := feats[k]; !ok {
			t.Errorf("info.json: feature %q missing", k)
		}
	}

	var stats map[string]map[string]any
	readJSON(t, filepath.Join(dir, StatsPath), &stats)
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for key, shape := range shapes {
		fs, ok := stats[key]
		if !ok {
			t.Errorf("stats.json: no stats for %q", key)
			continue
		}
		image := feats[key].(map[string]any)["dtype"] == "video"
		for _, sk := range statKeys {
			v, ok := fs[sk]
			if !ok {
				t.Errorf("stats.json: %s lacks %s", key, sk)
				continue
			}
			flat := flattenNumbers(v, nil)
			switch {
			case sk == "count":
				if len(flat) != 1 || (!image && int(flat[0]) != frames) {
					t.Errorf("stats.json: %s count %v, want [%d]", key, v, frames)
				}
			case image: // (3, 1, 1) in 0..1, as _assert_type_and_shape wants for image keys
				arr, _ := v.([]any)
				if len(arr) != 3 || len(flat) != 3 || fmt.Sprint(v)[:3] != "[[[" {
					t.Errorf("stats.json: %s %s = %v, want shape (3,1,1)", key, sk, v)
				}
				for _, x := range flat {
					if x < -1e-9 || x > 1+1e-9 { // quantiles may sit 1e-10 outside, as LeRobot's
						t.Errorf("stats.json: %s %s = %v outside 0..1", key, sk, v)
					}
				}
			default:
				if len(flat) != shape[0] {
					t.Errorf("stats.json: %s %s has %d values, want %d", key, sk, len(flat), shape[0])
				}
			}
		}
		if image {
			continue
		}
		// Against the data read back: exact min and max, ordered quantiles.
		mn, mx := flattenNumbers(fs["min"], nil), flattenNumbers(fs["max"], nil)
		qs := [][]float64{mn}
		for _, q := range quantileKeys {
			qs = append(qs, flattenNumbers(fs[q], nil))
		}
		qs = append(qs, mx)
		for d := range mn {
			for i := 1; i < len(qs); i++ {
				if qs[i][d] < qs[i-1][d]-1e-9 {
					t.Errorf("stats.json: %s dim %d: min, q01..q99, max not ordered: %v", key, d, qs)
					break
				}
			}
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for i := range ds.Episodes {
			e, err := ds.Episode(i)
			if err != nil {
				t.Fatal(err)
			}
			var col [][]float32
			switch key {
			case KeyTimestamp:
				for _, v := range e.Timestamp {
					col = append(col, []float32{v})
				}
			case KeyFrameIndex, KeyIndex, KeyTaskIndex, KeyEpisodeIndex:
				continue
			default:
				col = e.Vectors[key]
			}
			for _, row := range col {
				lo, hi = math.Min(lo, float64(row[0])), math.Max(hi, float64(row[0]))
			}
		}
		if !math.IsInf(lo, 1) && (lo != mn[0] || hi != mx[0]) {
			t.Errorf("stats.json: %s dim 0 min/max %v/%v, data has %v/%v", key, mn[0], mx[0], lo, hi)
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestSchemaLeRobotReads(t *testing.T) {
	dir, _ := newDataset(t, 45, 30, 120)
	checkSchema(t, dir)
}

// TestStatsLikeLeRobot checks the stats arithmetic on known data: LeRobot's numbers for
// [0..9] (RunningQuantileStats with 5000 bins) and the aggregation of two parts.
func TestStatsLikeLeRobot(t *testing.T) {
	col := make([]float64, 10)
	for i := range col {
		col[i] = float64(i)
	}
	s := vectorStats([][]float64{col})
	if s.Min[0] != 0 || s.Max[0] != 9 || s.Mean[0] != 4.5 || math.Abs(s.Std[0]-math.Sqrt(8.25)) > 1e-12 || s.Count != 10 {
		t.Errorf("stats %+v", s)
	}
	// LeRobot's RunningQuantileStats on np.arange(10.) (its histogram arithmetic run
	// with numpy on Debian's python3): q01..q99.
	want := []float64{-1e-10, -1e-10, 4.00139999998892, 8.0010000000778, 8.999820000099996}
	for i, w := range want {
		if math.Abs(s.Q[i][0]-w) > 1e-9 {
			t.Errorf("%s = %v, LeRobot computes %v", quantileKeys[i], s.Q[i][0], w)
		}
	}
	a := vectorStats([][]float64{col[:4]})
	b := vectorStats([][]float64{col[4:]})
	ag := aggregate([]*FeatureStats{a, b})
	if math.Abs(ag.Mean[0]-4.5) > 1e-12 || math.Abs(ag.Std[0]-s.Std[0]) > 1e-12 || ag.Count != 10 || ag.Min[0] != 0 || ag.Max[0] != 9 {
		t.Errorf("aggregate %+v", ag)
	}
	if got := sampleIndices(900); len(got) != 164 || got[0] != 0 || got[len(got)-1] != 899 {
		t.Errorf("sampleIndices(900): %d, first %d last %d", len(got), got[0], got[len(got)-1])
	}
}
