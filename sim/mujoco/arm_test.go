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

// TestAdvanceEqualsSplitSteps: one Advance call is bit-identical to the same number of
// Step2/Step1 calls followed by GravityForce.
func TestAdvanceEqualsSplitSteps(t *testing.T) {
	scene := sim.Scene{}.WithDefaults()
	a, b := newArm(t).Sim(), newArm(t).Sim()
	for _, s := range []*mujoco.Sim{a, b} {
		for i := range s.Ctrl() {
			s.Ctrl()[i] = 0.3 * float64(i%4)
		}
	}
	ga, gb := make([]float64, a.NV()), make([]float64, b.NV())
	if err := a.Advance(25, ga); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 25; i++ {
		if err := b.Step2(); err != nil {
			t.Fatal(err)
		}
		if err := b.Step1(); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.GravityForce(gb); err != nil {
		t.Fatal(err)
	}
	for i := range a.Qpos() {
		if a.Qpos()[i] != b.Qpos()[i] {
			t.Fatalf("%s: qpos[%d] %v vs %v", scene.Model, i, a.Qpos()[i], b.Qpos()[i])
		}
	}
	for i := range ga {
		if ga[i] != gb[i] || a.QfrcBias()[i] != b.QfrcBias()[i] {
			t.Fatalf("dof %d: gravity %v vs %v, bias %v vs %v", i, ga[i], gb[i], a.QfrcBias()[i], b.QfrcBias()[i])
		}
	}
}
