// Package driverstest is the conformance suite every drivers.Arm passes unchanged, like
// gonum's testblas runs against both of its BLAS implementations. A driver's own test
// calls Run with a Harness that knows how to make the arm and let its time pass.
package driverstest

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/robotd/robotd/drivers"
)

// Harness tells the suite how to use one driver.
type Harness struct {
	// New returns a fresh arm at rest in a configuration away from its joint limits,
	// closed by the harness (t.Cleanup) at the end of the test.
	New func(t *testing.T) drivers.Arm
	// Advance lets the arm's time run by d: a lockstep simulator steps, a real-time
	// driver sleeps. The last torque written stays applied meanwhile.
	Advance func(t *testing.T, arm drivers.Arm, d time.Duration)
	// Tick is the control period the suite closes loops at. Default 1 ms.
	Tick time.Duration
	// SkipAllocs skips the zero-allocation check (for drivers whose transport
	// allocates inside a library they do not control; say why where it is set).
	SkipAllocs bool
}

// Run runs the whole suite as subtests.
func Run(t *testing.T, h Harness) {
	if h.Tick == 0 {
		h.Tick = time.Millisecond
	}
	t.Run("Info", func(t *testing.T) { testInfo(t, h) })
	t.Run("StateShapeAndTime", func(t *testing.T) { testState(t, h) })
	t.Run("RejectsBadCommands", func(t *testing.T) { testBadCommands(t, h) })
	t.Run("HoldsUnderCompensation", func(t *testing.T) { testHold(t, h) })
	t.Run("TorqueMovesJoint", func(t *testing.T) { testTorqueDirection(t, h) })
	t.Run("Gripper", func(t *testing.T) { testGripper(t, h) })
	if !h.SkipAllocs {
		t.Run("NoAllocations", func(t *testing.T) { testAllocs(t, h) })
	}
}

func testInfo(t *testing.T, h Harness) {
	info := h.New(t).Info()
	if len(info.Joints) == 0 {
		t.Fatal("arm reports no joints")
	}
	seen := map[string]bool{}
	for _, j := range info.Joints {
		if j == "" || seen[j] {
			t.Errorf("joint names %q: empty or repeated %q", info.Joints, j)
		}
		seen[j] = true
	}
}

func testState(t *testing.T, h Harness) {
	arm := h.New(t)
	info := arm.Info()
	st := drivers.NewState(info)
	if err := arm.ReadState(st); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string][]float64{"Q": st.Q, "DQ": st.DQ, "Tau": st.Tau, "Coriolis": st.Coriolis, "Gravity": st.Gravity} {
		for i, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				t.Errorf("%s[%d] = %v", name, i, x)
			}
		}
	}
	if !info.CompensatesGravity && norm(st.Gravity) == 0 {
		t.Error("arm does not compensate gravity but reports zero gravity torque")
	}
	t0, s0 := st.Time, st.Seq
	hold(t, h, arm, st, 50*h.Tick)
	if !(st.Time > t0) || !(st.Seq > s0) {
		t.Errorf("after 50 ticks time %v -> %v, seq %d -> %d: both must grow", t0, st.Time, s0, st.Seq)
	}
	if got := st.Time - t0; got < 25*h.Tick || got > 200*h.Tick {
		t.Errorf("50 ticks of %v advanced the arm's clock by %v", h.Tick, got)
	}
	short := &drivers.State{Q: make([]float64, 1)}
	if err := arm.ReadState(short); !errors.Is(err, drivers.ErrShape) {
		t.Errorf("ReadState into a 1-joint state: err = %v, want ErrShape", err)
	}
}

func testBadCommands(t *testing.T, h Harness) {
	arm := h.New(t)
	n := len(arm.Info().Joints)
	st := drivers.NewState(arm.Info())
	arm.ReadState(st)
	q0 := slices.Clone(st.Q)
	holding := make([]float64, n)
	for name, tau := range map[string][]float64{
		"short": make([]float64, n-1),
		"long":  make([]float64, n+1),
		"NaN":   withAt(n, n-1, math.NaN()),
		"Inf":   withAt(n, 0, math.Inf(-1)),
	} {
		// Hold first, so a refused command leaves the holding torque applied.
		compensation(st, holding)
		if err := arm.WriteTorque(holding); err != nil {
			t.Fatal(err)
		}
		if err := arm.WriteTorque(tau); !errors.Is(err, drivers.ErrBadCommand) {
			t.Errorf("%s command: err = %v, want ErrBadCommand", name, err)
		}
	}
	hold(t, h, arm, st, 20*h.Tick)
	if d := maxAbsDiff(st.Q, q0); d > 0.01 {
		t.Errorf("after refused commands the arm moved %.4f rad", d)
	}
}

