package system

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/episode"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/sim/task"
)

// courseRecorder keeps, at 30 Hz, what a recording of an episode holds: the joints and
// the gripper (observation.state), the target in force and the gripper command (the
// ee_pose action) and the cube's pose (observation.environment_state).
type courseRecorder struct {
	eps  *TaskEpisodes
	data episode.EpisodeData
}

func (r *courseRecorder) Period() time.Duration { return time.Second / 30 }

func (r *courseRecorder) Record(s *daemon.Sample) bool {
	st := make([]float32, 0, len(s.Q)+1)
	for _, q := range s.Q {
		st = append(st, float32(q))
	}
	act := make([]float32, 7)
	daemon.SpaceEEPose.PutPose(act, s.Target)
	act[6] = float32(s.GripperCommand)
	env := make([]float32, len(task.EnvNames))
	r.eps.Environment(env)
	r.data.State = append(r.data.State, append(st, float32(s.Gripper)))
	r.data.Action = append(r.data.Action, act)
	r.data.Vectors[episode.KeyEnvState] = append(r.data.Vectors[episode.KeyEnvState], env)
	return true
}

// The scripted expert's course, replayed on a fresh scene from its recorded start (arm,
// gripper and cube), is followed closely and solves the task again: NewReplay's source,
// tracker and environment restore end to end through the daemon.
func TestReplayExpertCourse(t *testing.T) {
	f, err := launch.Load("../launch/pickplace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(context.Background(), f, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	eps, err := s.NewTaskEpisodes(true, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &courseRecorder{eps: eps, data: episode.EpisodeData{Vectors: map[string][][]float32{}}}
	s.Ports.Recorder = rec
	d, err := s.Daemon(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := eps.Reset(0); err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background()); err != nil || !eps.Episode().Success {
		t.Fatalf("the expert's episode: %v, success %v", err, eps.Episode() != nil && eps.Episode().Success)
	}
	s.Close()

	names := append(daemon.SpaceEEPose.Names(nil), "gripper")
	ds := &episode.Dataset{Dir: "course", Info: &episode.Info{FPS: 30, Features: []episode.Feature{{Key: episode.KeyAction, Names: names}}}}
	f, err = launch.Load("../launch/pickplace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err = New(context.Background(), f, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rp, err := s.NewReplay(ds, &rec.data)
	if err != nil {
		t.Fatal(err)
	}
	if rp.Layout != "ee_pose" || rp.Note != "" {
		t.Errorf("layout %q, note %q: want ee_pose and the cube restored", rp.Layout, rp.Note)
	}
	d, err = s.Daemon(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr := rp.Tracking()
	c, ok := rp.Cube()
	t.Logf("%d recorded frames; replay: %+v; cube %+v", len(rec.data.Action), tr, c)
	if tr.Frames < len(rec.data.Action)-2 || tr.JointRMS > 0.005 || tr.ToolRMS > 0.002 {
		t.Errorf("tracking %+v over %d recorded frames: want every frame, joints within 0.005 rad RMS, tool within 2 mm", tr, len(rec.data.Action))
	}
	if !ok || c.Frames == 0 || c.RMS > 0.005 || !c.RecordedInZone || !c.Success {
		t.Errorf("cube %+v (restored %v): want its course within 5 mm RMS, in the zone as recorded, the task solved", c, ok)
	}
	png := filepath.Join(t.TempDir(), "replay.png")
	if err := rp.Plot(png); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(png); err != nil || st.Size() < 1000 {
		t.Errorf("plot: %v", err)
	}
}

// A dataset whose action is neither robotd's ee_pose layout nor the arm's joints is
// refused, naming both layouts; an empty episode is refused.
func TestReplayRefusesLayout(t *testing.T) {
	f, err := launch.Load("../launch/pickplace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ds := &episode.Dataset{Dir: "odd", Info: &episode.Info{FPS: 30, Features: []episode.Feature{{Key: episode.KeyAction, Names: []string{"a", "b", "c"}}}}}
	data := &episode.EpisodeData{State: [][]float32{make([]float32, 8)}, Action: [][]float32{{0, 0, 0}}}
	if _, err := s.NewReplay(ds, data); err == nil || !strings.Contains(err.Error(), "want robotd's ee_pose layout") {
		t.Errorf("error %v, want one naming the layouts", err)
	}
	if _, err := s.NewReplay(ds, &episode.EpisodeData{}); err == nil || !strings.Contains(err.Error(), "has no frames") {
		t.Errorf("error %v, want one saying the episode has no frames", err)
	}
}
