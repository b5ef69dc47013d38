package system

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/episode"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/sim/task"
)

// The recorder lives here rather than in episode: it reads daemon samples and
// perception cameras (episode is a dataset library that imports neither), and its
// worker goroutine exists to keep the camera look-ups and RGB copies off the control
// loop, which is the daemon's concern. What it hands episode are plain episode.Frames.

// The features robotd records (names in info.json). observation.state is, by default,
// the daemon's joint_position state space with the gripper; when the launch file runs a
// policy it is that policy's observation.state (joint_position, ee_pose or ee_pose_6d,
// with or without the gripper), so the recording trains and evaluates the same policy shape.
// action is the ee_pose action space with the gripper.
var (
	ActionNames = []string{"x", "y", "z", "rx", "ry", "rz", "gripper"}
	PoseNames   = ActionNames[:6]
)

// KeyEEPose is the measured tool pose robotd records next to observation.state and
// action (an episode.Spec vector, always); on the pick-and-place scene the cube's pose
// (episode.KeyEnvState, LeRobot's observation.environment_state) joins it, which replay
// restores.
const KeyEEPose = "observation.ee_pose"

// StateLayout is what observation.state holds.
type StateLayout struct {
	Space   daemon.Space
	Gripper bool     // the gripper opening is the last value
	Names   []string // one per value
}

// RecordState is the state layout for the arm's joints and, when set, the policy's.
func RecordState(joints []string, pp *daemon.PolicyPorts) StateLayout {
	l := StateLayout{Space: daemon.SpaceJoints, Gripper: true}
	if pp != nil {
		l.Space = pp.State
		l.Gripper = false
		for _, f := range pp.Policy.Bundle.Observations {
			if f.Name == episode.KeyState {
				l.Gripper = f.Size == len(l.Space.Names(joints))+1
			}
		}
	}
	l.Names = append(l.Names, l.Space.Names(joints)...)
	if l.Gripper {
		l.Names = append(l.Names, "gripper")
	}
	return l
}

// fill writes the sample's state in this layout.
func (l StateLayout) fill(dst []float32, s *daemon.Sample) {
	if l.Space == daemon.SpaceJoints {
		for i, q := range s.Q {
			dst[i] = float32(q)
		}
	} else {
		l.Space.PutPose(dst, s.Tool)
	}
	if l.Gripper {
		dst[len(l.Names)-1] = float32(orZero(s.Gripper))
	}
}

