package launch

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/perception"
)

// Error is a validation error: the key path, its line in the file when known, and why.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if loc != "" {
		loc += ": "
	}
	return loc + e.Key + ": " + e.Msg
}

// Validate checks every value's range and the combinations (a sim camera needs the sim
// driver, ...). A section that is a package's Config is checked by that package's
// Validate, and its error is given the section's key and line. The first problem is
// returned as an *Error.
func (f *File) Validate() error {
	v := validator{f: f}
	v.oneOf("mode", f.Mode, ModeLockstep, ModeRealtime)
	v.check("duration", f.Duration >= 0, "%v: must be >= 0", f.Duration)
	v.oneOf("arm.driver", f.Arm.Driver, DriverSim, DriverROS)
	if f.Arm.Driver == DriverROS && f.Mode == ModeLockstep {
		v.fail("mode", "lockstep needs the embedded simulator (arm.driver: sim); a ROS arm runs in realtime mode")
	}
	if f.Arm.Driver == DriverROS {
		v.rosArm(&f.Arm.ROS)
	}
	if f.modelErr != nil && f.Arm.Model == "" {
		v.fail("arm.model", "not given, and the reference model was not found: %v", f.modelErr)
	}
	if f.Arm.Model != "" {
		_, err := os.Stat(f.Arm.Model)
		v.check("arm.model", err == nil, "%v", err)
	}
	c := &f.Control
	v.check("control.rate_hz", c.RateHz >= 100 && c.RateHz <= 4000, "%v: want 100..4000", c.RateHz)
	v.config("control", c.CartesianConfig.Validate())
	v.check("control.max_torque_rate", c.MaxTorqueRate <= 10000, "%v: want (0, 10000] Nm/s", c.MaxTorqueRate)
	for i, q := range c.Home {
		v.check(fmt.Sprintf("control.home.%d", i), !math.IsNaN(q) && !math.IsInf(q, 0), "%v: not a number", q)
	}
	v.check("control.home_tolerance", c.HomeTolerance > 0 && c.HomeTolerance <= 0.5, "%v: want (0, 0.5] rad", c.HomeTolerance)
	v.check("control.home_timeout", c.HomeTimeout > 0, "%v: must be > 0", c.HomeTimeout)
	v.check("control.stop_ramp", c.StopRamp >= 0 && c.StopRamp <= 10*time.Second, "%v: want 0..10s", c.StopRamp)
	v.check("control.rt_priority", *c.RTPriority >= 0 && *c.RTPriority <= 99, "%d: want 0 (off) or 1..99", *c.RTPriority)
	v.config("safety", f.Safety.Validate())
	w := &f.Watchdog
	v.check("watchdog.state_stale", w.StateStale >= time.Millisecond && w.StateStale <= time.Second, "%v: want 1ms..1s", w.StateStale)
	v.check("watchdog.state_stale", w.StateStale >= c.Period(), "%v: shorter than the control period %v", w.StateStale, c.Period())
	v.check("watchdog.camera_stale", w.CameraStale > 0, "%v: must be > 0", w.CameraStale)
	v.check("watchdog.policy_failures", w.PolicyFailures >= 0 && w.PolicyFailures <= 1000, "%d: want 1..1000 (0: default %d)", w.PolicyFailures, daemon.DefaultMaxFailures)
	v.check("watchdog.chunk_timeout", w.ChunkTimeout >= 0 && w.ChunkTimeout <= 10*time.Minute, "%v: want > 0 and at most 10m (0: default %v)", w.ChunkTimeout, daemon.DefaultChunkTimeout)
	v.check("watchdog.camera_frozen", w.CameraFrozen > 0 || w.CameraFrozen == -1, "%v: must be > 0, or off", time.Duration(w.CameraFrozen))
	v.check("watchdog.max_skew", w.MaxSkew >= 0, "%v: must be >= 0", w.MaxSkew)
	names := map[string]bool{}
	for i := range f.Cameras {
		v.camera(fmt.Sprintf("cameras.%d", i), &f.Cameras[i], f.Arm.Driver)
		v.check(fmt.Sprintf("cameras.%d.name", i), !names[f.Cameras[i].Name], "%q used twice", f.Cameras[i].Name)
		names[f.Cameras[i].Name] = true
	}
	if p := f.Policy; p != nil {
		v.check("policy.bundle", p.Bundle != "", "required (a policy bundle directory)")
		if p.Bundle != "" {
			st, err := os.Stat(p.Bundle)
			v.check("policy.bundle", err == nil && st.IsDir(), "%s: not a directory (%v)", p.Bundle, err)
		}
		v.oneOf("policy.action", p.Action, SpaceEEPose, SpaceEEPose6D, SpaceJoints)
		v.oneOf("policy.state", p.State, SpaceEEPose, SpaceEEPose6D, SpaceJoints)
		v.check("policy.threads", p.Threads >= 0 && p.Threads <= 64, "%d: want 1..64 (absent: policy/onnx's default, 1)", p.Threads)
		v.check("policy.lockstep_latency", p.LockstepLatency >= 0 && p.LockstepLatency <= 5*time.Second, "%v: want 0..5s", p.LockstepLatency)
		v.config("policy.executor", p.Executor.Validate())
		if st := p.Steering; st != nil {
			v.config("policy.steering", st.Validate())
			for _, b := range []struct{ key, dir string }{{"contrast.bundle", st.Contrast.Bundle}, {"value.bundle", st.Value.Bundle},
				{"noise.bundle", st.Noise.Bundle}, {"residual.bundle", st.Residual.Bundle}} {
				if b.dir != "" {
					fi, err := os.Stat(b.dir)
					v.check("policy.steering."+b.key, err == nil && fi.IsDir(), "%s: not a directory (%v)", b.dir, err)
				}
			}
		}
		if p.Library != "" {
			_, err := os.Stat(p.Library)
			v.check("policy.library", err == nil, "%v", err)
		}
	}
	t := &f.Telemetry
	v.oneOf("telemetry.log_format", t.LogFormat, "text", "json")
	v.oneOf("telemetry.log_level", t.LogLevel, "debug", "info", "warn", "error")
	if t.Listen != "off" {
		_, port, err := splitHostPort(t.Listen)
		v.check("telemetry.listen", err == nil && port >= 0 && port < 65536, "%q: want host:port, :port or off", t.Listen)
	}
	if t.Foxglove != "" {
		_, port, err := splitHostPort(t.Foxglove)
		v.check("telemetry.foxglove", err == nil && port >= 0 && port < 65536, "%q: want host:port or :port", t.Foxglove)
	}
	if *t.ROSStatus && f.Arm.Driver != DriverROS {
		v.fail("telemetry.ros_status", "needs the ros driver (arm.driver: ros)")
	}
	if s := f.SimServer; s != nil {
		v.check("sim_server.rate_hz", s.RateHz >= 10 && s.RateHz <= 4000, "%v: want 10..4000", s.RateHz)
		// The served conventions are checked as the driver checks its own.
		served := ros.ArmConfig{StateTopic: s.StateTopic, Command: s.Command, Controller: s.Controller}.WithDefaults()
		v.config("sim_server", served.CheckSettings())
		v.gripper("sim_server.gripper", s.Gripper)
		for i := range s.Cameras {
			v.camera(fmt.Sprintf("sim_server.cameras.%d", i), &s.Cameras[i], DriverSim)
			v.check(fmt.Sprintf("sim_server.cameras.%d.source", i), s.Cameras[i].Source == SourceSim, "%q: the simulator serves sim cameras only", s.Cameras[i].Source)
		}
	}
	if t := f.Task; t != nil {
		v.check("task.namespace", rosName(t.Namespace) && strings.HasPrefix(t.Namespace, "/"), "%q: want an absolute ROS name", t.Namespace)
		v.check("task.rate_hz", t.RateHz >= 1 && t.RateHz <= 1000, "%v: want 1..1000", t.RateHz)
		v.check("task.seed", t.Seed >= 0 && t.Seed < 1<<53, "%d: want 0..2^53 (the status carries it as a float64)", t.Seed)
	}
	return v.err
}

