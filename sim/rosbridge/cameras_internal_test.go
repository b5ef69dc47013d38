package rosbridge

import (
	"context"
	"testing"
	"time"

	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
)

// TestCamerasPublishNoAllocs: the stepping goroutine's part (render into the mailbox)
// allocates nothing. The publisher goroutine, which allocates every message, is stopped
// first so that it does not count, and there is no master watch (its checks allocate).
func TestCamerasPublishNoAllocs(t *testing.T) {
	m := rostest.Start(t)
	arm, err := mujoco.NewArm(sim.Scene{})
	if err != nil {
		t.Fatal(err)
	}
	defer arm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sc, err := NewCameras(ctx, arm.Sim(), CamerasConfig{MasterAddress: m.Addr, Width: 64, Height: 48, MasterCheck: -1,
		Cameras: []CameraConfig{{Camera: "scene", Depth: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	sc.cancel()
	<-sc.done
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := arm.Tick(40 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if n, err := sc.Publish(); n != 1 || err != nil {
			t.Fatalf("Publish: %d, %v", n, err)
		}
	})
	if allocs != 0 {
		t.Errorf("Tick + Publish allocate %v times", allocs)
	}
}
