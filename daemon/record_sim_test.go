package daemon_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/system"
)

// lineSource moves the tool 10 cm along +y at 10 cm/s from where running began, and
// closes the gripper to 5 cm between 0.7 s and 1.4 s.
type lineSource struct {
	t0    time.Duration
	start control.Pose
	begun bool
}

func (s *lineSource) at(t time.Duration) (control.Pose, float64) {
	u := min(t.Seconds(), 1)
	p := s.start
	p.Pos = p.Pos.Add(mgl64.Vec3{0, 0.1 * u, 0})
	w := 0.08
	if t >= 700*time.Millisecond && t < 1400*time.Millisecond {
		w = 0.05
	}
	return p, w
}

func (s *lineSource) Act(now time.Duration, st *drivers.State, tool control.Pose) (control.Pose, float64, bool) {
	if !s.begun {
		s.t0, s.start, s.begun = now, tool, true
	}
	p, w := s.at(now - s.t0)
	return p, w, false
}

// sampleLog is a Recorder keeping copies of what it gets.
type sampleLog struct {
	period  time.Duration
	samples []daemon.Sample
}

func (l *sampleLog) Period() time.Duration { return l.period }

func (l *sampleLog) Record(s *daemon.Sample) bool {
	c := *s
	c.Q, c.DQ = append([]float64(nil), s.Q...), append([]float64(nil), s.DQ...)
	l.samples = append(l.samples, c)
	return true
}

// sourceDaemon is a lockstep daemon on sys driven by src and recorded by log whose runs
// end 2 s after running begins; restart readies it for another run.
func sourceDaemon(t *testing.T, sys *system.System, src daemon.Source, log daemon.Recorder) (d *daemon.Daemon, restart func()) {
	t.Helper()
	var runStart time.Duration
	sys.Ports.Source, sys.Ports.Recorder = src, log
	sys.Ports.EndWhen = func(now time.Duration) bool {
		if runStart == 0 {
			runStart = now
		}
		return now-runStart >= 2*time.Second
	}
	return newDaemon(t, sys, nil), func() { runStart = 0 }
}

// A scripted source drives the arm while a recorder samples it at 30 fps; EndWhen ends
// the episode after 2 s; the same daemon runs a second episode after the arm is put back.
// Each episode's samples are evenly spaced from the moment running began, carry the
// source's action as the target in force and the gripper command, and the arm follows.
func TestSourceRecordEpisodes(t *testing.T) {
	sys := newSystem(t, false)
	src := &lineSource{}
	log := &sampleLog{period: time.Second / 30}
	d, restart := sourceDaemon(t, sys, src, log)
	var finals []mgl64.Vec3
	for ep := 0; ep < 2; ep++ {
		log.samples, src.begun = nil, false
		restart()
		if err := sys.SimArm.SetJointPositions(sys.Home); err != nil {
			t.Fatal(err)
		}
		if err := d.Run(context.Background()); err != nil {
			t.Fatalf("episode %d: %v", ep, err)
		}
		if s := d.Summary(); s.Final != daemon.Idle {
			t.Fatalf("episode %d ended %v", ep, s.Final)
		}
		n := len(log.samples)
		if n < 59 || n > 61 {
			t.Fatalf("episode %d: %d samples in 2 s at 30 fps", ep, n)
		}
		for i, s := range log.samples {
			rel := s.T - s.Episode
			if want := time.Duration(i) * log.period; rel < want || rel > want+time.Millisecond {
				t.Fatalf("episode %d sample %d at %v after running began, want %v (+1 tick)", ep, i, rel, want)
			}
			wantP, wantW := src.at(s.T - src.t0)
			if e := s.Target.Pos.Sub(wantP.Pos).Len(); e > 1e-12 {
				t.Fatalf("episode %d sample %d: target %v, the source said %v", ep, i, s.Target.Pos, wantP.Pos)
			}
			if s.GripperCommand != wantW || math.IsNaN(s.Gripper) {
				t.Fatalf("episode %d sample %d: gripper command %v (want %v), measured %v", ep, i, s.GripperCommand, wantW, s.Gripper)
			}
		}
		last := log.samples[n-1]
		if e := last.Tool.Pos.Sub(last.Target.Pos).Len(); e > 0.005 {
			t.Fatalf("episode %d: tool %.1f mm from the target at the end", ep, e*1e3)
		}
		if mid := log.samples[35]; mid.Gripper > 0.07 {
			t.Fatalf("episode %d: gripper %.3f m at 1.17 s, commanded 0.05", ep, mid.Gripper)
		}
		finals = append(finals, last.Tool.Pos)
	}
	if e := finals[0].Sub(finals[1]).Len(); e > 0.002 {
		t.Fatalf("the two episodes end %.2f mm apart", e*1e3)
	}
	if d.RecordDropped() != 0 {
		t.Fatalf("%d samples dropped", d.RecordDropped())
	}
}

