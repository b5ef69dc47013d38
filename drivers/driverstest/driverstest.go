// Package driverstest is the conformance suite every drivers.Arm passes unchanged, like
// gonum's testblas runs against both of its BLAS implementations. A driver's own test
// calls Run with a Harness that knows how to make the arm and let its time pass.
//
// The suite follows the arm's Info.Command: torque tests (holding with the reported
// compensation, a torque turning its joint) run on torque arms; pose and joint-target
// arms get the tests of their own command (bad commands refused, a target reached, no
// allocations) and must refuse WriteTorque with ErrCommandKind.
package driverstest

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/go-gl/mathgl/mgl64"

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
	// ToolPose returns the true tool pose of the arm (T_base_ee, as the simulator knows
	// it). Optional: without it pose arms skip PoseReachesTarget.
	ToolPose func(t *testing.T, arm drivers.Arm) (mgl64.Vec3, mgl64.Quat)
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
	t.Run("RefusesOtherCommandKinds", func(t *testing.T) { testOtherKinds(t, h) })
	t.Run("PoseReachesTarget", func(t *testing.T) { testPoseTarget(t, h) })
	t.Run("JointTargetReached", func(t *testing.T) { testJointTarget(t, h) })
	t.Run("Gripper", func(t *testing.T) { testGripper(t, h) })
	if !h.SkipAllocs {
		t.Run("NoAllocations", func(t *testing.T) { testAllocs(t, h) })
	}
}

// newArm makes an arm and skips the test unless it takes one of kinds.
func newArm(t *testing.T, h Harness, kinds ...drivers.CommandKind) drivers.Arm {
	arm := h.New(t)
	k := arm.Info().Command
	if !slices.Contains(kinds, k) {
		t.Skipf("the arm takes %v commands", k)
	}
	switch k {
	case drivers.CommandPose:
		if _, ok := arm.(drivers.PoseCommander); !ok {
			t.Fatal("Info.Command is CommandPose but the arm is no drivers.PoseCommander")
		}
	case drivers.CommandJointTarget:
		if _, ok := arm.(drivers.JointTargetCommander); !ok {
			t.Fatal("Info.Command is CommandJointTarget but the arm is no drivers.JointTargetCommander")
		}
	}
	return arm
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
	switch arm.Info().Command {
	case drivers.CommandPose:
		testBadPoses(t, h, arm)
		return
	case drivers.CommandJointTarget:
		testBadJointTargets(t, h, arm)
		return
	}
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
	arm := newArm(t, h, drivers.CommandTorque)
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
	newArm(t, h, drivers.CommandTorque)
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
	g, ok := drivers.GripperOf(arm)
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
	arm.ReadState(st)
	var write func()
	switch arm.Info().Command {
	case drivers.CommandPose:
		pc := arm.(drivers.PoseCommander)
		pos, rot := mgl64.Vec3{0.4, 0, 0.4}, mgl64.QuatIdent()
		write = func() { pc.WriteEquilibrium(pos, rot) }
	case drivers.CommandJointTarget:
		jc := arm.(drivers.JointTargetCommander)
		write = func() { jc.WriteJointTarget(st.Q) }
	default:
		write = func() { compensation(st, tau); arm.WriteTorque(tau) }
	}
	allocs := testing.AllocsPerRun(100, func() {
		arm.ReadState(st)
		write()
	})
	if allocs != 0 {
		t.Errorf("a ReadState + %v command tick allocates %v times", arm.Info().Command, allocs)
	}
}

