package ros

import (
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/clock"
	"github.com/robotd/robotd/drivers"
)

// quietArm is an Arm in the given mode with its mailboxes but no node and no publisher
// goroutine, so that AllocsPerRun counts the control loop's side only.
func quietArm(mode string) *Arm {
	cfg := ArmConfig{Joints: []string{"a", "b", "c"}, Command: mode}.WithDefaults()
	a := &Arm{
		cfg:  cfg,
		info: drivers.Info{Joints: cfg.Joints, Command: commandKinds[mode]},
		cmds: newTriple(func() *command { return &command{tau: make([]float64, 3)} }),
		wake: make(chan struct{}, 1),
	}
	for k := range a.kindErr {
		a.kindErr[k] = drivers.CommandKindError("ros", a.info.Command, drivers.CommandKind(k))
	}
	return a
}

func TestCommandsNoAllocs(t *testing.T) {
	q := []float64{0.1, 0.2, 0.3}
	pos, rot := mgl64.Vec3{0.4, 0, 0.3}, mgl64.QuatRotate(0.3, mgl64.Vec3{0, 0, 1})
	for name, write := range map[string]func(a *Arm) error{
		CommandEffort:     func(a *Arm) error { return a.WriteTorque(q) },
		CommandPose:       func(a *Arm) error { return a.WriteEquilibrium(pos, rot) },
		CommandTrajectory: func(a *Arm) error { return a.WriteJointTarget(q) },
	} {
		a := quietArm(name)
		if err := write(a); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := testing.AllocsPerRun(1000, func() { write(a) }); n != 0 {
			t.Errorf("%s command allocates %v times", name, n)
		}
		// Refusing a command of another kind allocates nothing either.
		if n := testing.AllocsPerRun(100, func() { a.WriteTorque(q); a.WriteEquilibrium(pos, rot); a.WriteJointTarget(q) }); n != 0 {
			t.Errorf("%s arm: refusing the other kinds allocates %v times", name, n)
		}
	}
	g := &gripperClient{cfg: GripperConfig{Command: GripperWidth}.WithDefaults(), wake: make(chan struct{}, 1)}
	if n := testing.AllocsPerRun(1000, func() { g.SetGripperWidth(0.03) }); n != 0 {
		t.Errorf("SetGripperWidth allocates %v times", n)
	}
	if g.SetGripperWidth(1); math.Float64frombits(g.target.Load()) != 0.08 {
		t.Errorf("width 1 m not clamped to MaxWidth 0.08: %v", math.Float64frombits(g.target.Load()))
	}
}

func TestPoseMessageRoundTrip(t *testing.T) {
	pos, rot := mgl64.Vec3{0.1, -0.2, 0.3}, mgl64.Quat{W: 0.5, V: mgl64.Vec3{0.5, -0.5, 0.5}}
	m := poseMessage(7, timeZero, "panda_link0", pos, rot)
	if o := m.Pose.Orientation; o.W != 0.5 || o.X != 0.5 || o.Y != -0.5 || o.Z != 0.5 || m.Header.FrameId != "panda_link0" {
		t.Errorf("PoseStamped %+v: want x y z w = 0.5 -0.5 0.5 0.5 in panda_link0", m)
	}
	p, r := poseFromMessage(&m.Pose)
	if p != pos || r != rot {
		t.Errorf("round trip %v %v -> %v %v", pos, rot, p, r)
	}
}

var timeZero = time.Time{}

// TestLateCommands: the wait from the oldest unsent command to the publisher's hand-off
// is measured; one over LateCommand is counted and logged once, while a publisher that
// keeps up (1 ms) counts nothing.
func TestLateCommands(t *testing.T) {
	a := quietArm(CommandEffort)
	clk := clock.NewManual(time.Second)
	a.cfg.Clock = clk
	var logged strings.Builder
	a.log = slog.New(slog.NewTextHandler(&logged, nil))
	q := []float64{0.1, 0.2, 0.3}
	send := func() {
		if c := a.next(); c != nil {
			a.sent(c)
		}
	}
	for range 100 { // the publisher keeps up
		a.WriteTorque(q)
		clk.Advance(time.Millisecond)
		send()
	}
	if s := a.Stats(); s.LateCommands != 0 || s.MaxCommandDelay != time.Millisecond {
		t.Errorf("a publisher keeping up: %d late, longest wait %v; want 0 and 1ms", s.LateCommands, s.MaxCommandDelay)
	}
	for range 2 { // twice, the publisher starved for 300 ms while the loop wrote at 1 kHz
		for range 300 {
			a.WriteTorque(q)
			clk.Advance(time.Millisecond)
		}
		send()
	}
	if s := a.Stats(); s.LateCommands != 2 || s.MaxCommandDelay != 300*time.Millisecond || s.Written != 700 {
		t.Errorf("a starved publisher: %d late, longest wait %v, %d written; want 2, 300ms, 700", s.LateCommands, s.MaxCommandDelay, s.Written)
	}
	if n := strings.Count(logged.String(), "late"); n != 1 || !strings.Contains(logged.String(), "delay=300ms") {
		t.Errorf("want the first late hand-off logged once, with its delay; log:\n%s", logged.String())
	}
}
