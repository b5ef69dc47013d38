package daemon

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/drivers"
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
	samples []Sample
}

func (l *sampleLog) Period() time.Duration { return l.period }

func (l *sampleLog) Record(s *Sample) bool {
	c := *s
	c.Q, c.DQ = append([]float64(nil), s.Q...), append([]float64(nil), s.DQ...)
	l.samples = append(l.samples, c)
	return true
}

// sourceDaemon is a lockstep daemon on r driven by src and recorded by log whose runs end
// 2 s after running begins; restart readies it for another run.
func (r *simRig) sourceDaemon(t *testing.T, src Source, log Recorder) (d *Daemon, restart func()) {
	t.Helper()
	var runStart time.Duration
	d, err := New(Config{Lockstep: true, Home: r.home}, Ports{
		Arm: r.arm, Robot: r.robot, Clock: r.arm.Now, Step: r.step, Source: src, Recorder: log,
		EndWhen: func(now time.Duration) bool {
			if runStart == 0 {
				runStart = now
			}
			return now-runStart >= 2*time.Second
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, func() { runStart = 0 }
}

// A scripted source drives the arm while a recorder samples it at 30 fps; EndWhen ends
// the episode after 2 s; the same daemon runs a second episode after the arm is put back.
// Each episode's samples are evenly spaced from the moment running began, carry the
// source's action as the target in force and the gripper command, and the arm follows.
func TestSourceRecordEpisodes(t *testing.T) {
	r := newSimRig(t)
	src := &lineSource{}
	log := &sampleLog{period: time.Second / 30}
	d, restart := r.sourceDaemon(t, src, log)
	var finals []mgl64.Vec3
	for ep := 0; ep < 2; ep++ {
		log.samples, src.begun = nil, false
		restart()
		if err := r.arm.SetJointPositions(r.home); err != nil {
			t.Fatal(err)
		}
		if err := d.Run(context.Background()); err != nil {
			t.Fatalf("episode %d: %v", ep, err)
		}
		if s := d.Summary(); s.Final != Idle {
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
	if d.m.recordDropped.Value() != 0 {
		t.Fatalf("%d samples dropped", d.m.recordDropped.Value())
	}
}

// A daemon with a policy runs again after Run returned: the second run homes, runs the
// policy (inferences grow) and ends idle.
func TestPolicyRerun(t *testing.T) {
	r := newSimRig(t)
	d := r.daemon(t, Config{Duration: time.Second}, r.policyPorts(t, nil))
	for run := 0; run < 2; run++ {
		before := d.m.inferences.Value()
		if err := r.arm.SetJointPositions(r.home); err != nil { // the next episode's start
			t.Fatal(err)
		}
		if err := d.Run(context.Background()); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if s := d.Summary(); s.Final != Idle || d.m.inferences.Value()-before < 2 {
			t.Fatalf("run %d: final %v, %d inferences", run, s.Final, d.m.inferences.Value()-before)
		}
	}
}

// A policy and a scripted source together are refused.
func TestPolicyAndSourceRefused(t *testing.T) {
	r := newSimRig(t)
	_, err := New(Config{Lockstep: true}, Ports{Arm: r.arm, Robot: r.robot, Clock: r.arm.Now, Step: r.step,
		Policy: r.policyPorts(t, nil), Source: &lineSource{}})
	if err == nil {
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
	r := newSimRig(t)
	src := &labeledSource{}
	log := &sampleLog{period: time.Second / 10}
	d, _ := r.sourceDaemon(t, src, log)
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
