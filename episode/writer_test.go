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
