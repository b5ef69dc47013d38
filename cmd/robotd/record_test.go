package main

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/robotd/robotd/episode"
)

// robotd record with the scripted expert writes a dataset that reads back: episodes with
// the expected features, frame counts that match the runs, successful last frames. Then a
// recorder SIGKILLed in the middle of an episode leaves the earlier episodes intact, and
// the next robotd record on the same directory discards the partial episode and appends.
func TestRecordExpertAndKill(t *testing.T) {
	bin := robotdBinary(t)
	dir := filepath.Join(t.TempDir(), "pickplace")
	record := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"record", "--launch", "../../launch/pickplace.yaml", "--out", dir,
			"--task", "put the cube in the zone", "--source", "expert"}, args...)...)
		return cmd
	}
	out, err := record("--episodes", "1", "--seed", "3").CombinedOutput()
	if err != nil {
		t.Fatalf("record: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	if !strings.Contains(string(out), "1 succeeded") {
		t.Fatalf("the expert's episode did not succeed:\n%s", out)
	}
	first := readDataset(t, dir, 1)
	ep0, err := first.Episode(0)
	if err != nil {
		t.Fatal(err)
	}
	n := len(ep0.Timestamp)
	if n < 100 || len(ep0.State[0]) != 8 || len(ep0.Action[0]) != 7 {
		t.Fatalf("episode 0: %d frames, state %d, action %d values; want > 100, 8 (7 joints + gripper), 7 (x y z rx ry rz gripper)", n, len(ep0.State[0]), len(ep0.Action[0]))
	}
	for i, ts := range ep0.Timestamp {
		if math.Abs(float64(ts)-float64(i)/30) > 1e-4 {
			t.Fatalf("frame %d timestamp %v, want %v", i, ts, float64(i)/30)
		}
	}
	if done, succ := ep0.Vectors[episode.KeyDone], ep0.Vectors[episode.KeySuccess]; done[n-1][0] != 1 || succ[n-1][0] != 1 || done[0][0] != 0 {
		t.Fatalf("next.done first/last %v/%v, next.success last %v: want 0/1, 1", done[0], done[n-1], succ[n-1])
	}
	// The gripper closes on the cube during the episode and the action says so first.
	var minCmd, minWidth float32 = 1, 1
	for i := range ep0.Action {
		minCmd, minWidth = min(minCmd, ep0.Action[i][6]), min(minWidth, ep0.State[i][7])
	}
	// (The measured opening is the fingers' joint travel: about 3.6 cm on the 5 cm cube.)
	if minCmd > 0.01 || minWidth > 0.05 || minWidth < 0.02 {
		t.Fatalf("gripper command min %.3f, opening min %.3f: want closed (< 0.01) and held open by the cube (0.02..0.05)", minCmd, minWidth)
	}
	before := snapshot(t, dir)

	// SIGKILL in the middle of the next episode.
	cmd := record("--episodes", "3", "--seed", "4")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // well inside the first episode of this run (~2 s of wall per 9 s episode)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	t.Logf("killed recorder's output:\n%s", buf.String())
	killedDuring := strings.Count(buf.String(), "frames (")
	ds := readDataset(t, dir, 1+killedDuring)
	got, err := ds.Episode(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Timestamp) != n || got.State[n-1][0] != ep0.State[n-1][0] || got.Action[n/2][2] != ep0.Action[n/2][2] {
		t.Fatal("episode 0 changed after the recorder was killed")
	}
	if killedDuring == 0 {
		for rel, data := range before {
			if now, err := os.ReadFile(filepath.Join(dir, rel)); err != nil || !bytes.Equal(now, data) {
				t.Fatalf("%s changed by a recorder killed before it committed anything", rel)
			}
		}
	}

	// The next run finds the remains, discards them, and appends.
	out, err = record("--episodes", "1", "--seed", "5").CombinedOutput()
	if err != nil {
		t.Fatalf("record after the kill: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	readDataset(t, dir, 2+killedDuring)

	// Replay episode 0 on the simulated arm: it tracks the recorded states.
	png := filepath.Join(t.TempDir(), "replay.png")
	out, err = exec.Command(bin, "replay", dir, "--episode", "0", "--launch", "../../launch/pickplace.yaml", "--plot", png).CombinedOutput()
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	m := regexp.MustCompile(`tracked (\d+) frames: .* tool position error RMS ([0-9.]+) mm, max ([0-9.]+) mm`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no tracking report in:\n%s", out)
	}
	frames, _ := strconv.Atoi(m[1])
	rms, _ := strconv.ParseFloat(m[2], 64)
	worst, _ := strconv.ParseFloat(m[3], 64)
	if frames != n || rms > 10 || worst > 25 {
		t.Fatalf("replay tracked %d of %d frames, tool error RMS %.2f mm, max %.2f mm: want all, < 10 mm, < 25 mm", frames, n, rms, worst)
	}
	if st, err := os.Stat(png); err != nil || st.Size() < 1000 {
		t.Fatalf("no replay plot: %v", err)
	}
	out, err = exec.Command(bin, "replay", dir, "--episode", "99", "--launch", "../../launch/pickplace.yaml").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "episode 99 out of range") {
		t.Fatalf("replay of a missing episode: %v\n%s", err, out)
	}
	// A policy whose features the dataset lacks is refused, naming the feature.
	out, err = exec.Command(bin, "eval-offline", dir, "--bundle", "../../policy/testdata/unet").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "observation.state with 7 values; the dataset's has 8") {
		t.Fatalf("eval-offline with a mismatched bundle: %v\n%s", err, out)
	}
}

