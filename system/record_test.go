package system

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/episode"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/sim/task"
)

// The recorder writes observation.ee_pose from each sample's measured tool pose and
// observation.environment_state as read at the sample's instant, in lockstep and in
// realtime (where the frame is built on another goroutine, after the scene has moved on).
func TestRecorderVectors(t *testing.T) {
	joints := []string{"j1", "j2", "j3", "j4", "j5", "j6", "j7"}
	for _, lockstep := range []bool{true, false} {
		t.Run(fmt.Sprintf("lockstep=%v", lockstep), func(t *testing.T) {
			state := RecordState(joints, nil)
			spec := RecordSpec("panda", 30, state, nil, nil, true, true)
			dir := filepath.Join(t.TempDir(), "ds")
			w, err := episode.Create(dir, spec)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			var now int // the scene's "time": what env reports
			env := func(dst []float32) {
				task.EnvValues(dst, control.Pose{Pos: mgl64.Vec3{float64(now), 0.5, 0.025}, Rot: mgl64.QuatRotate(float64(now)*0.01, mgl64.Vec3{0, 0, 1})})
			}
			rec, err := NewRecorder(RecorderConfig{FPS: 30, Lockstep: lockstep, State: state, DoF: 7, Vectors: spec.Vectors, Env: env})
			if err != nil {
				t.Fatal(err)
			}
			ep, err := w.BeginEpisode("move")
			if err != nil {
				t.Fatal(err)
			}
			rec.Begin(ep)
			const n = 40
			tool := func(k int) control.Pose {
				return control.Pose{Pos: mgl64.Vec3{0.3, float64(k) * 0.001, 0.4}, Rot: mgl64.QuatRotate(math.Pi-float64(k)*0.02, mgl64.Vec3{1, 0, 0})}
			}
			for k := 0; k < n; k++ {
				now = k
				s := &daemon.Sample{T: time.Duration(k) * time.Second / 30, Q: make([]float64, 7), DQ: make([]float64, 7),
					Tool: tool(k), Gripper: 0.08, Target: tool(k + 1), GripperCommand: 0.08}
				for !rec.Record(s) {
					time.Sleep(time.Millisecond)
				}
				now = -1 // the scene moves on before a realtime worker builds the frame
			}
			if err := rec.Finish(false); err != nil {
				t.Fatal(err)
			}
			if _, err := ep.End(t.Context()); err != nil {
				t.Fatal(err)
			}
			ds, err := episode.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			d, err := ds.Episode(0)
			if err != nil {
				t.Fatal(err)
			}
			ee, en := d.Vectors["observation.ee_pose"], d.Vectors[episode.KeyEnvState]
			if len(ee) != n || len(en) != n {
				t.Fatalf("%d ee_pose and %d environment_state rows, want %d", len(ee), len(en), n)
			}
			want := make([]float32, 6)
			for k := 0; k < n; k++ {
				daemon.PoseValues(want, tool(k))
				if !slices.Equal(ee[k], want) {
					t.Fatalf("frame %d: observation.ee_pose %v, want %v", k, ee[k], want)
				}
				p := task.EnvPose(en[k])
				if p.Pos[0] != float64(k) || angleBetween(p.Rot, mgl64.QuatRotate(float64(k)*0.01, mgl64.Vec3{0, 0, 1})) > 1e-3 {
					t.Fatalf("frame %d: environment_state %v, want the cube of instant %d", k, en[k], k)
				}
			}
		})
	}
	// A feature the recorder has no source for is refused.
	if _, err := NewRecorder(RecorderConfig{FPS: 30, Lockstep: true, State: RecordState(joints, nil), DoF: 7, Vectors: []episode.VectorSpec{{Key: episode.KeyEnvState, Names: task.EnvNames}}}); err == nil {
		t.Error("environment_state without a source was accepted")
	}
}

func angleBetween(a, b mgl64.Quat) float64 {
	return 2 * math.Acos(math.Min(1, math.Abs(a.Normalize().Dot(b.Normalize()))))
}

// The recorded action is the gripper command the driver applied: a command of 1e6 on
// a gripper that opens to 8 cm records 0.08 (it recorded 1e6), a negative one 0; with no
// range (a zero RecorderConfig) the command is recorded as it is.
func TestRecorderClampsGripperCommand(t *testing.T) {
	state := RecordState([]string{"j1", "j2"}, nil)
	spec := RecordSpec("panda", 30, state, nil, nil, false, false)
	for _, tc := range []struct {
		lo, hi float64
		cmd    []float64
		want   []float32
	}{
		{0, 0.08, []float64{1e6, -3, 0.05, math.NaN()}, []float32{0.08, 0, 0.05, 0.04}},
		{0, 0, []float64{1e6, 0.05}, []float32{1e6, 0.05}},
	} {
		dir := filepath.Join(t.TempDir(), "ds")
		w, err := episode.Create(dir, spec)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := NewRecorder(RecorderConfig{FPS: 30, Lockstep: true, State: state, DoF: 2, Vectors: spec.Vectors, GripperMin: tc.lo, GripperMax: tc.hi})
		if err != nil {
			t.Fatal(err)
		}
		ep, err := w.BeginEpisode("grip")
		if err != nil {
			t.Fatal(err)
		}
		rec.Begin(ep)
		pose := control.Pose{Rot: mgl64.QuatIdent()}
		for k, c := range tc.cmd {
			rec.Record(&daemon.Sample{T: time.Duration(k) * time.Second / 30, Q: make([]float64, 2), DQ: make([]float64, 2),
				Tool: pose, Target: pose, Gripper: 0.04, GripperCommand: c})
		}
		if err := rec.Finish(false); err != nil {
			t.Fatal(err)
		}
		if _, err := ep.End(t.Context()); err != nil {
			t.Fatal(err)
		}
		w.Close()
		ds, err := episode.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		d, err := ds.Episode(0)
		if err != nil {
			t.Fatal(err)
		}
		for k, want := range tc.want {
			if got := d.Action[k][6]; got != want {
				t.Errorf("range [%g, %g]: command %g recorded as %g, want %g", tc.lo, tc.hi, tc.cmd[k], got, want)
			}
		}
	}
}

// The simulated gripper's range is its actuator's (one finger's travel, doubled): the
// pick-and-place scene's fingers open to 8 cm in all.
func TestGripperRangeSim(t *testing.T) {
	f, err := launch.Load("../launch/pickplace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(context.Background(), f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if lo, hi := w.GripperRange(); lo != 0 || math.Abs(hi-0.08) > 1e-9 {
		t.Fatalf("GripperRange() = [%g, %g], want [0, 0.08]", lo, hi)
	}
}
