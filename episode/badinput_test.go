package episode

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// snapshot hashes every file under dir, to show that nothing was written over.
func snapshot(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	m := map[string][32]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(p, privDir) {
			b, _ := os.ReadFile(p)
			m[p] = sha256.Sum256(b)
		}
		return nil
	})
	return m
}

func sameSnapshot(t *testing.T, a, b map[string][32]byte) {
	t.Helper()
	if len(a) != len(b) {
		t.Errorf("files changed: %d before, %d after", len(a), len(b))
	}
	for k, v := range a {
		if b[k] != v {
			t.Errorf("%s was written over", k)
		}
	}
}

func truncate(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:len(b)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBadInput(t *testing.T) {
	base, _ := newDataset(t, 31, 32)
	copyDir := func(t *testing.T) string {
		dst := filepath.Join(t.TempDir(), "ds")
		filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			rel, _ := filepath.Rel(base, p)
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(dst, rel), 0o755)
			}
			b, _ := os.ReadFile(p)
			return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
		})
		return dst
	}
	tests := []struct {
		name   string
		break_ func(dir string)
		spec   func(*Spec)
		op     string // open, append, episode, video
		want   []string
	}{
		{"truncated data parquet", func(d string) { truncate(t, filepath.Join(d, "data/chunk-000/file-000.parquet")) }, nil, "episode",
			[]string{"data/chunk-000/file-000.parquet", "truncated or corrupt"}},
		{"truncated episodes parquet", func(d string) { truncate(t, filepath.Join(d, "meta/episodes/chunk-000/file-000.parquet")) }, nil, "open",
			[]string{"meta/episodes/chunk-000/file-000.parquet", "truncated or corrupt"}},
		{"truncated data parquet, append", func(d string) { truncate(t, filepath.Join(d, "data/chunk-000/file-000.parquet")) }, nil, "append-record",
			[]string{"data/chunk-000/file-000.parquet", "truncated or corrupt"}},
		{"truncated mp4", func(d string) {
			truncate(t, filepath.Join(d, "videos/observation.images.front/chunk-000/file-001.mp4"))
		}, nil, "video",
			[]string{"videos/observation.images.front/chunk-000/file-001.mp4"}},
		// Appending after a truncated video is refused, naming it: the writer once
		// appended the new episode to it and exited 0 with a short video.
		{"truncated mp4, append", func(d string) {
			truncate(t, filepath.Join(d, "videos/observation.images.front/chunk-000/file-001.mp4"))
		}, nil, "append-record",
			[]string{"videos/observation.images.front/chunk-000/file-001.mp4", "truncated", "last episode, 1"}},
		{"v2.1 dataset", func(d string) { setVersion(t, d, "v2.1") }, nil, "append",
			[]string{"meta/info.json", `codebase_version "v2.1"`, "want v3.0", "convert_dataset_v21_to_v30"}},
		{"v1.x dataset", func(d string) {
			os.RemoveAll(filepath.Join(d, "meta"))
			os.MkdirAll(filepath.Join(d, "meta_data"), 0o755)
			os.WriteFile(filepath.Join(d, "meta_data", "info.json"), []byte(`{"fps": 30}`), 0o644)
		}, nil, "append", []string{"v1.x", "want v3.0"}},
		{"missing feature", nil, func(s *Spec) {
			s.Cameras = append(s.Cameras, CameraSpec{Key: "observation.images.side", Width: 64, Height: 48})
		}, "append",
			[]string{"meta/info.json", `feature "observation.images.side" missing`}},
		{"other state", nil, func(s *Spec) { s.State.Names = s.State.Names[:7] }, "append",
			[]string{`feature "observation.state" is float32[8], want float32[7]`}},
		{"other fps", nil, func(s *Spec) { s.FPS = 15 }, "append", []string{"fps 30, want 15"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t)
			if tc.break_ != nil {
				tc.break_(dir)
			}
			before := snapshot(t, dir)
			spec := testSpec()
			if tc.spec != nil {
				tc.spec(&spec)
			}
			var err error
			switch tc.op {
			case "open":
				_, err = Open(dir)
			case "episode":
				var ds *Dataset
				if ds, err = Open(dir); err == nil {
					_, err = ds.Episode(0)
				}
			case "video":
				var ds *Dataset
				if ds, err = Open(dir); err == nil {
					var r *VideoReader
					if r, err = ds.OpenVideo(1, "observation.images.front"); err == nil {
						for err == nil {
							_, err = r.Next()
						}
						r.Close()
					}
				}
			case "append", "append-record":
				var w *Writer
				if w, err = OpenAppend(dir, spec); err == nil {
					if tc.op == "append-record" {
						var ep *EpisodeWriter
						if ep, err = w.BeginEpisode("x"); err == nil {
							ep.AddFrame(synthFrame(w.spec, 2, 0, nil2()))
							_, err = ep.End(t.Context())
						}
					}
					w.Close()
				}
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			sameSnapshot(t, before, snapshot(t, dir))
		})
	}
}

