package rosbridge

import (
	"context"
	"fmt"
	"time"

	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/sim/task"
)

// TaskConfig serves the pick-and-place task over ROS beside the arm (a launch file's task
// section). The topics' convention is drivers/ros's TaskServer's (docs/task.md).
type TaskConfig struct {
	// Node is the task server's node name. Required (Run uses the Server's node + "_task").
	Node string
	// Namespace holds the task's topics: <Namespace>/reset, <Namespace>/status and
	// <Namespace>/debug/*. Required.
	Namespace string
	// RateHz is how often the status is published (and at once after a reset and when an
	// episode ends). Required, > 0.
	RateHz float64
	// Seed is the first episode's.
	Seed int64
}

// taskServer serves the pick-and-place task over ROS for robotd sim: between two steps of
// the served arm it applies a reset request, scores the step (task.Episode) and publishes
// the status and the debug topics at their rate, at once after a reset and when the
// episode ends. It runs on the stepping goroutine and never waits for the network.
type taskServer struct {
	tk    *task.Task
	srv   *ros.TaskServer
	arm   *mujoco.Arm
	epoch time.Time
	every time.Duration

	seed    int64
	episode uint64
	ep      *task.Episode
	sig     task.Signal
	lift    float64
	next    time.Duration // sim time of the next status
	resets  uint64
}

// newTaskServer binds the task to the served arm, connects its topics on master and sets
// up the first episode (cfg.Seed).
func newTaskServer(ctx context.Context, arm *mujoco.Arm, master string, epoch time.Time, cfg TaskConfig) (*taskServer, error) {
	if cfg.RateHz <= 0 {
		return nil, fmt.Errorf("task: rate %v Hz, want > 0", cfg.RateHz)
	}
	tk, err := task.New(arm, task.Config{})
	if err != nil {
		return nil, fmt.Errorf("task: %w (the task section needs the pick-and-place scene, sim/models/%s)", err, task.ModelFile)
	}
	srv, err := ros.NewTaskServer(ctx, ros.TaskServerConfig{MasterAddress: master, Node: cfg.Node, Namespace: cfg.Namespace})
	if err != nil {
		return nil, err
	}
	s := &taskServer{tk: tk, srv: srv, arm: arm, epoch: epoch, every: time.Duration(float64(time.Second) / cfg.RateHz)}
	if err := s.reset(cfg.Seed); err != nil {
		srv.Close()
		return nil, err
	}
	return s, nil
}

func (s *taskServer) Close() { s.srv.Close() }

// reset starts an episode from seed: the scene at its keyframe with the cube at the seed's
// start (task.Task.Reset), the simulation clock carried on (stamps stay monotonic).
func (s *taskServer) reset(seed int64) error {
	now := s.arm.Now()
	if _, err := s.tk.Reset(seed); err != nil {
		return err
	}
	s.arm.Sim().SetTime(now.Seconds())
	s.seed, s.episode = seed, s.episode+1
	s.ep, s.sig, s.lift = s.tk.NewEpisode(now), task.Signal{}, 0
	s.publish(now)
	return nil
}

// step runs after each step of the served arm: a reset when one was requested, else the
// step's score; the status when due.
func (s *taskServer) step() error {
	if seed, ok := s.srv.TakeReset(); ok {
		s.resets++
		return s.reset(seed)
	}
	now := s.arm.Now()
	st := s.tk.Evaluate()
	wasDone := s.sig.Done
	s.sig, s.lift = s.ep.Update(now, st), st.Lift
	if now >= s.next || s.sig.Done != wasDone {
		s.publish(now)
	}
	return nil
}

// publish hands the current status and debug values to the task server.
func (s *taskServer) publish(now time.Duration) {
	s.next = now + s.every
	e := s.ep
	st := ros.TaskStatus{Seed: s.seed, Episode: s.episode, Reward: s.sig.Reward, Success: e.Success, Done: e.Done,
		Elapsed: e.Duration, Stamp: s.epoch.Add(now)}
	if e.Success {
		st.TimeToSuccess = e.TimeToSuccess
	}
	cube := s.tk.CubePose()
	s.srv.Publish(st, ros.TaskScore{Episode: s.episode, Done: e.Done, Lift: s.lift, MaxLift: e.MaxLift, PlaceError: e.PlaceError},
		cube.Pos, cube.Rot)
}

// report is the task's part of the exit report.
func (s *taskServer) report() TaskReport {
	ts := s.srv.Stats()
	return TaskReport{Episodes: s.episode, Requests: ts.Requests, Duplicates: ts.Duplicates, LastSeed: s.seed}
}
