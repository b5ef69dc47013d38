package mujoco

/*
#cgo LDFLAGS: -lmujoco -lOSMesa
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

var (
	initOnce sync.Once
	initErr  error
)

// setup installs MuJoCo's error and warning hooks (once per process) and checks that the
// library matches the headers this package was compiled against.
func setup() error {
	initOnce.Do(func() {
		lib := int(C.rd_init())
		if hdr := int(C.rd_header_version()); lib != hdr {
			initErr = fmt.Errorf("mujoco: libmujoco version %d does not match its headers (%d)", lib, hdr)
		}
	})
	return initErr
}

// Version is the version string of the loaded libmujoco, e.g. "2.2.2".
func Version() string {
	return C.GoString(C.mj_versionString())
}

// LastWarning returns the text of the latest MuJoCo runtime warning in this process and how many
// warnings have been raised so far (by any Sim or Renderer). MuJoCo raises the warning text
// only the first time each kind happens in an mjData; see [Sim.Warnings] for per-Sim counts.
func LastWarning() (msg string, count uint64) {
	var buf [C.RD_ERRSZ]C.char
	C.rd_last_warning(&buf[0], C.RD_ERRSZ)
	return C.GoString(&buf[0]), uint64(C.rd_warning_count())
}

// Error is a failure reported by MuJoCo itself (compiler or engine).
type Error struct {
	Op   string // what was being done: "load", "step", "forward", "render", ...
	File string // the model file
	Line int    // line in File (or in a file it includes) that MuJoCo blamed; 0 if none
	Msg  string // MuJoCo's message, on one line
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("mujoco: %s %s: line %d: %s", e.Op, e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("mujoco: %s %s: %s", e.Op, e.File, e.Msg)
}

// lineRE finds the line number in MuJoCo 2.2.2's messages, which come in three forms:
// tinyxml2 "Line number=4", the schema check "Element 'geom', line 5" and the compiler
// "Object name = ball, id = 0, line = 6, column = -1".
var lineRE = regexp.MustCompile(`(?i)\bline(?: number)?\s*=?\s*(\d+)`)

// newError makes an *Error from MuJoCo's raw message.
func newError(op, file, raw string) *Error {
	e := &Error{Op: op, File: file, Msg: oneLine(raw)}
	if m := lineRE.FindStringSubmatch(raw); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
	}
	return e
}

// ErrClosed is returned by methods of a Sim or Renderer after Close.
var ErrClosed = errors.New("mujoco: use after Close")

// oneLine folds MuJoCo's multi-line messages ("XML Error: ...\nElement 'x', line 3") into one.
func oneLine(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "; ")
}

// Sim owns one mjModel and one mjData. See the package documentation for threading rules.
type Sim struct {
	c       *C.rd_sim
	path    string
	warn    string
	cleanup runtime.Cleanup

	nq, nv, nu, nsensordata int

	qpos, qvel, qacc, ctrl, qfrcApplied, qfrcBias, qfrcActuator, sensordata []float64
}

// Load compiles the MJCF (or URDF) model at path and makes its data, in the model's default
// state (mj_resetData then mj_forward have run, so poses and sensors are valid at once).
// A missing file gives an error wrapping the *fs.PathError; a model MuJoCo rejects gives an
// *Error whose message is MuJoCo's, including the offending element and line where MuJoCo
// reports one.
func Load(path string) (*Sim, error) {
	if err := setup(); err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("mujoco: load %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() { // a FIFO would block MuJoCo's open forever
		return nil, fmt.Errorf("mujoco: load %s: not a regular file (%v)", path, fi.Mode().Type())
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var errbuf, warnbuf [C.RD_ERRSZ]C.char
	c := C.rd_load(cpath, &errbuf[0], C.RD_ERRSZ, &warnbuf[0], C.RD_ERRSZ)
	if c == nil {
		return nil, newError("load", path, C.GoString(&errbuf[0]))
	}
	s := &Sim{c: c, path: path, warn: oneLine(C.GoString(&warnbuf[0]))}
	s.cleanup = runtime.AddCleanup(s, func(c *C.rd_sim) { C.rd_free(c) }, c)
	m, d := c.m, c.d
	s.nq, s.nv, s.nu, s.nsensordata = int(m.nq), int(m.nv), int(m.nu), int(m.nsensordata)
	s.qpos = f64s(d.qpos, s.nq)
	s.qvel = f64s(d.qvel, s.nv)
	s.qacc = f64s(d.qacc, s.nv)
	s.ctrl = f64s(d.ctrl, s.nu)
	s.qfrcApplied = f64s(d.qfrc_applied, s.nv)
	s.qfrcBias = f64s(d.qfrc_bias, s.nv)
	s.qfrcActuator = f64s(d.qfrc_actuator, s.nv)
	s.sensordata = f64s(d.sensordata, s.nsensordata)
	if err := s.Reset(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// f64s views n mjtNums at p as a Go slice (no copy).
func f64s(p *C.mjtNum, n int) []float64 {
	if p == nil || n == 0 {
		return []float64{}
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(p)), n)
}

// at returns p[i] for a C array p.
func at[T any](p *T, i int) T {
	return unsafe.Slice(p, i+1)[i]
}

// Close frees the model and data. The views returned earlier must no longer be used. Close is
// idempotent; close Renderers of this Sim first.
func (s *Sim) Close() {
	if s.c == nil {
		return
	}
	s.cleanup.Stop()
	C.rd_free(s.c)
	s.c = nil
	s.qpos, s.qvel, s.qacc, s.ctrl = nil, nil, nil, nil
	s.qfrcApplied, s.qfrcBias, s.qfrcActuator, s.sensordata = nil, nil, nil, nil
}

// Path is the file the model was loaded from.
func (s *Sim) Path() string { return s.path }

// CompileWarning is the warning MuJoCo's compiler gave while loading, or "".
func (s *Sim) CompileWarning() string { return s.warn }

// NQ is the number of generalized coordinates (len(Qpos())).
func (s *Sim) NQ() int { return s.nq }

// NV is the number of degrees of freedom (len(Qvel())).
func (s *Sim) NV() int { return s.nv }

// NU is the number of actuators (len(Ctrl())).
func (s *Sim) NU() int { return s.nu }

// NSensorData is the number of scalar sensor outputs (len(SensorData())).
func (s *Sim) NSensorData() int { return s.nsensordata }

// Timestep is the model's integration step in seconds.
func (s *Sim) Timestep() float64 { return float64(s.c.m.opt.timestep) }

// SetTimestep changes the integration step; dt must be positive and finite.
func (s *Sim) SetTimestep(dt float64) error {
	if !(dt > 0) || math.IsInf(dt, 0) {
		return fmt.Errorf("mujoco: timestep %v s: want a positive finite number", dt)
	}
	s.c.m.opt.timestep = C.mjtNum(dt)
	return nil
}

// Gravity is the model's gravity vector in m/s^2 (world frame).
func (s *Sim) Gravity() [3]float64 {
	g := &s.c.m.opt.gravity
	return [3]float64{float64(g[0]), float64(g[1]), float64(g[2])}
}

// SetGravity changes the model's gravity vector (m/s^2, world frame).
func (s *Sim) SetGravity(g [3]float64) {
	for i, v := range g {
		s.c.m.opt.gravity[i] = C.mjtNum(v)
	}
}

// Time is the simulation time in seconds.
func (s *Sim) Time() float64 { return float64(s.c.d.time) }

// fail turns the message left by a failed C wrapper into an error.
func (s *Sim) fail(op string) error {
	return newError(op, s.path, C.GoString(&s.c.err[0]))
}

// Reset restores the model's default state (mj_resetData) and runs mj_forward. It also clears
// the warning counters.
func (s *Sim) Reset() error {
	if s.c == nil {
		return ErrClosed
	}
	if C.rd_reset(s.c) != 0 {
		return s.fail("reset")
	}
	return nil
}

// ResetKeyframe resets to the named keyframe (mj_resetDataKeyframe) and runs mj_forward.
func (s *Sim) ResetKeyframe(name string) error {
	if s.c == nil {
		return ErrClosed
	}
	key, err := s.ID(ObjKey, name)
	if err != nil {
		n := int(s.c.m.nkey)
		names := make([]string, n)
		for i := range names {
			if names[i] = s.Name(ObjKey, i); names[i] == "" {
				names[i] = fmt.Sprintf("#%d", i)
			}
		}
		return fmt.Errorf("mujoco: %s has no keyframe %q (keyframes: %s)", s.path, name,
			strings.Join(names, ", "))
	}
	if C.rd_reset_key(s.c, C.int(key)) != 0 {
		return s.fail("reset to keyframe " + name)
	}
	return nil
}

// Forward runs mj_forward: positions, velocities, forces and sensors from the current state,
// without advancing time.
func (s *Sim) Forward() error {
	if s.c == nil {
		return ErrClosed
	}
	if C.rd_forward(s.c) != 0 {
		return s.fail("forward")
	}
	return nil
}

// Step advances the simulation by one timestep (mj_step) using the current Ctrl and
// QfrcApplied.
func (s *Sim) Step() error {
	if s.c == nil {
		return ErrClosed
	}
	if C.rd_step(s.c) != 0 {
		return s.fail("step")
	}
	return nil
}

// StepN runs n full steps (mj_step) in one call into C, for stepping with no control in
// between (settling a scene, fast-forwarding).
func (s *Sim) StepN(n int) error {
	if s.c == nil {
		return ErrClosed
	}
	if n > 0 && C.rd_step_n(s.c, C.int(n)) != 0 {
		return s.fail("step")
	}
	return nil
}

// Advance runs n split steps (Step2 then Step1, so the state afterwards is fully
// evaluated for a controller to read) and then, if gravity is not nil, GravityForce into
// it: one call into C for a whole control tick. gravity must be nil or of length NV.
func (s *Sim) Advance(n int, gravity []float64) error {
	if s.c == nil {
		return ErrClosed
	}
	var g *C.double
	if gravity != nil {
		if len(gravity) != s.nv {
			panic(fmt.Sprintf("mujoco: Advance: len(gravity) = %d, want NV = %d", len(gravity), s.nv))
		}
		if s.nv > 0 {
			g = (*C.double)(unsafe.Pointer(&gravity[0]))
		}
	}
	if C.rd_advance(s.c, C.int(n), g) != 0 {
		return s.fail("step")
	}
	return nil
}

// Step1 runs the first half of a step (mj_step1: positions and velocities, including
// QfrcBias and sensors that do not depend on forces). Set Ctrl, then call Step2.
func (s *Sim) Step1() error {
	if s.c == nil {
		return ErrClosed
	}
	if C.rd_step1(s.c) != 0 {
		return s.fail("step1")
	}
	return nil
}

// Step2 finishes a step started by Step1 (mj_step2: actuation, acceleration, integration).
func (s *Sim) Step2() error {
	if s.c == nil {
		return ErrClosed
	}
	if C.rd_step2(s.c) != 0 {
		return s.fail("step2")
	}
	return nil
}

// Kinematics updates body, site and camera poses and the quantities JacSite needs
// (mj_kinematics and mj_comPos) from Qpos, without dynamics.
func (s *Sim) Kinematics() error {
	if s.c == nil {
		return ErrClosed
	}
	if C.rd_kinematics(s.c) != 0 {
		return s.fail("kinematics")
	}
	return nil
}

// SetTime sets the simulation clock (mjData.time, seconds): for a Sim that mirrors another
// one's state for rendering, so its camera frames carry the mirrored time.
func (s *Sim) SetTime(t float64) {
	if s.c != nil {
		s.c.d.time = C.mjtNum(t)
	}
}

// Qpos is a view of mjData.qpos (length NQ). Writes take effect at the next Forward/Step.
func (s *Sim) Qpos() []float64 { return s.qpos }

// Qvel is a view of mjData.qvel (length NV).
func (s *Sim) Qvel() []float64 { return s.qvel }

// Qacc is a view of mjData.qacc (length NV).
func (s *Sim) Qacc() []float64 { return s.qacc }

// Ctrl is a view of mjData.ctrl (length NU), in actuator order. MuJoCo clamps each value to
// the actuator's ctrlrange when the actuator is ctrllimited.
func (s *Sim) Ctrl() []float64 { return s.ctrl }

// QfrcApplied is a view of mjData.qfrc_applied (length NV): generalized forces added by the
// caller, kept across steps.
func (s *Sim) QfrcApplied() []float64 { return s.qfrcApplied }

// QfrcBias is a view of mjData.qfrc_bias (length NV): Coriolis, centrifugal and gravity forces,
// C(q, qdot) qdot + g(q), as of the last Forward/Step1/Step.
func (s *Sim) QfrcBias() []float64 { return s.qfrcBias }

// QfrcActuator is a view of mjData.qfrc_actuator (length NV).
func (s *Sim) QfrcActuator() []float64 { return s.qfrcActuator }

// SensorData is a view of mjData.sensordata (length NSensorData); see SensorAdr.
func (s *Sim) SensorData() []float64 { return s.sensordata }

// GravityForce writes the generalized gravity force g(q) to dst, which must have length NV.
// It is the gravity part of QfrcBias with the same sign: the joint torques that hold the
// system still against gravity, so QfrcBias = GravityForce + Coriolis/centrifugal terms. It
// uses the positions of the last Forward/Step1/Step/Kinematics and leaves mjData unchanged.
func (s *Sim) GravityForce(dst []float64) error {
	if s.c == nil {
		return ErrClosed
	}
	if len(dst) != s.nv {
		panic(fmt.Sprintf("mujoco: GravityForce: len(dst) = %d, want NV = %d", len(dst), s.nv))
	}
	if s.nv == 0 {
		return nil
	}
	if C.rd_gravity(s.c, (*C.double)(unsafe.Pointer(&dst[0]))) != 0 {
		return s.fail("gravity force")
	}
	return nil
}

// cvel is a view of mjData.cvel (nbody x 6), for tests.
func (s *Sim) cvel() []float64 { return f64s(s.c.d.cvel, 6*int(s.c.m.nbody)) }

// testError raises mju_error(msg) through the same guard as Step, for tests.
func (s *Sim) testError(msg string) error {
	cmsg := C.CString(msg)
	defer C.free(unsafe.Pointer(cmsg))
	if C.rd_test_error(s.c, cmsg) != 0 {
		return s.fail("test")
	}
	return nil
}
