package ros_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/drivers/driverstest"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/sim/rosbridge"
)

var pairs atomic.Int64

// pair is the ROS Arm adapter talking to a rosbridge.Server over a real rosmaster, on topics of
// their own so that several pairs can share one master.
type pair struct {
	*ros.Arm
	srv  *rosbridge.Server
	sim  *mujoco.Arm
	last []float64 // the last torques or joint target the adapter accepted (for lockstep sync)
	pos  mgl64.Vec3
	rot  mgl64.Quat
	sent bool // a command was accepted since the last advance
}

// WriteTorque records accepted commands so Advance knows what the sim must have.
func (p *pair) WriteTorque(tau []float64) error {
	err := p.Arm.WriteTorque(tau)
	if err == nil {
		copy(p.last, tau)
		p.sent = true
	}
	return err
}

// WriteEquilibrium records accepted poses, as WriteTorque.
func (p *pair) WriteEquilibrium(pos mgl64.Vec3, rot mgl64.Quat) error {
	err := p.Arm.WriteEquilibrium(pos, rot)
	if err == nil {
		p.pos, p.rot, p.sent = pos, rot, true
	}
	return err
}

// WriteJointTarget records accepted targets, as WriteTorque.
func (p *pair) WriteJointTarget(q []float64) error {
	err := p.Arm.WriteJointTarget(q)
	if err == nil {
		copy(p.last, q)
		p.sent = true
	}
	return err
}

// synced reports whether the sim server has the adapter's last command.
func (p *pair) synced() bool {
	switch p.Info().Command {
	case drivers.CommandPose:
		pos, rot := p.srv.Equilibrium()
		return pos == p.pos && rot == p.rot
	case drivers.CommandJointTarget:
		return slices.Equal(p.srv.JointTarget(), p.last)
	}
	return slices.Equal(p.srv.Command(), p.last)
}

func newPair(t testing.TB, m *rostest.Master, cfg ros.ArmConfig) *pair {
	t.Helper()
	return newPairWith(t, m, cfg, rosbridge.ServerConfig{})
}

