package episode

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// repoRoot is the module root (episode/..).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

type duckReport struct {
	Version string `json:"version"`
	Files   []struct {
		Path    string      `json:"path"`
		Rows    int         `json:"rows"`
		Columns [][2]string `json:"columns"`
	} `json:"files"`
	Data []struct {
		Path        string      `json:"path"`
		Episode     int64       `json:"episode_index,string"`
		N           int64       `json:"n,string"`
		Lo          int64       `json:"lo,string"`
		Hi          int64       `json:"hi,string"`
		F0          int64       `json:"f0,string"`
		F1          int64       `json:"f1,string"`
		StateValues json.Number `json:"state_values"`
		TsErr       float64     `json:"ts_err"`
	} `json:"data"`
	Episodes []map[string]any `json:"episodes"`
	Tasks    []map[string]any `json:"tasks"`
}

// duckdb runs testdata/duckdb_check.js on a dataset.
func duckdb(t *testing.T, dir string, fps int) *duckReport {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found (scripts/setup.sh installs nodejs and the DuckDB npm package)")
	}
	duckDir := filepath.Join(repoRoot(), ".cache", "duckdb")
	if _, err := os.Stat(filepath.Join(duckDir, "node_modules", "@duckdb", "node-api")); err != nil {
		t.Skipf("DuckDB not installed in %s (run scripts/setup.sh)", duckDir)
	}
	cmd := exec.Command(node, "testdata/duckdb_check.js", dir, fmt.Sprint(fps))
	cmd.Env = append(os.Environ(), "DUCKDB_DIR="+duckDir)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("duckdb_check.js: %v\n%s", err, stderr)
	}
	var r duckReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("duckdb_check.js output: %v\n%.2000s", err, out)
	}
	return &r
}

// wantColumns are the DuckDB types of what LeRobot writes (pyarrow from the
// datasets features: float32 lists, int64 indices; pa.Table.from_pydict for episodes).
func wantDataColumns(s Spec) map[string]string {
	m := map[string]string{
		KeyState: "FLOAT[]", KeyAction: "FLOAT[]", KeyTimestamp: "FLOAT", KeyFrameIndex: "BIGINT",
		KeyEpisodeIndex: "BIGINT", KeyIndex: "BIGINT", KeyTaskIndex: "BIGINT",
	}
	for _, v := range s.Vectors {
		m[v.Key] = "FLOAT[]"
		if len(v.Names) == 1 {
			m[v.Key] = "FLOAT"
		}
	}
	if s.Reward {
		m[KeyReward] = "FLOAT"
	}
	if s.Done {
		m[KeyDone] = "BOOLEAN"
	}
	if s.Success {
		m[KeySuccess] = "BOOLEAN"
	}
	return m
}

func wantEpisodeColumns(s Spec) map[string]string {
	m := map[string]string{
		"episode_index": "BIGINT", "tasks": "VARCHAR[]", "length": "BIGINT",
		"data/chunk_index": "BIGINT", "data/file_index": "BIGINT",
		"dataset_from_index": "BIGINT", "dataset_to_index": "BIGINT",
		"meta/episodes/chunk_index": "BIGINT", "meta/episodes/file_index": "BIGINT",
	}
	stat := func(key, typ string) {
		for _, sk := range statKeys {
			if sk == "count" {
				m["stats/"+key+"/count"] = "BIGINT[]"
			} else {
				m["stats/"+key+"/"+sk] = typ
			}
		}
	}
	for k := range wantDataColumns(s) {
		stat(k, "DOUBLE[]")
	}
	for _, c := range s.Cameras {
		p := "videos/" + c.Key + "/"
		m[p+"chunk_index"], m[p+"file_index"] = "BIGINT", "BIGINT"
		m[p+"from_timestamp"], m[p+"to_timestamp"] = "DOUBLE", "DOUBLE"
		stat(c.Key, "DOUBLE[][][]")
	}
	return m
}

