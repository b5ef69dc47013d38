package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs the command end to end, briefly and without video (the demo itself is
// tested in package demo): it prints the summary it writes to summary.txt and names the
// files it wrote.
func TestDemo(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"demo", "--out", out, "--hold", "100ms", "--video=false"}
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	summary, err := os.ReadFile(filepath.Join(out, "summary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "\n"+string(summary)) || !strings.Contains(string(summary), "ticks 700, simulated 0.7 s") {
		t.Errorf("stdout does not print summary.txt of 7 legs of 100 ms:\n%s\nsummary.txt:\n%s", stdout.String(), summary)
	}
	for _, f := range []string{"reach.png", "trace.csv", "summary.txt"} {
		path := filepath.Join(out, f)
		st, err := os.Stat(path)
		if err != nil || st.Size() == 0 || !strings.Contains(stdout.String(), path) {
			t.Errorf("%s: %v (size %d); want it written and named in stdout:\n%s", f, err, sizeOf(st), stdout.String())
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
		{[]string{"demo", "--fps", "0"}, 1, "--fps 0: want 1..120"},
		{[]string{"demo", "extra"}, 2, `unexpected argument "extra"`},
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
