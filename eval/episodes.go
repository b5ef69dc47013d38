package eval

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/robotd/robotd/drivers"
	"github.com/robotd/robotd/drivers/ros"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/system"
	"github.com/robotd/robotd/telemetry"
)

// episodeSource is where the episodes come from: the embedded simulator's task in
// lockstep (simEpisodes) or a task served over ROS next to a ROS arm (rosEpisodes: robotd
// sim --launch launch/pickplace_ros.yaml, or any workcell that follows the task topics'
// convention in docs/task.md).
type episodeSource interface {
	// begin sets up episode i (the start of seed+i) and returns once the scene is there.
	begin(ctx context.Context, i int) error
	// outcome is the episode's result once its run has ended; ok is false when the run
	// ended before the task's done (a stop request).
	outcome(ctx context.Context) (Episode, bool, error)
}

// simEpisodes are the embedded simulator's task episodes (lockstep).
type simEpisodes struct {
	*system.TaskEpisodes
	i int
}

func (s *simEpisodes) begin(_ context.Context, i int) error { s.i = i; return s.Reset(i) }

func (s *simEpisodes) outcome(context.Context) (Episode, bool, error) {
	e := s.Episode()
	if e == nil || !e.Done {
		return Episode{}, false, nil
	}
	r := Episode{Seed: s.Seed(s.i), Success: e.Success, Duration: e.Duration.Seconds(), MaxLift: e.MaxLift, PlaceError: e.PlaceError}
	if e.Success {
		r.TimeToSuccess = e.TimeToSuccess.Seconds()
	}
	return r, true, nil
}

// rosEpisodeGuard ends an episode whose task never reports done (its status stopped
// arriving) this long after it began; the task's own timeout is 30 s.
const rosEpisodeGuard = 90 * time.Second

// rosResetTimeout bounds the wait for a reset's acknowledgement and the first frames after it.
const rosResetTimeout = 30 * time.Second

// rosEpisodes runs episodes of a task served over ROS (ros.TaskClient): begin resets the
// task to the episode's seed over ROS and waits for its acknowledgement and for camera
// frames of the new scene; the daemon's run ends when the task's status says done
// (endWhen, on the control loop: an atomic load).
type rosEpisodes struct {
	client *ros.TaskClient
	cams   []*perception.Latest
	clock  func() time.Duration
	seed   int64
	log    *slog.Logger

	i       int
	episode uint64        // the task's episode count acknowledging the reset
	t0      time.Duration // control-clock time of the first running tick (-1 before)
	guarded bool          // the run ended by rosEpisodeGuard
	resets  telemetry.Quantiles
	frames  telemetry.Quantiles // from the acknowledgement to every camera's first frame of the new scene
}

// newROSEpisodes connects to the launch file's task topics and installs the episode end
// in the system's ports; the task client is closed with the system.
func newROSEpisodes(ctx context.Context, s *system.System, seed int64) (*rosEpisodes, error) {
	f := s.File
	cctx, cancel := context.WithTimeout(ctx, f.Arm.ROS.ConnectTimeout)
	defer cancel()
	c, err := ros.DialTask(cctx, ros.TaskClientConfig{MasterAddress: f.Arm.ROS.MasterAddress, Node: f.Arm.ROS.Node + "_task", Namespace: f.Task.Namespace, Logger: s.Log})
	if err != nil {
		return nil, fmt.Errorf("task: %w", err)
	}
	s.OnClose(c.Close)
	e := &rosEpisodes{client: c, cams: s.Cameras, clock: s.Ports.Clock, seed: seed, log: s.Log, t0: -1}
	s.Ports.EndWhen = e.endWhen
	return e, nil
}

func (e *rosEpisodes) begin(ctx context.Context, i int) error {
	ctx, cancel := context.WithTimeout(ctx, rosResetTimeout)
	defer cancel()
	seed := e.seed + int64(i)
	t := time.Now()
	st, err := e.client.Reset(ctx, seed)
	if err != nil {
		return fmt.Errorf("eval: episode %d: %w (is robotd sim serving the task? robotd sim --launch launch/pickplace_ros.yaml)", i, err)
	}
	e.resets.Record(time.Since(t))
	e.i, e.episode, e.t0, e.guarded = i, st.Episode, -1, false
	// The policy's first observation must show the new scene: wait for a frame of every
	// camera captured after the reset (stamps and the control clock share ROS time).
	t = time.Now()
	after := time.Duration(st.Stamp.UnixNano())
	var fr perception.Frame
	for _, l := range e.cams {
		for {
			if err := l.Get(e.clock(), &fr); err == nil && fr.Time >= after {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("eval: episode %d: no frame of camera %s after the task's reset within %v", i, l.Name(), rosResetTimeout)
			case <-time.After(2 * time.Millisecond):
			}
		}
	}
	e.frames.Record(time.Since(t))
	return nil
}

// endWhen is daemon.Ports.EndWhen: the run ends when the task's status for this episode
// says done. It neither blocks nor allocates.
func (e *rosEpisodes) endWhen(now time.Duration) bool {
	if e.t0 < 0 {
		e.t0 = now
	}
	if st, _, ok := e.client.Status(); ok && st.Episode == e.episode && st.Done {
		return true
	}
	if now-e.t0 > rosEpisodeGuard {
		e.guarded = true
		return true
	}
	return false
}

func (e *rosEpisodes) outcome(ctx context.Context) (Episode, bool, error) {
	st, _, ok := e.client.Status()
	if e.guarded {
		return Episode{}, false, fmt.Errorf("eval: episode %d (seed %d): no done from the task within %v (last status %+v)", e.i, e.seed+int64(e.i), rosEpisodeGuard, st)
	}
	if !ok || st.Episode != e.episode || !st.Done {
		return Episode{}, false, nil
	}
	r := Episode{Seed: st.Seed, Success: st.Success, Duration: st.Elapsed.Seconds()}
	if st.Success {
		r.TimeToSuccess = st.TimeToSuccess.Seconds()
	}
	// The debug score of the episode's end (its own topic: it may trail the status).
	deadline := time.Now().Add(time.Second)
	for {
		if sc, ok := e.client.Score(); ok && sc.Episode == e.episode && sc.Done {
			r.MaxLift, r.PlaceError = sc.MaxLift, sc.PlaceError
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			e.log.Warn("eval: no debug score for the episode's end (max lift and place error left 0)", "episode", e.i)
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return r, true, nil
}

// probe measures at every running tick what the report takes from the control loop: the
// peak joint speed and, over ROS, the age of the joint state the tick acts on (the
// control clock minus the state's header stamp: both ROS time). It wraps ports.EndWhen,
// which the control loop calls after reading the state; it allocates nothing.
type probe struct {
	st     *drivers.State // the servo's state, set once the daemon exists
	stamps bool           // State.Time is a ROS stamp on the control clock's time base
	inner  func(time.Duration) bool
	peak   float64
	age    telemetry.Quantiles
}

func (p *probe) endWhen(now time.Duration) bool {
	if st := p.st; st != nil {
		for _, v := range st.DQ {
			p.peak = max(p.peak, v, -v)
		}
		if p.stamps {
			p.age.Record(now - st.Time)
		}
	}
	return p.inner(now)
}
