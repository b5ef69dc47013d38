package mujoco_test

import (
	"testing"
	"time"

	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/drivers/driverstest"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
)

func newArm(t testing.TB) *mujoco.Arm {
	t.Helper()
	a, err := mujoco.NewArm(sim.Scene{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

// TestArmConformance runs the drivers conformance suite against the lockstep MuJoCo arm.
func TestArmConformance(t *testing.T) {
	driverstest.Run(t, driverstest.Harness{
		New: func(t *testing.T) drivers.Arm { return newArm(t) },
		Advance: func(t *testing.T, arm drivers.Arm, d time.Duration) {
			if _, err := arm.(*mujoco.Arm).Tick(d); err != nil {
				t.Fatal(err)
			}
		},
	})
}

func TestArmLockstepIsDeterministic(t *testing.T) {
	run := func() []float64 {
		a := newArm(t)
		st := drivers.NewState(a.Info())
		tau := make([]float64, 7)
		for i := 0; i < 300; i++ {
			a.ReadState(st)
			for j := range tau {
				tau[j] = st.Gravity[j] + 0.5*float64(j%3-1)
			}
			a.WriteTorque(tau)
			if n, err := a.Tick(time.Millisecond); err != nil || n != 1 {
				t.Fatalf("Tick: %d steps, %v", n, err)
			}
		}
		a.ReadState(st)
		if st.Time != 300*time.Millisecond || st.Seq != 300 {
			t.Errorf("after 300 ticks: time %v seq %d", st.Time, st.Seq)
		}
		return append([]float64(nil), st.Q...)
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("two identical lockstep runs differ: %v vs %v", a, b)
		}
	}
}

func TestNewArmErrors(t *testing.T) {
	if _, err := mujoco.NewArm(sim.Scene{Model: "testdata/nope.xml"}); err == nil {
		t.Error("missing model accepted")
	}
	if _, err := mujoco.NewArm(sim.Scene{Joints: []string{"joint1", "elbow"}}); err == nil {
		t.Error("unknown joint accepted")
	}
	if _, err := mujoco.NewArm(sim.Scene{Keyframe: "nowhere"}); err == nil {
		t.Error("unknown keyframe accepted")
	}
}
