package main

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/episode"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/sim/task"
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
	checkExtraFeatures(t, ep0)
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
	// With the cube restored at its recorded start, the replay reproduces the episode: the
	// arm follows the recorded states within a few mm (the lockstep simulation is
	// deterministic; the recorded start is float32) and the cube ends where it was
	// recorded, in the zone, released: the task succeeds again.
	frames, rms, worst := trackReportOf(t, out)
	if frames != n || rms > 2 || worst > 5 {
		t.Fatalf("replay tracked %d of %d frames, tool error RMS %.2f mm, max %.2f mm: want all, < 2 mm, < 5 mm", frames, n, rms, worst)
	}
	c := regexp.MustCompile(`cube: position error RMS ([0-9.]+) mm, max ([0-9.]+) mm over (\d+) frames; at the end ([0-9.]+) mm from the recorded end, in the zone (\w+) \(recorded: (\w+)\), place error [0-9.]+ mm, resting (\w+), task success (\w+)`).FindStringSubmatch(string(out))
	if c == nil {
		t.Fatalf("no cube report in:\n%s", out)
	}
	cubeRMS, _ := strconv.ParseFloat(c[1], 64)
	cubeEnd, _ := strconv.ParseFloat(c[4], 64)
	if cubeRMS > 5 || cubeEnd > 5 || c[3] != strconv.Itoa(n) || c[5] != "yes" || c[6] != "yes" || c[7] != "yes" || c[8] != "yes" {
		t.Fatalf("replayed cube: %s; want within 5 mm of its recorded course and end, in the zone, resting, success", c[0])
	}
	if st, err := os.Stat(png); err != nil || st.Size() < 1000 {
		t.Fatalf("no replay plot: %v", err)
	}
	// A dataset without observation.environment_state still replays, the arm only, and
	// says so.
	armOnly := armOnlyDataset(t, first, ep0)
	out, err = exec.Command(bin, "replay", armOnly, "--episode", "0", "--launch", "../../launch/pickplace.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("replay without the environment state: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	if frames, _, _ := trackReportOf(t, out); frames != n || strings.Contains(string(out), "cube:") ||
		!strings.Contains(string(out), "no observation.environment_state in the dataset: only the arm's initial state is restored") {
		t.Fatalf("replay without the environment state: %d of %d frames tracked, output:\n%s", frames, n, out)
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

// A policy rollout recorded with robotd record (launch/test_fixture_sim.yaml: the fixture policy, the
// wrist camera) records the policy's own state layout, and eval-offline replays its
// observations through the same bundle: one step per policy period, every predicted
// action within the episode compared, a plot.
func TestRecordPolicyEvalOffline(t *testing.T) {
	bin := robotdBinary(t)
	dir := filepath.Join(t.TempDir(), "rollout")
	out, err := exec.Command(bin, "record", "--launch", "../../launch/test_fixture_sim.yaml", "--out", dir, "--task", "move about",
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

// trackReportOf parses replay's tracking line: frames, tool position error RMS and max (mm).
func trackReportOf(t *testing.T, out []byte) (frames int, rms, worst float64) {
	t.Helper()
	m := regexp.MustCompile(`tracked (\d+) frames: .* tool position error RMS ([0-9.]+) mm, max ([0-9.]+) mm`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no tracking report in:\n%s", out)
	}
	frames, _ = strconv.Atoi(m[1])
	rms, _ = strconv.ParseFloat(m[2], 64)
	worst, _ = strconv.ParseFloat(m[3], 64)
	return frames, rms, worst
}

// checkExtraFeatures checks an expert episode's observation.ee_pose against the tool pose
// MuJoCo computes from the recorded joints, and observation.environment_state against
// the task: the cube starts at rest on the table in the start region and ends in the zone.
func checkExtraFeatures(t *testing.T, ep *episode.EpisodeData) {
	t.Helper()
	ee, env := ep.Vectors["observation.ee_pose"], ep.Vectors[episode.KeyEnvState]
	n := len(ep.State)
	if len(ee) != n || len(env) != n || len(ee[0]) != 6 || len(env[0]) != 7 {
		t.Fatalf("observation.ee_pose %d rows, environment_state %d rows: want %d of 6 and 7 values", len(ee), len(env), n)
	}
	arm, err := mujoco.NewArm(task.Scene())
	if err != nil {
		t.Fatal(err)
	}
	defer arm.Close()
	q := make([]float64, 7)
	for k := 0; k < n; k += 7 {
		for i := range q {
			q[i] = float64(ep.State[k][i])
		}
		if err := arm.SetJointPositions(q); err != nil {
			t.Fatal(err)
		}
		pos, rot := arm.ToolPose()
		got := daemon.ValuesPose(ee[k])
		// The daemon's tool pose lags the joints it samples by up to a control tick (1 ms:
		// 0.2 mm at the expert's speeds); the model is the same.
		if d, a := got.Pos.Sub(pos).Len(), angleBetween(got.Rot, rot); d > 1e-3 || a > 5e-3 {
			t.Fatalf("frame %d: observation.ee_pose %v is %.2g m / %.2g rad from the tool pose of the recorded joints (%v %v)", k, ee[k], d, a, pos, rot)
		}
	}
	start, end := task.EnvPose(env[0]), task.EnvPose(env[n-1])
	if !task.DefaultRegion.Contains(mgl64.Vec2{start.Pos[0], start.Pos[1]}) || math.Abs(start.Pos[2]-0.025) > 1e-3 {
		t.Errorf("cube start %v: want in the start region, its centre 25 mm above the table", start.Pos)
	}
	if math.Abs(end.Pos[0]-0.5) > 0.06 || math.Abs(end.Pos[1]-0.18) > 0.06 || math.Abs(end.Pos[2]-0.025) > 2e-3 {
		t.Errorf("cube end %v: want in the zone (0.5, 0.18) +- 6 cm, on the table", end.Pos)
	}
	var lift float64
	for _, v := range env {
		lift = max(lift, float64(v[2])-0.025)
	}
	if lift < 0.1 {
		t.Errorf("the cube rose %.3f m at most: want the expert's 12 cm lift in the environment state", lift)
	}
}

func angleBetween(a, b mgl64.Quat) float64 {
	return 2 * math.Acos(math.Min(1, math.Abs(a.Normalize().Dot(b.Normalize()))))
}

// armOnlyDataset writes episode 0 again without cameras and without the environment
// state: a dataset replay can drive the arm from but cannot restore the cube from.
func armOnlyDataset(t *testing.T, src *episode.Dataset, ep *episode.EpisodeData) string {
	t.Helper()
	st, _ := src.Info.Feature(episode.KeyState)
	ac, _ := src.Info.Feature(episode.KeyAction)
	dir := filepath.Join(t.TempDir(), "armonly")
	w, err := episode.Create(dir, episode.Spec{RobotType: "panda", FPS: src.Info.FPS,
		State: episode.FeatureSpec{Names: st.Names}, Action: episode.FeatureSpec{Names: ac.Names}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	e, err := w.BeginEpisode("put the cube in the zone")
	if err != nil {
		t.Fatal(err)
	}
	for k := range ep.State {
		if err := e.AddFrame(&episode.Frame{Timestamp: time.Duration(k) * time.Second / time.Duration(src.Info.FPS), State: ep.State[k], Action: ep.Action[k]}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.End(t.Context()); err != nil {
		t.Fatal(err)
	}
	return dir
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
	for _, key := range []string{"observation.images.scene", "observation.images.wrist", episode.KeyState, episode.KeyAction, episode.KeyReward, episode.KeySuccess,
		"observation.ee_pose", episode.KeyEnvState} {
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

// With DART noise the arm is sent off the expert's path but the recorded action is the
// expert's own target: until the expert first reacts to the measured arm (reaching the
// hover point above the cube), the actions of a noisy and a clean recording of the same
// seed are the same while the measured tool poses are not.
func TestRecordExpertNoise(t *testing.T) {
	bin := robotdBinary(t)
	tmp := t.TempDir()
	record := func(name string, args ...string) *episode.EpisodeData {
		dir := filepath.Join(tmp, name)
		out, err := exec.Command(bin, append([]string{"record", "--launch", "../../launch/pickplace.yaml", "--out", dir,
			"--task", "put the cube in the zone", "--source", "expert", "--episodes", "1", "--seed", "11"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("record %v: %v\n%s", args, err, out)
		}
		if !strings.Contains(string(out), "1 succeeded") {
			t.Fatalf("record %v: the expert's episode did not succeed:\n%s", args, out)
		}
		ep, err := readDataset(t, dir, 1).Episode(0)
		if err != nil {
			t.Fatal(err)
		}
		return ep
	}
	clean := record("clean")
	noisy := record("noisy", "--expert-noise", "0.012", "--expert-yaw-noise", "0.15")
	const frames = 30 // 1 s: the expert is still on its way to the hover point
	var poseDiff float64
	for i := 0; i < frames; i++ {
		for j := range clean.Action[i] {
			if clean.Action[i][j] != noisy.Action[i][j] {
				t.Fatalf("frame %d: action %v with noise, %v without: the label is not the expert's target", i, noisy.Action[i], clean.Action[i])
			}
		}
		a, b := clean.Vectors["observation.ee_pose"][i], noisy.Vectors["observation.ee_pose"][i]
		poseDiff = max(poseDiff, math.Hypot(float64(a[0]-b[0]), float64(a[1]-b[1])))
	}
	if poseDiff < 0.002 {
		t.Fatalf("the noisy run's tool stayed within %.2f mm of the clean run's: no noise executed", poseDiff*1e3)
	}
	t.Logf("first %d frames: same actions, tool up to %.1f mm apart", frames, poseDiff*1e3)
	out, err := exec.Command(bin, "record", "--launch", "../../launch/pickplace.yaml", "--out", filepath.Join(tmp, "bad"),
		"--task", "x", "--expert-noise", "0.01").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--expert-noise and --expert-yaw-noise need --source expert") {
		t.Fatalf("noise without the expert: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "record", "--launch", "../../launch/pickplace.yaml", "--out", filepath.Join(tmp, "bad"),
		"--task", "x", "--source", "expert", "--expert-noise", "0.5").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "target noise 0.5 m: want 0..0.05") {
		t.Fatalf("noise 0.5 m: %v\n%s", err, out)
	}
}

// eval-offline scores a policy acting in ee_pose_6d (the reference ACT bundle) against
// robotd's recorded actions (x y z rx ry rz gripper) in the policy's space: on the
// expert's episode the errors are those of a policy that imitates it (centimetres, a
// fraction of the rotation columns' unit range), not the 2 pi of rotation vectors that
// flip sign at a downward tool.
func TestEvalOfflinePose6D(t *testing.T) {
	bin := robotdBinary(t)
	dir := filepath.Join(t.TempDir(), "demo")
	out, err := exec.Command(bin, "record", "--launch", "../../launch/pickplace.yaml", "--out", dir, "--task", "put the cube in the zone",
		"--source", "expert", "--episodes", "1", "--seed", "1500", "--fps", "10").CombinedOutput()
	if err != nil {
		t.Fatalf("record: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "eval-offline", dir, "--bundle", "../../models/pickplace_act").CombinedOutput()
	if err != nil {
		t.Fatalf("eval-offline: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	line := ""
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "all: ") {
			line = l
		}
	}
	_, dims, ok := strings.Cut(line, "RMS per dimension ")
	if !ok {
		t.Fatalf("no per-dimension RMS in:\n%s", out)
	}
	dims, _, _ = strings.Cut(dims, ";")
	rms := map[string]float64{}
	for _, f := range strings.Split(dims, ", ") {
		name, v, _ := strings.Cut(f, " ")
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("%q: %v", f, err)
		}
		rms[name] = x
	}
	for name, limit := range map[string]float64{"x": 0.05, "y": 0.05, "z": 0.05, "r00": 0.3, "r10": 0.3, "r20": 0.3, "r01": 0.3, "r11": 0.3, "r21": 0.3, "gripper": 0.02} {
		v, ok := rms[name]
		if !ok || v > limit {
			t.Errorf("%s: RMS %v (present %v), want below %v", name, v, ok, limit)
		}
	}
}

// robotd record --episode-time on the pick-and-place scene ends each episode after that
// long (the expert is far from done after 1 s) and keeps it, labelled not successful;
// it once discarded every such episode as "interrupted" and exited 0 with nothing
// recorded. An append without --seed continues after the dataset's last recorded seed:
// its episode starts from the cube pose of a fresh recording with that seed (it once
// started again at seed 0, recording the same episodes twice).
func TestRecordEpisodeTimeAndSeeds(t *testing.T) {
	bin := robotdBinary(t)
	record := func(dir string, args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"record", "--launch", "../../launch/pickplace.yaml", "--out", dir,
			"--task", "put the cube in the zone", "--source", "expert", "--episode-time", "1s"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("record %q: %v\n%s", args, err, out)
		}
		t.Logf("%s", out)
		return string(out)
	}
	dir := filepath.Join(t.TempDir(), "timed")
	out := record(dir, "--episodes", "2", "--seed", "7")
	if strings.Count(out, "not done at --episode-time 1s") != 2 || !strings.Contains(out, "recorded 2 episode(s)") {
		t.Fatalf("want 2 episodes kept at the time limit:\n%s", out)
	}
	ds := readDataset(t, dir, 2)
	for i := range 2 {
		ep, err := ds.Episode(i)
		if err != nil {
			t.Fatal(err)
		}
		n := len(ep.Timestamp)
		done, succ := ep.Vectors[episode.KeyDone], ep.Vectors[episode.KeySuccess]
		if n < 29 || n > 31 || done[n-1][0] != 1 || succ[n-1][0] != 0 {
			t.Fatalf("episode %d: %d frames, last next.done %v next.success %v: want 30 (1 s at 30 fps), 1, 0", i, n, done[n-1], succ[n-1])
		}
	}

	out = record(dir, "--episodes", "1")
	if !strings.Contains(out, "continuing after the dataset's last seed 8: this run's first seed is 9") {
		t.Fatalf("the append does not continue after seed 8:\n%s", out)
	}
	fresh := filepath.Join(t.TempDir(), "seed9")
	record(fresh, "--episodes", "1", "--seed", "9")
	cubeStart := func(dir string, episodes, i int) []float32 {
		ep, err := readDataset(t, dir, episodes).Episode(i)
		if err != nil {
			t.Fatal(err)
		}
		return ep.Vectors[episode.KeyEnvState][0]
	}
	appended, want, first := cubeStart(dir, 3, 2), cubeStart(fresh, 1, 0), cubeStart(dir, 3, 0)
	if !slices.Equal(appended, want) || slices.Equal(appended, first) {
		t.Fatalf("appended episode's cube start %v, want seed 9's %v (seed 7's: %v)", appended, want, first)
	}
}
