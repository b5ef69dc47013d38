package eval

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot/plotter"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/episode"
	"github.com/robotd/robotd/internal/plot"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/system"
)

// Offline runs a policy over a dataset's recorded observations (observation.state, the
// camera videos and any other vector feature the policy observes) at the policy's rate
// and compares the actions it predicts with the recorded ones. Nothing moves: it is the
// offline check before a policy goes on an arm.
type Offline struct {
	ds  *episode.Dataset
	pol *policy.Policy
	// Names are the compared action dimensions' names (the dataset's, or ee_pose_6d's
	// with the gripper when the policy acts in that space).
	Names []string
	dim   int
	to6D  bool // the recorded actions (x y z rx ry rz gripper) are compared as ee_pose_6d
	// Stride is how many dataset frames a policy step spans; Keep how many predicted
	// actions of each step are compared.
	Stride int
	Keep   int
	state  int // observation index of observation.state (-1: none)
	vecs   []offlineVec
	cams   []offlineCam
	obs    policy.Observation
	// Infer is the policy steps' total wall time.
	Infer time.Duration

	// the first episode's first predicted and recorded actions, for the plot
	pred, rec [][]float32
	times     []float64
}

// offlineVec is a policy observation read from another vector feature of the dataset
// (e.g. observation.environment_state, observation.ee_pose).
type offlineVec struct {
	obs int    // observation index
	key string // dataset feature key
}

type offlineCam struct {
	obs  int    // observation index
	key  string // dataset video key
	w, h int
	pipe Pipe
}

// Pipe is a camera's preprocessing, as Offline uses it (a *cv.Pipeline, which holds
// OpenCV matrices until closed).
type Pipe interface {
	Run(f *perception.Frame, dst []float32) error
	Close() error
}

// pipeline builds a camera's preprocessing for a policy image feature from width x
// height frames (a variable for tests).
var pipeline = func(feat *policy.Feature, width, height int) (Pipe, error) {
	pl, err := system.FeaturePipeline(feat, nil, width, height)
	if err != nil {
		return nil, err
	}
	return pl, nil
}

// NewOffline checks the policy against the dataset and builds the cameras'
// preprocessing; on an error nothing it built is left open. Close releases it.
func NewOffline(ds *episode.Dataset, pol *policy.Policy) (ev *Offline, err error) {
	b := pol.Bundle
	act, ok := ds.Info.Feature(episode.KeyAction)
	if !ok {
		return nil, fmt.Errorf("eval-offline: %s has no action feature", ds.Dir)
	}
	ev = &Offline{ds: ds, pol: pol, Names: act.Names, dim: act.Dim(), state: -1}
	if act.Dim() != b.ActionDim() {
		// A policy acting in ee_pose_6d (10 values) on robotd's recorded actions (x y z rx
		// ry rz gripper): the recorded ones are compared in the policy's space. (Compared
		// as rotation vectors they would be wrong by 2 pi wherever a downward tool's
		// rotation vector flips sign.)
		if b.ActionDim() != 10 || !slices.Equal(act.Names, append(daemon.SpaceEEPose.Names(nil), "gripper")) {
			return nil, fmt.Errorf("eval-offline: the policy's action has %d values, the dataset's %d (%q)", b.ActionDim(), act.Dim(), act.Names)
		}
		ev.to6D = true
		ev.Names = append(daemon.SpaceEEPose6D.Names(nil), "gripper")
		ev.dim = 10
	}
	built := ev // the error returns below clear ev
	defer func() {
		if err != nil {
			built.Close()
		}
	}()
	ratio := float64(ds.Info.FPS) * pol.Dt().Seconds()
	ev.Stride = int(math.Round(ratio))
	if ev.Stride < 1 || math.Abs(ratio-float64(ev.Stride)) > 1e-6 {
		return nil, fmt.Errorf("eval-offline: the policy runs every %v, not a whole number of the dataset's frames (%d fps)", pol.Dt(), ds.Info.FPS)
	}
	c := &b.Config
	ev.Keep = c.Horizon - pol.Start()
	if c.NActionSteps > 0 {
		ev.Keep = min(ev.Keep, c.NActionSteps)
	}
	ev.obs.Values = make([][]float32, len(b.Observations))
	for i, f := range b.Observations {
		ev.obs.Values[i] = make([]float32, f.Size)
		switch {
		case f.Name == episode.KeyState:
			st, ok := ds.Info.Feature(episode.KeyState)
			if !ok || st.Dim() != f.Size {
				return nil, fmt.Errorf("eval-offline: the policy observes %s with %d values; the dataset's has %d", f.Name, f.Size, st.Dim())
			}
			ev.state = i
		case f.IsImage():
			vf, ok := ds.Info.Feature(f.Name)
			if !ok || !vf.IsVideo() {
				return nil, fmt.Errorf("eval-offline: the policy observes %s; the dataset has no such video (it has %q)", f.Name, ds.Info.VideoKeys())
			}
			w, h := vf.Shape[1], vf.Shape[0]
			pipe, err := pipeline(&b.Observations[i], w, h)
			if err != nil {
				return nil, fmt.Errorf("eval-offline: video %s: %w", f.Name, err)
			}
			ev.cams = append(ev.cams, offlineCam{obs: i, key: f.Name, w: w, h: h, pipe: pipe})
		default:
			vf, ok := ds.Info.Feature(f.Name)
			if !ok || vf.IsVideo() || vf.Dtype == "image" || vf.Dtype == "string" {
				return nil, fmt.Errorf("eval-offline: the policy observes %s, which the dataset cannot provide (observation.state, observation.images.* and the dataset's other numeric features can)", f.Name)
			}
			if vf.Dim() != f.Size {
				return nil, fmt.Errorf("eval-offline: the policy observes %s with %d values; the dataset's has %d", f.Name, f.Size, vf.Dim())
			}
			ev.vecs = append(ev.vecs, offlineVec{obs: i, key: f.Name})
		}
	}
	return ev, nil
}

