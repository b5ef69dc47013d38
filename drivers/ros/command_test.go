package ros_test

import (
	"context"
	"crypto/md5"
	"fmt"
	"math"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgproc"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/control_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/geometry_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/trajectory_msgs"
	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/sim/rosbridge"
)

// TestMessageMD5s: the messages of the new conventions have the MD5 sums ROS's own
// definitions give (rosmsg, when its Python message package is installed; for
// control_msgs/GripperCommand, whose package Debian does not ship, the sum of its
// two-field text computed here as ROS does).
func TestMessageMD5s(t *testing.T) {
	for typ, msg := range map[string]any{
		"geometry_msgs/PoseStamped":       geometry_msgs.PoseStamped{},
		"trajectory_msgs/JointTrajectory": trajectory_msgs.JointTrajectory{},
	} {
		got, err := msgproc.MD5(msg)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("rosmsg", "md5", typ).CombinedOutput()
		if err != nil {
			t.Logf("rosmsg md5 %s: %v (%s): skipped", typ, err, strings.TrimSpace(string(out)))
			continue
		}
		if want := strings.TrimSpace(string(out)); got != want {
			t.Errorf("%s: goroslib MD5 %s, rosmsg %s", typ, got, want)
		}
	}
	got, err := msgproc.MD5(control_msgs.GripperCommand{})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%x", md5.Sum([]byte("float64 position\nfloat64 max_effort"))); got != want {
		t.Errorf("control_msgs/GripperCommand: goroslib MD5 %s, want %s", got, want)
	}
}

