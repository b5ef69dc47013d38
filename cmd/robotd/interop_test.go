package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/robotd/robotd/drivers/ros/rostest"
	"github.com/robotd/robotd/system"
)

// The interop tests run `robotd run --launch launch/ros.yaml`, the shipped file unchanged,
// against tools/franka_sim: an independent Franka-like ros_control arm in rospy that shares
// no code with robotd (1 kHz JointState with Panda joint names and finger joints, a
// JointGroupEffortController that applies the last command forever, datasheet limits with
// hard stops, a 640x480 rgb8 wrist camera). The arm reports what happened to it (peak
// speeds, limit violations, hard-stop hits, torque clips, the last command, a trace of its
// speed) in a JSON file; the tests judge robotd by that report, not by robotd's own word.
// With $ROBOTD_INTEROP_REPORTS naming a directory, each arm's last report is copied there
// (the policy and frozen-arm runs keep --history: the arm's every step around its first
// velocity violation).

// stillSpeed is "the arm stays still": every joint below this speed (rad/s) ...
const stillSpeed = 0.01

// ... over this long, from the moment robotd has exited.
const stillFor = 2 * time.Second

// frankaSim is the Python script of the independent arm, from cmd/robotd.
const frankaSim = "../../tools/franka_sim/franka_sim.py"

// franka is a running tools/franka_sim.
type franka struct {
	cmd    *exec.Cmd
	report string // its --report file
	out    syncBuffer
	done   chan struct{}
}

// frankaReport is the part of franka_sim's JSON report the tests read (per joint in
// panda_joint1..7 order).
type frankaReport struct {
	WrittenAt     float64   `json:"written_at"`
	Reason        string    `json:"reason"`
	Q             []float64 `json:"q"`
	QMinSeen      []float64 `json:"q_min_seen"`
	QMaxSeen      []float64 `json:"q_max_seen"`
	MaxVelocity   []float64 `json:"max_abs_velocity"`
	MaxVelocityAt []float64 `json:"max_abs_velocity_at"`
	VelViolations []int     `json:"velocity_limit_violations"`
	// StaleViolations are the violations under a command older than 20 ms (robotd's
	// commands were not reaching the arm); FirstViolation the first violating step.
	StaleViolations []int `json:"velocity_limit_violations_stale_command"`
	FirstViolation  *struct {
		At           float64 `json:"at"`
		Joint        int     `json:"joint"`
		Speed        float64 `json:"speed"`
		Command      float64 `json:"command"`
		CommandAgeMs float64 `json:"command_age_ms"`
		// SinceStaleMs is how long since a stale command was last in force (-1: never).
		SinceStaleMs float64 `json:"since_stale_command_ms"`
	} `json:"first_velocity_violation"`
	// CommReflexes counts the arm's own stalls over 20 ms (its loop is the FCI client:
	// a Franka stops with communication_constraints_violation), each leaving it at rest.
	CommReflexes int            `json:"communication_reflexes"`
	CommReflexAt []float64      `json:"communication_reflex_at"`
	HardStopHits []int          `json:"hard_stop_hits"`
	CameraFrames int            `json:"camera_frames"`
	Published    int            `json:"published"`
	MaxGapMs     float64        `json:"max_gap_ms"`
	GapsOverMs   map[string]int `json:"gaps_over_ms"`
	Stalls       int            `json:"stalls"`
	Commands     struct {
		Received        int            `json:"received"`
		Rejected        int            `json:"rejected"`
		LastAt          float64        `json:"last_at"`
		Last            []float64      `json:"last"`
		TorqueClips     []int          `json:"torque_clips"`
		MaxAbsTorque    []float64      `json:"max_abs_torque"`
		MaxTorqueChange []float64      `json:"max_torque_change"`
		MaxGapMs        float64        `json:"max_gap_ms"`
		GapsOverMs      map[string]int `json:"gaps_over_ms"`
		MaxAgeMs        float64        `json:"max_age_ms"`
	} `json:"commands"`
	SpeedTrace struct {
		Window   float64   `json:"window_s"`
		End      []float64 `json:"end"`
		MaxSpeed []float64 `json:"max_speed"`
	} `json:"speed_trace"`
}