// Close releases the cameras' preprocessing.
func (ev *Offline) Close() {
	for _, c := range ev.cams {
		c.pipe.Close()
	}
	ev.cams = nil
}

// Result accumulates an episode's (or several episodes') squared and absolute action
// errors.
type Result struct {
	Steps int     // policy steps
	Max   float64 // largest absolute error of any compared action value
	n     int
	sq    float64
	dimSq []float64
	dimN  int
}

// MSE is the mean squared error over every compared action value.
func (r *Result) MSE() float64 { return r.sq / float64(max(r.n, 1)) }

// Add accumulates o into r.
func (r *Result) Add(o Result) {
	r.Steps += o.Steps
	r.n += o.n
	r.sq += o.sq
	r.Max = max(r.Max, o.Max)
	if r.dimSq == nil {
		r.dimSq = make([]float64, len(o.dimSq))
	}
	for i, v := range o.dimSq {
		r.dimSq[i] += v
	}
	r.dimN += o.dimN
}

// Dims is the RMS error per action dimension, "name value" comma-separated.
func (r *Result) Dims(names []string) string {
	var parts []string
	for i, v := range r.dimSq {
		parts = append(parts, fmt.Sprintf("%s %.4g", names[i], math.Sqrt(v/float64(max(r.dimN, 1)))))
	}
	return strings.Join(parts, ", ")
}

// Episode runs the policy over episode i; with keepPlot it keeps the first predicted
// and the recorded action of every step for Plot.
func (ev *Offline) Episode(i int, keepPlot bool) (Result, error) {
	data, err := ev.ds.Episode(i)
	if err != nil {
		return Result{}, err
	}
	readers := make([]*episode.VideoReader, len(ev.cams))
	defer func() {
		for _, r := range readers {
			if r != nil {
				r.Close()
			}
		}
	}()
	for c := range ev.cams {
		if readers[c], err = ev.ds.OpenVideo(i, ev.cams[c].key); err != nil {
			return Result{}, err
		}
	}
	frames := make([]perception.Frame, len(ev.cams))
	r := Result{dimSq: make([]float64, ev.dim)}
	ev.pol.Reset()
	rec := data.Action
	if ev.to6D {
		rec = make([][]float32, len(data.Action))
		for f, a := range data.Action {
			rec[f] = make([]float32, 10)
			daemon.Pose6DValues(rec[f], daemon.ValuesPose(a))
			rec[f][9] = a[6]
		}
	}
	n := len(rec)
	for k := 0; k < n; k++ {
		for c := range ev.cams {
			img, err := readers[c].Next()
			if err != nil {
				return r, fmt.Errorf("eval-offline: episode %d: %s frame %d: %w", i, ev.cams[c].key, k, err)
			}
			frames[c] = perception.Frame{Camera: ev.cams[c].key, Format: perception.RGB8, Width: ev.cams[c].w, Height: ev.cams[c].h, Data: img}
		}
		if k%ev.Stride != 0 {
			continue
		}
		ev.obs.Time = time.Duration(float64(k) / float64(ev.ds.Info.FPS) * float64(time.Second))
		if ev.state >= 0 {
			copy(ev.obs.Values[ev.state], data.State[k])
		}
		for _, v := range ev.vecs {
			copy(ev.obs.Values[v.obs], data.Vectors[v.key][k])
		}
		for c, cam := range ev.cams {
			if err := cam.pipe.Run(&frames[c], ev.obs.Values[cam.obs]); err != nil {
				return r, fmt.Errorf("eval-offline: episode %d: %s: %w", i, cam.key, err)
			}
		}
		if err := ev.pol.Observe(ev.obs); err != nil {
			return r, err
		}
		t0 := time.Now()
		actions, err := ev.pol.Step(policy.StepOptions{})
		ev.Infer += time.Since(t0)
		if err != nil {
			return r, fmt.Errorf("eval-offline: episode %d frame %d: %w", i, k, err)
		}
		r.Steps++
		for j := 0; j < ev.Keep; j++ {
			f := k + j*ev.Stride
			if f >= n {
				break
			}
			for d := 0; d < ev.dim; d++ {
				e := float64(actions[j*ev.dim+d] - rec[f][d])
				r.sq += e * e
				r.dimSq[d] += e * e
				r.Max = max(r.Max, math.Abs(e))
				r.n++
			}
			r.dimN++
		}
		if keepPlot {
			ev.pred = append(ev.pred, append([]float32(nil), actions[:ev.dim]...))
			ev.rec = append(ev.rec, rec[k])
			ev.times = append(ev.times, ev.obs.Time.Seconds())
		}
	}
	return r, nil
}

// Plot draws into a PNG, per action dimension, the first predicted action at each step
// of the episode run with keepPlot against the recorded one.
func (ev *Offline) Plot(path string) error {
	var panels []plot.Panel
	for d, name := range ev.Names {
		pred, rec := make(plotter.XYs, len(ev.pred)), make(plotter.XYs, len(ev.rec))
		for k := range ev.pred {
			pred[k] = plotter.XY{X: ev.times[k], Y: float64(ev.pred[k][d])}
			rec[k] = plotter.XY{X: ev.times[k], Y: float64(ev.rec[k][d])}
		}
		panels = append(panels, plot.Panel{Title: "action " + name, XLabel: "time (s)", YLabel: name,
			Lines: []plot.Series{{Name: "predicted", XY: pred}, {Name: "recorded", XY: rec, Dashed: true}}})
	}
	return plot.Panels(path, panels)
}