// RecordSpec is the dataset spec for this state layout and these cameras (sizes[i] is
// camera i's width and height); signals (the pick-and-place scene) adds the task's
// labels, env the cube's pose.
func RecordSpec(robotType string, fps int, state StateLayout, cams []*perception.Latest, sizes [][2]int, signals, env bool) episode.Spec {
	s := episode.Spec{
		RobotType: robotType, FPS: fps,
		State:   episode.FeatureSpec{Names: state.Names},
		Action:  episode.FeatureSpec{Names: ActionNames},
		Vectors: []episode.VectorSpec{{Key: KeyEEPose, Names: PoseNames}},
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

// RecordSpec is the spec of a recording of this system at fps: the arm's (or the
// policy's) state, the launch file's cameras at their configured sizes, and onTask (the
// pick-and-place scene) the task's labels and (envState) the cube's pose. Simulated time
// waits for the video encoders (Spec.Video.Wait) instead of dropping images.
func (s *System) RecordSpec(robotType string, fps int, onTask, envState bool) (episode.Spec, StateLayout) {
	sizes := make([][2]int, len(s.Cameras))
	for i, c := range s.Cameras {
		for _, lc := range s.File.Cameras {
			if lc.Name == c.Name() {
				sizes[i] = [2]int{lc.Width, lc.Height}
			}
		}
	}
	state := RecordState(s.Ports.Robot.JointNames(), s.Ports.Policy)
	spec := RecordSpec(robotType, fps, state, s.Cameras, sizes, onTask, onTask && envState)
	spec.Video.Wait = s.File.Mode == launch.ModeLockstep
	return spec, state
}

// NewRecorder makes the recorder of spec's features for this system and installs it as
// Ports.Recorder: the launch file's cameras, lockstep or realtime as the launch file
// runs, with eps (may be nil) the task's labels and the cube's pose, gripper commands
// clamped to the range the arm's gripper clamps them to.
func (s *System) NewRecorder(spec episode.Spec, state StateLayout, eps *TaskEpisodes) (*Recorder, error) {
	cfg := RecorderConfig{FPS: spec.FPS, Cameras: s.Cameras, Lockstep: s.File.Mode == launch.ModeLockstep, State: state,
		DoF: s.Ports.Robot.DoF(), Vectors: spec.Vectors}
	cfg.GripperMin, cfg.GripperMax = s.GripperRange()
	if eps != nil {
		cfg.Signal = eps.Signal
		cfg.Env = eps.Environment
	}
	r, err := NewRecorder(cfg)
	if err != nil {
		return nil, err
	}
	s.Ports.Recorder = r
	return r, nil
}

// GripperRange is the range of openings (m) the arm's gripper clamps its commands to:
// the simulated gripper's actuator range (one finger's travel, doubled), or [0,
// max_width] of arm.ros.gripper. Without a gripper it is (-Inf, +Inf).
func (s *System) GripperRange() (lo, hi float64) {
	if s.SimArm != nil {
		if g := s.SimArm.Scene().Gripper; g != "none" {
			if id, err := s.SimArm.Sim().ID(mujoco.ObjActuator, g); err == nil {
				lo, hi, _ := s.SimArm.Sim().ActuatorCtrlRange(id)
				return 2 * lo, 2 * hi
			}
		}
	}
	if g := s.File.Arm.ROS.Gripper; s.SimArm == nil && g != nil {
		return 0, g.MaxWidth
	}
	return math.Inf(-1), math.Inf(1)
}

// RecorderConfig configures a Recorder.
type RecorderConfig struct {
	FPS     int                  // dataset frame rate; the recorder's period is 1/FPS
	Cameras []*perception.Latest // one per Spec.Cameras entry, in that order
	// Lockstep builds frames inside Record (simulated time waits); otherwise a worker
	// goroutine builds them from a bounded queue of samples.
	Lockstep bool
	Signal   func() task.Signal // reward and success labels; nil: none
	State    StateLayout
	DoF      int                  // the arm's joints
	Vectors  []episode.VectorSpec // KeyEEPose and episode.KeyEnvState are the ones it knows
	// Env reads the environment state (task.EnvNames' layout) where Record is called;
	// needed when Vectors has episode.KeyEnvState.
	Env func(dst []float32)
	// GripperMin and GripperMax (m) bound the recorded gripper command: the driver clamps
	// what the daemon commands to its range, and the action records what was commanded
	// after that clamp. Both zero: no bound (System.GripperRange gives ±Inf then).
	GripperMin, GripperMax float64
}

// Recorder is the daemon.Recorder of robotd record: it turns the daemon's samples and
// the cameras' frames at the sample times into dataset frames.
//
// Frames are written one sample late, so that the last frame of an episode can carry
// next.done. In lockstep the work happens inside Record (simulated time waits); in
// realtime Record hands the sample to a goroutine through a bounded queue of
// preallocated slots and drops (counts) a sample when the queue is full.
type Recorder struct {
	cfg    RecorderConfig
	period time.Duration
	eePose int // index of observation.ee_pose in Frame.Vectors, -1: not recorded
	envAt  int // index of observation.environment_state, -1: not recorded

	mu      sync.Mutex // guards ep, err and the frame buffers against Finish
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

// NewRecorder makes a recorder; a vector feature it has no source for is an error.
func NewRecorder(cfg RecorderConfig) (*Recorder, error) {
	if cfg.GripperMin == 0 && cfg.GripperMax == 0 {
		cfg.GripperMin, cfg.GripperMax = math.Inf(-1), math.Inf(1)
	}
	r := &Recorder{cfg: cfg, period: time.Second / time.Duration(cfg.FPS), frames: make([]perception.Frame, len(cfg.Cameras)),
		eePose: -1, envAt: -1, envNow: make([]float32, len(task.EnvNames))}
	for i, v := range cfg.Vectors {
		switch {
		case v.Key == KeyEEPose && len(v.Names) == len(PoseNames):
			r.eePose = i
		case v.Key == episode.KeyEnvState && len(v.Names) == len(task.EnvNames) && cfg.Env != nil:
			r.envAt = i
		default:
			return nil, fmt.Errorf("record: no source for the feature %s (%d values)", v.Key, len(v.Names))
		}
	}
	for i := range r.buf {
		r.buf[i] = episode.Frame{State: make([]float32, len(cfg.State.Names)), Action: make([]float32, len(ActionNames)), Images: make([][]byte, len(cfg.Cameras))}
		for _, v := range cfg.Vectors {
			r.buf[i].Vectors = append(r.buf[i].Vectors, make([]float32, len(v.Names)))
		}
	}
	if !cfg.Lockstep {
		const slots = 8
		r.queue, r.free = make(chan *recSlot, slots), make(chan *recSlot, slots)
		for range slots {
			r.free <- &recSlot{s: daemon.Sample{Q: make([]float64, cfg.DoF), DQ: make([]float64, cfg.DoF)}, env: make([]float32, len(task.EnvNames))}
		}
	}
	return r, nil
}

// Period is daemon.Recorder's.
func (r *Recorder) Period() time.Duration { return r.period }

// Begin starts recording into ep; in realtime it starts the worker goroutine, which
// Finish stops.
func (r *Recorder) Begin(ep *episode.EpisodeWriter) {
	r.mu.Lock()
	r.ep, r.err, r.pending = ep, nil, nil
	r.mu.Unlock()
	if !r.cfg.Lockstep {
		r.done = make(chan struct{})
		go r.work()
	}
}

// Record is daemon.Recorder's: called by the control loop at each frame time.
func (r *Recorder) Record(s *daemon.Sample) bool {
	if r.cfg.Lockstep {
		if r.envAt >= 0 {
			r.cfg.Env(r.envNow)
		}
		r.take(s, r.envNow)
		return true
	}
	select {
	case slot := <-r.free:
		copySample(&slot.s, s)
		if r.envAt >= 0 {
			r.cfg.Env(slot.env)
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

func (r *Recorder) work() {
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
func (r *Recorder) take(s *daemon.Sample, env []float32) {
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
	r.cfg.State.fill(f.State, s)
	a := f.Action
	daemon.PoseValues(a, s.Target)
	g := s.GripperCommand
	if math.IsNaN(g) {
		g = s.Gripper // nothing commanded yet: the opening it has
	} else {
		g = math.Max(r.cfg.GripperMin, math.Min(r.cfg.GripperMax, g)) // what the driver applied
	}
	a[6] = float32(orZero(g))
	if r.eePose >= 0 {
		daemon.PoseValues(f.Vectors[r.eePose], s.Tool)
	}
	if r.envAt >= 0 {
		copy(f.Vectors[r.envAt], env)
	}
	for i, c := range r.cfg.Cameras {
		if err := c.Closest(s.T, &r.frames[i]); err != nil {
			r.err = fmt.Errorf("camera %s at %v: %w", c.Name(), s.T, err)
			return
		}
		f.Images[i] = toRGB(f.Images[i], &r.frames[i])
	}
	f.Reward, f.Done, f.Success = 0, false, false
	if r.cfg.Signal != nil {
		sig := r.cfg.Signal()
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

// Finish writes the held-back last frame, marked done (and successful when the episode
// succeeded), and stops the worker. It returns the first error of the episode.
func (r *Recorder) Finish(success bool) error {
	if !r.cfg.Lockstep {
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
