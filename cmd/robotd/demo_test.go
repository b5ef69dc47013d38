package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs the newcomer's main command end to end (short video) and checks what it
// promises: every free-space target reached, the cube lifted, and the files written.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 28 s of simulation")
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"demo", "--out", out, "--fps", "5"}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		args = append(args, "--video=false")
	}
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	summary, err := os.ReadFile(filepath.Join(out, "summary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", summary)
	for _, want := range []string{"free-space targets reached within 2 mm / 0.01 rad: 5 of 5", "(lifted)", "0 non-finite"} {
		if !strings.Contains(string(summary), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	files := []string{"reach.png", "trace.csv"}
	if !strings.Contains(strings.Join(args, " "), "--video=false") {
		files = append(files, "scene.mp4", "scene.png")
	}
	for _, f := range files {
		st, err := os.Stat(filepath.Join(out, f))
		if err != nil || st.Size() < 1000 {
			t.Errorf("%s: %v (size %d)", f, err, sizeOf(st))
		}
	}
}

func sizeOf(st os.FileInfo) int64 {
	if st == nil {
		return 0
	}
	return st.Size()
}

func TestCommandLineErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage"},
		{[]string{"fly"}, 2, `unknown command "fly"`},
		{[]string{"demo", "--hold", "1ms"}, 1, "--hold 1ms: want at least 100ms"},
		{[]string{"demo", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"demo", "--model", "nope.xml", "--out", "OUT"}, 1, "nope.xml"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		for i, a := range c.args {
			if a == "OUT" {
				c.args[i] = t.TempDir()
			}
		}
		code := run(context.Background(), c.args, &stdout, &stderr)
		if code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("robotd %q: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
}
