package system

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/robotd/robotd/launch"
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
