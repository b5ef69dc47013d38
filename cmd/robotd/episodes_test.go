package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/telemetry"
)

// The scripted expert solves seeded pick-and-place episodes through the whole daemon path
// (launch/pickplace.yaml: cameras rendered, safety, impedance control), one daemon run per
// episode, the scene reset in between.
func TestExpertEpisodes(t *testing.T) {
	f, err := launch.Load("../../launch/pickplace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := wire(context.Background(), f, log)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	eps, err := newTaskEpisodes(w, true, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := w.daemon(f, log, telemetry.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := eps.reset(i); err != nil {
			t.Fatal(err)
		}
		t0 := w.simArm.Now()
		if err := d.Run(context.Background()); err != nil {
			t.Fatalf("episode %d: %v", i, err)
		}
		ep := eps.ep
		t.Logf("episode %d (cube at %.3f %.3f, yaw %.2f): success %v after %v, lifted %.3f m, place error %.1f mm, %v of sim time",
			i, eps.start.Cube[0], eps.start.Cube[1], eps.start.Yaw, ep.Success, ep.TimeToSuccess, ep.MaxLift, ep.PlaceError*1e3, w.simArm.Now()-t0)
		if !ep.Success || !eps.sig.Done {
			t.Fatalf("episode %d: the expert failed (success %v, done %v)", i, ep.Success, eps.sig.Done)
		}
	}
}