// checkWithDuckDB reads every parquet file of a dataset robotd wrote with DuckDB and
// checks columns, types, row counts and the index columns against the metadata.
func checkWithDuckDB(t *testing.T, dir string, s Spec) {
	t.Helper()
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := duckdb(t, dir, s.FPS)
	dataCols, epCols := wantDataColumns(s), wantEpisodeColumns(s)
	var dataRows, epRows, files int
	for _, f := range r.Files {
		var want map[string]string
		switch {
		case strings.HasPrefix(f.Path, "data/"):
			want, dataRows = dataCols, dataRows+f.Rows
		case strings.HasPrefix(f.Path, "meta/episodes/"):
			want, epRows = epCols, epRows+f.Rows
		case f.Path == TasksPath:
			want = map[string]string{"task_index": "BIGINT", "task": "VARCHAR"}
			if f.Rows != len(ds.Tasks) {
				t.Errorf("duckdb: %s: %d rows, want %d", f.Path, f.Rows, len(ds.Tasks))
			}
		default:
			t.Errorf("duckdb: unexpected parquet file %s", f.Path)
			continue
		}
		files++
		have := map[string]string{}
		for _, c := range f.Columns {
			have[c[0]] = c[1]
		}
		for k, typ := range want {
			if have[k] != typ {
				t.Errorf("duckdb: %s: column %q is %q, want %q", f.Path, k, have[k], typ)
			}
		}
		for k := range have {
			if _, ok := want[k]; !ok {
				t.Errorf("duckdb: %s: unexpected column %q", f.Path, k)
			}
		}
	}
	if dataRows != ds.Info.TotalFrames || epRows != ds.Info.TotalEpisodes {
		t.Errorf("duckdb: %d data rows and %d episode rows, want %d and %d", dataRows, epRows, ds.Info.TotalFrames, ds.Info.TotalEpisodes)
	}
	if len(r.Data) != len(ds.Episodes) {
		t.Fatalf("duckdb: %d episodes in data files, want %d", len(r.Data), len(ds.Episodes))
	}
	for i, d := range r.Data {
		e := ds.Episodes[i]
		sv, _ := d.StateValues.Int64()
		if d.Episode != int64(i) || d.Path != ds.DataPath(e) || d.N != int64(e.Length) || d.Lo != e.From || d.Hi != e.To-1 ||
			d.F0 != 0 || d.F1 != int64(e.Length-1) || sv != int64(e.Length*len(s.State.Names)) || d.TsErr > 1e-6 {
			t.Errorf("duckdb: episode %d in %s: %+v, want %d rows, index [%d, %d), in %s", i, d.Path, d, e.Length, e.From, e.To, ds.DataPath(e))
		}
	}
	for i, e := range r.Episodes {
		if fmt.Sprint(e["episode_index"]) != fmt.Sprint(i) || fmt.Sprint(e["length"]) != fmt.Sprint(ds.Episodes[i].Length) {
			t.Errorf("duckdb: episodes row %d: %v", i, e)
		}
	}
	for i, tk := range r.Tasks {
		if tk["task"] != ds.Tasks[i] {
			t.Errorf("duckdb: task %d %v, want %q", i, tk, ds.Tasks[i])
		}
	}
	t.Logf("DuckDB %s read %d parquet files: %d frames, %d episodes, %d tasks", r.Version, files, dataRows, epRows, len(r.Tasks))
}

func TestDuckDBReadsDataset(t *testing.T) {
	s := testSpec()
	s.DataFileMB, s.VideoFileMB, s.ChunksSize = 3, 4, 3
	dir := filepath.Join(t.TempDir(), "ds")
	w, err := Create(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	w.mb = 4 << 10 // 1 "MB" = 4 KiB: data and episodes files roll over (videos: a file per episode)
	recordEpisodes(t, w, 2, 30, 45, 31, 60, 33, 30)
	w.Close()
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	for _, e := range ds.Episodes {
		files[ds.DataPath(e)] = true
		files[ds.VideoPath(e, s.Cameras[0].Key)] = true
		files[episodesPath(e.MetaChunk, e.MetaFile)] = true
	}
	if len(files) < 6 {
		t.Errorf("want files rolled over, have %v", files)
	}
	t.Logf("files: %v", sortedKeys(files))
	checkWithDuckDB(t, dir, s)
	checkWithPyAV(t, dir)
	checkSchema(t, dir)
}