func splitHostPort(s string) (string, int, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("no port")
	}
	p, err := strconv.Atoi(s[i+1:])
	return s[:i], p, err
}

type validator struct {
	f   *File
	err error
}

func (v *validator) fail(key, format string, args ...any) {
	if v.err != nil {
		return
	}
	line := v.f.lines[key]
	for k := key; line == 0 && strings.Contains(k, "."); {
		k = k[:strings.LastIndexByte(k, '.')]
		line = v.f.lines[k]
	}
	v.err = &Error{File: v.f.path, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (v *validator) check(key string, ok bool, format string, args ...any) {
	if !ok {
		v.fail(key, format, args...)
	}
}

func (v *validator) oneOf(key, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	v.fail(key, "%q: want one of %s", val, strings.Join(allowed, ", "))
}

// rosName reports whether s can be a ROS graph name (no blanks; more is checked by the
// master).
func rosName(s string) bool { return s != "" && !strings.ContainsAny(s, " \t\n") }

// configError is what a package's Validate returns for a bad value of one of its keys
// (drivers/ros, control and policy/chunk each have a ConfigError).
type configError interface {
	ConfigField() (key, msg string)
}

// config reports err, a section's Validate result: at the key the package names, below
// section, or at section itself.
func (v *validator) config(section string, err error) {
	if err == nil {
		return
	}
	var ce configError
	if errors.As(err, &ce) {
		key, msg := ce.ConfigField()
		v.fail(section+"."+key, "%s", msg)
		return
	}
	v.fail(section, "%v", err)
}

// rosArm checks the arm.ros section: the driver's own checks of its settings (the
// gripper's among them), and the joint map.
func (v *validator) rosArm(r *ROSArm) {
	v.jointMap(r)
	if !v.gripper("arm.ros.gripper", r.Gripper) {
		return
	}
	a := r.ArmConfig
	if r.Gripper != nil {
		a.Gripper = *r.Gripper
	}
	v.config("arm.ros", a.CheckSettings())
}

// gripper checks a gripper section that the file has: an empty section is not "no
// gripper" but one without its required command. It reports whether the section is
// absent or has a command.
func (v *validator) gripper(key string, g *ROSGripper) bool {
	if g == nil {
		return true
	}
	if !g.Enabled() {
		v.fail(key+".command", "%q: want one of %s, %s", g.Command, ros.GripperWidth, ros.GripperAction)
		return false
	}
	v.config(key, g.Validate())
	return true
}

func (v *validator) camera(key string, c *Camera, driver string) {
	v.check(key+".name", c.Name != "", "required")
	v.oneOf(key+".source", c.Source, SourceSim, SourceROS, SourceV4L2, SourceVideo)
	switch c.Source {
	case SourceSim:
		v.check(key+".source", driver == DriverSim, "sim cameras need the sim driver (arm.driver: sim)")
	case SourceROS:
		v.check(key+".topic", c.Topic != "", "required for a ros camera")
	case SourceV4L2, SourceVideo:
		v.check(key+".device", c.Device != "", "required for a %s camera", c.Source)
	}
	v.check(key+".width", c.Width > 0 && c.Width <= 8192 && c.Height > 0 && c.Height <= 8192, "%dx%d: want 1..8192 each", c.Width, c.Height)
	v.check(key+".rate_hz", c.RateHz > 0 && c.RateHz <= 1000, "%v: want (0, 1000]", c.RateHz)
	v.check(key+".noise", c.Noise >= 0 && c.Noise <= 128, "%v: want 0..128 (8-bit levels)", c.Noise)
	v.check(key+".noise", c.Noise == 0 || c.Source == SourceSim, "only sim cameras take added noise")
	if c.Pipeline != nil {
		if err := c.Pipeline.Validate(c.Width, c.Height, perception.RGB8); err != nil {
			v.fail(key+".pipeline", "%v", err)
		}
	}
}

// jointMap checks what arm.ros.joint_map and arm.ros.joints say without the model (names
// given, none twice, not both keys, none ignored); ROSJoints checks them against it.
func (v *validator) jointMap(r *ROSArm) {
	if r.JointMap != nil {
		v.check("arm.ros.joints", len(r.Joints) == 0,
			"give the robot's joints in arm.ros.joint_map (robot name: model joint) or, when they have the model's names, in arm.ros.joints; not both")
		v.check("arm.ros.joint_map", len(r.JointMap) > 0, "empty: map each of the robot's joints to the model's joint it is")
		robot := v.f.jointMapKeys(r)
		modelUse := map[string]string{}
		for _, name := range robot {
			key := "arm.ros.joint_map." + name
			model := r.JointMap[name]
			v.check(key, rosName(name) && rosName(model), "%q: %q: want a robot joint name and the model joint it is", name, model)
			if prev, ok := modelUse[model]; ok {
				v.fail(key, "model joint %q is already %q's: map each model joint exactly once", model, prev)
			}
			modelUse[model] = name
			v.check(key, !slices.Contains(r.IgnoreJoints, name), "%q is also in arm.ros.ignore_joints", name)
		}
	}
	// arm.ros.joints: ros.ArmConfig.CheckSettings.
}

// jointMapKeys is the robot's joint names of arm.ros.joint_map in the file's order (by
// line; sorted by name for a File built in code).
func (f *File) jointMapKeys(r *ROSArm) []string {
	keys := make([]string, 0, len(r.JointMap))
	for k := range r.JointMap {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		la, lb := f.lines["arm.ros.joint_map."+a], f.lines["arm.ros.joint_map."+b]
		if la != lb {
			return la - lb
		}
		return strings.Compare(a, b)
	})
	return keys
}

// ROSJoints returns the ROS arm's joint names (as the robot's topics name them) in the
// order of model, the robot model's joint names: from arm.ros.joint_map when given (each
// model joint must be mapped exactly once, to a joint the model has), else
// arm.ros.joints (which must then be model itself), else model. A mismatch is an *Error
// naming the key and its line in the file. Call it with the model before connecting.
func (f *File) ROSJoints(model []string) ([]string, error) {
	r := &f.Arm.ROS
	v := validator{f: f}
	out := make([]string, len(model))
	switch {
	case r.JointMap != nil:
		index := map[string]int{}
		for i, m := range model {
			index[m] = i
		}
		for _, name := range f.jointMapKeys(r) {
			m := r.JointMap[name]
			i, ok := index[m]
			if !ok {
				v.fail("arm.ros.joint_map."+name, "%q is not a joint of the robot model %s (its joints: %s)", m, f.Arm.Model, strings.Join(model, ", "))
				return nil, v.err
			}
			if out[i] != "" {
				v.fail("arm.ros.joint_map."+name, "model joint %q is already %q's: map each model joint exactly once", m, out[i])
				return nil, v.err
			}
			out[i] = name
		}
		var missing []string
		for i, m := range model {
			if out[i] == "" {
				missing = append(missing, m)
			}
		}
		if len(missing) > 0 {
			v.fail("arm.ros.joint_map", "model joints %s not mapped: map every joint of %s (%s) exactly once", strings.Join(missing, ", "), f.Arm.Model, strings.Join(model, ", "))
			return nil, v.err
		}
	case len(r.Joints) > 0:
		if len(r.Joints) != len(model) {
			v.fail("arm.ros.joints", "%d joints, the robot model %s has %d (%s)", len(r.Joints), f.Arm.Model, len(model), strings.Join(model, ", "))
			return nil, v.err
		}
		for i, j := range r.Joints {
			if j != model[i] {
				v.fail(fmt.Sprintf("arm.ros.joints.%d", i), "%q, but the model's joint %d is %q: when the robot's joint names are not the model's, map them in arm.ros.joint_map (%s: %s, ...)",
					j, i, model[i], j, model[i])
				return nil, v.err
			}
		}
		copy(out, r.Joints)
	default:
		copy(out, model)
	}
	return out, nil
}