// interopSummary is the part of robotd run's --summary-json these tests read.
type interopSummary struct {
	runSummary
	PeakSpeed      float64   `json:"peak_joint_speed"`
	PeakTorqueStep []float64 `json:"peak_torque_step_nm"`
}

// startFranka starts tools/franka_sim on m with args and waits until it has published its
// first 200 joint states (its "started" report). It is killed at cleanup if still running.
func startFranka(t *testing.T, m *rostest.Master, args ...string) *franka {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import rospy, sensor_msgs.msg, std_msgs.msg").Run(); err != nil {
		t.Skipf("Debian's rospy is not installed for /usr/bin/python3 (run scripts/setup.sh): %v", err)
	}
	f := &franka{report: filepath.Join(t.TempDir(), "franka.json"), done: make(chan struct{})}
	f.cmd = m.Command("/usr/bin/python3", append([]string{frankaSim, "--report", f.report}, args...)...)
	f.cmd.Stdout, f.cmd.Stderr = &f.out, &f.out
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { f.cmd.Wait(); close(f.done) }()
	t.Cleanup(func() {
		f.cmd.Process.Signal(syscall.SIGCONT)
		f.cmd.Process.Kill()
		<-f.done
		if dir := os.Getenv("ROBOTD_INTEROP_REPORTS"); dir != "" {
			if data, err := os.ReadFile(f.report); err == nil {
				name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
				os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.json", name, time.Now().UnixNano())), data, 0o644)
			}
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if r, err := f.read(); err == nil && r.WrittenAt > 0 {
			return f
		}
		select {
		case <-f.done:
			t.Fatalf("franka_sim %s exited before it published: %v\n%s", strings.Join(args, " "), f.cmd.ProcessState, f.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("franka_sim published no joint states within 60 s\n%s", f.out.String())
		}
	}
}

func (f *franka) read() (frankaReport, error) {
	var r frankaReport
	data, err := os.ReadFile(f.report)
	if err == nil {
		err = json.Unmarshal(data, &r)
	}
	return r, err
}

// snapshot asks the running arm for its report (SIGUSR1) and returns it.
func (f *franka) snapshot(t *testing.T) frankaReport {
	t.Helper()
	asked := float64(time.Now().UnixNano()) / 1e9
	if err := f.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatalf("franka_sim: %v\n%s", err, f.out.String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, err := f.read(); err == nil && r.WrittenAt >= asked {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("franka_sim wrote no report within 30 s of SIGUSR1\n%s", f.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// maxSpeed is the largest joint speed in the trace's windows that lie within [from, to],
// and how many windows that was.
func (r frankaReport) maxSpeed(from, to time.Time) (v float64, windows int) {
	a, b := float64(from.UnixNano())/1e9, float64(to.UnixNano())/1e9
	for i, end := range r.SpeedTrace.End {
		if end-r.SpeedTrace.Window >= a && end <= b {
			v = math.Max(v, r.SpeedTrace.MaxSpeed[i])
			windows++
		}
	}
	return v, windows
}

// assertStill waits until stillFor after since and checks the arm's speed trace over
// [since, since+stillFor]: every joint below stillSpeed. It returns the report.
func (f *franka) assertStill(t *testing.T, since time.Time, what string) frankaReport {
	t.Helper()
	time.Sleep(time.Until(since.Add(stillFor + 100*time.Millisecond)))
	r := f.snapshot(t)
	v, n := r.maxSpeed(since, since.Add(stillFor))
	want := int(stillFor.Seconds()/r.SpeedTrace.Window) * 3 / 4
	switch {
	case n < want:
		t.Errorf("%s: the arm's speed trace has %d windows of %v s over the %v after, want >= %d (the arm stalled?)", what, n, r.SpeedTrace.Window, stillFor, want)
	case v >= stillSpeed:
		t.Errorf("%s: the arm moves at up to %.4f rad/s over the %v after, want < %v (position now %.3f)", what, v, stillFor, stillSpeed, r.Q)
	default:
		t.Logf("%s: the arm is still: at most %.5f rad/s over the %v after", what, v, stillFor)
	}
	return r
}

// assertHold checks that the last command the arm applies (forever, as ros_control does)
// is robotd's hold for an arm that compensates gravity itself: zero effort.
func assertHold(t *testing.T, r frankaReport) {
	t.Helper()
	if r.Commands.Received == 0 {
		return
	}
	for i, v := range r.Commands.Last {
		if math.Abs(v) > 1e-9 {
			t.Errorf("the arm is left with the command %.4f Nm (joint %d %.4g Nm), want the hold: zero effort", r.Commands.Last, i+1, v)
			return
		}
	}
}

// assertWithinLimits checks the arm's counters over the whole run: no velocity over the
// datasheet limits, no hard stop reached, no command clipped to the torque limits.
func assertWithinLimits(t *testing.T, r frankaReport, events ...event) {
	t.Helper()
	t.Logf("arm: peak speed per joint %.3f rad/s; largest change between two commands %.3f Nm; peak torque %.2f Nm; %d commands (%d rejected), largest gap between two %.1f ms (over 5/10/20/50 ms: %v), oldest command in force %.1f ms; joint states: largest gap %.1f ms (over 5/10/20/50 ms: %v); the arm's stalls over 20 ms (communication reflexes) %d at %s",
		r.MaxVelocity, r.Commands.MaxTorqueChange, r.Commands.MaxAbsTorque, r.Commands.Received, r.Commands.Rejected, r.Commands.MaxGapMs, r.Commands.GapsOverMs, r.Commands.MaxAgeMs, r.MaxGapMs, r.GapsOverMs, r.CommReflexes, clock(r.CommReflexAt))
	if total(r.VelViolations) != 0 {
		t.Errorf("velocity over the Panda's limits: ticks per joint %v (peak %.3f rad/s at %s); %s", r.VelViolations, r.MaxVelocity, clock(r.MaxVelocityAt), r.violationCause(events...))
	}
	if total(r.HardStopHits) != 0 {
		t.Errorf("hard stops hit per joint %v (position now %.3f)", r.HardStopHits, r.Q)
	}
	if total(r.Commands.TorqueClips) != 0 {
		t.Errorf("commands over the Panda's torque limits, per joint %v (peak %.2f Nm)", r.Commands.TorqueClips, r.Commands.MaxAbsTorque)
	}
	if r.Commands.Rejected != 0 {
		t.Errorf("%d commands rejected by the JointGroupEffortController (not 7 finite values)", r.Commands.Rejected)
	}
	// robotd bounds the torque change at 1 Nm per 1 ms tick; commands that a loaded
	// machine coalesces on the way arrive as bigger steps (11 Nm after a 20 ms gap was
	// seen), so the bound at the arm is loose: 10 Nm plus 1 Nm per ms of the largest gap
	// between commands. It catches a spring force switched on in one step (60-77 Nm
	// before the safety layer bounded the walls).
	bound := 10 + r.Commands.MaxGapMs
	for i, d := range r.Commands.MaxTorqueChange {
		if d > bound {
			t.Errorf("joint %d: the command changed by %.2f Nm between two consecutive commands, want <= %.1f (1 Nm per tick, coalesced over the largest gap)", i+1, d, bound)
		}
	}
}

// clock formats Unix times (s) as wall-clock times of day, to set them beside the log's.
func clock(ts []float64) string {
	s := make([]string, len(ts))
	for i, v := range ts {
		s[i] = time.Unix(0, int64(v*1e9)).UTC().Format("15:04:05.000")
	}
	return strings.Join(s, " ")
}

// event is a named moment of a test (robotd exited, the arm froze), to place the arm's
// first velocity violation beside.
type event struct {
	what string
	at   time.Time
}

// staleCommand is the age (ms) from which the command an arm applies is no longer
// robotd's answer to the state it moves in (franka_sim's STALE_COMMAND).
const staleCommand = 20

// violationCause says where the arm's first velocity violation came from, from the arm's
// own report: when (beside the test's events), under which command and how old it was.
// After an event named "... exited", a command that came before it is the one robotd
// left. Otherwise a command older than staleCommand means robotd's commands were not reaching the arm
// (its command path stalled while the arm kept moving under an old torque); a fresh one,
// that robotd's control itself drove the joint over its limit; none, that robotd never
// commanded the arm.
func (r frankaReport) violationCause(events ...event) string {
	v := r.FirstViolation
	if v == nil {
		return "the arm reported no first violation"
	}
	at := time.Unix(0, int64(v.At*1e9))
	var when []string
	var exited time.Time // the last exit of robotd before the violation
	for _, e := range events {
		if strings.Contains(e.what, "exited") && e.at.Before(at) && e.at.After(exited) {
			exited = e.at
		}
		if !e.at.IsZero() {
			d := at.Sub(e.at).Round(time.Millisecond)
			if d < 0 {
				when = append(when, fmt.Sprintf("%v before %s", -d, e.what))
			} else {
				when = append(when, fmt.Sprintf("%v after %s", d, e.what))
			}
		}
	}
	arrived := at.Add(-time.Duration(v.CommandAgeMs * float64(time.Millisecond)))
	var cause string
	switch {
	case v.CommandAgeMs < 0:
		cause = "before robotd's first command"
	case !exited.IsZero() && arrived.Before(exited.Add(50*time.Millisecond)):
		cause = fmt.Sprintf("after robotd exited, under the last command it left (%.0f ms old)", v.CommandAgeMs)
	case v.CommandAgeMs > staleCommand:
		cause = fmt.Sprintf("under a command %.0f ms old: robotd's commands were not reaching the arm (its command path stalled; the arm's largest command age %.0f ms, gaps over 20/50 ms %d/%d)",
			v.CommandAgeMs, r.Commands.MaxAgeMs, r.Commands.GapsOverMs["20"], r.Commands.GapsOverMs["50"])
	case v.SinceStaleMs >= 0 && v.SinceStaleMs < 500:
		cause = fmt.Sprintf("under a fresh command (%.1f ms old) %.0f ms after robotd's commands had stopped reaching the arm: the arm had moved open-loop (into a hard stop, say) and robotd's next commands drove the joint over its limit",
			v.CommandAgeMs, v.SinceStaleMs)
	default:
		cause = fmt.Sprintf("under a fresh command (%.1f ms old): robotd's control drove the joint over its limit", v.CommandAgeMs)
	}
	return fmt.Sprintf("first: joint %d at %.3f rad/s at %s (%s), command %.2f Nm, %s; of the ticks over the limit %v, %v under commands older than %d ms; the arm's own stalls over 20 ms (communication reflexes): %d",
		v.Joint, v.Speed, at.UTC().Format("15:04:05.000"), strings.Join(when, ", "), v.Command, cause, r.VelViolations, r.StaleViolations, staleCommand, r.CommReflexes)
}

func total(v []int) (n int) {
	for _, x := range v {
		n += x
	}
	return n
}

// runROSYAML starts robotd run with the shipped launch/ros.yaml against the test's master
// ($ROS_MASTER_URI), telemetry on a loopback port, plus args.
func runROSYAML(t *testing.T, summary string, args ...string) *proc {
	t.Helper()
	return startRobotd(t, append([]string{"run", "--launch", "launch/ros.yaml", "--listen", "127.0.0.1:0", "--summary-json", summary}, args...)...)
}

func readInteropSummary(t *testing.T, path string) interopSummary {
	t.Helper()
	return readSummaryAs[interopSummary](t, path)
}

// waitExit waits for robotd to exit with want, failing the test otherwise (with the arm's
// side of the story), and returns when it exited.
func waitExit(t *testing.T, p *proc, f *franka, want int, timeout time.Duration, what string) time.Time {
	t.Helper()
	code := p.wait(t, timeout)
	at := time.Now()
	if code != want {
		t.Fatalf("%s: robotd exit %d, want %d; %s\nstdout:\n%s\nstderr:\n%s", what, code, want, f.publisher(t), p.stdout.String(), p.stderr.String())
	}
	return at
}

// publisher describes the arm's JointState publishing so far, to tell a stale-state
// fault that the arm caused (a gap over the limit) from one on robotd's receiving side.
func (f *franka) publisher(t *testing.T) string {
	t.Helper()
	r := f.snapshot(t)
	var stalls []string
	for _, l := range strings.Split(f.out.String(), "\n") {
		if strings.Contains(l, "woke") {
			stalls = append(stalls, l)
		}
	}
	return fmt.Sprintf("the arm published %d joint states, its loop's largest gap %.1f ms (gaps over 5/10/20/50 ms: %v); it received %d commands, largest gap %.1f ms (over 5/10/20/50 ms: %v); its stalls:\n%s",
		r.Published, r.MaxGapMs, r.GapsOverMs, r.Commands.Received, r.Commands.MaxGapMs, r.Commands.GapsOverMs, strings.Join(stalls, "\n"))
}

// running fails the test when robotd has already exited (a fault before the event the
// test is about to cause would make the rest meaningless).
func running(t *testing.T, p *proc, f *franka, before string) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("robotd exited (%v) before %s; %s\nstdout:\n%s\nstderr:\n%s", err, before, f.publisher(t), p.stdout.String(), p.stderr.String())
	default:
	}
}

// logSummary logs robotd's summary and checks the torque steps robotd reports.
func logSummary(t *testing.T, s interopSummary) {
	t.Helper()
	fault := "none"
	if s.Fault != nil {
		fault = s.Fault.Kind + ": " + s.Fault.Message
	}
	t.Logf("robotd: final %s, fault %s, %d ticks, %d inferences, peak joint speed %.3f rad/s, final %.4f rad/s, peak torque step %.3f Nm, watchdogs %v",
		s.Final, fault, s.Ticks, s.Inference.N, s.PeakSpeed, s.JointVel, s.PeakTorqueStep, s.Watchdogs)
	for i, d := range s.PeakTorqueStep {
		if d > 1+1e-6 {
			t.Errorf("robotd's summary: joint %d's torque command changed by %.3f Nm in one tick, want <= 1 (control.max_torque_rate 1000 Nm/s at 1 kHz)", i+1, d)
		}
	}
}

// TestInteropFranka runs robotd with launch/ros.yaml against the independent arm: it takes
// over and follows the policy within the Panda's limits, stops on every kind of request,
// faults cleanly when the robot freezes or restarts, refuses joint states without
// velocities, and after every exit the arm stays still (< 0.01 rad/s over 2 s) under the
// command robotd left on it.
func TestInteropFranka(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the interop tests run robotd against a rospy arm for about two minutes")
	}
	robotdBinary(t) // built before any arm runs: the build loads both cores for a minute
	m := rosMaster(t)
	dir := t.TempDir()
	n := 0
	summary := func() string { n++; return filepath.Join(dir, fmt.Sprintf("run%d.json", n)) }

	// 1. The run: robotd takes the arm, the policy moves it (camera frames over ROS,
	// inference), the duration ends the run with exit 0; within the limits all along,
	// still afterwards.
	t.Run("policy", func(t *testing.T) {
		f := startFranka(t, m, "--history", "10")
		sum := summary()
		p := runROSYAML(t, sum, "--duration", "6s")
		exit := waitExit(t, p, f, 0, 90*time.Second, "--duration 6s")
		s := readInteropSummary(t, sum)
		logSummary(t, s)
		r := f.assertStill(t, exit, "after the run")
		assertWithinLimits(t, r, event{"robotd exited", exit})
		assertHold(t, r)
		if s.Final != "idle" || s.Fault != nil || s.SafeStops != 0 {
			t.Errorf("summary: final %s, fault %+v, %d safe stops: want idle, no fault", s.Final, s.Fault, s.SafeStops)
		}
		if s.Inference.N == 0 {
			t.Errorf("the policy never ran (0 inferences; the arm's camera published %d frames)\n%s", r.CameraFrames, p.stderr.String())
		}
		if r.Commands.Received < 1000 {
			t.Errorf("the arm received %d commands, want > 1000 (robotd commands it at 1 kHz for 6 s)", r.Commands.Received)
		}
		var moved float64
		for i := range r.QMaxSeen {
			moved = math.Max(moved, r.QMaxSeen[i]-r.QMinSeen[i])
		}
		t.Logf("the arm moved up to %.3f rad in a joint", moved)
		if s.Inference.N > 0 && moved < 0.01 {
			t.Errorf("the policy ran %d times but no joint moved more than %.4f rad", s.Inference.N, moved)
		}
	})

	// 2. Stop requests from ROS peers: /robotd/stop ramps to a hold and ends the run (exit
	// 0); /robotd/stop_now is the safe stop (exit 3, fault stop_now). The arm is still after
	// both.
	for _, c := range []struct {
		topic, final string
		code         int
	}{
		{"/robotd/stop", "idle", 0},
		{"/robotd/stop_now", "faulted", system.ExitFault},
	} {
		t.Run("rostopic pub "+c.topic, func(t *testing.T) {
			f := startFranka(t, m)
			sum := summary()
			p := runROSYAML(t, sum, "--duration", "60s")
			waitReady(t, p)
			time.Sleep(time.Second) // the policy moves the arm
			running(t, p, f, "the stop request")
			m.MustRun(t, 30*time.Second, "rostopic", "pub", "-1", c.topic, "std_msgs/String", "data: 'interop'")
			exit := waitExit(t, p, f, c.code, 30*time.Second, "rostopic pub "+c.topic)
			s := readInteropSummary(t, sum)
			logSummary(t, s)
			if s.Final != c.final {
				t.Errorf("final state %s, want %s", s.Final, c.final)
			}
			if c.code == system.ExitFault && (s.Fault == nil || s.Fault.Kind != "stop_now") {
				t.Errorf("fault %+v, want stop_now", s.Fault)
			}
			r := f.assertStill(t, exit, "after "+c.topic)
			assertWithinLimits(t, r, event{"robotd exited", exit})
			assertHold(t, r)
		})
	}

	// 3. Signals: SIGINT and SIGTERM ramp to a hold (exit 0); a second SIGINT during the
	// ramp is the safe stop (exit 3).
	for _, c := range []struct {
		name string
		sigs []os.Signal
		code int
	}{
		{"SIGINT", []os.Signal{syscall.SIGINT}, 0},
		{"SIGTERM", []os.Signal{syscall.SIGTERM}, 0},
		{"double SIGINT", []os.Signal{syscall.SIGINT, syscall.SIGINT}, system.ExitFault},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := startFranka(t, m)
			sum := summary()
			p := runROSYAML(t, sum, "--duration", "60s")
			waitReady(t, p)
			time.Sleep(time.Second) // the policy moves the arm
			running(t, p, f, "the signal")
			for _, sig := range c.sigs {
				if err := p.cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				time.Sleep(50 * time.Millisecond) // inside the stop ramp
			}
			exit := waitExit(t, p, f, c.code, 30*time.Second, c.name)
			s := readInteropSummary(t, sum)
			logSummary(t, s)
			r := f.assertStill(t, exit, "after "+c.name)
			assertWithinLimits(t, r, event{"robotd exited", exit})
			assertHold(t, r)
		})
	}

	// 4a. The robot freezes (its process stopped, as a hung driver): no new joint state, so
	// robotd faults state_stale and exits 3 while the arm is frozen. A Franka whose control
	// process hangs stops itself after 20 missed 1 ms cycles (communication_constraints_
	// violation): franka_sim integrates 20 ms of the stall and is then at rest. When it
	// resumes it takes robotd's last commands from its socket and ends with the hold; from
	// 3.5 s after the resume it must stay still (the margin let a joint coasting at the
	// Panda's fastest 2.61 rad/s slow to 0.002 rad/s with the arm's friction).
	// A velocity violation is placed beside the freeze, robotd's exit and the resume, with
	// the age of the command the arm applied then (violationCause).
	t.Run("arm frozen", func(t *testing.T) {
		f := startFranka(t, m, "--history", "10")
		sum := summary()
		p := runROSYAML(t, sum, "--duration", "60s")
		waitReady(t, p)
		time.Sleep(time.Second) // the policy moves the arm
		running(t, p, f, "the arm froze")
		if err := f.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		frozen := time.Now()
		code := p.wait(t, 60*time.Second)
		exited := time.Since(frozen)
		if err := f.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		resumed := time.Now()
		s := readInteropSummary(t, sum)
		logSummary(t, s)
		t.Logf("robotd exited %v after the arm froze (froze %s, resumed %s)", exited.Round(time.Millisecond),
			frozen.UTC().Format("15:04:05.000"), resumed.UTC().Format("15:04:05.000"))
		if code != system.ExitFault || s.Fault == nil || s.Fault.Kind != "state_stale" {
			t.Errorf("exit %d, fault %+v: want %d and state_stale\nstderr:\n%s", code, s.Fault, system.ExitFault, p.stderr.String())
		}
		r := f.assertStill(t, resumed.Add(3500*time.Millisecond), "after the frozen arm resumed (+3.5 s)")
		assertHold(t, r)
		if total(r.Commands.TorqueClips) != 0 || total(r.VelViolations) != 0 {
			t.Errorf("the arm's limits: torque clips %v, velocity violations %v; %s", r.Commands.TorqueClips, r.VelViolations,
				r.violationCause(event{"the arm froze", frozen}, event{"robotd exited", frozen.Add(exited)}, event{"the arm resumed", resumed}))
		}
	})

	// 4b. The robot restarts (its process killed and started again, as a driver that
	// crashes and is relaunched): robotd faults state_stale (exit 3) and never puts a
	// torque on the new arm, which stays still; a new robotd run then takes the restarted
	// arm over and ends normally: robotd survives the robot restarting.
	t.Run("arm restarted", func(t *testing.T) {
		f := startFranka(t, m)
		sum := summary()
		p := runROSYAML(t, sum, "--duration", "60s")
		waitReady(t, p)
		time.Sleep(time.Second) // the policy moves the arm
		running(t, p, f, "the arm was killed")
		if err := f.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-f.done
		g := startFranka(t, m)
		exit := waitExit(t, p, g, system.ExitFault, 60*time.Second, "the arm killed and restarted")
		s := readInteropSummary(t, sum)
		logSummary(t, s)
		if s.Fault == nil || s.Fault.Kind != "state_stale" {
			t.Errorf("fault %+v, want state_stale", s.Fault)
		}
		r := g.assertStill(t, exit, "the restarted arm after robotd's exit")
		for i, v := range r.Commands.MaxAbsTorque {
			if v > 1e-9 {
				t.Errorf("robotd put %.3f Nm on joint %d of the restarted arm (commands computed for the old one)", v, i+1)
			}
		}
		sum2 := summary()
		p2 := runROSYAML(t, sum2, "--duration", "3s")
		exit2 := waitExit(t, p2, g, 0, 90*time.Second, "a new run on the restarted arm")
		s2 := readInteropSummary(t, sum2)
		logSummary(t, s2)
		r = g.assertStill(t, exit2, "after the new run")
		assertWithinLimits(t, r, event{"the first robotd exited", exit}, event{"the new run exited", exit2})
		assertHold(t, r)
		if r.Commands.Received < 500 {
			t.Errorf("the restarted arm received %d commands from the new run, want > 500", r.Commands.Received)
		}
	})

	// 5. Variants real drivers show: no finger joints, another joint order and no effort
	// array: the same run, the same limits. A JointState without velocities: robotd refuses
	// the arm, naming the topic and the missing field, and puts no torque on it.
	for _, args := range [][]string{{"--no-fingers"}, {"--shuffle", "--no-effort"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			f := startFranka(t, m, args...)
			sum := summary()
			p := runROSYAML(t, sum, "--duration", "3s")
			exit := waitExit(t, p, f, 0, 90*time.Second, strings.Join(args, " "))
			s := readInteropSummary(t, sum)
			logSummary(t, s)
			r := f.assertStill(t, exit, "after the run")
			assertWithinLimits(t, r, event{"robotd exited", exit})
			assertHold(t, r)
			if r.Commands.Received < 500 {
				t.Errorf("the arm received %d commands, want > 500", r.Commands.Received)
			}
		})
	}
	t.Run("--no-velocity", func(t *testing.T) {
		f := startFranka(t, m, "--no-velocity")
		sum := summary()
		p := runROSYAML(t, sum, "--duration", "3s")
		code := p.wait(t, 90*time.Second)
		exit := time.Now()
		stderr := p.stderr.String()
		t.Logf("robotd exit %d; stderr:\n%s", code, stderr)
		if code == 0 || code == system.ExitFault {
			t.Errorf("robotd exit %d on joint states without velocities, want it to refuse the arm (exit 1)", code)
		}
		if !strings.Contains(stderr, "/joint_states") || !strings.Contains(stderr, "velocit") {
			t.Errorf("robotd's error does not name the topic /joint_states and the missing velocity field")
		}
		r := f.assertStill(t, exit, "after robotd refused the arm")
		for i, v := range r.Commands.MaxAbsTorque {
			if v > 1e-9 {
				t.Errorf("robotd put %.3f Nm on joint %d of an arm whose velocities it cannot read", v, i+1)
			}
		}
		if total(r.VelViolations) != 0 || total(r.HardStopHits) != 0 {
			t.Errorf("velocity violations %v, hard-stop hits %v", r.VelViolations, r.HardStopHits)
		}
	})
}