// newPairWith is newPair with a sim server config: Command and the gripper follow cfg.
func newPairWith(t testing.TB, m *rostest.Master, cfg ros.ArmConfig, scfg rosbridge.ServerConfig) *pair {
	t.Helper()
	k := pairs.Add(1)
	simArm, err := mujoco.NewArm(sim.Scene{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(simArm.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ns := fmt.Sprintf("/arm%d", k)
	scfg.MasterAddress, scfg.Node = m.Addr, fmt.Sprintf("sim%d", k)
	scfg.StateTopic, scfg.Controller, scfg.Command = ns+"/joint_states", ns+"/controller", cfg.Command
	if cfg.Gripper.Enabled() {
		g := &cfg.Gripper
		if g.CommandTopic == "" {
			g.CommandTopic = ns + "/gripper/command"
		}
		if g.StateTopic == "" {
			g.StateTopic = ns + "/gripper/state"
		}
		if g.Fingers == [2]string{} {
			g.Fingers = simArm.Scene().Fingers
		}
		scfg.Gripper = *g
		if g.StateTopic == "joint_states" { // shorthand for the arm's own topic
			g.StateTopic, scfg.Gripper.StateTopic = ns+"/joint_states", ns+"/joint_states"
		}
	}
	srv, err := rosbridge.NewServer(ctx, simArm, scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cfg.MasterAddress, cfg.Node = m.Addr, fmt.Sprintf("robotd%d", k)
	cfg.Joints = simArm.Info().Joints
	cfg.StateTopic, cfg.Controller = ns+"/joint_states", ns+"/controller"
	arm, err := ros.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(arm.Close)
	p := &pair{Arm: arm, srv: srv, sim: simArm, last: make([]float64, len(cfg.Joints))}
	st := drivers.NewState(simArm.Info())
	simArm.ReadState(st)
	copy(p.last, st.Q)
	p.pos, p.rot = srv.Equilibrium()
	// Both connections up: the adapter has a state and the server a command that holds
	// the arm (zero torque, the start pose, the start configuration).
	for arm.Stats().Accepted == 0 || srv.Received() == 0 || (cfg.Gripper.Enabled() && arm.GripperStats().States == 0) {
		if ctx.Err() != nil {
			t.Fatalf("adapter and sim server did not connect: %+v, server received %d, gripper %+v", arm.Stats(), srv.Received(), arm.GripperStats())
		}
		if err := srv.Publish(); err != nil {
			t.Fatal(err)
		}
		var err error
		switch arm.Info().Command {
		case drivers.CommandTorque:
			clear(p.last)
			err = p.WriteTorque(p.last)
		case drivers.CommandPose:
			err = p.WriteEquilibrium(p.pos, p.rot)
		case drivers.CommandJointTarget:
			err = p.WriteJointTarget(p.last)
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if cfg.Gripper.Enabled() && cfg.Gripper.Command == ros.GripperWidth {
		// The first width command may precede the subscription: send the current width
		// until the sim server has one.
		g, _ := arm.Gripper()
		for srv.Stats().GripperReceived == 0 {
			if ctx.Err() != nil {
				t.Fatal("the sim server received no gripper command")
			}
			g.SetGripperWidth(simArm.GripperWidth())
			time.Sleep(5 * time.Millisecond)
		}
	}
	return p
}

// advance is lockstep over the network: wait until the sim holds the adapter's last
// command, step, wait until the adapter has the resulting state.
func (p *pair) advance(t testing.TB, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for p.sent && !p.synced() {
		if ctx.Err() != nil {
			t.Fatalf("sim server has command %v / %v / %v, adapter wrote %v / %v %v", p.srv.Command(), p.srv.JointTarget(), fmt.Sprint(p.srv.Equilibrium()), p.last, p.pos, p.rot)
		}
		time.Sleep(20 * time.Microsecond)
	}
	p.sent = false
	if err := p.srv.Step(d); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitState(ctx, time.Duration(p.srv.Now().UnixNano())); err != nil {
		t.Fatal(err)
	}
}

// TestArmConformance runs the drivers conformance suite against the ROS adapter driving
// the MuJoCo arm served by rosbridge.Server, over a real rosmaster.
func TestArmConformance(t *testing.T) {
	m := rostest.Start(t)
	driverstest.Run(t, driverstest.Harness{
		New: func(t *testing.T) drivers.Arm {
			// Lockstep: wall time between steps is the test's, not the robot's.
			return newPair(t, m, ros.ArmConfig{StaleLimit: time.Minute})
		},
		Advance: func(t *testing.T, arm drivers.Arm, d time.Duration) { arm.(*pair).advance(t, d) },
		// goroslib encodes every message on its own goroutines, which allocate while
		// the suite counts allocations process-wide; TestReadStateNoAllocs checks the
		// loop side with the network quiet.
		SkipAllocs: true,
	})
}

// TestArmConformanceModes runs the suite over ROS in pose and trajectory modes, with a
// gripper in each of its conventions.
func TestArmConformanceModes(t *testing.T) {
	m := rostest.Start(t)
	for name, cfg := range map[string]ros.ArmConfig{
		"pose/width-float64":               {Command: ros.CommandPose, Gripper: ros.GripperConfig{Command: ros.GripperWidth, State: ros.GripperWidth}},
		"trajectory/action-joints":         {Command: ros.CommandTrajectory, Gripper: ros.GripperConfig{Command: ros.GripperAction}},
		"effort/width-shared-joint_states": {Gripper: ros.GripperConfig{Command: ros.GripperWidth, StateTopic: "joint_states"}},
	} {
		t.Run(name, func(t *testing.T) {
			driverstest.Run(t, driverstest.Harness{
				New: func(t *testing.T) drivers.Arm {
					cfg.StaleLimit = time.Minute
					return newPairWith(t, m, cfg, rosbridge.ServerConfig{})
				},
				Advance: func(t *testing.T, arm drivers.Arm, d time.Duration) { arm.(*pair).advance(t, d) },
				ToolPose: func(t *testing.T, arm drivers.Arm) (mgl64.Vec3, mgl64.Quat) {
					return arm.(*pair).sim.ToolPose()
				},
				SkipAllocs: true, // as in TestArmConformance; TestCommandsNoAllocs
			})
		})
	}
}

func TestReadStateNoAllocs(t *testing.T) {
	p := newPair(t, rostest.Start(t), ros.ArmConfig{StaleLimit: time.Minute})
	p.advance(t, time.Millisecond)
	st := drivers.NewState(p.Info())
	if got := testing.AllocsPerRun(1000, func() { p.ReadState(st) }); got != 0 {
		t.Errorf("ReadState allocates %v times", got)
	}
}

func TestStale(t *testing.T) {
	p := newPair(t, rostest.Start(t), ros.ArmConfig{StaleLimit: 5 * time.Millisecond})
	st := drivers.NewState(p.Info())
	p.advance(t, time.Millisecond)
	time.Sleep(15 * time.Millisecond) // the state can only get older than the limit
	err := p.ReadState(st)
	var se *ros.StaleError
	if !errors.Is(err, ros.ErrStale) || !errors.As(err, &se) || se.Age < 15*time.Millisecond || se.Limit != 5*time.Millisecond {
		t.Fatalf("ReadState after 15 ms without states: %v (%+v), want a StaleError with age >= 15ms", err, se)
	}
	if st.Seq == 0 || st.Q[1] == 0 {
		t.Errorf("a stale ReadState still fills the last state, got seq %d q %v", st.Seq, st.Q)
	}
}

func TestStaleBeforeFirstState(t *testing.T) {
	m := rostest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	arm, err := ros.Dial(ctx, ros.ArmConfig{MasterAddress: m.Addr, Joints: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	defer arm.Close()
	var se *ros.StaleError
	if err := arm.ReadState(drivers.NewState(arm.Info())); !errors.As(err, &se) || se.Age >= 0 {
		t.Errorf("ReadState before any JointState: %v, want a StaleError with negative age", err)
	}
}

func TestDialMasterUnreachable(t *testing.T) {
	// A port nobody listens on: a master started and stopped.
	m := rostest.Start(t)
	m.Stop()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	_, err := ros.Dial(ctx, ros.ArmConfig{MasterAddress: m.URI, Joints: []string{"a"}, Backoff: 20 * time.Millisecond})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "unreachable after") {
		t.Fatalf("Dial with no master: %v, want an unreachable error wrapping the deadline", err)
	}
	var attempts int
	fmt.Sscanf(err.Error()[strings.Index(err.Error(), "after ")+6:], "%d", &attempts)
	if attempts < 3 {
		t.Errorf("%v: want at least 3 attempts in 400 ms with a 20 ms backoff", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]ros.ArmConfig{
		"no joints":  {},
		"repeated":   {Joints: []string{"a", "a"}},
		"ignored":    {Joints: []string{"a"}, IgnoreJoints: []string{"a"}},
		"empty name": {Joints: []string{""}},
	} {
		if _, err := ros.Dial(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "arm config") {
			t.Errorf("%s: Dial err = %v, want a config error", name, err)
		}
	}
}

// TestRejectsMalformedStates publishes bad JointStates from a goroslib peer: each kind is
// counted and dropped, and the good message after them is taken.
func TestRejectsMalformedStates(t *testing.T) {
	m := rostest.Start(t)
	arm, pub := dialWithStatePeer(t, ros.ArmConfig{MasterAddress: m.Addr, Joints: []string{"a", "b"}, IgnoreJoints: []string{"finger"}, StaleLimit: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stamp := func(s int64) std_msgs.Header { return std_msgs.Header{Stamp: time.Unix(s, 0)} }
	good := func(s int64, q float64) *sensor_msgs.JointState {
		return &sensor_msgs.JointState{Header: stamp(s), Name: []string{"b", "finger", "a"}, Position: []float64{q, 9, -q}, Velocity: []float64{1, 9, 2}, Effort: []float64{3, 9, 4}}
	}
	for arm.Stats().Accepted == 0 {
		if ctx.Err() != nil {
			t.Fatal("no state from the peer")
		}
		pub.Write(good(1, 0.5))
		time.Sleep(5 * time.Millisecond)
	}
	bad := map[ros.Reject]*sensor_msgs.JointState{
		ros.RejectUnknownJoint:   {Header: stamp(2), Name: []string{"a", "b", "c"}, Position: []float64{1, 2, 3}, Velocity: []float64{0, 0, 0}},
		ros.RejectMissingJoint:   {Header: stamp(2), Name: []string{"a"}, Position: []float64{1}, Velocity: []float64{0}},
		ros.RejectDuplicateJoint: {Header: stamp(2), Name: []string{"a", "a"}, Position: []float64{1, 2}, Velocity: []float64{0, 0}},
		ros.RejectSize:           {Header: stamp(2), Name: []string{"a", "b"}, Position: []float64{1, 2}, Velocity: []float64{1}},
		ros.RejectNonFinite:      {Header: stamp(2), Name: []string{"a", "b"}, Position: []float64{1, math.NaN()}, Velocity: []float64{0, 0}},
		ros.RejectNoVelocity:     {Header: stamp(2), Name: []string{"a", "b"}, Position: []float64{1, 2}},
	}
	for _, msg := range bad {
		pub.Write(msg)
		pub.Write(msg)
	}
	pub.Write(good(3, 0.25))
	if err := arm.WaitState(ctx, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	stats := arm.Stats()
	for r := range bad {
		if stats.Rejected[r] != 2 {
			t.Errorf("%v: %d rejected, want 2 (stats %+v)", r, stats.Rejected[r], stats)
		}
	}
	st := drivers.NewState(arm.Info())
	if err := arm.ReadState(st); err != nil {
		t.Fatal(err)
	}
	want := drivers.State{Time: 3 * time.Second, Q: []float64{-0.25, 0.25}, DQ: []float64{2, 1}, Tau: []float64{4, 3}}
	if st.Time != want.Time || !slices.Equal(st.Q, want.Q) || !slices.Equal(st.DQ, want.DQ) || !slices.Equal(st.Tau, want.Tau) {
		t.Errorf("state after the bad messages: time %v q %v dq %v tau %v, want %v %v %v %v (reordered by name, finger skipped)",
			st.Time, st.Q, st.DQ, st.Tau, want.Time, want.Q, want.DQ, want.Tau)
	}
}

// BenchmarkLockstepTick is one closed-loop tick over ROS: ReadState, WriteTorque, the
// command reaching the sim, one 1 ms step, the new state reaching the adapter.
func BenchmarkLockstepTick(b *testing.B) {
	p := newPair(b, rostest.Start(b), ros.ArmConfig{StaleLimit: time.Minute})
	st := drivers.NewState(p.Info())
	tau := make([]float64, len(st.Q))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := p.ReadState(st); err != nil {
			b.Fatal(err)
		}
		tau[0] = 1e-3 * float64(i%2) // a new command every tick
		if err := p.WriteTorque(tau); err != nil {
			b.Fatal(err)
		}
		p.advance(b, time.Millisecond)
	}
}

// TestSeqGaps: header seq numbers skipped between JointState messages are counted as lost
// messages, a numbering that goes back as a publisher restart; seq 0 is "not numbered".
func TestSeqGaps(t *testing.T) {
	m := rostest.Start(t)
	arm, pub := dialWithStatePeer(t, ros.ArmConfig{MasterAddress: m.Addr, Joints: []string{"a"}, StaleLimit: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg := func(seq uint32) *sensor_msgs.JointState {
		return &sensor_msgs.JointState{Header: std_msgs.Header{Seq: seq, Stamp: time.Unix(1, 0)}, Name: []string{"a"}, Position: []float64{0}, Velocity: []float64{0}}
	}
	for arm.Stats().Accepted == 0 { // unnumbered until connected
		if ctx.Err() != nil {
			t.Fatal("no state from the peer")
		}
		pub.Write(msg(0))
		time.Sleep(5 * time.Millisecond)
	}
	n0 := arm.Stats().Accepted
	seqs := []uint32{1, 2, 3, 6, 7, 8, 1, 2, 0, 5}
	for _, s := range seqs {
		pub.Write(msg(s))
		time.Sleep(2 * time.Millisecond) // no burst for goroslib's queue to drop
	}
	for arm.Stats().Accepted < n0+uint64(len(seqs)) {
		if ctx.Err() != nil {
			t.Fatalf("received %d of %d messages", arm.Stats().Accepted-n0, len(seqs))
		}
		time.Sleep(time.Millisecond)
	}
	// 3 -> 6 skips 4 and 5; 8 -> 1 restarts; 0 is unnumbered, and so is the one after it.
	if st := arm.Stats(); st.SeqGaps != 2 || st.SeqRestarts != 1 {
		t.Errorf("SeqGaps %d, SeqRestarts %d; want 2 and 1", st.SeqGaps, st.SeqRestarts)
	}
}

// dialWithStatePeer dials an arm and a peer node ("peer") publishing
// sensor_msgs/JointState on the arm's state topic; both close when the test ends.
func dialWithStatePeer(t *testing.T, cfg ros.ArmConfig) (*ros.Arm, *goroslib.Publisher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	arm, err := ros.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { arm.Close() })
	node, err := goroslib.NewNode(goroslib.NodeConf{MasterAddress: cfg.MasterAddress, Name: "peer"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	topic := cfg.StateTopic
	if topic == "" {
		topic = "/joint_states"
	}
	pub, err := goroslib.NewPublisher(goroslib.PublisherConf{Node: node, Topic: topic, Msg: &sensor_msgs.JointState{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	return arm, pub
}
