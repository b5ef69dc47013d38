package system

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/robotd/robotd/clock"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/perception/cv"
	"github.com/robotd/robotd/telemetry"
)

// wireROS connects to the ROS arm (and its cameras): the master must answer and a first
// joint state arrive within arm.ros.connect_timeout, before anything moves. New calls
// it last, once every other resource is loaded; s.Ports.Robot's joints then carry the
// robot's names (launch.File.ROSJoints).
func (s *System) wireROS(ctx context.Context) error {
	f, log := s.File, s.Log
	r := f.Arm.ROS
	joints := s.Ports.Robot.JointNames()
	cctx, cancel := context.WithTimeout(ctx, r.ConnectTimeout)
	defer cancel()
	var lower, upper []float64 // the model's position limits, for the driver's input check (±Inf: unlimited)
	for _, j := range s.Ports.Robot.Joints {
		lo, hi := math.Inf(-1), math.Inf(1)
		if j.Limited {
			lo, hi = j.Lower, j.Upper
		}
		lower, upper = append(lower, lo), append(upper, hi)
	}
	// The file's arm.ros section is the driver's config; what robotd adds: the robot's
	// joint names (File.ROSJoints), the model's limits, the gripper, the watchdog and the
	// control loop's priority.
	cfg := r.ArmConfig
	cfg.Joints, cfg.Lower, cfg.Upper, cfg.Gripper = joints, lower, upper, ROSGripper(r.Gripper)
	cfg.StaleLimit, cfg.Logger, cfg.RTPriority = f.Watchdog.StateStale, log, *f.Control.RTPriority
	cfg = cfg.WithDefaults()
	arm, err := ros.Dial(cctx, cfg)
	if err != nil {
		return fmt.Errorf("arm.ros: %w", err)
	}
	s.addCloser(arm.Close, func() {
		st := arm.Stats()
		var rejected uint64
		for _, n := range st.Rejected {
			rejected += n
		}
		log.Info("arm.ros: messages", "states", st.Accepted, "rejected", rejected, "seq_gaps", st.SeqGaps,
			"seq_restarts", st.SeqRestarts, "commands", st.Published, "late_commands", st.LateCommands,
			"max_command_delay", st.MaxCommandDelay.Round(time.Millisecond), "reregistrations", st.Reregistrations)
	})
	if err := arm.WaitState(cctx, 0); err != nil {
		if errors.Is(err, ros.ErrRefused) { // e.g. no velocity array: the message names the topic and the field
			return fmt.Errorf("arm.ros: %w", err)
		}
		return fmt.Errorf("arm.ros: no joint state on %s within %v: %w", r.StateTopic, r.ConnectTimeout, err)
	}
	s.Ports.Arm = arm
	s.Ports.ArmName = fmt.Sprintf("arm.ros (%s from master %s)", cfg.StateTopic, cfg.MasterAddress)
	// ROS time (clock.Real: the wall clock read through the monotonic clock, from one
	// origin per process): the time base of the ROS cameras' frames (ros.Camera.Now), so
	// frames and states compare.
	s.Ports.Clock = clock.Real.Now
	if f.Control.Home != nil {
		s.Home = f.Control.Home
	}
	if *f.Telemetry.ROSStatus {
		st, err := ros.NewStatusPublisher(cctx, ros.StatusConfig{MasterAddress: r.MasterAddress, Node: r.Node + "_status"})
		if err != nil {
			return fmt.Errorf("telemetry.ros_status: %w", err)
		}
		s.addCloser(st.Close)
		s.Ports.Status = st
	}
	// Stop requests from ROS peers: <ns>/stop (graceful) and <ns>/stop_now (safe stop).
	relay := &rosStopRelay{log: log}
	sl, err := ros.NewStopListener(cctx, ros.StopConfig{MasterAddress: r.MasterAddress, Node: r.Node + "_stop"}, relay.request)
	if err != nil {
		return fmt.Errorf("arm.ros: stop topics: %w", err)
	}
	s.addCloser(sl.Close)
	s.onStop = append(s.onStop, relay.attach)
	rm := &rosMetrics{arm: arm, stop: sl}
	s.onReg = append(s.onReg, rm.register)
	s.actors = append(s.actors, actor{"ros metrics", rm.run})
	for _, c := range f.Cameras {
		if c.Source != launch.SourceROS {
			return fmt.Errorf("camera %s: source %s with the ros driver: not supported (use ros cameras)", c.Name, c.Source)
		}
		// OpenCV decodes compressed images, as cv_bridge does (drivers/ros links no OpenCV).
		cam, err := ros.DialCamera(cctx, ros.CameraConfig{MasterAddress: r.MasterAddress, Topic: c.Topic, Name: c.Name, Logger: log,
			Decode: cv.DecodeImage})
		if err != nil {
			return fmt.Errorf("camera %s: %w", c.Name, err)
		}
		s.addCloser(func() { cam.Close() })
		rm.cams = append(rm.cams, cam)
		l, err := perception.NewLatest(cam, freshness(f), cam.Now)
		if err != nil {
			return err
		}
		s.readers = append(s.readers, l)
	}
	return nil
}

