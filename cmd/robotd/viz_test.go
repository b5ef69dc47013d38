package main

import (
	"bufio"
	"encoding/json"
	"flag"
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

// vizPeers is where scripts/setup.sh installs the npm peers of the viz tests
// (tools/viz-peers: @mcap/core, @foxglove/wasm-zstd, @foxglove/ws-protocol, ws).
const vizPeers = "../../tools/viz-peers"

// needVizPeers skips a test when node or the peers are not installed.
func needVizPeers(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not found: run scripts/setup.sh")
	}
	if _, err := os.Stat(filepath.Join(vizPeers, "node_modules", "@mcap", "core")); err != nil {
		t.Skip("tools/viz-peers/node_modules missing: run scripts/setup.sh")
	}
}

// mcapReport is what tools/viz-peers/mcap_check.js prints.
type mcapReport struct {
	Channels map[string]struct {
		Schema, SchemaEncoding, MessageEncoding string
	}
	Counts     map[string]uint64
	Keys       map[string][]string
	Messages   uint64
	First      string
	Last       string
	Statistics *struct{ MessageCount string }
	Records    map[string]int
	Truncated  bool
	Error      string
}

func readMCAP(t *testing.T, path string, stream bool) mcapReport {
	t.Helper()
	args := []string{filepath.Join(vizPeers, "mcap_check.js")}
	if stream {
		args = append(args, "--stream")
	}
	out, err := exec.Command("node", append(args, path)...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("@mcap/core on %s: %v\n%s", path, err, stderr)
	}
	var r mcapReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("mcap_check output: %v\n%s", err, out)
	}
	return r
}

var vizLine = regexp.MustCompile(`viz: (\d+) messages logged .* (\d+) records dropped`)

// TestMCAPLog runs the daemon rig (fixture diffusion policy, wrist camera, lockstep) for
// 2 s with --mcap and reads the file with @mcap/core: the channels carry the expected
// schemas and encodings, joint states and torques number the run's control ticks, the
// plans its inferences, the total equals what robotd says it logged, and the messages
// parse with the well-known schemas' fields.
func TestMCAPLog(t *testing.T) {
	needVizPeers(t)
	bin := robotdBinary(t)
	dir := t.TempDir()
	file, sum := filepath.Join(dir, "run.mcap"), filepath.Join(dir, "summary.json")
	out, err := exec.Command(bin, "run", "--launch", "../../launch/test_daemon_rig.yaml", "--duration", "2s", "--listen", "off",
		"--mcap", file, "--summary-json", sum).CombinedOutput()
	if err != nil {
		t.Fatalf("robotd run: %v\n%s", err, out)
	}
	m := vizLine.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no viz summary line in:\n%s", out)
	}
	logged, _ := strconv.ParseUint(m[1], 10, 64)
	if m[2] != "0" {
		t.Errorf("records dropped in a lockstep run: %s", m[0])
	}
	var s struct {
		Ticks       uint64
		InferenceUS struct{ N uint64 } `json:"inference_us"`
		Chunks      uint64             `json:"chunks_rejected"`
	}
	data, err := os.ReadFile(sum)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	r := readMCAP(t, file, false)
	want := map[string]string{
		"/robotd/joint_states":   "robotd.JointState",
		"/robotd/torque_command": "robotd.JointCommand",
		"/robotd/tool_pose":      "foxglove.PoseInFrame",
		"/robotd/target_pose":    "foxglove.PoseInFrame",
		"/robotd/plan":           "foxglove.PosesInFrame",
		"/robotd/state":          "robotd.StateTransition",
		"/robotd/log":            "foxglove.Log",
		"/camera/wrist":          "foxglove.CompressedImage",
	}
	for topic, schema := range want {
		c, ok := r.Channels[topic]
		if !ok {
			t.Errorf("channel %s missing (have %v)", topic, r.Counts)
			continue
		}
		if c.Schema != schema || c.SchemaEncoding != "jsonschema" || c.MessageEncoding != "json" {
			t.Errorf("%s: schema %q (%s), messages %s; want %s (jsonschema), json", topic, c.Schema, c.SchemaEncoding, c.MessageEncoding, schema)
		}
	}
	if s.Ticks == 0 || r.Counts["/robotd/joint_states"] != s.Ticks || r.Counts["/robotd/torque_command"] != s.Ticks {
		t.Errorf("joint states %d, torques %d; the run's ticks %d", r.Counts["/robotd/joint_states"], r.Counts["/robotd/torque_command"], s.Ticks)
	}
	if n := s.InferenceUS.N - s.Chunks; n == 0 || r.Counts["/robotd/plan"] < n-1 || r.Counts["/robotd/plan"] > n {
		t.Errorf("plans %d; the run's accepted chunks %d (the last may still wait for its delivery time at the stop)", r.Counts["/robotd/plan"], n)
	}
	// idle->homing->running->stopping->idle.
	if r.Counts["/robotd/state"] != 4 {
		t.Errorf("state transitions %d, want 4", r.Counts["/robotd/state"])
	}
	if r.Counts["/camera/wrist"] == 0 {
		t.Error("no camera frames")
	}
	if r.Messages != logged || r.Statistics == nil || r.Statistics.MessageCount != m[1] {
		t.Errorf("@mcap/core read %d messages (statistics %v); robotd logged %d", r.Messages, r.Statistics, logged)
	}
	for topic, keys := range map[string]string{
		"/robotd/joint_states": "timestamp name position velocity effort",
		"/robotd/tool_pose":    "timestamp frame_id pose",
		"/robotd/plan":         "timestamp frame_id poses",
		"/camera/wrist":        "timestamp frame_id format data",
		"/robotd/log":          "timestamp level message name file line",
	} {
		if got := strings.Join(r.Keys[topic], " "); got != keys {
			t.Errorf("%s: keys %q, want %q", topic, got, keys)
		}
	}
}

