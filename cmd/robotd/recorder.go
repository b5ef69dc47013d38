package main

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/episode"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/sim/task"
)

// The features robotd records (names in info.json). observation.state is, by default,
// the daemon's joint_position state space with the gripper; when the launch file runs a
// policy it is that policy's observation.state (joint_position, ee_pose or ee_pose_6d,
// with or without the gripper), so the recording trains and evaluates the same policy shape.
// action is the ee_pose action space with the gripper.
var (
	actionNames = []string{"x", "y", "z", "rx", "ry", "rz", "gripper"}
	poseNames   = actionNames[:6]
)

// Extra features robotd records next to observation.state and action (episode.Spec
// Vectors): the measured tool pose, always, and on the pick-and-place scene the cube's
// pose (LeRobot's observation.environment_state), which replay restores.
const keyEEPose = "observation.ee_pose"

// stateLayout is what observation.state holds.
type stateLayout struct {
	space   daemon.Space
	gripper bool
	names   []string
}

// recordState is the state layout for the arm's joints and, when set, the policy's.
func recordState(joints []string, pp *daemon.PolicyPorts) stateLayout {
	l := stateLayout{space: daemon.SpaceJoints, gripper: true}
	if pp != nil {
		l.space = pp.State
		l.gripper = false
		for _, f := range pp.Policy.Bundle.Observations {
			if f.Name == episode.KeyState {
				l.gripper = f.Size == len(l.space.Names(joints))+1
			}
		}
	}
	l.names = append(l.names, l.space.Names(joints)...)
	if l.gripper {
		l.names = append(l.names, "gripper")
	}
	return l
}

// fill writes the sample's state in this layout.
func (l stateLayout) fill(dst []float32, s *daemon.Sample) {
	if l.space == daemon.SpaceJoints {
		for i, q := range s.Q {
			dst[i] = float32(q)
		}
	} else {
		l.space.PutPose(dst, s.Tool)
	}
	if l.gripper {
		dst[len(l.names)-1] = float32(orZero(s.Gripper))
	}
}

// recordSpec is the dataset spec for this state layout and these cameras; signals (the
// pick-and-place scene) adds the task's labels, env the cube's pose.
func recordSpec(robotType string, fps int, state stateLayout, cams []*perception.Latest, sizes [][2]int, signals, env bool) episode.Spec {
	s := episode.Spec{
		RobotType: robotType, FPS: fps,
		State:   episode.FeatureSpec{Names: state.names},
		Action:  episode.FeatureSpec{Names: actionNames},
		Vectors: []episode.VectorSpec{{Key: keyEEPose, Names: poseNames}},
		Reward:  signals, Done: true, Success: signals,
	}
	if env {
		s.Vectors = append(s.Vectors, episode.VectorSpec{Key: episode.KeyEnvState, Names: task.EnvNames})
	}
	for i, c := range cams {
		s.Cameras = append(s.Cameras, episode.CameraSpec{Key: episode.CameraKeyPrefix + c.Name(), Width: sizes[i][0], Height: sizes[i][1]})
	}
	return s
}

// recorder is the daemon.Recorder of robotd record: it turns the daemon's samples and
// the cameras' frames at the sample times into dataset frames.
//
// Frames are written one sample late, so that the last frame of an episode can carry
// next.done. In lockstep the work happens inside Record (simulated time waits); in
// realtime Record hands the sample to a goroutine through a bounded queue of
// preallocated slots and drops (counts) a sample when the queue is full.
type recorder struct {
	period   time.Duration
	cams     []*perception.Latest
	lockstep bool
	signal   func() task.Signal // nil: no reward/success labels
	state    stateLayout
	eePose   int                 // index of observation.ee_pose in Frame.Vectors, -1: not recorded
	envAt    int                 // index of observation.environment_state, -1: not recorded
	env      func(dst []float32) // reads the environment state; called where Record is

	mu      sync.Mutex // guards ep, err and the frame buffers against finish
	ep      *episode.EpisodeWriter
	err     error // the first error of the episode
	frames  []perception.Frame
	buf     [2]episode.Frame
	pending *episode.Frame

	envNow []float32 // lockstep: the environment state of the sample being taken

	// realtime hand-off
	queue, free chan *recSlot
	done        chan struct{}
}

// recSlot is a sample handed from the control loop to the realtime worker, with the
// environment state read at the same instant.
type recSlot struct {
	s   daemon.Sample
	env []float32
}

