package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/robotd/robotd/eval"
)

// evalLaunch writes a variant of launch/pickplace_diffusion.yaml with some lines replaced.
func evalLaunch(t *testing.T, replace ...string) string {
	t.Helper()
	src, err := os.ReadFile("../../launch/pickplace_diffusion.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	for i := 0; i < len(replace); i += 2 {
		if !strings.Contains(s, replace[i]) {
			t.Fatalf("launch/pickplace_diffusion.yaml has no %q", replace[i])
		}
		s = strings.Replace(s, replace[i], replace[i+1], 1)
	}
	root, _ := filepath.Abs("../..")
	s = strings.ReplaceAll(s, "../", root+"/")
	p := filepath.Join(t.TempDir(), "eval.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A bundle that does not fit the launch file is refused before anything moves, with the
// feature named.
func TestEvalRejectsMismatchedBundle(t *testing.T) {
	noWrist := evalLaunch(t, "  - name: wrist        # observation.images.wrist\n    source: sim\n    sim_camera: wrist\n", "  - name: side\n    source: sim\n    sim_camera: wrist\n")
	eeState := evalLaunch(t, "state: joint_position", "state: ee_pose")
	rotvec := evalLaunch(t, "action: ee_pose_6d", "action: ee_pose")
	for _, c := range []struct {
		name, launch, want string
	}{
		{"missing camera", noWrist, `needs camera "wrist" (feature observation.images.wrist)`},
		{"state layout", eeState, "observation.state has 8 values; ee_pose for this 7-joint arm has 6 (or 7 with the gripper)"},
		{"action layout", rotvec, "action has 10 values; ee_pose for this 7-joint arm has 6 (or 7 with the gripper)"},
		{"no bundle", evalLaunch(t), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"eval", "--launch", c.launch, "--episodes", "1", "--out", t.TempDir()}
			if c.want == "" {
				args = append(args, "--bundle", t.TempDir())
				c.want = "no policy.yaml or policy.json"
			}
			code, out, errOut := runCLI(t, args...)
			if code == 0 || !strings.Contains(errOut, c.want) || strings.Contains(out, "episode 1/1") {
				t.Errorf("exit %d, want an error naming %q before any episode:\n%s%s", code, c.want, out, errOut)
			}
		})
	}
}

// evalJSON reads an eval.json.
func evalJSON(t *testing.T, path string) *eval.Report {
	t.Helper()
	r, err := eval.ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// CI's closed-loop gate: the reference policy, trained on the scripted expert's demos
// (tools/train), solves seeded pick-and-place episodes through the whole daemon path
// (cameras rendered, perception, ONNX policy, chunk executor, safety, impedance control).
// The seeds (0..19) are not among the demonstrations' (1000.., 2000..). The gate is well under
// the measured rate (README, BENCHMARKS.md) so that float differences between machines
// do not flip it, and far above what a broken chain gets (0 of 20: an untrained or
// mis-wired policy never lifts the cube).
func TestEvalReferencePolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("closed-loop evaluation: about a minute")
	}
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "eval", "--launch", "../../launch/"+referenceLaunch, "--episodes", "20", "--seed", "0",
		"--videos", "1", "--out", out, "--min-success", referenceGate)
	t.Logf("%s", stdout)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r := evalJSON(t, filepath.Join(out, "eval.json"))
	if r.Episodes != 20 || len(r.PerEpisode) != 20 || r.Successes == 0 || r.Wilson95[0] >= r.SuccessRate || r.Wilson95[1] <= r.SuccessRate {
		t.Errorf("eval.json: %d episodes (%d listed), %d successes, rate %v, interval %v", r.Episodes, len(r.PerEpisode), r.Successes, r.SuccessRate, r.Wilson95)
	}
	for _, f := range []string{"episode_000.mp4", "eval.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() < 1000 {
			t.Errorf("%s not written (%v)", f, err)
		}
	}
}

// The gated policy and its floor: the diffusion policy (96 of 100 over seeds 0..99 since
// episodes reset their cameras and noise, 25a6589; 89 before; 19 of these 20 in that run).
// 60 % is far below what it does and far above what a broken chain does (the untrained or
// mis-wired policy: 0).
const (
	referenceLaunch = "pickplace_diffusion.yaml"
	referenceGate   = "0.6"
)

// The steered gate (issue 19): launch/pickplace_diffusion_steered.yaml, the reference
// policy with the best steering combination of the proof (README, BENCHMARKS.md "Steering,
// learned and proven"), on the gate's seeds. Its floor is the base's: steering a policy
// that already works must not break it. And on these same seeds, robotd eval compare must
// not call it a regression against the base (exit 4): that takes at least 6 seeds lost
// and none gained of 20 (McNemar exact, 0.05), far beyond what was measured between them
// (seeds 0..19: steered 20/20, base 19/20, 1 gained, none lost; about 3.5 minutes for both
// beside other jobs).
const (
	steeredLaunch = "pickplace_diffusion_steered.yaml"
	steeredGate   = referenceGate
)

func TestEvalSteeredPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("two closed-loop evaluations: about two to four minutes")
	}
	base, steered := t.TempDir(), t.TempDir()
	for _, c := range []struct{ launch, out, gate string }{{referenceLaunch, base, referenceGate}, {steeredLaunch, steered, steeredGate}} {
		code, stdout, stderr := runCLI(t, "eval", "--launch", "../../launch/"+c.launch, "--episodes", "20", "--seed", "0",
			"--videos", "0", "--out", c.out, "--min-success", c.gate)
		t.Logf("%s: %s", c.launch, stdout)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.launch, code, stderr)
		}
	}
	r := evalJSON(t, filepath.Join(steered, "eval.json"))
	if r.Steering == nil || r.Steering.Steps == 0 || r.Steering.Samples < 2 {
		t.Fatalf("the steered evaluation ran no steered step: %+v", r.Steering)
	}
	code, stdout, stderr := runCLI(t, "eval", "compare", base, steered)
	t.Logf("compare:\n%s", stdout)
	if code != 0 && code != 5 {
		t.Errorf("robotd eval compare base steered: exit %d (4: a regression)\n%s%s", code, stdout, stderr)
	}
}