// TestMCAPKilled kills a realtime run with SIGKILL mid-run: the file, never closed, is
// read by @mcap/core's stream reader up to its last finished chunk (every CRC checked),
// and holds at least the chunks that were written before the kill.
func TestMCAPKilled(t *testing.T) {
	needVizPeers(t)
	bin := robotdBinary(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "killed.mcap")
	cmd := exec.Command(bin, "run", "--launch", "../../launch/test_daemon_rig.yaml", "--duration", "0", "--listen", "off", "--mcap", file)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Wait for running, then for a few chunks to reach the file.
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "to=running") {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if fi, err := os.Stat(file); err == nil && fi.Size() > 600<<10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the MCAP file did not grow past 600 KiB in 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	r := readMCAP(t, file, true)
	if r.Error != "" {
		t.Fatalf("stream reader failed on the killed file (%d bytes): %s", fi.Size(), r.Error)
	}
	if r.Records["Header"] != 1 || r.Records["Footer"] != 0 {
		t.Errorf("records %v: want a header and no footer (the file was never closed)", r.Records)
	}
	if r.Records["MessageIndex"] == 0 || r.Counts["/robotd/joint_states"] < 1000 {
		t.Errorf("killed file (%d bytes): records %v, messages %v: want whole chunks with over 1000 joint states", fi.Size(), r.Records, r.Counts)
	}
	// robotd convert reads the killed file up to its last whole record too.
	ds := filepath.Join(dir, "ds")
	if out, err := exec.Command(bin, "convert", "--out", ds, file).CombinedOutput(); err != nil {
		t.Errorf("robotd convert on the killed file: %v\n%s", err, out)
	} else if d, err := episode.Open(ds); err != nil || len(d.Episodes) != 1 || d.Episodes[0].Length < 10 {
		t.Errorf("the killed file's dataset: %v (%s)", err, out)
	}
	// Every joint state read is whole: the last finished chunk ends where the reader stopped.
	if r.Counts["/robotd/joint_states"] != r.Counts["/robotd/torque_command"] && r.Counts["/robotd/joint_states"] != r.Counts["/robotd/torque_command"]+1 {
		t.Errorf("joint states %d, torques %d: a chunk was read in part", r.Counts["/robotd/joint_states"], r.Counts["/robotd/torque_command"])
	}
}

// wsReport is what tools/viz-peers/ws_client.js prints.
type wsReport struct {
	Server, Protocol string
	Channels         map[string]struct {
		ID                                   int
		Encoding, SchemaName, SchemaEncoding string
	}
	Topics map[string]struct {
		Count     int
		Rate      float64
		StampSpan float64
		Keys      []string
	}
}

