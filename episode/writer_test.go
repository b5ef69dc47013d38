package episode

import (
	"context"
	"math/rand"
	"path/filepath"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	dir, frames := newDataset(t, 40, 35, 50)
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Episodes) != 3 || ds.Info.TotalFrames != 125 || len(ds.Tasks) != 2 {
		t.Fatalf("episodes %d frames %d tasks %v", len(ds.Episodes), ds.Info.TotalFrames, ds.Tasks)
	}
	for i, want := range frames {
		d, err := ds.Episode(i)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.State) != len(want) {
			t.Fatalf("episode %d: %d rows, want %d", i, len(d.State), len(want))
		}
		for k, f := range want {
			for j := range f.State {
				if d.State[k][j] != f.State[j] || d.Action[k][j] != f.Action[j] {
					t.Fatalf("episode %d frame %d: state/action differ", i, k)
				}
			}
			if d.FrameIndex[k] != int64(k) || d.Timestamp[k] != float32(float64(k)/30) {
				t.Fatalf("episode %d frame %d: frame_index %d timestamp %v", i, k, d.FrameIndex[k], d.Timestamp[k])
			}
		}
		for _, c := range ds.Info.VideoKeys() {
			r, err := ds.OpenVideo(i, c)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				img, err := r.Next()
				if err != nil {
					break
				}
				_ = img
				n++
			}
			r.Close()
			if n != len(want) {
				t.Fatalf("episode %d %s: %d video frames, want %d", i, c, n, len(want))
			}
		}
	}
}

// With Video.Wait, frames added faster than the encoders take them wait for room: a queue
// of one frame loses none of 120 frames added back to back (without Wait, a full queue
// drops). The video then has every image, not repeats.
func TestWaitNeverDrops(t *testing.T) {
	s := testSpec()
	s.Video.QueueFrames, s.Video.Wait = 1, true
	dir := filepath.Join(t.TempDir(), "ds")
	w, err := Create(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ep, err := w.BeginEpisode("wait")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	for k := 0; k < 120; k++ {
		if err := ep.AddFrame(synthFrame(s, 0, k, rng)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := ep.End(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.DroppedFrames != 0 || w.Progress().DroppedFrames != 0 || res.Length != 120 {
		t.Fatalf("%d frames, %d dropped with Wait", res.Length, res.DroppedFrames)
	}
}

// The seed of the last episode (EpisodeWriter.SetSeed) is what the next OpenAppend
// reports; an episode committed without one leaves none, and so does a new dataset.
func TestLastSeed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	s := testSpec()
	s.Cameras = nil
	w, err := Create(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := w.LastSeed(); ok {
		t.Fatal("a new dataset has a last seed")
	}
	record := func(w *Writer, seed int64, set bool) {
		ep, err := w.BeginEpisode("task")
		if err != nil {
			t.Fatal(err)
		}
		if set {
			ep.SetSeed(seed)
		}
		if err := ep.AddFrame(synthFrame(w.spec, 0, 0, nil2())); err != nil {
			t.Fatal(err)
		}
		if _, err := ep.End(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	record(w, 41, true)
	record(w, 42, true)
	w.Close()
	if w, err = OpenAppend(dir, s); err != nil {
		t.Fatal(err)
	}
	if seed, ok := w.LastSeed(); !ok || seed != 42 {
		t.Fatalf("LastSeed() = %d, %v; want 42", seed, ok)
	}
	record(w, 0, false)
	w.Close()
	if w, err = OpenAppend(dir, s); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if seed, ok := w.LastSeed(); ok {
		t.Fatalf("LastSeed() = %d after an episode without a seed, want none", seed)
	}
}
