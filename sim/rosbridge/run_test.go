package rosbridge_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/rosbridge"
	"github.com/robotd/robotd/sim/task"
)

// normalScheduling puts every thread of the test binary back under SCHED_NORMAL at nice 0
// when the test ends: Run gives the threads other than its stepping one SCHED_RR (or nice
// -10), which outlives Run in a process that goes on.
func normalScheduling(t *testing.T) {
	t.Cleanup(func() {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}
		for _, e := range ents {
			if tid, err := strconv.Atoi(e.Name()); err == nil {
				_ = unix.SchedSetAttr(tid, &attr, 0)
				_ = unix.Setpriority(unix.PRIO_PROCESS, tid, 0)
			}
		}
	})
}

// TestRunServesTheScene: Run serves the pick-and-place scene as robotd sim does: joint
// states and camera images on the master, the task answering a reset from a ROS client,
// and a Report that counts it all when its context ends.
func TestRunServesTheScene(t *testing.T) {
	m := rostest.Start(t)
	normalScheduling(t)
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := rosbridge.New(ctx, rosbridge.Config{
		Scene:   task.Scene(),
		Server:  rosbridge.ServerConfig{MasterAddress: m.Addr},
		Period:  time.Millisecond,
		Cameras: rosbridge.CamerasConfig{Width: 32, Height: 24, Cameras: []rosbridge.CameraConfig{{Camera: "scene"}}},
		Task:    &rosbridge.TaskConfig{Namespace: "/task", RateHz: 50, Seed: 7},
		Stdout:  &stdout, Stderr: &stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	runCtx, stop := context.WithCancel(ctx)
	type result struct {
		rep rosbridge.Report
		err error
	}
	done := make(chan result, 1)
	go func() { rep, err := b.Run(runCtx); done <- result{rep, err} }()
	m.WaitPublished(t, "/joint_states", 10*time.Second)
	m.WaitPublished(t, "/camera/scene/image_raw", 10*time.Second)
	tc, err := ros.DialTask(ctx, ros.TaskClientConfig{MasterAddress: m.Addr})
	if err != nil {
		t.Fatal(err)
	}
	st, err := tc.Reset(ctx, 9)
	tc.Close()
	if err != nil || st.Seed != 9 || st.Episode != 2 {
		t.Errorf("reset to seed 9: %+v, %v; want episode 2 from seed 9", st, err)
	}
	stop()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	rep := r.rep
	t.Logf("report %+v\nstderr %s", rep, stderr.String())
	if rep.Pacing.Steps == 0 || rep.SimTime <= 0 || rep.Pacing.Late.Count == 0 {
		t.Errorf("report %+v: want steps, simulated time and wake lateness", rep)
	}
	if rep.Task == nil || rep.Task.Episodes != 2 || rep.Task.Requests == 0 || rep.Task.LastSeed != 9 {
		t.Errorf("task report %+v: want 2 episodes, the reset request, last seed 9", rep.Task)
	}
	if !strings.Contains(rep.Cameras, "render passes") {
		t.Errorf("cameras report %q", rep.Cameras)
	}
	if (rep.RTRefused == "") != (stderr.Len() == 0) {
		t.Errorf("refused %q, stderr %q: the refusal goes to Stderr", rep.RTRefused, stderr.String())
	}
}

// TestRunDuration: with Config.Duration, Run returns nil once that much simulated time
// has passed, without cameras or task.
func TestRunDuration(t *testing.T) {
	m := rostest.Start(t)
	normalScheduling(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := rosbridge.New(ctx, rosbridge.Config{Scene: sim.Scene{}, Server: rosbridge.ServerConfig{MasterAddress: m.Addr},
		Period: time.Millisecond, Duration: 200 * time.Millisecond, Lockstep: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rep, err := b.Run(ctx)
	if err != nil || rep.SimTime < 200*time.Millisecond || rep.SimTime > 220*time.Millisecond || rep.Task != nil || rep.Cameras != "" {
		t.Errorf("Run: %v, report %+v: want nil after 200 ms of simulated time, no task, no cameras", err, rep)
	}
}

// TestNewFails: New refuses a camera the scene does not have and releases what it had
// built (the arm, the Server's node; TestMain's leak check sees their goroutines).
func TestNewFails(t *testing.T) {
	m := rostest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := rosbridge.New(ctx, rosbridge.Config{Scene: sim.Scene{}, Server: rosbridge.ServerConfig{MasterAddress: m.Addr},
		Period: time.Millisecond, Cameras: rosbridge.CamerasConfig{Cameras: []rosbridge.CameraConfig{{Camera: "no_such_camera"}}}})
	if err == nil || b != nil || !strings.Contains(err.Error(), "no_such_camera") {
		t.Fatalf("New with an unknown camera: %v, %v; want an error naming it", b, err)
	}
	if _, err := rosbridge.New(ctx, rosbridge.Config{Scene: sim.Scene{}}); err == nil || !strings.Contains(err.Error(), "Period") {
		t.Errorf("New without a period: %v; want an error naming Period", err)
	}
}