// ROSGripper is a launch file's gripper section (nil: none) as the driver's config.
func ROSGripper(g *launch.ROSGripper) ros.GripperConfig {
	if g == nil {
		return ros.GripperConfig{}
	}
	return *g
}

// rosStopRelay hands the stop topics' requests (ros.StopListener) to the daemon's Stop,
// which exists only after New (System.onStop attaches it); requests that come
// earlier wait for it.
type rosStopRelay struct {
	log *slog.Logger

	mu      sync.Mutex
	stop    ros.StopFunc // the daemon's Stop, once attached
	pending []stopRequest
}

type stopRequest struct {
	reason    string
	immediate bool
}

// attach delivers the requests to stop (the daemon's Stop) from now on.
func (r *rosStopRelay) attach(stop StopFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stop = stop
	for _, p := range r.pending {
		stop(p.reason, p.immediate)
	}
	r.pending = nil
}

// request is the StopListener's StopFunc.
func (r *rosStopRelay) request(reason string, immediate bool) {
	r.log.Warn("stop requested over ROS", "reason", reason, "immediate", immediate)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stop != nil {
		r.stop(reason, immediate)
		return
	}
	r.pending = append(r.pending, stopRequest{reason, immediate})
}

// rosMetricsPeriod is how often the ROS driver's counters are copied into the registry.
const rosMetricsPeriod = 250 * time.Millisecond

// rosMetrics exports the ROS driver's counters (the Stats of the arm, its gripper, the
// cameras and the stop listener) as the daemon's Prometheus metrics. The driver counts
// with atomics of its own; run copies the increments into the registry's counters every
// rosMetricsPeriod and once more when the run ends, off the control loop.
type rosMetrics struct {
	arm  *ros.Arm
	cams []*ros.Camera
	stop *ros.StopListener

	mu      sync.Mutex
	mirrors []mirror
	// The drivers' counters at the last sync, read by the mirrors' get.
	armSt   ros.ArmStats
	gripSt  ros.GripperStats
	camSt   []ros.CameraStats
	stopSt  [2]uint64
	gripper bool
}

// mirror is one driver counter and the registry counter it is copied to.
type mirror struct {
	c    *telemetry.Counter
	get  func() uint64
	last uint64
}

// labelValue turns a driver's reject name ("unknown joint", "big-endian") into a label
// value (unknown_joint, big_endian).
func labelValue(s string) string { return strings.NewReplacer(" ", "_", "-", "_").Replace(s) }