func setVersion(t *testing.T, dir, v string) {
	p := filepath.Join(dir, InfoPath)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(b), `"v3.0"`, `"`+v+`"`, 1)), 0o644)
}

func nil2() *rand.Rand { return rand.New(rand.NewSource(1)) }

func TestCreateRefuses(t *testing.T) {
	ds, _ := newDataset(t, 30)
	if _, err := Create(ds, testSpec()); err == nil || !strings.Contains(err.Error(), "already a dataset") {
		t.Errorf("Create on a dataset: %v", err)
	}
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644)
	before := snapshot(t, other)
	if _, err := Create(other, testSpec()); err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("Create in a non-empty directory: %v", err)
	}
	sameSnapshot(t, before, snapshot(t, other))
	if _, err := os.Stat(filepath.Join(other, privDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Create left %s in a directory it refused", privDir)
	}
	if _, err := OpenAppend(other, testSpec()); err == nil || !strings.Contains(err.Error(), "not a LeRobotDataset") {
		t.Errorf("OpenAppend on a non-dataset: %v", err)
	}
	w, err := OpenAppend(ds, testSpec())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := OpenAppend(ds, testSpec()); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("second writer: %v", err)
	}
	ep, _ := w.BeginEpisode("pick the cube")
	bad := synthFrame(w.spec, 1, 0, nil2())
	bad.Images[1] = bad.Images[1][:10]
	if err := ep.AddFrame(bad); err == nil || !strings.Contains(err.Error(), "observation.images.wrist: 10 bytes, want 32x32x3") {
		t.Errorf("short image: %v", err)
	}
	ep.Discard()
}

// TestAppendAfterShortVideo: a dataset whose last episode's video lost frames (a
// truncated copy, a full disk) is not appended to: OpenAppend names the file, and
// nothing is written. The layout may keep several episodes in one file (LeRobot's
// writer does): the file is found through the episodes table, as a reader would.
func TestAppendAfterShortVideo(t *testing.T) {
	for _, cut := range []struct {
		name string
		keep func(n int) int
		want string
	}{
		{"truncated", func(n int) int { return n * 2 / 3 }, "truncated"},
		{"header only", func(n int) int { return 40 }, "truncated"},
	} {
		t.Run(cut.name, func(t *testing.T) {
			dir, _ := newDataset(t, 31, 32)
			ds, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			rel := ds.VideoPath(ds.Episodes[1], "observation.images.front")
			b, err := os.ReadFile(filepath.Join(dir, rel))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, rel), b[:cut.keep(len(b))], 0o644); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, dir)
			w, err := OpenAppend(dir, testSpec())
			if err == nil {
				ep, err2 := w.BeginEpisode("x")
				if err2 == nil {
					ep.AddFrame(synthFrame(w.spec, 2, 0, nil2()))
					_, err2 = ep.End(t.Context())
				}
				w.Close()
				t.Fatalf("appended after a cut video (End: %v)", err2)
			}
			if !strings.Contains(err.Error(), rel) || !strings.Contains(err.Error(), cut.want) {
				t.Errorf("error %q does not name %s and say %q", err, rel, cut.want)
			}
			sameSnapshot(t, before, snapshot(t, dir))
		})
	}
}
