package system

import (
	"context"
	"fmt"
	"time"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/sim/task"
)

// TaskEpisodes runs seeded episodes of the simulated pick-and-place task (sim/task)
// through the daemon: it resets the scene between runs, ends each run when the task is
// done (success held, or the task's timeout), and keeps each step's reward/done/success.
// With an expert, the scripted expert drives the arm (daemon.Source); otherwise the
// launch file's policy does. Everything runs in the control loop's goroutine (lockstep).
type TaskEpisodes struct {
	s      *System
	task   *task.Task
	expert *task.Expert      // nil: the policy acts
	noise  *task.TargetNoise // DART noise on the expert's executed target (nil: none)
	clean  control.Pose      // the expert's own target at the last Act (the recorded action under noise)
	seed   int64

	ep    *task.Episode // the current episode (nil until running began)
	sig   task.Signal   // the last step's signal
	start task.Start
}

// NewTaskEpisodes binds the task to the launch file's simulated arm and installs the
// episode end (and the expert, with useExpert) in the system's Ports.
func (s *System) NewTaskEpisodes(useExpert bool, seed int64, noise *task.TargetNoise) (*TaskEpisodes, error) {
	w := s
	if w.SimArm == nil {
		return nil, fmt.Errorf("the pick-and-place task needs the embedded simulator (arm.driver: sim)")
	}
	tk, err := task.New(w.SimArm, task.Config{})
	if err != nil {
		return nil, fmt.Errorf("%w (use a launch file whose arm.model is sim/models/%s, such as launch/pickplace.yaml)", err, task.ModelFile)
	}
	e := &TaskEpisodes{s: s, task: tk, seed: seed, noise: noise}
	if noise != nil && !useExpert {
		return nil, fmt.Errorf("expert noise without --source expert: only the scripted expert's target is perturbed")
	}
	if useExpert {
		if w.Ports.Policy != nil {
			return nil, fmt.Errorf("--source expert with a policy in the launch file: remove the policy section or use --source policy")
		}
		cfg, err := tk.ExpertConfig()
		if err != nil {
			return nil, err
		}
		if e.expert, err = task.NewExpert(cfg); err != nil {
			return nil, err
		}
		w.Ports.Source = e
		if noise != nil {
			w.Ports.Source = dartSource{e}
		}
	} else if w.Ports.Policy == nil {
		return nil, fmt.Errorf("--source policy but the launch file has no policy section")
	}
	w.Ports.EndWhen = e.endWhen
	return e, nil
}

// Reset starts episode i: the scene at its keyframe with the cube drawn from seed+i, the
// simulation clock carried on (camera frames and the control clock stay monotonic). What
// an episode draws depends on its seed alone, not on the episodes before it: every camera
// renders the new scene at once (in lockstep; in real time its next frame is due at once),
// so that the first observation does not show the previous episode's scene, and the
// cameras' noise, the policy's noise and the steering stage's generators restart from the
// episode's seed (ReseedEpisode).
func (e *TaskEpisodes) Reset(i int) error {
	arm := e.s.SimArm
	now := arm.Now()
	seed := e.seed + int64(i)
	st, err := e.task.Reset(seed)
	if err != nil {
		return err
	}
	arm.Sim().SetTime(now.Seconds())
	e.s.ReseedEpisode(seed)
	if err := e.s.restartFeeds(now); err != nil {
		return err
	}
	e.start, e.ep, e.sig = st, nil, task.Signal{}
	if e.expert != nil {
		e.expert.Reset()
	}
	if e.noise != nil {
		e.noise.Reset()
	}
	return nil
}

// Environment writes the cube's pose (observation.environment_state, task.EnvNames'
// layout); called from the control loop's goroutine.
func (e *TaskEpisodes) Environment(dst []float32) { task.EnvValues(dst, e.task.CubePose()) }

// Signal is the last step's reward, done and success.
func (e *TaskEpisodes) Signal() task.Signal { return e.sig }

// Episode is the episode under way or just ended (nil before the first running step).
func (e *TaskEpisodes) Episode() *task.Episode { return e.ep }

// Task is the pick-and-place task on the simulated arm.
func (e *TaskEpisodes) Task() *task.Task { return e.task }

// Seed is the seed of episode i.
func (e *TaskEpisodes) Seed(i int) int64 { return e.seed + int64(i) }

// endWhen is daemon.Ports.EndWhen: it scores the step and ends the run when the episode is done.
func (e *TaskEpisodes) endWhen(now time.Duration) bool {
	if e.ep == nil {
		e.ep = e.task.NewEpisode(now)
	}
	e.sig = e.ep.Update(now, e.task.Evaluate())
	return e.sig.Done
}

// Act is daemon.Source: the scripted expert on the simulator's privileged state.
func (e *TaskEpisodes) Act(now time.Duration, _ *drivers.State, _ control.Pose) (control.Pose, float64, bool) {
	tgt, w := e.expert.Act(now, e.task.Privileged())
	e.clean = tgt
	if e.noise != nil {
		tgt = e.noise.Apply(now, e.expert.Phase(), tgt)
	}
	return tgt, w, false
}

// dartSource is the expert with DART noise: it executes the perturbed target and labels
// each recorded step with the expert's clean one (daemon.Labeler).
type dartSource struct{ *TaskEpisodes }

// Label is daemon.Labeler: the expert's target at the last Act, before the noise.
func (s dartSource) Label() control.Pose { return s.clean }

// ReseedEpisode restarts every generator an episode draws from (the simulated cameras'
// noise, the policy's sampling noise, the steering stage's) from the episode's seed. The
// daemon must not be running.
func (s *System) ReseedEpisode(seed int64) {
	for _, c := range s.simCams {
		c.Reseed(uint64(seed))
	}
	if pp := s.Ports.Policy; pp != nil {
		if pp.Steering != nil {
			pp.Steering.Reseed(uint64(seed))
		} else {
			pp.Policy.Reseed(uint64(seed))
		}
	}
}

// restartFeeds makes every simulated camera's next frame due at now; in lockstep it
// renders them at once (the stepping goroutine renders; the daemon is not running).
func (s *System) restartFeeds(now time.Duration) error {
	for _, f := range s.Feeds {
		f.Restart(now)
		if s.File.Mode != launch.ModeLockstep || f.Latest == nil {
			continue
		}
		if f.Due(now) {
			if err := f.Latest.Step(context.Background()); err != nil {
				return fmt.Errorf("camera %s: %w", f.Latest.Name(), err)
			}
		}
	}
	return nil
}
