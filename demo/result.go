package demo

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-gl/mathgl/mgl64"
	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/internal/plot"
)

// Sample is one row of the trace, every 10 ms of simulated time.
type Sample struct {
	T              float64    // simulated time (s)
	Tool, Target   mgl64.Vec3 // tool position and its target (m, base frame)
	PosErr, RotErr float64    // tool vs target (m, rad)
	MaxTorqueRatio float64    // max over joints of |tau| / limit
	CubeZ          float64    // cube height (m); 0 when the scene has no cube
}

// Leg is the outcome at one waypoint.
type Leg struct {
	Waypoint
	SettledAfter   time.Duration // -1: not within 2 mm / 0.01 rad by the end of the hold
	PosErr, RotErr float64       // at the end of the hold (m, rad)
}

// Result is what Run measured.
type Result struct {
	Config Config // the run's configuration, for the summary
	Legs   []Leg  // one per waypoint, in order
	Trace  []Sample
	Ticks  int // control periods run
	// SimTime is the simulated time, Wall the wall-clock time it took.
	SimTime, Wall time.Duration
	// TickP50, TickP99 and TMax are the servo's tick durations (read, control, safety,
	// write), wall clock.
	TickP50, TickP99, TMax time.Duration
	Safety                 control.SafetyCounters
	MinLimitMargin         float64 // closest any joint came to a position limit (rad)
	MaxTorqueRatio         float64 // peak over ticks and joints of |tau| / limit
	CubeLifted             float64 // cube height at the end (m); 0 without a cube
	Video                  string  // the scene video's path; "" when none was made
	Frames                 int     // frames in the video
}

// Summary is the run's report as robotd demo prints it and writes summary.txt: per
// waypoint the settling time and final error, then the cube, timing, limits, safety
// and video lines. Only the wall-clock figures vary between runs.
func (r *Result) Summary() string {
	var b strings.Builder
	cfg := r.Config
	fmt.Fprintf(&b, "robotd demo: Cartesian impedance reaching in lockstep MuJoCo at 1 kHz (K %g N/m, %g Nm/rad)\n", cfg.Stiffness, cfg.RotStiffness)
	fmt.Fprintf(&b, "%-14s %10s %10s %10s\n", "target", "settled", "pos err", "rot err")
	reached := 0
	free := 0
	for _, l := range r.Legs {
		settled := "no"
		if l.SettledAfter >= 0 {
			settled = fmt.Sprintf("%.2f s", l.SettledAfter.Seconds())
		}
		note := ""
		if l.Loaded {
			note = "  (holding the cube: compliance, not an error)"
		} else {
			free++
			if l.SettledAfter >= 0 {
				reached++
			}
		}
		fmt.Fprintf(&b, "%-14s %10s %7.2f mm %6.4f rad%s\n", l.Name, settled, l.PosErr*1e3, l.RotErr, note)
	}
	fmt.Fprintf(&b, "free-space targets reached within 2 mm / 0.01 rad: %d of %d\n", reached, free)
	if r.CubeLifted > 0 {
		fmt.Fprintf(&b, "cube height at the end: %.3f m (%s)\n", r.CubeLifted, map[bool]string{true: "lifted", false: "not lifted"}[r.CubeLifted > 0.1])
	}
	fmt.Fprintf(&b, "ticks %d, simulated %.1f s in %.2f s wall (%.1fx real time)\n",
		r.Ticks, r.SimTime.Seconds(), r.Wall.Seconds(), r.SimTime.Seconds()/r.Wall.Seconds())
	fmt.Fprintf(&b, "servo tick (read, control, safety, write): p50 %.1f us, p99 %.1f us, max %.1f us\n",
		us(r.TickP50), us(r.TickP99), us(r.TMax))
	fmt.Fprintf(&b, "closest joint-limit approach %.3f rad; peak torque %.0f %% of limit\n", r.MinLimitMargin, 100*r.MaxTorqueRatio)
	c := r.Safety
	fmt.Fprintf(&b, "safety: %d targets rejected, %d clamped, %d non-finite, %d wall ticks, %d brake ticks, %d torque clamps\n",
		c.TargetsRejected, c.TargetsClamped, c.NonFinite, c.PositionWall, c.VelocityBrake, c.TorqueClamped)
	if r.Video != "" {
		fmt.Fprintf(&b, "video: %d frames at %d fps\n", r.Frames, cfg.VideoFPS)
	}
	return b.String()
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

// WriteFiles writes the summary (summary.txt), the trace (trace.csv) and the reach
// plot (reach.png) into dir, which must exist (Run created Config.Out).
func (r *Result) WriteFiles(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(r.Summary()), 0o644); err != nil {
		return err
	}
	if err := r.WriteTrace(filepath.Join(dir, "trace.csv")); err != nil {
		return err
	}
	return r.Plot(filepath.Join(dir, "reach.png"))
}

// Outputs lists the files WriteFiles writes into dir, then the video and its last
// frame when Run made one.
func (r *Result) Outputs(dir string) []string {
	out := []string{filepath.Join(dir, "reach.png"), filepath.Join(dir, "trace.csv"), filepath.Join(dir, "summary.txt")}
	if r.Video != "" {
		out = append(out, r.Video, filepath.Join(dir, "scene.png"))
	}
	return out
}

// WriteTrace writes the trace as CSV with a header row: time (s), tool and target
// position (m), position (m) and orientation (rad) error, peak torque ratio, cube
// height (m), six decimals each.
func (r *Result) WriteTrace(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"t", "x", "y", "z", "target_x", "target_y", "target_z", "pos_err_m", "rot_err_rad", "max_torque_ratio", "cube_z"})
	ff := func(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
	for _, s := range r.Trace {
		w.Write([]string{ff(s.T), ff(s.Tool[0]), ff(s.Tool[1]), ff(s.Tool[2]), ff(s.Target[0]), ff(s.Target[1]), ff(s.Target[2]),
			ff(s.PosErr), ff(s.RotErr), ff(s.MaxTorqueRatio), ff(s.CubeZ)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Plot draws the tool position against the target per axis, and the tracking error on
// a log scale, one panel each, into a PNG at path (plot.Reach).
func (r *Result) Plot(path string) error {
	trace := make([]plot.ReachPoint, len(r.Trace))
	for i, s := range r.Trace {
		trace[i] = plot.ReachPoint{T: s.T, Tool: s.Tool, Target: s.Target, PosErr: s.PosErr}
	}
	return plot.Reach(path, trace, r.SimTime.Seconds())
}
