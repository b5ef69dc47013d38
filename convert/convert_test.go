package convert

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/robotd/robotd/episode"
)

// teleopBag writes testdata/teleop_bag.py's bag with Debian's rosbag (chunks compressed
// as comp), skipping when python3-rosbag is not installed.
func teleopBag(t *testing.T, comp string) string {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import rosbag, sensor_msgs.msg").Run(); err != nil {
		t.Skip("Debian's python3-rosbag is not installed: run scripts/setup.sh")
	}
	path := filepath.Join(t.TempDir(), "teleop_"+comp+".bag")
	if out, err := exec.Command("/usr/bin/python3", "testdata/teleop_bag.py", path, comp).CombinedOutput(); err != nil {
		t.Fatalf("teleop_bag.py: %v\n%s", err, out)
	}
	return path
}

const teleopYAML = `fps: 30
task: move the arm
robot_type: panda
state:
  topic: /joint_states
  names: [panda_joint1, panda_joint2, panda_joint3, panda_joint4, panda_joint5, panda_joint6, panda_joint7]
action:
  topic: /joint_commands
  names: [j1, j2, j3, j4, j5, j6, j7]
cameras:
  - {name: front, topic: /front/image_raw}
  - {name: wrist, topic: /wrist/image_raw/compressed}
`

// TestBag converts rosbag-written bags (uncompressed, bz2 and lz4 chunks), three files as
// three episodes, and reads the dataset back with the episode reader (and DuckDB when
// installed): 60 frames at 30 fps over the bag's 2 s; each frame holds the newest joint
// state and command at its time (values predicted from the generator's formulas, joints
// picked by name out of a scrambled order with fingers), and the camera frames' colours
// (an Image in bgr8 and a CompressedImage in PNG) survive to the videos within H.264's
// error.
func TestBag(t *testing.T) {
	bags := []string{teleopBag(t, "none"), teleopBag(t, "bz2"), teleopBag(t, "lz4")}
	cfgPath := filepath.Join(t.TempDir(), "map.yaml")
	if err := os.WriteFile(cfgPath, []byte(teleopYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ds")
	res, err := Convert(context.Background(), cfg, bags, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Episodes) != 3 || res.Spec.Cameras[0].Width != 32 || res.Spec.Cameras[0].Height != 24 || res.Spec.Cameras[1].Width != 16 {
		t.Fatalf("result %+v", res)
	}
	ds, err := episode.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Episodes) != 3 || ds.Info.FPS != 30 || ds.Info.RobotType != "panda" || len(ds.Tasks) != 1 || ds.Tasks[0] != "move the arm" {
		t.Fatalf("dataset: %d episodes, fps %d, robot %q, tasks %q", len(ds.Episodes), ds.Info.FPS, ds.Info.RobotType, ds.Tasks)
	}
	for e := range 3 {
		d, err := ds.Episode(e)
		if err != nil {
			t.Fatal(err)
		}
		// The grid: t0 = 1000 s (every stream has a message there), frames until 1001.99 s.
		if len(d.State) != 60 {
			t.Fatalf("episode %d: %d frames, want 60", e, len(d.State))
		}
		for f := range d.State {
			at := time.Duration(f) * (time.Second / 30)
			k := int(at / (10 * time.Millisecond)) // the newest 100 Hz message
			for i := range 7 {
				wantS := float32(0.1*float64(i+1) + 0.01*float64(k))
				wantA := float32(-0.1*float64(i+1) - 0.02*float64(k))
				if d.State[f][i] != wantS || d.Action[f][i] != wantA {
					t.Fatalf("episode %d frame %d joint %d: state %v action %v, want %v %v", e, f, i+1, d.State[f][i], d.Action[f][i], wantS, wantA)
				}
			}
		}
		for c, cam := range []string{"observation.images.front", "observation.images.wrist"} {
			r, err := ds.OpenVideo(e, cam)
			if err != nil {
				t.Fatal(err)
			}
			for f := 0; f < 60; f++ {
				rgb, err := r.Next()
				if err != nil {
					t.Fatalf("%s frame %d: %v", cam, f, err)
				}
				// The newest image: the generator stamps image n at n*1e9/15 ns (floored).
				at, n := time.Duration(f)*(time.Second/30), 0
				for time.Duration((n+1)*1e9/15) <= at {
					n++
				}
				want := [3]int{(10 * n) % 250, 100, 200}
				if c == 1 {
					want = [3]int{8 * n, 8 * n, 8 * n}
				}
				mid := (len(rgb) / 3 / 2) * 3
				for ch := range 3 {
					if d := int(rgb[mid+ch]) - want[ch]; d > 12 || d < -12 {
						t.Fatalf("%s frame %d (image %d): pixel %v, want %v", cam, f, n, rgb[mid:mid+3], want)
					}
				}
			}
			r.Close()
		}
	}
	duckCheck(t, dir, 180)
}

// duckCheck reads dir's parquet files with DuckDB (episode's testdata/duckdb_check.js) and
// checks the data rows and the state column's type, when DuckDB is installed.
func duckCheck(t *testing.T, dir string, rows int) {
	duckDir, _ := filepath.Abs("../.cache/duckdb")
	if _, err := os.Stat(filepath.Join(duckDir, "node_modules", "@duckdb", "node-api")); err != nil {
		t.Logf("DuckDB not installed in %s: its check skipped (run scripts/setup.sh)", duckDir)
		return
	}
	cmd := exec.Command("node", "../episode/testdata/duckdb_check.js", dir, "30")
	cmd.Env = append(os.Environ(), "DUCKDB_DIR="+duckDir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("duckdb_check.js: %v", err)
	}
	var r struct {
		Files []struct {
			Path    string
			Rows    int
			Columns [][2]string
		}
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("duckdb output: %v", err)
	}
	n, stateType := 0, ""
	for _, f := range r.Files {
		if strings.HasPrefix(f.Path, "data/") {
			n += f.Rows
			for _, c := range f.Columns {
				if c[0] == "observation.state" {
					stateType = c[1]
				}
			}
		}
	}
	if n != rows || stateType != "FLOAT[]" {
		t.Errorf("DuckDB: %d data rows (want %d), observation.state %q (want FLOAT[])", n, rows, stateType)
	}
}

// TestBagRefusals: a mapping naming a topic the bag lacks, a joint it does not have, or
// a message type that is not a vector is refused naming it.
func TestBagRefusals(t *testing.T) {
	bag := teleopBag(t, "none")
	base := func() Config {
		return Config{State: Stream{Topic: "/joint_states"}, Action: Stream{Topic: "/joint_commands"}}
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"missing topic", func(c *Config) { c.Cameras = []Camera{{Name: "side", Topic: "/side/image"}} }, "no message on /side/image"},
		{"missing joint", func(c *Config) { c.State.Names = []string{"panda_joint9"} }, `no value named "panda_joint9"`},
		{"not a vector", func(c *Config) { c.Action.Topic = "/tf_like" }, "std_msgs/String is not a vector"},
		{"bad field", func(c *Config) { c.State.Field = "torque" }, `field "torque"`},
		{"wrong count", func(c *Config) { c.Action.Names = []string{"a", "b"} }, "7 values, 2 names given"},
		{"no action", func(c *Config) { c.Action.Topic = "" }, "action.topic are required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := base()
			c.edit(&cfg)
			_, err := Convert(context.Background(), cfg, []string{bag}, filepath.Join(t.TempDir(), "ds"))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one with %q", err, c.want)
			}
		})
	}
}