// A policy rollout recorded with robotd record (launch/sim.yaml: the fixture policy, the
// wrist camera) records the policy's own state layout, and eval-offline replays its
// observations through the same bundle: one step per policy period, every predicted
// action within the episode compared, a plot.
func TestRecordPolicyEvalOffline(t *testing.T) {
	bin := robotdBinary(t)
	dir := filepath.Join(t.TempDir(), "rollout")
	out, err := exec.Command(bin, "record", "--launch", "../../launch/sim.yaml", "--out", dir, "--task", "move about",
		"--episodes", "1", "--episode-time", "2s").CombinedOutput()
	if err != nil {
		t.Fatalf("record: %v\n%s", err, out)
	}
	ds := func() *episode.Dataset {
		ds, err := episode.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}()
	st, _ := ds.Info.Feature(episode.KeyState)
	if len(ds.Episodes) != 1 || st.Dim() != 7 || ds.Episodes[0].Length < 55 {
		t.Fatalf("%d episodes, state %d values, %d frames; want 1, 7 (the bundle's joint_position state), about 60", len(ds.Episodes), st.Dim(), ds.Episodes[0].Length)
	}
	png := filepath.Join(t.TempDir(), "eval.png")
	out, err = exec.Command(bin, "eval-offline", dir, "--bundle", "../../policy/testdata/unet", "--plot", png).CombinedOutput()
	if err != nil {
		t.Fatalf("eval-offline: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	m := regexp.MustCompile(`episode 0: (\d+) steps, action MSE ([0-9.e+-]+), max \|error\| ([0-9.e+-]+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no episode line in:\n%s", out)
	}
	steps, _ := strconv.Atoi(m[1])
	mse, _ := strconv.ParseFloat(m[2], 64)
	if want := (ds.Episodes[0].Length + 2) / 3; steps != want || !(mse > 0) || math.IsInf(mse, 0) {
		t.Fatalf("%d steps (want %d: every 3rd frame at 30 fps for a 10 Hz policy), MSE %v", steps, want, mse)
	}
	if st, err := os.Stat(png); err != nil || st.Size() < 1000 {
		t.Fatalf("no plot: %v", err)
	}
}

// readDataset opens a dataset and checks its episode count and the LeRobot layout.
func readDataset(t *testing.T, dir string, episodes int) *episode.Dataset {
	t.Helper()
	ds, err := episode.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Episodes) != episodes || ds.Info.FPS != 30 || ds.Info.CodebaseVersion != episode.CodebaseVersion {
		t.Fatalf("%d episodes at %d fps, version %s: want %d at 30, %s", len(ds.Episodes), ds.Info.FPS, ds.Info.CodebaseVersion, episodes, episode.CodebaseVersion)
	}
	for _, key := range []string{"observation.images.scene", "observation.images.wrist", episode.KeyState, episode.KeyAction, episode.KeyReward, episode.KeySuccess} {
		if _, ok := ds.Info.Feature(key); !ok {
			t.Fatalf("info.json lacks %s", key)
		}
	}
	return ds
}

// snapshot reads every file of the dataset (outside robotd's own working folder).
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(rel, ".robotd") {
			return nil
		}
		b, err := os.ReadFile(p)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
