package ros_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/sim/rosbridge"
)

// peer is testdata/peer.py running with Debian's Python against a master.
type peer struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    bytes.Buffer
	stderr bytes.Buffer
	exited chan struct{} // closed when the process has ended
	err    error         // its exit status, once exited
}

// startPeer runs testdata/peer.py against m. Its stdin stays open until finish.
func startPeer(t *testing.T, m *rostest.Master, args ...string) *peer {
	t.Helper()
	const py = "/usr/bin/python3"
	if _, err := exec.LookPath(py); err != nil {
		t.Skip("Debian's /usr/bin/python3 not installed")
	}
	if exec.Command(py, "-c", "import rospy, sensor_msgs.msg, std_msgs.msg").Run() != nil {
		t.Skip("python3-rospy and the message packages not installed (run scripts/setup.sh)")
	}
	p := &peer{cmd: exec.Command(py, append([]string{"testdata/peer.py"}, args...)...), exited: make(chan struct{})}
	p.cmd.Env = m.Env()
	var err error
	if p.in, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.in.Close()
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// alive fails the test when the peer has ended early.
func (p *peer) alive(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		t.Fatalf("peer.py %v ended early: %v\n%s%s", p.cmd.Args[2:], p.err, p.out.String(), p.stderr.String())
	default:
	}
}

// finish closes the peer's stdin and decodes the JSON summary it then prints.
func (p *peer) finish(t *testing.T, dst any) {
	t.Helper()
	p.in.Close()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("peer.py %v did not end within 10 s of its stdin closing", p.cmd.Args[2:])
	}
	if p.err != nil {
		t.Fatalf("peer.py %v: %v\n%s%s", p.cmd.Args[2:], p.err, p.out.String(), p.stderr.String())
	}
	if err := json.Unmarshal(p.out.Bytes(), dst); err != nil {
		t.Fatalf("peer.py %v output %q: %v", p.cmd.Args[2:], p.out.String(), err)
	}
}

// TestRospyControlsSim: a rospy node plays the controller against rosbridge.Server. In
// lockstep, every state the sim publishes is answered with -0.5 * q, which must be the
// command in force before the next step; at the end both sides counted the same number
// of messages.
func TestRospyControlsSim(t *testing.T) {
	t.Parallel()
	m := rostest.Start(t)
	srv, arm := newServer(t, m, rosbridge.ServerConfig{})
	pr := startPeer(t, m, "controller")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	published := 0
	// Handshake: the same state again until the peer's answers arrive.
	for srv.Received() == 0 {
		if ctx.Err() != nil {
			t.Fatal("no command from the rospy controller within 20 s")
		}
		pr.alive(t)
		if err := srv.Publish(); err != nil {
			t.Fatal(err)
		}
		published++
		time.Sleep(10 * time.Millisecond)
	}
	st := drivers.NewState(arm.Info())
	want := make([]float64, len(st.Q))
	const steps = 30
	var r0 uint64
	for k := 0; k < steps; k++ {
		if err := srv.Step(time.Millisecond); err != nil {
			t.Fatal(err)
		}
		published++
		arm.ReadState(st)
		for i, q := range st.Q {
			want[i] = -0.5 * q
		}
		for !slices.Equal(srv.Command(), want) {
			if ctx.Err() != nil {
				t.Fatalf("step %d: command in force %v, want -0.5 q = %v", k, srv.Command(), want)
			}
			pr.alive(t)
			time.Sleep(100 * time.Microsecond)
		}
		if k == 0 {
			// The answer to the first lockstep state is in: so is every earlier one
			// (one TCP connection); answers sent before the peer's publisher was
			// connected to the sim are lost, and those are why we count from here.
			r0 = srv.Received()
		}
	}
	var got struct {
		States int
		Names  []string
		Seqs   []uint32
	}
	pr.finish(t, &got)
	// Every lockstep state reached the peer once, in order, and each answer reached the sim.
	if n := srv.Received() - r0; n != steps-1 {
		t.Errorf("sim received %d commands after the first lockstep step, want %d", n, steps-1)
	}
	lockstep := make([]uint32, steps)
	for i := range lockstep {
		lockstep[i] = uint32(published - steps + 1 + i)
	}
	if len(got.Seqs) != got.States || len(got.Seqs) < steps || !slices.Equal(got.Seqs[len(got.Seqs)-steps:], lockstep) {
		t.Errorf("peer answered %d states with header seqs %v, want them to end with the lockstep seqs %v", got.States, got.Seqs, lockstep)
	}
	if !slices.Equal(got.Names, arm.Info().Joints) {
		t.Errorf("peer decoded names %q, want %q", got.Names, arm.Info().Joints)
	}
	if srv.Rejected() != 0 {
		t.Errorf("sim rejected %d of the peer's commands", srv.Rejected())
	}
}

// TestRospyRobotTakesArmCommands: a rospy node plays the robot. It publishes joint
// states with the joints in reverse order and reports the last command it received as
// the joints' effort; robotd's Arm maps the state by name and sees each command it
// wrote come back.
func TestRospyRobotTakesArmCommands(t *testing.T) {
	t.Parallel()
	m := rostest.Start(t)
	const rounds = 20
	pr := startPeer(t, m, "robot", "--rate", "200")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	joints := []string{"joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "joint7"}
	arm, err := ros.Dial(ctx, ros.ArmConfig{MasterAddress: m.Addr, Joints: joints, StaleLimit: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer arm.Close()
	st := drivers.NewState(arm.Info())
	tau := make([]float64, len(joints))
	for r := 1; r <= rounds; r++ {
		for i := range tau {
			tau[i] = float64(r) + float64(i)/8
		}
		// A controller writes every tick: the first command may go out before the
		// peer's subscription is connected. The peer reports it as effort.
		for {
			if err := arm.WriteTorque(tau); err != nil {
				t.Fatal(err)
			}
			err := arm.ReadState(st)
			if err == nil && slices.Equal(st.Tau, tau) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("round %d: state effort %v (err %v), want the command %v echoed", r, st.Tau, err, tau)
			}
			pr.alive(t)
			time.Sleep(time.Millisecond)
		}
		// position of joint j (1-based) is k/1000 + j for the peer's message k.
		k := st.Q[0] - 1
		for i, q := range st.Q {
			if math.Abs(q-(k+float64(i+1))) > 1e-9 || k <= 0 {
				t.Fatalf("round %d: positions %v, want k/1000 + j for joint j (names mapped, not in message order)", r, st.Q)
			}
		}
	}
	var got struct {
		Commands int
		Last     []float64
	}
	pr.finish(t, &got)
	if got.Commands != rounds || !slices.Equal(got.Last, tau) {
		t.Errorf("peer received %d distinct commands, last %v; want %d, last %v", got.Commands, got.Last, rounds, tau)
	}
	stats := arm.Stats()
	if stats.Written < rounds || stats.Published > stats.Written || slices.Max(stats.Rejected[:]) != 0 || stats.Accepted == 0 {
		t.Errorf("arm stats %+v: want at least %d written, none rejected", stats, rounds)
	}
}