// TestUnknownKey: the YAML mapping is strict.
func TestUnknownKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.yaml")
	os.WriteFile(p, []byte("state: {topic: /a, joints: [x]}\n"), 0o644)
	if _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), "joints") {
		t.Errorf("error %v, want one naming the unknown key joints", err)
	}
}

// TestRawToRGB: bgr8 with row padding, mono8 and rgba8 convert to RGB24.
func TestRawToRGB(t *testing.T) {
	for _, c := range []struct {
		enc  string
		px   []byte
		step int
		want string
	}{
		{"bgr8", []byte{1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0}, 8, "[3 2 1 6 5 4 9 8 7 12 11 10]"},
		{"mono8", []byte{1, 2, 3, 4}, 2, "[1 1 1 2 2 2 3 3 3 4 4 4]"},
		{"rgba8", []byte{1, 2, 3, 9, 4, 5, 6, 9, 7, 8, 9, 9, 10, 11, 12, 9}, 8, "[1 2 3 4 5 6 7 8 9 10 11 12]"},
	} {
		rgb, w, h, err := rawToRGB(c.px, 2, 2, c.step, c.enc)
		if err != nil || w != 2 || h != 2 || fmt.Sprint(rgb) != c.want {
			t.Errorf("%s: %v %dx%d (%v), want %s", c.enc, rgb, w, h, err, c.want)
		}
	}
	if _, _, _, err := rawToRGB(make([]byte, 10), 2, 2, 6, "rgb8"); err == nil {
		t.Error("a short image was accepted")
	}
}