// TestRostopicPubPoseMovesSim: an equilibrium pose published by Debian's rostopic is
// executed by the sim's Cartesian impedance controller: the tool reaches it within 3 mm.
func TestRostopicPubPoseMovesSim(t *testing.T) {
	m := rostest.Start(t)
	srv, arm := newServer(t, m, rosbridge.ServerConfig{Command: ros.CommandPose})
	p0, r0 := arm.ToolPose()
	want := p0.Add(mgl64.Vec3{0.03, 0.02, -0.03})
	m.MustRun(t, 30*time.Second, "rostopic", "pub", "-1", "/cartesian_impedance_example_controller/equilibrium_pose", "geometry_msgs/PoseStamped",
		fmt.Sprintf("{header: {frame_id: panda_link0}, pose: {position: {x: %.9f, y: %.9f, z: %.9f}, orientation: {x: %.9f, y: %.9f, z: %.9f, w: %.9f}}}",
			want[0], want[1], want[2], r0.V[0], r0.V[1], r0.V[2], r0.W))
	if srv.Received() != 1 || srv.Rejected() != 0 {
		t.Fatalf("after rostopic pub the sim took %d poses, rejected %d", srv.Received(), srv.Rejected())
	}
	for i := 0; i < 2000; i++ {
		if err := srv.Step(time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := arm.ToolPose()
	if d := p.Sub(want).Len(); d > 0.003 {
		t.Errorf("tool at %v after 2 s, equilibrium %v: %.2f mm apart, want <= 3 mm", p, want, 1e3*d)
	}
	t.Logf("moved %.1f mm, final error %.2f mm", 1e3*want.Sub(p0).Len(), 1e3*p.Sub(want).Len())
}

// TestSimRejectsMalformedCommands: trajectories with wrong joint names, poses with a NaN
// or a non-unit quaternion are counted by kind and dropped; the good ones after them
// are taken.
func TestSimRejectsMalformedCommands(t *testing.T) {
	m := rostest.Start(t)
	pose, parm := newServerAt(t, m, rosbridge.ServerConfig{Command: ros.CommandPose, Node: "sim_pose", StateTopic: "/p/joint_states"})
	traj, tarm := newServerAt(t, m, rosbridge.ServerConfig{Command: ros.CommandTrajectory, Node: "sim_traj", StateTopic: "/t/joint_states"})
	node, err := goroslib.NewNode(goroslib.NodeConf{MasterAddress: m.Addr, Name: "peer"})
	if err != nil {
		t.Fatal(err)
	}
	defer closePeer(node)
	ppub, err := goroslib.NewPublisher(goroslib.PublisherConf{Node: node, Topic: "/cartesian_impedance_example_controller/equilibrium_pose", Msg: &geometry_msgs.PoseStamped{}})
	if err != nil {
		t.Fatal(err)
	}
	defer ppub.Close()
	tpub, err := goroslib.NewPublisher(goroslib.PublisherConf{Node: node, Topic: "/position_joint_trajectory_controller/command", Msg: &trajectory_msgs.JointTrajectory{}})
	if err != nil {
		t.Fatal(err)
	}
	defer tpub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p0, r0 := parm.ToolPose()
	goodPose := func(dz float64) *geometry_msgs.PoseStamped {
		return &geometry_msgs.PoseStamped{Pose: geometry_msgs.Pose{
			Position:    geometry_msgs.Point{X: p0[0], Y: p0[1], Z: p0[2] + dz},
			Orientation: geometry_msgs.Quaternion{X: r0.V[0], Y: r0.V[1], Z: r0.V[2], W: r0.W}}}
	}
	st := drivers.NewState(tarm.Info())
	tarm.ReadState(st)
	names := tarm.Info().Joints
	goodTraj := func(dq float64) *trajectory_msgs.JointTrajectory {
		q := append([]float64(nil), st.Q...)
		q[0] += dq
		return &trajectory_msgs.JointTrajectory{JointNames: names, Points: []trajectory_msgs.JointTrajectoryPoint{{Positions: q, TimeFromStart: 10 * time.Millisecond}}}
	}
	// Connected once a first good message of each arrived.
	for pose.Received() == 0 || traj.Received() == 0 {
		if ctx.Err() != nil {
			t.Fatal("peer not connected to the sim servers")
		}
		ppub.Write(goodPose(0))
		tpub.Write(goodTraj(0))
		time.Sleep(5 * time.Millisecond)
	}
	nan := math.NaN()
	bad := goodPose(0)
	bad.Pose.Position.Y = nan
	ppub.Write(bad)
	bad = goodPose(0)
	o := &bad.Pose.Orientation
	o.X, o.Y, o.Z, o.W = 1.5*o.X, 1.5*o.Y, 1.5*o.Z, 1.5*o.W
	ppub.Write(bad)
	ppub.Write(&geometry_msgs.PoseStamped{}) // all-zero quaternion
	wrong := goodTraj(0)
	wrong.JointNames = append(append([]string(nil), names[:6]...), "elbow")
	tpub.Write(wrong)
	short := goodTraj(0)
	short.JointNames = names[:6]
	tpub.Write(short)
	twice := goodTraj(0)
	twice.JointNames = append(append([]string(nil), names[:6]...), names[0])
	tpub.Write(twice)
	nanTraj := goodTraj(0)
	nanTraj.Points[0].Positions[3] = nan
	tpub.Write(nanTraj)
	ppub.Write(goodPose(0.01))
	tpub.Write(goodTraj(0.05))
	// TCP keeps the order: once the last good messages are in force, the bad ones were
	// all handled.
	for p, _ := pose.Equilibrium(); math.Abs(p[2]-(p0[2]+0.01)) > 1e-12 || !slicesEqual(traj.JointTarget(), goodTraj(0.05).Points[0].Positions); p, _ = pose.Equilibrium() {
		if ctx.Err() != nil {
			t.Fatalf("good messages after the bad ones not taken: pose %+v traj %+v", pose.Stats(), traj.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	ps, ts := pose.Stats(), traj.Stats()
	if ps.Rejected[rosbridge.CommandRejectNonFinite] != 1 || ps.Rejected[rosbridge.CommandRejectQuaternion] != 2 || pose.Rejected() != 3 {
		t.Errorf("pose sim stats %+v: want 1 non-finite, 2 non-unit quaternions", ps)
	}
	if ts.Rejected[rosbridge.CommandRejectJointNames] != 3 || ts.Rejected[rosbridge.CommandRejectNonFinite] != 1 || traj.Rejected() != 4 {
		t.Errorf("trajectory sim stats %+v: want 3 wrong joint names, 1 non-finite", ts)
	}
}

func slicesEqual(a, b []float64) bool { return slices.Equal(a, b) }

// TestRostopicEchoTrajectoryCommand: Debian's rostopic decodes the Arm's trajectory
// commands: joint names, one point, the lookahead as time_from_start, a zero stamp.
func TestRostopicEchoTrajectoryCommand(t *testing.T) {
	if err := exec.Command("rosmsg", "md5", "trajectory_msgs/JointTrajectory").Run(); err != nil {
		t.Skip("python3-trajectory-msgs not installed")
	}
	m := rostest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	arm, err := ros.Dial(ctx, ros.ArmConfig{MasterAddress: m.Addr, Joints: []string{"j1", "j2"}, Command: ros.CommandTrajectory, Lookahead: 4 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer arm.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				arm.WriteJointTarget([]float64{0.25, -1.5})
			}
		}
	}()
	out := m.MustRun(t, 30*time.Second, "rostopic", "echo", "-n", "1", "/position_joint_trajectory_controller/command")
	close(stop)
	<-done
	for _, want := range []string{"joint_names: \n  - j1\n  - j2\n", "positions: [0.25, -1.5]", "time_from_start: \n      secs: 0\n      nsecs:   4000000", "stamp: \n    secs: 0\n    nsecs:         0"} {
		if !strings.Contains(out, want) {
			t.Errorf("rostopic echo: no %q in\n%s", want, out)
		}
	}
}

// closePeer closes a test's own goroslib node without net/http's 5 s stall (see the
// package's closeNode).
func closePeer(n *goroslib.Node) {
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	n.Close()
}
