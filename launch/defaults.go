package launch

import (
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/sim"
)

// Default fills a File built in code (Load does it for files); the default model is
// searched from the working and executable directories.
func (f *File) Default() { f.defaults(f.Name, "") }

// defaults fills the zero fields; dir is the launch file's directory ("" for a File
// built in code). A section that is a package's Config takes that package's defaults
// (WithDefaults); launch writes only the defaults of its own keys, and takes those the
// daemon and perception have from them.
func (f *File) defaults(base, dir string) {
	if f.Name == "" {
		f.Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if f.Arm.Driver == "" {
		f.Arm.Driver = DriverSim
	}
	if f.Arm.Model == "" {
		var starts []string
		if dir != "" {
			starts = append(starts, dir)
		}
		f.Arm.Model, f.modelErr = sim.FindReferenceModel(starts...)
	}
	if f.Mode == "" {
		f.Mode = ModeLockstep
		if f.Arm.Driver == DriverROS {
			f.Mode = ModeRealtime
		}
	}
	if f.Arm.Tool == "" {
		f.Arm.Tool = "tcp"
	}
	d := daemon.Config{}.WithDefaults()
	f.Arm.ROS.defaults(d)
	f.Control.defaults(d)
	f.Safety.MaxTorqueRate = f.Control.MaxTorqueRate
	f.Safety = f.Safety.WithDefaults()
	f.Watchdog.defaults(d)
	for i := range f.Cameras {
		f.Cameras[i].defaults(f.Arm.Driver)
	}
	f.Policy.defaults()
	f.Telemetry.defaults(f.Arm.Driver)
	f.SimServer.defaults()
	f.Task.defaults()
}

func (r *ROSArm) defaults(d daemon.Config) {
	r.ArmConfig = r.ArmConfig.WithDefaults()
	if r.Gripper != nil {
		*r.Gripper = r.Gripper.WithDefaults()
	}
	if r.CompensatesGravity == nil {
		t := true
		r.CompensatesGravity = &t
	}
	if r.ConnectTimeout == 0 {
		// The same wait as the daemon's for a fresh state before it takes the arm over
		// (robotd run passes connect_timeout as that too).
		r.ConnectTimeout = d.StartTimeout
	}
}

func (c *Control) defaults(d daemon.Config) {
	if c.RateHz == 0 {
		c.RateHz = float64(time.Second) / float64(d.Period)
	}
	if c.Stiffness == [6]float64{} {
		c.Stiffness = c.CartesianConfig.WithDefaults().Stiffness
		c.Stiffness[3], c.Stiffness[4], c.Stiffness[5] = rotStiffness, rotStiffness, rotStiffness
	}
	c.CartesianConfig = c.CartesianConfig.WithDefaults()
	if c.HomeTolerance == 0 {
		c.HomeTolerance = d.HomeTolerance
	}
	if c.HomeTimeout == 0 {
		c.HomeTimeout = d.HomeTimeout
	}
	if c.StopRamp == 0 {
		c.StopRamp = d.StopRamp
	}
	if c.RTPriority == nil {
		p := 80
		c.RTPriority = &p
	}
}

func (w *Watchdog) defaults(d daemon.Config) {
	if w.StateStale == 0 {
		w.StateStale = d.StateStale
	}
	if w.CameraStale == 0 {
		w.CameraStale = perception.DefaultMaxAge
	}
	if w.CameraFrozen == 0 {
		w.CameraFrozen = Switchable(perception.DefaultFrozenAfter)
	}
	if w.MaxSkew == 0 {
		w.MaxSkew = daemon.DefaultMaxSkew
	}
}

func (c *Camera) defaults(driver string) {
	if c.Source == "" {
		c.Source = SourceSim
		if driver == DriverROS {
			c.Source = SourceROS
		}
	}
	if c.SimCamera == "" {
		c.SimCamera = c.Name
	}
	if c.Width == 0 && c.Height == 0 {
		c.Width, c.Height = perception.DefaultWidth, perception.DefaultHeight
	}
	if c.RateHz == 0 {
		c.RateHz = 30
	}
}

// defaults fills a policy section (nothing when p is nil). The executor's strategy and
// n_action_steps stay empty: the daemon picks them from the bundle.
func (p *Policy) defaults() {
	if p == nil {
		return
	}
	if p.Action == "" {
		p.Action = SpaceEEPose
	}
	if p.State == "" {
		p.State = SpaceJoints
	}
	if p.LockstepLatency == 0 {
		p.LockstepLatency = daemon.DefaultLockstepLatency
	}
}

func (t *Telemetry) defaults(driver string) {
	if t.Listen == "" {
		t.Listen = "127.0.0.1:9102"
	}
	if t.LogFormat == "" {
		t.LogFormat = "text"
	}
	if t.LogLevel == "" {
		t.LogLevel = "info"
	}
	if t.ROSStatus == nil {
		on := driver == DriverROS
		t.ROSStatus = &on
	}
}

// defaults fills a sim_server section (nothing when s is nil).
func (s *SimServer) defaults() {
	if s == nil {
		return
	}
	if s.Node == "" {
		s.Node = ros.DefaultSimNode
	}
	if s.RateHz == 0 {
		s.RateHz = 1000
	}
	// The served conventions take the driver's defaults.
	a := ros.ArmConfig{StateTopic: s.StateTopic, Command: s.Command, Controller: s.Controller}.WithDefaults()
	s.StateTopic, s.Command, s.Controller = a.StateTopic, a.Command, a.Controller
	if s.Gripper != nil {
		*s.Gripper = s.Gripper.WithDefaults()
	}
	if s.CameraPrefix == "" {
		s.CameraPrefix = "/camera"
	}
	for i := range s.Cameras {
		s.Cameras[i].defaults(DriverSim)
	}
}

// Period is the control loop's period.
func (c *Control) Period() time.Duration {
	return time.Duration(math.Round(float64(time.Second) / c.RateHz))
}