// A daemon with a policy runs again after Run returned: the second run homes, runs the
// policy (inferences grow) and ends idle.
func TestPolicyRerun(t *testing.T) {
	sys := newSystem(t, true)
	d := newDaemon(t, sys, func(c *daemon.Config) { c.Duration = time.Second })
	for run := 0; run < 2; run++ {
		before := d.Inferences()
		if err := sys.SimArm.SetJointPositions(sys.Home); err != nil { // the next episode's start
			t.Fatal(err)
		}
		if err := d.Run(context.Background()); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if s := d.Summary(); s.Final != daemon.Idle || d.Inferences()-before < 2 {
			t.Fatalf("run %d: final %v, %d inferences", run, s.Final, d.Inferences()-before)
		}
	}
}

// A policy and a scripted source together are refused.
func TestPolicyAndSourceRefused(t *testing.T) {
	sys := newSystem(t, true)
	sys.Ports.Source = &lineSource{}
	if _, err := sys.DaemonWith(nil, func(c *daemon.Config) { c.Home = nil }); err == nil {
		t.Fatal("a daemon with both a policy and a source was built")
	}
}

// labeledSource executes lineSource's path shifted 2 cm in x and labels each step with
// the unshifted one (DART: the recorded action is the clean target).
type labeledSource struct {
	lineSource
	clean control.Pose
}

func (s *labeledSource) Act(now time.Duration, st *drivers.State, tool control.Pose) (control.Pose, float64, bool) {
	p, w, done := s.lineSource.Act(now, st, tool)
	s.clean = p
	p.Pos = p.Pos.Add(mgl64.Vec3{0.02, 0, 0})
	return p, w, done
}

func (s *labeledSource) Label() control.Pose { return s.clean }

// A Source that is a Labeler has its label recorded as the action while the arm follows
// the target it executes.
func TestSourceLabelIsRecorded(t *testing.T) {
	sys := newSystem(t, false)
	src := &labeledSource{}
	log := &sampleLog{period: time.Second / 10}
	d, _ := sourceDaemon(t, sys, src, log)
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := len(log.samples)
	if n < 19 {
		t.Fatalf("%d samples in 2 s at 10 fps", n)
	}
	for i, s := range log.samples {
		want, _ := src.at(s.T - src.t0)
		if e := s.Target.Pos.Sub(want.Pos).Len(); e > 1e-12 {
			t.Fatalf("sample %d: recorded %v, the label was %v", i, s.Target.Pos, want.Pos)
		}
	}
	// The arm went where it was sent: 2 cm off the recorded action in x.
	last := log.samples[n-1]
	if dx := last.Tool.Pos[0] - last.Target.Pos[0]; math.Abs(dx-0.02) > 0.004 {
		t.Fatalf("tool %.1f mm from the label in x at the end, executed 20 mm off", dx*1e3)
	}
}
