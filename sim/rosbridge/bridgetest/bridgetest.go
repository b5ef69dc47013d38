// Package bridgetest holds test helpers for code that runs against the simulated scene
// served over ROS (sim/rosbridge): the sim's cameras on a test master, and a goroutine
// that plays the simulator's owner. Tests of sim/rosbridge and of drivers/ros use it.
package bridgetest

import (
	"context"
	"testing"
	"time"

	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/sim/rosbridge"
)

// NewCameras serves the reference scene's cameras (cfg, its master set to m) from a new
// simulated arm; both are closed when the test ends.
func NewCameras(t testing.TB, m *rostest.Master, cfg rosbridge.CamerasConfig) (*rosbridge.Cameras, *mujoco.Arm) {
	t.Helper()
	arm, err := mujoco.NewArm(sim.Scene{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(arm.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg.MasterAddress = m.Addr
	sc, err := rosbridge.NewCameras(ctx, arm.Sim(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sc.Close)
	return sc, arm
}

// Stepping plays the simulator's owner: one goroutine that steps the simulation by 10 ms
// (step: the arm's Tick, or a Server's Step) and publishes the cameras, every 10 ms of
// wall time, until the returned stop is called. Failures are reported with t.Error.
func Stepping(t testing.TB, sc *rosbridge.Cameras, step func(time.Duration) error) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			if err := step(10 * time.Millisecond); err != nil {
				t.Error(err)
				return
			}
			if _, err := sc.Publish(); err != nil {
				t.Error(err)
				return
			}
			select {
			case <-quit:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() { close(quit); <-done }
}
