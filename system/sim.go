package system

import (
	"context"
	"fmt"
	"time"

	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
)

// wireSim builds the embedded simulator's arm and cameras. Lockstep renders from the
// stepping Sim between ticks (reproducible); realtime renders from a mirror Sim on its
// own goroutine (the control loop never waits for it).
func (s *System) wireSim(scene sim.Scene) error {
	f := s.File
	arm, err := mujoco.NewArm(scene)
	if err != nil {
		return err
	}
	s.addCloser(arm.Close)
	s.Ports.Arm = arm
	s.Ports.ArmName = "arm.sim " + scene.Model
	s.SimArm = arm
	s.Ports.Clock = arm.Now
	if f.Control.Home != nil {
		s.Home = f.Control.Home
	} else {
		// The scene's home keyframe: the arm starts there, homing is immediate.
		st := drivers.NewState(arm.Info())
		if err := arm.ReadState(st); err != nil {
			return err
		}
		s.Home = st.Q
	}
	renderSim := arm.Sim()
	realtime := f.Mode == launch.ModeRealtime && len(f.Cameras) > 0
	if realtime {
		if renderSim, err = mujoco.Load(scene.Model); err != nil {
			return err
		}
		s.addCloser(renderSim.Close)
	}
	renderers := map[[2]int]*mujoco.Renderer{}
	for _, c := range f.Cameras {
		if c.Source != launch.SourceSim {
			return fmt.Errorf("camera %s: source %s with the sim driver: not supported (use sim cameras)", c.Name, c.Source)
		}
		size := [2]int{c.Width, c.Height}
		r := renderers[size]
		if r == nil {
			if r, err = mujoco.NewRenderer(renderSim, c.Width, c.Height); err != nil {
				return fmt.Errorf("camera %s: %w", c.Name, err)
			}
			renderers[size] = r
			s.addCloser(r.Close)
		}
		cam, err := mujoco.NewCamera(r, mujoco.CameraConfig{Camera: c.SimCamera, Name: c.Name, Noise: c.Noise, NoiseSeed: uint64(len(s.Feeds))})
		if err != nil {
			return fmt.Errorf("camera %s: %w", c.Name, err)
		}
		s.simCams = append(s.simCams, cam)
		l, err := perception.NewLatest(cam, freshness(f), arm.Now)
		if err != nil {
			return err
		}
		s.Feeds = append(s.Feeds, &mujoco.Feed{Latest: l, Every: time.Duration(float64(time.Second) / c.RateHz)})
	}
	if realtime {
		mr := mujoco.NewMirror(arm.Sim(), renderSim, s.Feeds)
		s.actors = append(s.actors, actor{"sim camera renderer", mr.Run})
		s.Ports.Step = func(d time.Duration) error {
			if _, err := arm.Tick(d); err != nil {
				return err
			}
			mr.Offer(arm.Now())
			return nil
		}
		return nil
	}
	// Rendering belongs to the control loop, which outlives a cancelled ctx (stop ramp).
	s.Ports.Step = mujoco.Stepper(context.Background(), arm, s.Feeds)
	return nil
}
