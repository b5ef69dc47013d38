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
// policy it is that policy's observation.state (joint_position or ee_pose, with or
// without the gripper), so the recording trains and evaluates the same policy shape.
// action is the ee_pose action space with the gripper.
var (
	actionNames = []string{"x", "y", "z", "rx", "ry", "rz", "gripper"}
	poseNames   = actionNames[:6]
)

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
				base := len(joints)
				if l.space == daemon.SpaceEEPose {
					base = 6
				}
				l.gripper = f.Size == base+1
			}
		}
	}
	if l.space == daemon.SpaceEEPose {
		l.names = append(l.names, poseNames...)
	} else {
		l.names = append(l.names, joints...)
	}
	if l.gripper {
		l.names = append(l.names, "gripper")
	}
	return l
}

// fill writes the sample's state in this layout.
func (l stateLayout) fill(dst []float32, s *daemon.Sample) {
	n := 6
	if l.space == daemon.SpaceEEPose {
		daemon.PoseValues(dst, s.Tool)
	} else {
		for i, q := range s.Q {
			dst[i] = float32(q)
		}
		n = len(s.Q)
	}
	if l.gripper {
		dst[n] = float32(orZero(s.Gripper))
	}
}

// recordSpec is the dataset spec for this state layout and these cameras.
func recordSpec(robotType string, fps int, state stateLayout, cams []*perception.Latest, sizes [][2]int, signals bool) episode.Spec {
	s := episode.Spec{
		RobotType: robotType, FPS: fps,
		State:  episode.FeatureSpec{Names: state.names},
		Action: episode.FeatureSpec{Names: actionNames},
		Reward: signals, Done: true, Success: signals,
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

	mu      sync.Mutex // guards ep, err and the frame buffers against finish
	ep      *episode.EpisodeWriter
	err     error // the first error of the episode
	frames  []perception.Frame
	buf     [2]episode.Frame
	pending *episode.Frame

	// realtime hand-off
	queue, free chan *daemon.Sample
	done        chan struct{}
}

func newRecorder(fps int, cams []*perception.Latest, lockstep bool, signal func() task.Signal, state stateLayout, dof int) *recorder {
	r := &recorder{period: time.Second / time.Duration(fps), cams: cams, lockstep: lockstep, signal: signal, state: state,
		frames: make([]perception.Frame, len(cams))}
	for i := range r.buf {
		r.buf[i] = episode.Frame{State: make([]float32, len(state.names)), Action: make([]float32, len(actionNames)), Images: make([][]byte, len(cams))}
	}
	if !lockstep {
		const slots = 8
		r.queue, r.free = make(chan *daemon.Sample, slots), make(chan *daemon.Sample, slots)
		for range slots {
			r.free <- &daemon.Sample{Q: make([]float64, dof), DQ: make([]float64, dof)}
		}
	}
	return r
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
		r.take(s)
		return true
	}
	select {
	case slot := <-r.free:
		copySample(slot, s)
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
	for s := range r.queue {
		if s == nil {
			return
		}
		r.take(s)
		r.free <- s
	}
}

// take turns one sample into a frame and writes the previous one.
func (r *recorder) take(s *daemon.Sample) {
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
