package main

import (
	"fmt"
	"time"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/sim/task"
)

// taskEpisodes runs seeded episodes of the simulated pick-and-place task (sim/task)
// through the daemon: it resets the scene between runs, ends each run when the task is
// done (success held, or the task's timeout), and keeps each step's reward/done/success.
// With an expert, the scripted expert drives the arm (daemon.Source); otherwise the
// launch file's policy does. Everything runs in the control loop's goroutine (lockstep).
type taskEpisodes struct {
	w      *wiring
	task   *task.Task
	expert *task.Expert      // nil: the policy acts
	noise  *task.TargetNoise // DART noise on the expert's executed target (nil: none)
	clean  control.Pose      // the expert's own target at the last Act (the recorded action under noise)
	seed   int64

	ep    *task.Episode // the current episode (nil until running began)
	sig   task.Signal   // the last step's signal
	start task.Start
}

// newTaskEpisodes binds the task to the launch file's simulated arm and installs the
// episode end (and the expert, with useExpert) in the daemon's ports.
func newTaskEpisodes(w *wiring, useExpert bool, seed int64, noise *task.TargetNoise) (*taskEpisodes, error) {
	if w.simArm == nil {
		return nil, fmt.Errorf("the pick-and-place task needs the embedded simulator (arm.driver: sim)")
	}
	tk, err := task.New(w.simArm, task.Config{})
	if err != nil {
		return nil, fmt.Errorf("%w (use a launch file whose arm.model is sim/models/%s, such as launch/pickplace.yaml)", err, task.ModelFile)
	}
	e := &taskEpisodes{w: w, task: tk, seed: seed, noise: noise}
	if noise != nil && !useExpert {
		return nil, fmt.Errorf("expert noise without --source expert: only the scripted expert's target is perturbed")
	}
	if useExpert {
		if w.ports.Policy != nil {
			return nil, fmt.Errorf("--source expert with a policy in the launch file: remove the policy section or use --source policy")
		}
		cfg, err := tk.ExpertConfig()
		if err != nil {
			return nil, err
		}
		if e.expert, err = task.NewExpert(cfg); err != nil {
			return nil, err
		}
		w.ports.Source = e
		if noise != nil {
			w.ports.Source = dartSource{e}
		}
	} else if w.ports.Policy == nil {
		return nil, fmt.Errorf("--source policy but the launch file has no policy section")
	}
	w.ports.EndWhen = e.endWhen
	return e, nil
}

// reset starts episode i: the scene at its keyframe with the cube drawn from seed+i, the
// simulation clock carried on (camera frames and the control clock stay monotonic).
func (e *taskEpisodes) reset(i int) error {
	arm := e.w.simArm
	now := arm.Now()
	st, err := e.task.Reset(e.seed + int64(i))
	if err != nil {
		return err
	}
	arm.Sim().SetTime(now.Seconds())
	e.start, e.ep, e.sig = st, nil, task.Signal{}
	if e.expert != nil {
		e.expert.Reset()
	}
	if e.noise != nil {
		e.noise.Reset()
	}
	return nil
}

// environment writes the cube's pose (observation.environment_state, envNames' layout);
// called from the control loop's goroutine.
func (e *taskEpisodes) environment(dst []float32) { envValues(dst, e.task.CubePose()) }

// endWhen is daemon.Ports.EndWhen: it scores the step and ends the run when the episode is done.
func (e *taskEpisodes) endWhen(now time.Duration) bool {
	if e.ep == nil {
		e.ep = e.task.NewEpisode(now)
	}
	e.sig = e.ep.Update(now, e.task.Evaluate())
	return e.sig.Done
}

// Act is daemon.Source: the scripted expert on the simulator's privileged state.
func (e *taskEpisodes) Act(now time.Duration, _ *drivers.State, _ control.Pose) (control.Pose, float64, bool) {
	tgt, w := e.expert.Act(now, e.task.Privileged())
	e.clean = tgt
	if e.noise != nil {
		tgt = e.noise.Apply(now, e.expert.Phase(), tgt)
	}
	return tgt, w, false
}

// dartSource is the expert with DART noise: it executes the perturbed target and labels
// each recorded step with the expert's clean one (daemon.Labeler).
type dartSource struct{ *taskEpisodes }

// Label is daemon.Labeler: the expert's target at the last Act, before the noise.
func (s dartSource) Label() control.Pose { return s.clean }