// hold closes the loop for d, holding the arm where it is: torque arms with their own
// gravity + Coriolis compensation, joint-target arms at their measured positions, pose
// arms with no new command (the robot keeps its equilibrium).
func hold(t *testing.T, h Harness, arm drivers.Arm, st *drivers.State, d time.Duration) {
	t.Helper()
	tau := make([]float64, len(st.Q))
	var q0 []float64
	for el := time.Duration(0); el < d; el += h.Tick {
		if err := arm.ReadState(st); err != nil {
			t.Fatal(err)
		}
		if q0 == nil {
			q0 = slices.Clone(st.Q)
		}
		switch arm.Info().Command {
		case drivers.CommandTorque:
			compensation(st, tau)
			if err := arm.WriteTorque(tau); err != nil {
				t.Fatal(err)
			}
		case drivers.CommandJointTarget:
			if err := arm.(drivers.JointTargetCommander).WriteJointTarget(q0); err != nil {
				t.Fatal(err)
			}
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

func testBadPoses(t *testing.T, h Harness, arm drivers.Arm) {
	pc := arm.(drivers.PoseCommander)
	pos, rot := mgl64.Vec3{0.4, 0, 0.4}, mgl64.QuatIdent()
	if h.ToolPose != nil {
		pos, rot = h.ToolPose(t, arm)
	}
	st := drivers.NewState(arm.Info())
	arm.ReadState(st)
	q0 := slices.Clone(st.Q)
	nan := math.NaN()
	for name, c := range map[string]struct {
		p mgl64.Vec3
		r mgl64.Quat
	}{
		"NaN position":    {mgl64.Vec3{nan, 0, 0.4}, rot},
		"Inf orientation": {pos, mgl64.Quat{W: math.Inf(1)}},
		"zero quaternion": {pos, mgl64.Quat{}},
		"non-unit":        {pos, mgl64.Quat{W: 1.1}},
	} {
		if err := pc.WriteEquilibrium(c.p, c.r); !errors.Is(err, drivers.ErrBadCommand) {
			t.Errorf("%s: err = %v, want ErrBadCommand", name, err)
		}
	}
	if h.ToolPose == nil {
		return
	}
	if err := pc.WriteEquilibrium(pos, rot); err != nil {
		t.Fatal(err)
	}
	hold(t, h, arm, st, 100*h.Tick)
	if d := maxAbsDiff(st.Q, q0); d > 0.01 {
		t.Errorf("after refused poses (and the current one) the arm moved %.4f rad", d)
	}
}

func testBadJointTargets(t *testing.T, h Harness, arm drivers.Arm) {
	jc := arm.(drivers.JointTargetCommander)
	n := len(arm.Info().Joints)
	st := drivers.NewState(arm.Info())
	arm.ReadState(st)
	q0 := slices.Clone(st.Q)
	for name, q := range map[string][]float64{
		"short": slices.Clone(q0[:n-1]),
		"long":  append(slices.Clone(q0), 0),
		"NaN":   withAt(n, n-1, math.NaN()),
		"Inf":   withAt(n, 0, math.Inf(1)),
	} {
		if err := jc.WriteJointTarget(q0); err != nil {
			t.Fatal(err)
		}
		if err := jc.WriteJointTarget(q); !errors.Is(err, drivers.ErrBadCommand) {
			t.Errorf("%s joint target: err = %v, want ErrBadCommand", name, err)
		}
	}
	hold(t, h, arm, st, 20*h.Tick)
	if d := maxAbsDiff(st.Q, q0); d > 0.01 {
		t.Errorf("after refused joint targets the arm moved %.4f rad", d)
	}
}

// testOtherKinds: an arm refuses the commands of the kinds it does not take with
// ErrCommandKind (and ErrBadCommand).
func testOtherKinds(t *testing.T, h Harness) {
	arm := h.New(t)
	k := arm.Info().Command
	n := len(arm.Info().Joints)
	st := drivers.NewState(arm.Info())
	arm.ReadState(st)
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, drivers.ErrCommandKind) || !errors.Is(err, drivers.ErrBadCommand) {
			t.Errorf("%s on an arm taking %v commands: err = %v, want ErrCommandKind and ErrBadCommand", what, k, err)
		}
	}
	if k != drivers.CommandTorque {
		check("WriteTorque", arm.WriteTorque(make([]float64, n)))
	}
	if pc, ok := arm.(drivers.PoseCommander); ok && k != drivers.CommandPose {
		check("WriteEquilibrium", pc.WriteEquilibrium(mgl64.Vec3{0.4, 0, 0.4}, mgl64.QuatIdent()))
	}
	if jc, ok := arm.(drivers.JointTargetCommander); ok && k != drivers.CommandJointTarget {
		check("WriteJointTarget", jc.WriteJointTarget(st.Q))
	}
}

// testPoseTarget: an equilibrium 3 cm from the tool, turned 0.1 rad about z, is reached
// within 3 mm and 0.06 rad (franka_ros' example controller is soft in rotation: 10 Nm/rad).
func testPoseTarget(t *testing.T, h Harness) {
	arm := newArm(t, h, drivers.CommandPose)
	if h.ToolPose == nil {
		t.Skip("no Harness.ToolPose")
	}
	pc := arm.(drivers.PoseCommander)
	p0, r0 := h.ToolPose(t, arm)
	pos := p0.Add(mgl64.Vec3{0.02, -0.02, 0.01})
	rot := mgl64.QuatRotate(0.1, mgl64.Vec3{0, 0, 1}).Mul(r0).Normalize()
	st := drivers.NewState(arm.Info())
	for el := time.Duration(0); el < 1500*time.Millisecond; el += h.Tick {
		if err := pc.WriteEquilibrium(pos, rot); err != nil {
			t.Fatal(err)
		}
		h.Advance(t, arm, h.Tick)
	}
	if err := arm.ReadState(st); err != nil {
		t.Fatal(err)
	}
	p, r := h.ToolPose(t, arm)
	if d := p.Sub(pos).Len(); d > 0.003 {
		t.Errorf("tool at %v, equilibrium %v: %.2f mm apart, want <= 3 mm", p, pos, 1e3*d)
	}
	if a := 2 * math.Acos(math.Min(1, math.Abs(r.Dot(rot)))); a > 0.06 {
		t.Errorf("tool orientation %.4f rad from the equilibrium's, want <= 0.06", a)
	}
}

// testJointTarget: a target 0.1 rad away on the first and the last joint is reached
// within 0.01 rad.
func testJointTarget(t *testing.T, h Harness) {
	arm := newArm(t, h, drivers.CommandJointTarget)
	jc := arm.(drivers.JointTargetCommander)
	st := drivers.NewState(arm.Info())
	if err := arm.ReadState(st); err != nil {
		t.Fatal(err)
	}
	q := slices.Clone(st.Q)
	q[0] += 0.1
	q[len(q)-1] -= 0.1
	for el := time.Duration(0); el < 1000*time.Millisecond; el += h.Tick {
		if err := jc.WriteJointTarget(q); err != nil {
			t.Fatal(err)
		}
		h.Advance(t, arm, h.Tick)
	}
	if err := arm.ReadState(st); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(st.Q, q); d > 0.01 {
		t.Errorf("joint target %v, arm at %v: %.4f rad apart, want <= 0.01", q, st.Q, d)
	}
}