// newRecorder records the spec's features: vectors are the spec's Vectors (keyEEPose
// and episode.KeyEnvState are the ones it knows; env reads the latter, in task.EnvNames'
// layout, and is called from the control loop's goroutine).
func newRecorder(fps int, cams []*perception.Latest, lockstep bool, signal func() task.Signal, state stateLayout, dof int,
	vectors []episode.VectorSpec, env func(dst []float32)) (*recorder, error) {
	r := &recorder{period: time.Second / time.Duration(fps), cams: cams, lockstep: lockstep, signal: signal, state: state,
		frames: make([]perception.Frame, len(cams)), eePose: -1, envAt: -1, envNow: make([]float32, len(task.EnvNames))}
	for i, v := range vectors {
		switch {
		case v.Key == keyEEPose && len(v.Names) == len(poseNames):
			r.eePose = i
		case v.Key == episode.KeyEnvState && len(v.Names) == len(task.EnvNames) && env != nil:
			r.envAt, r.env = i, env
		default:
			return nil, fmt.Errorf("record: no source for the feature %s (%d values)", v.Key, len(v.Names))
		}
	}
	for i := range r.buf {
		r.buf[i] = episode.Frame{State: make([]float32, len(state.names)), Action: make([]float32, len(actionNames)), Images: make([][]byte, len(cams))}
		for _, v := range vectors {
			r.buf[i].Vectors = append(r.buf[i].Vectors, make([]float32, len(v.Names)))
		}
	}
	if !lockstep {
		const slots = 8
		r.queue, r.free = make(chan *recSlot, slots), make(chan *recSlot, slots)
		for range slots {
			r.free <- &recSlot{s: daemon.Sample{Q: make([]float64, dof), DQ: make([]float64, dof)}, env: make([]float32, len(task.EnvNames))}
		}
	}
	return r, nil
}

// Period is daemon.Recorder's.
func (r *recorder) Period() time.Duration { return r.period }

// begin starts recording into ep; in realtime it starts the worker goroutine.
func (r *recorder) begin(ep *episode.EpisodeWriter) {
	r.mu.Lock()
	r.ep, r.err, r.pending = ep, nil, nil
	r.mu.Unlock()
	if !r.lockstep {
		r.done = make(chan struct{})
		go r.work()
	}
}

// Record is daemon.Recorder's: called by the control loop at each frame time.
func (r *recorder) Record(s *daemon.Sample) bool {
	if r.lockstep {
		if r.env != nil {
			r.env(r.envNow)
		}
		r.take(s, r.envNow)
		return true
	}
	select {
	case slot := <-r.free:
		copySample(&slot.s, s)
		if r.env != nil {
			r.env(slot.env)
		}
		r.queue <- slot
		return true
	default: // counted by the daemon (robotd_record_dropped_total)
		return false
	}
}

func copySample(dst, s *daemon.Sample) {
	q, dq := dst.Q, dst.DQ
	*dst = *s
	dst.Q, dst.DQ = q, dq
	copy(dst.Q, s.Q)
	copy(dst.DQ, s.DQ)
}

func (r *recorder) work() {
	defer close(r.done)
	for slot := range r.queue {
		if slot == nil {
			return
		}
		r.take(&slot.s, slot.env)
		r.free <- slot
	}
}

// take turns one sample (and the environment state read with it) into a frame and
// writes the previous one.
func (r *recorder) take(s *daemon.Sample, env []float32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ep == nil || r.err != nil {
		return
	}
	f := &r.buf[0]
	if f == r.pending {
		f = &r.buf[1]
	}
	f.Timestamp = s.T - s.Episode
	r.state.fill(f.State, s)
	a := f.Action
	daemon.PoseValues(a, s.Target)
	g := s.GripperCommand
	if math.IsNaN(g) {
		g = s.Gripper // nothing commanded yet: the opening it has
	}
	a[6] = float32(orZero(g))
	if r.eePose >= 0 {
		daemon.PoseValues(f.Vectors[r.eePose], s.Tool)
	}
	if r.envAt >= 0 {
		copy(f.Vectors[r.envAt], env)
	}
	for i, c := range r.cams {
		if err := c.Closest(s.T, &r.frames[i]); err != nil {
			r.err = fmt.Errorf("camera %s at %v: %w", c.Name(), s.T, err)
			return
		}
		f.Images[i] = toRGB(f.Images[i], &r.frames[i])
	}
	f.Reward, f.Done, f.Success = 0, false, false
	if r.signal != nil {
		sig := r.signal()
		f.Reward, f.Success = float32(sig.Reward), sig.Success
	}
	if r.pending != nil {
		if err := r.ep.AddFrame(r.pending); err != nil {
			r.err = err
			return
		}
	}
	r.pending = f
}

// finish writes the held-back last frame, marked done (and successful when the episode
// succeeded), and stops the worker. It returns the first error of the episode.
func (r *recorder) finish(success bool) error {
	if !r.lockstep {
		r.queue <- nil
		<-r.done
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil && r.pending != nil {
		r.pending.Done = true
		r.pending.Success = r.pending.Success || success
		r.err = r.ep.AddFrame(r.pending)
	}
	r.pending, r.ep = nil, nil
	return r.err
}

func orZero(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}

// toRGB copies a camera frame into dst as packed RGB24, converting BGR and mono images.
func toRGB(dst []byte, f *perception.Frame) []byte {
	n := f.Width * f.Height * 3
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	switch f.Format {
	case perception.RGB8:
		copy(dst, f.Data)
	case perception.BGR8:
		for i := 0; i < n; i += 3 {
			dst[i], dst[i+1], dst[i+2] = f.Data[i+2], f.Data[i+1], f.Data[i]
		}
	case perception.Mono8:
		for i, v := range f.Data[:f.Width*f.Height] {
			dst[3*i], dst[3*i+1], dst[3*i+2] = v, v, v
		}
	}
	return dst
}

// recordable reports whether a camera format can be recorded.
func recordable(f perception.Format) bool {
	return f == perception.RGB8 || f == perception.BGR8 || f == perception.Mono8
}
