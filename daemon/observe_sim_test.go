package daemon_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/system"
	"github.com/robotd/robotd/viz"
)

// TestObservedTickNoAllocs: with the live view and log observing (a viz.Hub writing an
// MCAP file, as robotd run --mcap), a tick of the rig's policy run still allocates
// nothing, observer calls included (every tick's record, each plan and transition); and
// so it does when the hub is not draining and every record is dropped (and counted), and
// in lockstep's default, where the loop waits for the encoder and nothing is dropped.
func TestObservedTickNoAllocs(t *testing.T) {
	for _, c := range []struct {
		name        string
		drain, drop bool
	}{{"draining", true, true}, {"full", false, true}, {"waiting", true, false}} {
		name, drain := c.name, c.drain
		t.Run(name, func(t *testing.T) {
			sys := newSystem(t, true)
			// Drop: the realtime rule (a full queue drops), which the rig's lockstep
			// otherwise replaces with waiting for the encoder ("waiting": nothing dropped).
			hub, err := sys.Viz(system.VizOptions{MCAP: filepath.Join(t.TempDir(), "run.mcap"), Hub: viz.Config{QueueLen: 64}, Drop: c.drop})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			if drain {
				go func() { done <- hub.Run(ctx) }()
			} else {
				done <- nil
			}
			defer func() { cancel(); <-done }()
			d, tick := warmTicker(t, sys, (*daemon.Daemon).ObserveTick)
			if allocs := testing.AllocsPerRun(1000, tick); allocs != 0 {
				t.Fatalf("%.2f allocations per observed tick, want 0", allocs)
			}
			if d.Inferences() < 2 {
				t.Fatalf("%d inferences: the policy did not run", d.Inferences())
			}
			// Every observed tick (2000, then AllocsPerRun's 1001) was either logged or
			// dropped: the queue held the rest (64) when nothing drained it.
			const ticks = 3001
			dropped := hub.Dropped()["tick"]
			if drain {
				sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer scancel()
				if err := hub.Sync(sctx); err != nil {
					t.Fatal(err)
				}
				if logged := hub.Counts()[viz.TopicJointStates]; logged+dropped != ticks || logged == 0 || !c.drop && dropped != 0 {
					t.Errorf("%d joint states logged, %d ticks dropped; want %d in all (none dropped when waiting)", logged, dropped, ticks)
				}
			} else if dropped != ticks-64 {
				t.Errorf("%d ticks dropped with nothing draining the queue of 64, want %d", dropped, ticks-64)
			}
		})
	}
}
