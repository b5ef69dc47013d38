package episode

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The helper process of the crash tests: records into $ROBOTD_EPISODE_CRASH_DIR until
// the parent SIGKILLs it (or it kills itself in the middle of a commit).
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv("ROBOTD_EPISODE_CRASH_DIR")
	if dir == "" {
		t.Skip("the recorder process of TestSIGKILL*")
	}
	w, err := Create(dir, testSpec())
	if err != nil {
		t.Fatal(err)
	}
	recordEpisodes(t, w, 7, 40, 33)
	if os.Getenv("ROBOTD_EPISODE_CRASH_AT") == "commit" {
		// Die between the renames of the third episode's commit.
		w.afterMove = func(i int) {
			if i == 2 {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
		recordEpisodes(t, w, 8, 25)
		return
	}
	ep, err := w.BeginEpisode(taskOf(2))
	if err != nil {
		t.Fatal(err)
	}
	for k, f := range expectedFrames(w.spec, 9, 2, 100000)[0] {
		if err := ep.AddFrame(f); err != nil {
			t.Fatal(err)
		}
		if k == 20 {
			os.Stdout.WriteString("RECORDING\n")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func runCrashHelper(t *testing.T, dir, at string) {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashHelper$", "-test.count", "1")
	cmd.Env = append(os.Environ(), "ROBOTD_EPISODE_CRASH_DIR="+dir, "ROBOTD_EPISODE_CRASH_AT="+at)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if at == "commit" {
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("helper: %v, want killed by SIGKILL mid-commit", err)
		}
		return
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.Contains(sc.Text(), "RECORDING") {
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

// TestSIGKILLMidEpisode: a recorder killed in the middle of its third episode leaves
// the two earlier ones readable bit for bit and the dataset consistent for DuckDB and
// PyAV; the next writer discards the partial episode, says so, and appends cleanly.
func TestSIGKILLMidEpisode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	runCrashHelper(t, dir, "episode")

	if entries, _ := os.ReadDir(filepath.Join(dir, stagingDir)); len(entries) != 1 {
		t.Fatalf("want the partial episode staged, have %v", entries)
	}
	before := expectedFrames(testSpec(), 7, 0, 40, 33)
	checkEpisodes(t, dir, 0, before)
	checkWithDuckDB(t, dir, testSpec())
	checkWithPyAV(t, dir)

	w, err := OpenAppend(dir, testSpec())
	if err != nil {
		t.Fatal(err)
	}
	rec := w.Recovered()
	if len(rec) != 1 || !strings.Contains(rec[0], "discarded a partial episode (episode 2") {
		t.Fatalf("Recovered() = %q, want the partial episode 2 discarded", rec)
	}
	t.Logf("recovered: %s", rec[0])
	after := recordEpisodes(t, w, 10, 31)
	w.Close()
	checkEpisodes(t, dir, 0, before)
	checkEpisodes(t, dir, 2, after)
	checkWithDuckDB(t, dir, testSpec())
	checkWithPyAV(t, dir)
	checkSchema(t, dir)
}

// TestSIGKILLMidCommit: a recorder killed after the commit point, between the renames,
// leaves a journal; Open refuses to read the half-renamed dataset and the next writer
// completes the commit.
func TestSIGKILLMidCommit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	runCrashHelper(t, dir, "commit")
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("Open = %v, want the interrupted commit reported", err)
	}
	w, err := OpenAppend(dir, testSpec())
	if err != nil {
		t.Fatal(err)
	}
	rec := w.Recovered()
	if len(rec) != 1 || !strings.Contains(rec[0], "completed the commit of episode 2") {
		t.Fatalf("Recovered() = %q", rec)
	}
	w.Close()
	checkEpisodes(t, dir, 0, expectedFrames(testSpec(), 7, 0, 40, 33))
	checkEpisodes(t, dir, 2, expectedFrames(testSpec(), 8, 2, 25))
	checkWithDuckDB(t, dir, testSpec())
	checkWithPyAV(t, dir)
}
