package system

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/perception"
)

// The scripted expert solves seeded pick-and-place episodes through the whole daemon path
// (launch/pickplace.yaml: cameras rendered, safety, impedance control), one daemon run per
// episode, the scene reset in between.
func TestExpertEpisodes(t *testing.T) {
	f, err := launch.Load("../launch/pickplace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := New(context.Background(), f, log)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	eps, err := w.NewTaskEpisodes(true, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := w.Daemon(nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := eps.Reset(i); err != nil {
			t.Fatal(err)
		}
		t0 := w.SimArm.Now()
		if err := d.Run(context.Background()); err != nil {
			t.Fatalf("episode %d: %v", i, err)
		}
		ep := eps.ep
		t.Logf("episode %d (cube at %.3f %.3f, yaw %.2f): success %v after %v, lifted %.3f m, place error %.1f mm, %v of sim time",
			i, eps.start.Cube[0], eps.start.Cube[1], eps.start.Yaw, ep.Success, ep.TimeToSuccess, ep.MaxLift, ep.PlaceError*1e3, w.SimArm.Now()-t0)
		if !ep.Success || !eps.sig.Done {
			t.Fatalf("episode %d: the expert failed (success %v, done %v)", i, ep.Success, eps.sig.Done)
		}
	}
}

// An episode's first camera frames depend on its seed alone: after Reset every camera
// holds a frame of the new scene rendered at the reset's time (not the previous
// episode's last frame), and with camera noise the frames of episode 3 are the same byte
// for byte whether the episodes before it ran or not.
func TestResetFramesDependOnTheSeedAlone(t *testing.T) {
	load := func() (*System, *TaskEpisodes) {
		f, err := launch.LoadWith("../launch/pickplace.yaml", func(f *launch.File) {
			for i := range f.Cameras {
				f.Cameras[i].Noise = 8
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		w, err := New(context.Background(), f, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Close)
		eps, err := w.NewTaskEpisodes(true, 40, nil)
		if err != nil {
			t.Fatal(err)
		}
		return w, eps
	}
	frames := func(w *System, reset bool) [][]byte {
		var out [][]byte
		for _, c := range w.Cameras {
			var f perception.Frame
			if err := c.Get(w.SimArm.Now(), &f); err != nil {
				t.Fatalf("camera %s after reset: %v", c.Name(), err)
			}
			if reset && f.Time != w.SimArm.Now() {
				t.Fatalf("camera %s: frame of %v after a reset at %v: not rendered at the reset", c.Name(), f.Time, w.SimArm.Now())
			}
			out = append(out, slices.Clone(f.Data))
		}
		return out
	}
	// Episodes 0..2 run (the arm steps, the cameras render on their schedule), then 3.
	w, eps := load()
	for i := range 3 {
		if err := eps.Reset(i); err != nil {
			t.Fatal(err)
		}
		for range 347 { // 0.347 s: the feeds' schedule ends mid-period
			if err := w.Ports.Step(time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := frames(w, false)
	if err := eps.Reset(3); err != nil {
		t.Fatal(err)
	}
	after := frames(w, true)
	// Episode 3 alone, on a fresh system.
	w2, eps2 := load()
	if err := eps2.Reset(3); err != nil {
		t.Fatal(err)
	}
	alone := frames(w2, true)
	for k := range after {
		if bytes.Equal(after[k], before[k]) {
			t.Errorf("camera %d shows the same frame before and after the reset", k)
		}
		if !bytes.Equal(after[k], alone[k]) {
			t.Errorf("camera %d: episode 3's first frame differs after episodes 0..2 from episode 3 alone", k)
		}
	}
}