// testHold: commanding exactly the reported gravity + Coriolis holds the arm still.
func testHold(t *testing.T, h Harness) {
	arm := h.New(t)
	st := drivers.NewState(arm.Info())
	arm.ReadState(st)
	q0 := slices.Clone(st.Q)
	hold(t, h, arm, st, 500*h.Tick)
	if d := maxAbsDiff(st.Q, q0); d > 0.01 {
		t.Errorf("holding with the reported compensation for %v drifted %.4f rad", 500*h.Tick, d)
	}
}

// testTorqueDirection: a positive torque on the first and the last joint turns it the
// positive way, and only that joint much.
func testTorqueDirection(t *testing.T, h Harness) {
	for _, which := range []string{"first", "last"} {
		arm := h.New(t)
		n := len(arm.Info().Joints)
		j := 0
		if which == "last" {
			j = n - 1
		}
		st := drivers.NewState(arm.Info())
		arm.ReadState(st)
		q0 := slices.Clone(st.Q)
		tau := make([]float64, n)
		for i := 0; i < 100; i++ {
			compensation(st, tau)
			tau[j] += 1
			if err := arm.WriteTorque(tau); err != nil {
				t.Fatal(err)
			}
			h.Advance(t, arm, h.Tick)
			if err := arm.ReadState(st); err != nil {
				t.Fatal(err)
			}
		}
		if d := st.Q[j] - q0[j]; !(d > 1e-3) {
			t.Errorf("+1 Nm on the %s joint for 100 ticks moved it %.5f rad, want > 0.001", which, d)
		}
	}
}

func testGripper(t *testing.T, h Harness) {
	arm := h.New(t)
	g, ok := arm.(drivers.Gripper)
	if !ok {
		t.Skip("arm has no gripper")
	}
	st := drivers.NewState(arm.Info())
	arm.ReadState(st)
	for _, w := range []float64{0.02, 0.07} {
		if err := g.SetGripperWidth(w); err != nil {
			t.Fatal(err)
		}
		hold(t, h, arm, st, 500*h.Tick)
		if got := g.GripperWidth(); math.Abs(got-w) > 0.003 {
			t.Errorf("gripper commanded to %.3f m is at %.4f m", w, got)
		}
	}
	if err := g.SetGripperWidth(math.NaN()); !errors.Is(err, drivers.ErrBadCommand) {
		t.Errorf("NaN gripper width: err = %v, want ErrBadCommand", err)
	}
}

func testAllocs(t *testing.T, h Harness) {
	arm := h.New(t)
	st := drivers.NewState(arm.Info())
	tau := make([]float64, len(st.Q))
	allocs := testing.AllocsPerRun(100, func() {
		arm.ReadState(st)
		compensation(st, tau)
		arm.WriteTorque(tau)
	})
	if allocs != 0 {
		t.Errorf("a ReadState + WriteTorque tick allocates %v times", allocs)
	}
}

// hold closes the loop for d with the arm's own gravity + Coriolis compensation.
func hold(t *testing.T, h Harness, arm drivers.Arm, st *drivers.State, d time.Duration) {
	t.Helper()
	tau := make([]float64, len(st.Q))
	for el := time.Duration(0); el < d; el += h.Tick {
		if err := arm.ReadState(st); err != nil {
			t.Fatal(err)
		}
		compensation(st, tau)
		if err := arm.WriteTorque(tau); err != nil {
			t.Fatal(err)
		}
		h.Advance(t, arm, h.Tick)
	}
	if err := arm.ReadState(st); err != nil {
		t.Fatal(err)
	}
}

func compensation(st *drivers.State, tau []float64) {
	for i := range tau {
		tau[i] = st.Coriolis[i]
		if st.Gravity != nil {
			tau[i] += st.Gravity[i]
		}
	}
}

func withAt(n, i int, v float64) []float64 {
	s := make([]float64, n)
	s[i] = v
	return s
}

func norm(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

func maxAbsDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}
