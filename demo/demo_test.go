package demo_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/robotd/robotd/demo"
)

// TestRun runs the whole demo (short video) and checks what it promises: every
// free-space target reached, the cube lifted, no non-finite value, and the files
// written, the trace with one row per 10 ms and the video with a frame per period.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 28 s of simulation")
	}
	out := t.TempDir()
	var progress bytes.Buffer
	cfg := demo.Config{Out: out, Hold: 4 * time.Second, VideoFPS: 5, Stiffness: 200, RotStiffness: 30, Progress: &progress}
	_, err := exec.LookPath("ffmpeg")
	cfg.Video = err == nil
	res, err := demo.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, progress.String())
	}
	if err := res.WriteFiles(out); err != nil {
		t.Fatal(err)
	}
	summary, err := os.ReadFile(filepath.Join(out, "summary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", summary)
	if string(summary) != res.Summary() {
		t.Errorf("summary.txt differs from Summary()")
	}
	for _, want := range []string{"free-space targets reached within 2 mm / 0.01 rad: 5 of 5", "(lifted)", "0 non-finite"} {
		if !strings.Contains(string(summary), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if n := strings.Count(progress.String(), "target "); n != len(demo.Waypoints) {
		t.Errorf("progress has %d waypoint lines, want %d:\n%s", n, len(demo.Waypoints), progress.String())
	}
	files := []string{"reach.png", "trace.csv"}
	if cfg.Video {
		files = append(files, "scene.mp4", "scene.png")
		// A frame at the first tick, then one per 1/fps of simulated time.
		if want := int(res.SimTime.Seconds()*float64(cfg.VideoFPS)) + 1; res.Frames != want {
			t.Errorf("%d video frames, want %d", res.Frames, want)
		}
	}
	for _, f := range files {
		st, err := os.Stat(filepath.Join(out, f))
		if err != nil || st.Size() < 1000 {
			t.Errorf("%s: %v (size %d)", f, err, sizeOf(st))
		}
	}
	for _, f := range res.Outputs(out) {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("Outputs lists %s: %v", f, err)
		}
	}
	csv, err := os.ReadFile(filepath.Join(out, "trace.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if rows, want := strings.Count(string(csv), "\n"), 1+res.Ticks/10; rows != want || len(res.Trace) != res.Ticks/10 {
		t.Errorf("trace.csv has %d lines, Trace %d samples; want %d lines for %d ticks", rows, len(res.Trace), want, res.Ticks)
	}
}

func sizeOf(st os.FileInfo) int64 {
	if st == nil {
		return 0
	}
	return st.Size()
}

// TestSummary counts reached targets over free-space legs only: a loaded leg that did
// not settle is compliance, not a miss.
func TestSummary(t *testing.T) {
	r := &demo.Result{
		Config: demo.Config{Stiffness: 200, RotStiffness: 30, VideoFPS: 30},
		Legs: []demo.Leg{
			{Waypoint: demo.Waypoint{Name: "a"}, SettledAfter: 1500 * time.Millisecond, PosErr: 1e-3},
			{Waypoint: demo.Waypoint{Name: "b"}, SettledAfter: -1, PosErr: 5e-3},
			{Waypoint: demo.Waypoint{Name: "c", Loaded: true}, SettledAfter: -1, PosErr: 9e-3},
		},
		SimTime: time.Second, Wall: time.Second, CubeLifted: 0.05,
	}
	s := r.Summary()
	for _, want := range []string{
		"(K 200 N/m, 30 Nm/rad)",
		"a                  1.50 s    1.00 mm 0.0000 rad\n",
		"free-space targets reached within 2 mm / 0.01 rad: 1 of 2",
		"(holding the cube: compliance, not an error)",
		"cube height at the end: 0.050 m (not lifted)",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "video:") || len(r.Outputs("d")) != 3 {
		t.Errorf("no video: want no video line and 3 outputs, got %q\n%s", r.Outputs("d"), s)
	}
	r.Video, r.Frames = "d/scene.mp4", 31
	if !strings.Contains(r.Summary(), "video: 31 frames at 30 fps") || len(r.Outputs("d")) != 5 {
		t.Errorf("with a video: want its line and 5 outputs, got %q\n%s", r.Outputs("d"), r.Summary())
	}
}