// TestFoxgloveLive runs launch/sim.yaml in real time with the live server and two
// @foxglove/ws-protocol clients at once (one asking for foxglove.websocket.v1, one for
// foxglove.sdk.v1): each gets the advertised channel set, joint states at the live rate
// (50 Hz) and the scene camera's JPEG frames at its 30 Hz, and the run logs no drop.
func TestFoxgloveLive(t *testing.T) {
	needVizPeers(t)
	bin := robotdBinary(t)
	cmd := exec.Command(bin, "run", "--launch", "../../launch/sim.yaml", "--duration", "9s", "--listen", "off", "--foxglove", ":0")
	var stdout strings.Builder
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	url := ""
	sc := bufio.NewScanner(stderr)
	re := regexp.MustCompile(`ws://[0-9.:]+`)
	for sc.Scan() {
		if u := re.FindString(sc.Text()); u != "" && url == "" {
			url = u
		}
		if strings.Contains(sc.Text(), "to=running") {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	if url == "" {
		t.Fatal("robotd did not log the live server's address")
	}
	type res struct {
		r   wsReport
		err error
		out []byte
	}
	results := make(chan res, 2)
	for _, proto := range []string{"foxglove.websocket.v1", "foxglove.sdk.v1"} {
		go func() {
			out, err := exec.Command("node", filepath.Join(vizPeers, "ws_client.js"), url, "4", proto).Output()
			var r wsReport
			if err == nil {
				err = json.Unmarshal(out, &r)
			}
			results <- res{r, err, out}
		}()
	}
	for range 2 {
		x := <-results
		if x.err != nil {
			t.Fatalf("ws client: %v\n%s", x.err, x.out)
		}
		r := x.r
		if r.Server != "robotd" || (r.Protocol != "foxglove.websocket.v1" && r.Protocol != "foxglove.sdk.v1") {
			t.Errorf("server %q, protocol %q", r.Server, r.Protocol)
		}
		if c := r.Channels["/camera/scene"]; c.SchemaName != "foxglove.CompressedImage" || c.Encoding != "json" || c.SchemaEncoding != "jsonschema" {
			t.Errorf("/camera/scene advertised as %+v", c)
		}
		js, cam := r.Topics["/robotd/joint_states"], r.Topics["/camera/scene"]
		if js.Rate < 40 || js.Rate > 55 {
			t.Errorf("%s: joint states at %.1f Hz (%d), want the live rate 50 Hz", r.Protocol, js.Rate, js.Count)
		}
		if cam.Rate < 20 || cam.Rate > 33 { // the real-time render falls behind on a loaded machine
			t.Errorf("%s: scene camera at %.1f Hz (%d frames), want its 30 Hz", r.Protocol, cam.Rate, cam.Count)
		}
		if got := strings.Join(cam.Keys, " "); got != "timestamp frame_id format data" {
			t.Errorf("camera message keys %q", got)
		}
		t.Logf("%s: joint states %.1f Hz, scene camera %.1f Hz, tool pose %.1f Hz, plans %d", r.Protocol, js.Rate, cam.Rate,
			r.Topics["/robotd/tool_pose"].Rate, r.Topics["/robotd/plan"].Count)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("robotd run: %v\n%s", err, stdout.String())
	}
	if m := vizLine.FindStringSubmatch(stdout.String()); m == nil || m[2] != "0" {
		t.Errorf("viz summary: %q", m)
	}
}

var updateScreenshot = flag.Bool("update-screenshot", false, "TestOperatorPage: write its screenshot to docs/operator_page.png")

// TestOperatorPage runs launch/sim.yaml in real time and drives Debian's chromium
// (headless, DevTools protocol: tools/viz-peers/page_check.js) on the operator page:
// it loads, shows running, keeps updating, shows both cameras and the tool history;
// pressing STOP gets 202 and the daemon stops (ramp, hold, idle) and exits 0 long before
// its 60 s. With -update-screenshot the screenshot becomes docs/operator_page.png.
func TestOperatorPage(t *testing.T) {
	needVizPeers(t)
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not found: run scripts/setup.sh (Debian package chromium)")
	}
	bin := robotdBinary(t)
	cmd := exec.Command(bin, "run", "--launch", "../../launch/sim.yaml", "--duration", "60s", "--listen", ":0")
	var stdout strings.Builder
	var stderr safeBuffer
	cmd.Stdout = &stdout
	pr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(pr)
	url := ""
	re := regexp.MustCompile(`metrics=(http://[0-9.:]+)/metrics`)
	for sc.Scan() {
		stderr.add(sc.Text())
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1] + "/"
			break
		}
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		for sc.Scan() {
			stderr.add(sc.Text())
		}
	}()
	if url == "" {
		t.Fatal("robotd did not log its telemetry address")
	}
	shot := filepath.Join(t.TempDir(), "operator_page.png")
	c := exec.Command("node", filepath.Join(vizPeers, "page_check.js"), url, shot)
	c.Env = append(os.Environ(), "CHROMIUM="+chromium)
	out, err := c.Output()
	if err != nil {
		var es string
		if ee, ok := err.(*exec.ExitError); ok {
			es = string(ee.Stderr)
		}
		t.Fatalf("page_check: %v\n%s\n%s", err, out, es)
	}
	var r struct {
		State                 string
		Updates, UpdatesLater int
		Cameras               []struct {
			Name   string
			Loaded bool
			Width  int
		}
		History   int
		ToolZ     *float64
		Stop      string
		StopLabel string
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("page_check output %q: %v", out, err)
	}
	t.Logf("page: %s", out)
	if r.State != "running" || r.UpdatesLater < r.Updates+10 {
		t.Errorf("page state %q, updates %d then %d 4 s later: want running and at least 10 more", r.State, r.Updates, r.UpdatesLater)
	}
	if len(r.Cameras) != 2 || !r.Cameras[0].Loaded || !r.Cameras[1].Loaded || r.Cameras[0].Width != 96 {
		t.Errorf("cameras on the page: %+v, want scene and wrist, 96 px JPEGs shown", r.Cameras)
	}
	if r.History < 10 || r.ToolZ == nil || *r.ToolZ <= 0 {
		t.Errorf("tool history %d points, tool z %v", r.History, r.ToolZ)
	}
	if r.Stop != "202" || r.StopLabel != "STOPPING" {
		t.Errorf("STOP answered %q (%q), want 202", r.Stop, r.StopLabel)
	}
	done := make(chan error, 1)
	go func() { <-copied; done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("robotd run after STOP: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("robotd still running 20 s after STOP\n%s", stderr.String())
	}
	log := stderr.String()
	if !strings.Contains(log, `from=running to=stopping why="POST /stop from`) || !strings.Contains(log, "operator page") ||
		!strings.Contains(log, "from=stopping to=idle") {
		t.Errorf("the log does not show the page's stop ramping to idle:\n%s", log)
	}
	if *updateScreenshot {
		data, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("../../docs/operator_page.png", data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEvalMCAP: robotd eval --mcap DIR writes one closed, indexed MCAP file per episode,
// each with its own run (idle -> homing -> running -> stopping -> idle, joint states,
// plans, camera frames), in order and not overlapping in time.
func TestEvalMCAP(t *testing.T) {
	needVizPeers(t)
	bin := robotdBinary(t)
	dir := t.TempDir()
	out, err := exec.Command(bin, "eval", "--launch", "../../launch/pickplace_diffusion.yaml", "--episodes", "2", "--videos", "0",
		"--out", dir, "--mcap", filepath.Join(dir, "mcap")).CombinedOutput()
	if err != nil {
		t.Fatalf("robotd eval: %v\n%s", err, out)
	}
	if m := vizLine.FindStringSubmatch(string(out)); m == nil || m[2] != "0" {
		t.Errorf("viz summary line %q in:\n%s", m, out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "mcap", "*.mcap"))
	if len(files) != 2 || filepath.Base(files[0]) != "episode_000.mcap" || filepath.Base(files[1]) != "episode_001.mcap" {
		t.Fatalf("files %v, want episode_000.mcap and episode_001.mcap", files)
	}
	var prevLast uint64
	for _, f := range files {
		r := readMCAP(t, f, false)
		if r.Counts["/robotd/state"] != 4 || r.Counts["/robotd/joint_states"] < 1000 || r.Counts["/robotd/plan"] == 0 || r.Counts["/camera/scene"] == 0 {
			t.Errorf("%s: %v: want 4 transitions, over 1000 joint states, plans and scene frames", f, r.Counts)
		}
		if r.Counts["/robotd/joint_states"] != r.Counts["/robotd/torque_command"] {
			t.Errorf("%s: joint states %d, torques %d", f, r.Counts["/robotd/joint_states"], r.Counts["/robotd/torque_command"])
		}
		first, _ := strconv.ParseUint(r.First, 10, 64)
		last, _ := strconv.ParseUint(r.Last, 10, 64)
		if first <= prevLast || last < first {
			t.Errorf("%s: log times %d..%d; the previous file ended at %d", f, first, last, prevLast)
		}
		prevLast = last
	}
}

// TestConvertMCAP: robotd convert turns a robotd run's MCAP log (the rig, 2 s, lockstep)
// into a LeRobotDataset v3.0 with the log's defaults: observation.state the 7 joint
// positions, action the target pose (unit quaternion), the wrist camera's frames at
// 96x96; the episode reader accepts it and its frames span the logged run at 30 fps.
func TestConvertMCAP(t *testing.T) {
	bin := robotdBinary(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "run.mcap")
	if out, err := exec.Command(bin, "run", "--launch", "../../launch/test_daemon_rig.yaml", "--duration", "2s", "--listen", "off",
		"--mcap", file).CombinedOutput(); err != nil {
		t.Fatalf("robotd run: %v\n%s", err, out)
	}
	ds := filepath.Join(dir, "ds")
	out, err := exec.Command(bin, "convert", "--out", ds, "--task", "hold", file).CombinedOutput()
	if err != nil {
		t.Fatalf("robotd convert: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	d, err := episode.Open(ds)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := d.Episode(0)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ep.State); n < 60 || n > 82 {
		t.Errorf("%d frames, want about 30 fps over the run's 2.7 s of control time", n)
	}
	if f, ok := d.Info.Feature("observation.images.wrist"); !ok || len(f.Shape) != 3 || f.Shape[0] != 96 || f.Shape[1] != 96 {
		t.Errorf("wrist camera feature %+v", f)
	}
	if st, _ := d.Info.Feature("observation.state"); len(st.Names) != 7 {
		t.Errorf("observation.state names %v, want the 7 joints", st.Names)
	}
	moved := false
	for i, a := range ep.Action {
		q := math.Sqrt(float64(a[3]*a[3] + a[4]*a[4] + a[5]*a[5] + a[6]*a[6]))
		if len(a) != 7 || math.Abs(q-1) > 1e-5 {
			t.Fatalf("frame %d: action %v: want x y z and a unit quaternion", i, a)
		}
		if ep.State[i][0] != ep.State[0][0] {
			moved = true
		}
	}
	if !moved {
		t.Error("joint 1 never moved in the converted episode")
	}
	if r, err := d.OpenVideo(0, "observation.images.wrist"); err != nil {
		t.Error(err)
	} else {
		if _, err := r.Next(); err != nil {
			t.Error(err)
		}
		r.Close()
	}
}

// TestEvalMCAPSteered: a steered episode (launch/pickplace_diffusion_bid.yaml) logs one
// steering record per chunk computed, with its fields.
func TestEvalMCAPSteered(t *testing.T) {
	needVizPeers(t)
	bin := robotdBinary(t)
	dir := t.TempDir()
	out, err := exec.Command(bin, "eval", "--launch", "../../launch/pickplace_diffusion_bid.yaml", "--episodes", "1", "--videos", "0",
		"--out", dir, "--mcap", filepath.Join(dir, "mcap")).CombinedOutput()
	if err != nil {
		t.Fatalf("robotd eval: %v\n%s", err, out)
	}
	r := readMCAP(t, filepath.Join(dir, "mcap", "episode_000.mcap"), false)
	// A steered chunk is recorded when it arrives and planned when the executor takes it:
	// the episode's last one may end before its delivery time.
	if n, p := r.Counts["/robotd/steering"], r.Counts["/robotd/plan"]; p == 0 || n < p || n > p+1 {
		t.Errorf("%d steering records, %d plans: want one per chunk", n, p)
	}
	if c := r.Channels["/robotd/steering"]; c.Schema != "robotd.Steering" {
		t.Errorf("steering schema %q", c.Schema)
	}
	if got := strings.Join(r.Keys["/robotd/steering"], " "); got != "timestamp n valid chosen spread infer_s total_s" {
		t.Errorf("steering keys %q", got)
	}
}
