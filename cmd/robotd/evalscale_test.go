package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/robotd/robotd/eval"
)

// sameEpisodes says how two evaluations' episodes differ (the video by file name only:
// the directories differ), or "" when they are equal episode for episode.
func sameEpisodes(a, b *eval.Report) string {
	if len(a.PerEpisode) != len(b.PerEpisode) {
		return fmt.Sprintf("%d episodes against %d", len(a.PerEpisode), len(b.PerEpisode))
	}
	for i := range a.PerEpisode {
		x, y := a.PerEpisode[i], b.PerEpisode[i]
		x.Video, y.Video = filepath.Base(x.Video), filepath.Base(y.Video)
		if x != y {
			return fmt.Sprintf("episode %d: %+v against %+v", i, x, y)
		}
	}
	if a.Successes != b.Successes || a.SuccessRate != b.SuccessRate || a.Wilson95 != b.Wilson95 || a.TTSMean != b.TTSMean || a.TTSMedian != b.TTSMedian {
		return fmt.Sprintf("success %d %v %v %v %v against %d %v %v %v %v", a.Successes, a.SuccessRate, a.Wilson95, a.TTSMean, a.TTSMedian,
			b.Successes, b.SuccessRate, b.Wilson95, b.TTSMean, b.TTSMedian)
	}
	return ""
}

