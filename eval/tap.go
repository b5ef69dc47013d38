package eval

import (
	"fmt"
	"math"
	"time"

	"gonum.org/v1/plot/plotter"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/internal/plot"
	"github.com/robotd/robotd/telemetry"
)

// Video is a video of the simulated scene that the tap feeds from the control loop's
// goroutine (lockstep: rendering there is allowed).
type Video interface {
	// Frame renders and writes a frame when simulated time t (seconds from the
	// episode's start) has reached the next frame of the video's rate.
	Frame(t float64) error
	Close() error
}

// tap is the daemon's Recorder during evaluation: it renders the scene camera into the
// episode's video and keeps the first episode's tool and target for the plot. It runs in
// the control loop's goroutine.
type tap struct {
	newVideo func(path string) (Video, error)
	video    Video
	keep     bool
	trace    []tracePoint
	t0       time.Duration
}

// traceLen bounds the first episode's plotted trace: 2 minutes at the tap's 30 Hz (the
// task times out after 30 s).
const traceLen = 30 * 120

type tracePoint struct {
	t            float64
	tool, target [3]float64
	grip, cmd    float64
}

// Period is daemon.Recorder's: the tap samples at 30 Hz, the videos' rate.
func (e *tap) Period() time.Duration { return time.Second / 30 }

// begin starts an episode: its video at path ("": none), its trace kept with keep.
func (e *tap) begin(path string, keep bool) error {
	e.keep, e.t0 = keep, -1
	if keep && e.trace == nil {
		// Record runs in the control loop in real time: no allocation there.
		e.trace = make([]tracePoint, 0, traceLen)
	}
	if path == "" || e.newVideo == nil {
		return nil
	}
	v, err := e.newVideo(path)
	if err != nil {
		return fmt.Errorf("eval: video: %w", err)
	}
	e.video = v
	return nil
}

// end finishes the episode's video.
func (e *tap) end() error {
	if e.video == nil {
		return nil
	}
	err := e.video.Close()
	e.video = nil
	return err
}

// Record is daemon.Recorder's. A video that fails is closed and the episode goes on
// without it.
func (e *tap) Record(s *daemon.Sample) bool {
	if e.t0 < 0 {
		e.t0 = s.T
	}
	t := (s.T - e.t0).Seconds()
	if e.video != nil {
		if err := e.video.Frame(t); err != nil {
			e.video.Close()
			e.video = nil
		}
	}
	if e.keep && len(e.trace) < cap(e.trace) {
		e.trace = append(e.trace, tracePoint{t: t, tool: s.Tool.Pos, target: s.Target.Pos, grip: s.Gripper, cmd: s.GripperCommand})
	}
	return true
}

// plot draws the first episode's (seed's) tool against its target (x, y, z), the
// gripper, and the distribution of inference latency over every episode.
func (e *tap) plot(path string, seed int64, lat telemetry.Snapshot, extra ...plot.Panel) error {
	var panels []plot.Panel
	for k, axis := range []string{"x", "y", "z"} {
		var tool, tgt plotter.XYs
		for _, p := range e.trace {
			tool = append(tool, plotter.XY{X: p.t, Y: p.tool[k]})
			tgt = append(tgt, plotter.XY{X: p.t, Y: p.target[k]})
		}
		panels = append(panels, plot.Panel{Title: fmt.Sprintf("episode 0 (seed %d): tool %s", seed, axis), XLabel: "s", YLabel: "m",
			Lines: []plot.Series{{Name: "tool (measured)", XY: tool}, {Name: "target (policy, after safety)", XY: tgt, Dashed: true}}})
	}
	var grip, cmd plotter.XYs
	for _, p := range e.trace {
		if !math.IsNaN(p.grip) {
			grip = append(grip, plotter.XY{X: p.t, Y: p.grip})
		}
		if !math.IsNaN(p.cmd) {
			cmd = append(cmd, plotter.XY{X: p.t, Y: p.cmd})
		}
	}
	gp := plot.Panel{Title: "gripper opening", XLabel: "s", YLabel: "m"}
	if len(grip) > 1 {
		gp.Lines = append(gp.Lines, plot.Series{Name: "measured", XY: grip})
	}
	if len(cmd) > 1 {
		gp.Lines = append(gp.Lines, plot.Series{Name: "commanded", XY: cmd, Dashed: true})
	}
	if len(gp.Lines) > 0 {
		panels = append(panels, gp)
	}
	if lat.Count > 0 {
		var cdf plotter.XYs
		for q := 0.0; q <= 1.0001; q += 0.01 {
			cdf = append(cdf, plotter.XY{X: float64(lat.Quantile(min(q, 1))) / 1e6, Y: 100 * q})
		}
		panels = append(panels, plot.Panel{Title: fmt.Sprintf("inference latency, %d chunks (wall clock)", lat.Count), XLabel: "ms", YLabel: "% of chunks at or below",
			Lines: []plot.Series{{Name: "cumulative", XY: cdf}}})
	}
	return plot.Panels(path, append(panels, extra...))
}
