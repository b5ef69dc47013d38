package system

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/episode"
)

// Appending to a dataset recorded before the extra features existed (like one recorded
// by an earlier robotd) keeps its features: the vectors it lacks are left out, each
// with a note, and the episode appends.
func TestOpenDatasetWithoutVectors(t *testing.T) {
	joints := []string{"j1", "j2", "j3", "j4", "j5", "j6", "j7"}
	state := RecordState(joints, nil)
	spec := RecordSpec("panda", 10, state, nil, nil, true, true)
	old := spec
	old.Vectors = nil
	dir := filepath.Join(t.TempDir(), "ds")
	w, err := episode.Create(dir, old)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	w, got, notes, err := OpenDataset(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if len(got.Vectors) != 0 || len(notes) != 2 || !strings.Contains(notes[0], "no observation.ee_pose feature") || !strings.Contains(notes[1], "no observation.environment_state feature") {
		t.Fatalf("vectors %v, notes %q: want none left and a note for each", got.Vectors, notes)
	}
	rec, err := NewRecorder(RecorderConfig{FPS: 10, Lockstep: true, State: state, DoF: 7, Vectors: got.Vectors, Env: func([]float32) {}})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := w.BeginEpisode("move")
	if err != nil {
		t.Fatal(err)
	}
	rec.Begin(ep)
	for k := 0; k < 3; k++ {
		rec.Record(&daemon.Sample{T: time.Duration(k) * 100 * time.Millisecond, Q: make([]float64, 7), DQ: make([]float64, 7), Tool: control.Pose{Rot: mgl64.QuatIdent()}, Target: control.Pose{Rot: mgl64.QuatIdent()}})
	}
	if err := rec.Finish(true); err != nil {
		t.Fatal(err)
	}
	if res, err := ep.End(t.Context()); err != nil || res.Length != 3 {
		t.Fatalf("append: %v, %+v", err, res)
	}
	// A new dataset gets them.
	w2, got, notes, err := OpenDataset(filepath.Join(t.TempDir(), "new"), spec)
	if err != nil {
		t.Fatal(err)
	}
	w2.Close()
	if len(got.Vectors) != 2 || len(notes) != 0 {
		t.Errorf("new dataset: vectors %v, notes %q", got.Vectors, notes)
	}
}

// RecordSeed: a given seed or an empty dataset starts there; an append without one
// continues after the last recorded seed; a last episode without a seed is an error.
func TestRecordSeed(t *testing.T) {
	joints := []string{"j1", "j2", "j3", "j4", "j5", "j6", "j7"}
	state := RecordState(joints, nil)
	spec := RecordSpec("panda", 10, state, nil, nil, true, false)
	record := func(ds *episode.Writer, seed int64, withSeed bool) {
		t.Helper()
		rec, err := NewRecorder(RecorderConfig{FPS: 10, Lockstep: true, State: state, DoF: 7, Vectors: spec.Vectors})
		if err != nil {
			t.Fatal(err)
		}
		ep, err := ds.BeginEpisode("move")
		if err != nil {
			t.Fatal(err)
		}
		if withSeed {
			ep.SetSeed(seed)
		}
		rec.Begin(ep)
		for k := 0; k < 2; k++ {
			rec.Record(&daemon.Sample{T: time.Duration(k) * 100 * time.Millisecond, Q: make([]float64, 7), DQ: make([]float64, 7), Tool: control.Pose{Rot: mgl64.QuatIdent()}, Target: control.Pose{Rot: mgl64.QuatIdent()}})
		}
		if err := rec.Finish(true); err != nil {
			t.Fatal(err)
		}
		if _, err := ep.End(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, ds *episode.Writer, seed int64, set bool, want int64, wantCont, wantErr bool) {
		t.Helper()
		got, cont, err := RecordSeed(ds, seed, set)
		if (err != nil) != wantErr || (err == nil && (got != want || cont != wantCont)) {
			t.Errorf("%s: RecordSeed(%d, %v) = %d, %v, %v: want %d, %v, error %v", what, seed, set, got, cont, err, want, wantCont, wantErr)
		}
	}
	ds, err := episode.Create(filepath.Join(t.TempDir(), "ds"), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	check("empty dataset", ds, 3, false, 3, false, false)
	record(ds, 7, true)
	check("after seed 7", ds, 0, false, 8, true, false)
	check("after seed 7, --seed 2", ds, 2, true, 2, false, false)
	record(ds, 0, false)
	check("last episode without a seed", ds, 0, false, 0, false, true)
	check("last episode without a seed, --seed 4", ds, 4, true, 4, false, false)
}