// register creates the metrics in reg (System.onReg: the daemon's registry).
func (m *rosMetrics) register(reg *telemetry.Registry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	add := func(get func() uint64, name, help string, labels ...telemetry.Label) {
		m.mirrors = append(m.mirrors, mirror{c: reg.Counter(name, help, labels...), get: get})
	}
	kind := func(v string) telemetry.Label { return telemetry.Label{Name: "kind", Value: labelValue(v)} }
	add(func() uint64 { return m.armSt.Accepted }, "robotd_ros_joint_states_total", "JointState messages the ROS arm accepted.")
	for k := range m.armSt.Rejected {
		add(func() uint64 { return m.armSt.Rejected[k] }, "robotd_ros_joint_states_rejected_total",
			"JointState messages the ROS arm dropped, by why.", kind(ros.Reject(k).String()))
	}
	add(func() uint64 { return m.armSt.SeqGaps }, "robotd_ros_joint_state_seq_gaps_total", "JointState messages lost on the way (header seq numbers skipped).")
	add(func() uint64 { return m.armSt.SeqRestarts }, "robotd_ros_joint_state_seq_restarts_total", "JointState messages whose header seq did not increase (a restarted or second publisher).")
	add(func() uint64 { return m.armSt.Published }, "robotd_ros_commands_published_total", "Arm commands handed to the ROS publisher (newer ones replace unsent older ones).")
	add(func() uint64 { return m.armSt.LateCommands }, "robotd_ros_commands_late_total", "Arm commands handed to the ROS publisher more than 20 ms after the oldest one waiting was written (ros.LateCommand: the robot applied an older command meanwhile).")
	add(func() uint64 { return m.armSt.Reregistrations }, "robotd_ros_reregistrations_total", "Registrations of the arm's node with a restarted ROS master (reconnects).")
	if _, m.gripper = m.arm.Gripper(); m.gripper {
		add(func() uint64 { return m.gripSt.States }, "robotd_ros_gripper_states_total", "Gripper state messages taken.")
		add(func() uint64 { return m.gripSt.Rejected }, "robotd_ros_gripper_states_rejected_total", "Gripper state messages dropped.")
		add(func() uint64 { return m.gripSt.Sent }, "robotd_ros_gripper_commands_total", "Gripper commands sent.")
	}
	m.camSt = make([]ros.CameraStats, len(m.cams))
	for i, c := range m.cams {
		cam := telemetry.Label{Name: "camera", Value: c.Name()}
		add(func() uint64 { return m.camSt[i].Received }, "robotd_ros_camera_frames_received_total", "Image messages a ROS camera accepted.", cam)
		add(func() uint64 { return m.camSt[i].Dropped }, "robotd_ros_camera_frames_dropped_total", "Image messages replaced by a newer one before the camera reader took them.", cam)
		for k := range m.camSt[i].Rejected {
			add(func() uint64 { return m.camSt[i].Rejected[k] }, "robotd_ros_camera_frames_rejected_total",
				"Image messages dropped as malformed, by why.", cam, kind(ros.ImageReject(k).String()))
		}
	}
	add(func() uint64 { return m.stopSt[0] }, "robotd_ros_stop_requests_total", "Stop requests received on the ROS stop topics.", kind("stop"))
	add(func() uint64 { return m.stopSt[1] }, "robotd_ros_stop_requests_total", "Stop requests received on the ROS stop topics.", kind("stop_now"))
	m.sync()
}

// sync copies the counters' increments since the last sync (m.mu held).
func (m *rosMetrics) sync() {
	m.armSt = m.arm.Stats()
	if m.gripper {
		m.gripSt = m.arm.GripperStats()
	}
	for i, c := range m.cams {
		m.camSt[i] = c.Stats()
	}
	m.stopSt[0], m.stopSt[1] = m.stop.Stats()
	for i := range m.mirrors {
		mi := &m.mirrors[i]
		if v := mi.get(); v > mi.last {
			mi.c.Add(v - mi.last)
			mi.last = v
		}
	}
}

// run syncs every rosMetricsPeriod until ctx ends, then once more (the run's last counts).
func (m *rosMetrics) run(ctx context.Context) error {
	t := time.NewTicker(rosMetricsPeriod)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		m.mu.Lock()
		if m.mirrors != nil {
			m.sync()
		}
		m.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
	}
}
