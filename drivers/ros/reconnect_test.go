package ros_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/sim/rosbridge"
)

// running serves a fresh MuJoCo arm in real time (2 ms steps) until the returned stop is
// called (also at cleanup).
func running(t *testing.T, m *rostest.Master, cfg rosbridge.ServerConfig) (*rosbridge.Server, func()) {
	t.Helper()
	simArm, err := mujoco.NewArm(sim.Scene{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(simArm.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg.MasterAddress, cfg.MasterCheck = m.Addr, 100*time.Millisecond
	srv, err := rosbridge.NewServer(ctx, simArm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Run(rctx, 2*time.Millisecond) }()
	once := false
	halt := func() {
		if !once {
			once = true
			stop()
			<-done
			srv.Close()
		}
	}
	t.Cleanup(halt)
	return srv, halt
}

// commanding writes tau every 2 ms until the test ends (a control loop's commands).
func commanding(t *testing.T, arm *ros.Arm, tau []float64) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				arm.WriteTorque(tau)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// waitFresh waits until ReadState reports a fresh state, and returns how long it took.
func waitFresh(t *testing.T, arm *ros.Arm, limit time.Duration, what string) time.Duration {
	t.Helper()
	st := drivers.NewState(arm.Info())
	t0 := time.Now()
	for arm.ReadState(st) != nil {
		if time.Since(t0) > limit {
			t.Fatalf("%s: no fresh state within %v (stats %+v)", what, limit, arm.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(t0)
}

func dialArm(t *testing.T, m *rostest.Master, cfg ros.ArmConfig) *ros.Arm {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg.MasterAddress, cfg.Joints = m.Addr, sim.Scene{}.WithDefaults().Joints
	arm, err := ros.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(arm.Close)
	return arm
}

// TestMasterRestartPeersSurvive: the master restarts while the Arm and the rosbridge.Server
// run. Their TCPROS connection does not need the master, so state keeps flowing; both
// register again, so that a new Arm started after the restart finds the rosbridge.Server's
// state and the rosbridge.Server takes the new Arm's commands.
func TestMasterRestartPeersSurvive(t *testing.T) {
	m := rostest.Start(t)
	topics := rosbridge.ServerConfig{Node: "simA", StateTopic: "/a/joint_states", Controller: "/a/effort_controller"}
	srv, _ := running(t, m, topics)
	arm := dialArm(t, m, ros.ArmConfig{Node: "robotdA", StateTopic: topics.StateTopic, Controller: topics.Controller,
		StaleLimit: 50 * time.Millisecond, MasterCheck: 100 * time.Millisecond})
	waitFresh(t, arm, 5*time.Second, "before the restart")
	m.Stop()
	st := drivers.NewState(arm.Info())
	stale := 0
	for i := 0; i < 30; i++ { // 300 ms without a master
		if err := arm.ReadState(st); errors.Is(err, ros.ErrStale) {
			stale++
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("without a master for 300 ms: %d of 30 reads stale (peer-to-peer TCPROS carries on)", stale)
	up := time.Now()
	m.Restart(t)
	for arm.Stats().Reregistrations == 0 || srv.Stats().Reregistrations == 0 {
		if time.Since(up) > 5*time.Second {
			t.Fatalf("no re-registration 5 s after the master came back: arm %+v sim %+v", arm.Stats(), srv.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	rereg := time.Since(up)
	waitFresh(t, arm, time.Second, "the first Arm after the restart")
	// A newcomer finds both directions through the new master only.
	arm2 := dialArm(t, m, ros.ArmConfig{Node: "robotdB", StateTopic: topics.StateTopic, Controller: topics.Controller, StaleLimit: 50 * time.Millisecond})
	d := waitFresh(t, arm2, 5*time.Second, "a new Arm after the restart (the rosbridge.Server re-advertised)")
	tau := []float64{0.5, 0, 0, 0, 0, 0, 0}
	commanding(t, arm2, tau)
	t0 := time.Now()
	for !slices.Equal(srv.Command(), tau) {
		if time.Since(t0) > 5*time.Second {
			t.Fatalf("the rosbridge.Server did not take the new Arm's command (did not re-subscribe): in force %v", srv.Command())
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("re-registered %v after the master came back; a new Arm had state in %v, the sim its command in %v", rereg, d, time.Since(t0))
}

// TestMasterRestartRobotRestarts: the master and the robot (rosbridge.Server) restart
// together while the Arm runs. The Arm's state goes stale during the gap; after the
// restart the Arm registers again, the new robot's state reaches it and its commands
// reach the new robot within a bounded time. Without the master check (goroslib alone)
// the Arm never finds the new robot.
func TestMasterRestartRobotRestarts(t *testing.T) {
	for _, watch := range []bool{true, false} {
		t.Run(fmt.Sprintf("watch=%v", watch), func(t *testing.T) {
			m := rostest.Start(t)
			topics := rosbridge.ServerConfig{Node: "robot", StateTopic: "/r/joint_states", Controller: "/r/effort_controller"}
			_, halt := running(t, m, topics)
			check := 100 * time.Millisecond
			if !watch {
				check = -1
			}
			arm := dialArm(t, m, ros.ArmConfig{StateTopic: topics.StateTopic, Controller: topics.Controller,
				StaleLimit: 50 * time.Millisecond, MasterCheck: check})
			tau := []float64{0, 0, 0, 0, 0, 0, 0.25}
			commanding(t, arm, tau)
			waitFresh(t, arm, 5*time.Second, "before the restart")
			m.Stop()
			halt()
			time.Sleep(100 * time.Millisecond)
			if err := arm.ReadState(drivers.NewState(arm.Info())); !errors.Is(err, ros.ErrStale) {
				t.Fatalf("robot gone for 100 ms: ReadState err = %v, want ErrStale", err)
			}
			m.Restart(t)
			up := time.Now()
			srv2, _ := running(t, m, topics)
			if !watch {
				time.Sleep(time.Second)
				// The Arm's state subscription registers itself again (stateSub), its
				// goroslib command publisher does not.
				if srv2.Received() != 0 {
					t.Errorf("without the master check: new robot received %d commands; want none (goroslib does not re-register)", srv2.Received())
				}
				return
			}
			d := waitFresh(t, arm, 3*time.Second, "after the restart")
			for !slices.Equal(srv2.Command(), tau) {
				if time.Since(up) > 3*time.Second {
					t.Fatalf("the new robot did not get the Arm's commands: %v", srv2.Command())
				}
				time.Sleep(time.Millisecond)
			}
			t.Logf("state fresh again %v after the new robot started (MasterCheck %v), commands at the new robot after %v; arm %+v",
				d, check, time.Since(up), arm.Stats())
		})
	}
}