// Sharded evaluation through the CLI on the reference diffusion policy: two shards merged
// equal the unsharded run (--shard 0/1) of the same four seeds episode for episode, an
// episode run on a fresh system equals the one-episode robotd eval of its seed, the video
// of the evaluation's episode 0 reaches the merged directory, compare sees no change
// between them, and a shard run under another condition is refused by merge.
func TestEvalShardMerge(t *testing.T) {
	if testing.Short() {
		t.Skip("closed-loop evaluation: 11 episodes, about 40 s")
	}
	dir := t.TempDir()
	lf := "../../launch/" + referenceLaunch
	evalArgs := func(out string, extra ...string) []string {
		return append([]string{"eval", "--launch", lf, "--episodes", "4", "--seed", "2", "--videos", "1", "--out", filepath.Join(dir, out)}, extra...)
	}
	ref := filepath.Join(dir, "ref")
	if code, out, errOut := runCLI(t, evalArgs("ref", "--shard", "0/1")...); code != 0 && code != 1 {
		t.Fatalf("unsharded: exit %d\n%s%s", code, out, errOut)
	}
	for i := 0; i < 2; i++ {
		if code, out, errOut := runCLI(t, evalArgs(fmt.Sprint("s", i), "--shard", fmt.Sprintf("%d/2", i))...); code != 0 && code != 1 {
			t.Fatalf("shard %d/2: exit %d\n%s%s", i, code, out, errOut)
		}
	}
	merged := filepath.Join(dir, "merged")
	code, out, errOut := runCLI(t, "eval", "merge", "--out", merged, filepath.Join(dir, "s1"), filepath.Join(dir, "s0"))
	if code != 0 && code != 1 || !strings.Contains(out, "merged 2 shard(s): 4 episode(s) from seed 2") {
		t.Fatalf("merge: exit %d\n%s%s", code, out, errOut)
	}
	r, m := evalJSON(t, filepath.Join(ref, "eval.json")), evalJSON(t, filepath.Join(merged, "eval.json"))
	if d := sameEpisodes(r, m); d != "" {
		t.Errorf("merged shards differ from the unsharded run: %s", d)
	}
	if r.Episodes != 4 || r.PerEpisode[0].Seed != 2 || r.PerEpisode[3].Seed != 5 || r.Inference.Count == 0 {
		t.Errorf("unsharded run: %+v", r)
	}
	for _, f := range []string{"episode_000.mp4", "eval.png"} {
		if st, err := os.Stat(filepath.Join(merged, f)); err != nil || st.Size() < 1000 {
			t.Errorf("merged %s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(merged, "episode_001.mp4")); err == nil {
		t.Error("merged directory has a video of episode 1 (--videos 1)")
	}

	// The fresh system of an isolated episode is a fresh process's: robotd eval of that
	// seed alone gives the same episode.
	one := filepath.Join(dir, "one")
	if code, out, errOut := runCLI(t, "eval", "--launch", lf, "--episodes", "1", "--seed", "4", "--videos", "0", "--out", one); code != 0 && code != 1 {
		t.Fatalf("one episode: exit %d\n%s%s", code, out, errOut)
	}
	if a, b := evalJSON(t, filepath.Join(one, "eval.json")).PerEpisode[0], r.PerEpisode[2]; a != b {
		t.Errorf("seed 4 alone: %+v; in the unsharded --shard run: %+v", a, b)
	}

	code, out, errOut = runCLI(t, "eval", "compare", ref, filepath.Join(merged, "eval.json"))
	if code != 0 || !strings.Contains(out, "paired seeds   4") || !strings.Contains(out, "0 lost (BASE solved, NEW not), 0 gained") {
		t.Errorf("compare of equal evaluations: exit %d\n%s%s", code, out, errOut)
	}

	if code, out, errOut := runCLI(t, evalArgs("noisy", "--shard", "1/2", "--camera-noise", "8")...); code != 0 && code != 1 {
		t.Fatalf("noisy shard: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "eval", "merge", "--out", filepath.Join(dir, "bad"), filepath.Join(dir, "s0"), filepath.Join(dir, "noisy"))
	if code == 0 || !strings.Contains(errOut, "camera-noise=8") || !strings.Contains(errOut, filepath.Join(dir, "noisy")) {
		t.Errorf("merge of a shard under another condition: exit %d, %s", code, errOut)
	}
}

// robotd eval compare's exit status is its verdict: 4 for a regression, 5 for an
// improvement, 0 for no detectable change; bad arguments are errors (1, 2).
func TestEvalCompareExit(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, ok func(seed int) bool) string {
		r := &eval.Report{}
		for s := 0; s < 40; s++ {
			r.PerEpisode = append(r.PerEpisode, eval.Episode{Seed: int64(s), Success: ok(s), TimeToSuccess: 9, Duration: 30})
		}
		p := filepath.Join(dir, name+".json")
		if err := r.WriteJSON(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", func(s int) bool { return s%10 != 0 }) // 36 of 40
	bad := write("bad", func(s int) bool { return s%2 == 0 })    // 20 of 40: 16 lost
	same := write("same", func(s int) bool { return s%10 != 1 }) // 36 of 40, 4 lost 4 gained
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{good, bad}, exitRegression, "verdict        regression"},
		{[]string{bad, good}, exitImprovement, "verdict        improvement"},
		{[]string{good, same}, 0, "verdict        no detectable change"},
		{[]string{"--alpha", "0.2", good, same}, 0, "(80 % interval"},
		{[]string{good}, 1, ""},
		{[]string{good, filepath.Join(dir, "absent.json")}, 1, ""},
		{[]string{"--alpha", "2", good, bad}, 1, ""},
	} {
		code, out, errOut := runCLI(t, append([]string{"eval", "compare"}, c.args...)...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("compare %q: exit %d (want %d), output lacks %q:\n%s%s", c.args, code, c.code, c.want, out, errOut)
		}
	}
}

// A sweep of two cells (camera noise 0 and 12) in two shards each, run here two jobs at a
// time by robotd eval sweep (robotd subprocesses), then tabulated; --plan writes the same
// four jobs for Slurm. A spec with an unknown key is refused with its name.
func TestEvalSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("closed-loop evaluation: 8 episodes in subprocesses, about 40 s")
	}
	bin := robotdBinary(t)
	dir := t.TempDir()
	root, _ := filepath.Abs("../..")
	spec := filepath.Join(dir, "sweep.yaml")
	os.WriteFile(spec, []byte(fmt.Sprintf("launch: [%s/launch/%s]\ncamera_noise: [0, 12]\nseed: 6\nepisodes: 2\nshards: 2\nout: out\n", root, referenceLaunch)), 0o644)
	plan := filepath.Join(dir, "jobs.txt")
	code, out, errOut := runCLI(t, "eval", "sweep", spec, "--plan", plan)
	lines, _ := os.ReadFile(plan)
	if code != 0 || strings.Count(string(lines), "\n") != 4 || !strings.Contains(string(lines), "--camera-noise 12 --episodes 2 --seed 6 --videos 0 --shard 1/2 --out "+filepath.Join(dir, "out", "cell_001", "shard_1")) {
		t.Fatalf("plan: exit %d\n%s%s%s", code, out, errOut, lines)
	}
	cmd := exec.Command(bin, "eval", "sweep", spec, "--jobs", "2")
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sweep: %v\n%s", err, b)
	}
	csv, err := os.ReadFile(filepath.Join(dir, "out", "sweep.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if len(rows) != 3 || !strings.HasPrefix(rows[0], "cell,launch,camera_noise,episodes,successes,success_rate,wilson95_lo") ||
		!strings.HasPrefix(rows[1], "0,"+referenceLaunch+",0,2,") || !strings.HasPrefix(rows[2], "1,"+referenceLaunch+",12,2,") {
		t.Errorf("sweep.csv:\n%s", csv)
	}
	for c := 0; c < 2; c++ {
		r := evalJSON(t, filepath.Join(dir, "out", fmt.Sprintf("cell_%03d", c), "eval.json"))
		if r.Episodes != 2 || r.PerEpisode[0].Seed != 6 || r.PerEpisode[1].Seed != 7 || r.CameraNoise != float64(12*c) {
			t.Errorf("cell %d: %+v", c, r)
		}
	}
	for _, f := range []string{"sweep.md", "sweep.png"} {
		if st, err := os.Stat(filepath.Join(dir, "out", f)); err != nil || st.Size() < 100 {
			t.Errorf("%s: %v", f, err)
		}
	}
	os.WriteFile(spec, []byte("launch: [x.yaml]\nepisodes: 2\nout: o\nshard: 2\n"), 0o644)
	if code, _, errOut := runCLI(t, "eval", "sweep", spec, "--plan", plan); code == 0 || !strings.Contains(errOut, "field shard not found") {
		t.Errorf("unknown key: exit %d, %s", code, errOut)
	}
}

// The sharded evaluation on a real Slurm: a single-node cluster from Debian's slurmctld,
// slurmd and munge (scripts/slurm/cluster.sh: daemons started directly, state in a
// temporary directory, stopped by PID), scripts/slurm/submit.sh submits a 4-shard array of
// the reference policy and the dependent merge job; the merged eval.json equals a local
// unsharded run (--shard 0/1) of the same seeds episode for episode. Run by make test-slurm
// (ROBOTD_SLURM=1), which make test calls where the machine allows it.
func TestSlurmEval(t *testing.T) {
	if os.Getenv("ROBOTD_SLURM") != "1" {
		t.Skip("a Slurm cluster on this machine: run make test-slurm (root, scripts/setup.sh slurm)")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root (slurmd, munged as the munge user)")
	}
	for _, b := range []string{"sbatch", "squeue", "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed: run scripts/setup.sh slurm", b)
		}
	}
	bin := robotdBinary(t)
	root, _ := filepath.Abs("../..")
	dir, err := os.MkdirTemp("", "robotd-slurm-") // not t.TempDir: munged must reach it
	if err != nil {
		t.Fatal(err)
	}
	cluster := filepath.Join(root, "scripts", "slurm", "cluster.sh")
	t.Cleanup(func() {
		if out, err := exec.Command(cluster, "down", dir).CombinedOutput(); err != nil {
			t.Errorf("cluster.sh down: %v\n%s", err, out)
		}
		for _, f := range []string{"slurmd.pid", "slurmctld.pid", "munged.pid"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				t.Errorf("%s left after cluster.sh down", f)
			}
		}
		os.RemoveAll(dir)
	})
	start := time.Now()
	if out, err := exec.Command(cluster, "up", dir).CombinedOutput(); err != nil {
		t.Fatalf("cluster.sh up: %v\n%s", err, out)
	}
	t.Logf("cluster up in %v", time.Since(start).Round(time.Millisecond))
	env := append(os.Environ(), "SLURM_CONF="+filepath.Join(dir, "slurm.conf"), "ROBOTD="+bin)
	lf := filepath.Join(root, "launch", referenceLaunch)
	evalFlags := []string{"--launch", lf, "--episodes", "4", "--seed", "10", "--videos", "0"}
	sub := exec.Command(filepath.Join(root, "scripts", "slurm", "submit.sh"), append([]string{"--shards", "4", "--out", filepath.Join(dir, "eval"), "--"}, evalFlags...)...)
	sub.Env = env
	out, err := sub.CombinedOutput()
	if err != nil {
		t.Fatalf("submit.sh: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	mergeJob := strings.TrimPrefix(lines[len(lines)-1], "merge job ")

	// The local unsharded run, while the cluster works.
	local := filepath.Join(dir, "local")
	if code, o, e := runCLI(t, append([]string{"eval", "--shard", "0/1", "--out", local}, evalFlags...)...); code != 0 && code != 1 {
		t.Fatalf("local run: exit %d\n%s%s", code, o, e)
	}
	deadline := time.Now().Add(150 * time.Second)
	for {
		q := exec.Command("squeue", "-h", "-o", "%i %T")
		q.Env = env
		o, err := q.CombinedOutput()
		if err != nil {
			t.Fatalf("squeue: %v\n%s", err, o)
		}
		if strings.TrimSpace(string(o)) == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs still queued after 150 s:\n%s", o)
		}
		time.Sleep(time.Second)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "eval", "logs", "shard_*.log"))
	mergeLog, _ := os.ReadFile(filepath.Join(dir, "eval", "logs", "merge_"+mergeJob+".log"))
	if len(logs) != 4 || !strings.Contains(string(mergeLog), "merged 4 shard(s): 4 episode(s) from seed 10") {
		t.Fatalf("%d shard logs (want 4); merge job %s log:\n%s", len(logs), mergeJob, mergeLog)
	}
	m, l := evalJSON(t, filepath.Join(dir, "eval", "eval.json")), evalJSON(t, filepath.Join(local, "eval.json"))
	if d := sameEpisodes(l, m); d != "" {
		t.Errorf("merged Slurm shards differ from the local unsharded run: %s", d)
	}
	t.Logf("merged on Slurm: %d/%d; cluster up to merged in %v", m.Successes, m.Episodes, time.Since(start).Round(time.Second))
}
