package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot/plotter"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/episode"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/onnx"
	"github.com/robotd/robotd/system"
)

const evalOfflineUsage = `robotd eval-offline DATASET --bundle DIR [flags]

Feeds a dataset's recorded observations (observation.state, the camera videos and any
other vector feature the policy observes, such as observation.environment_state) to a
policy bundle at the policy's rate and compares the actions it predicts with the recorded
ones: per episode the mean squared error over every predicted action that has a recorded
counterpart, the largest absolute error, and the RMS error per action dimension. Nothing
moves: this is the offline check before a policy goes on an arm.
`

func evalOfflineCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval-offline", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), evalOfflineUsage, "\nFlags:\n"); fs.PrintDefaults() }
	bundle := fs.String("bundle", "", "policy bundle directory (docs/policy-bundle.md)")
	which := fs.String("episodes", "all", "episodes to evaluate: all, or a comma-separated list of indices")
	plotPath := fs.String("plot", "", "write a PNG of predicted and recorded actions of the first episode")
	seed := fs.Uint64("seed", 0, "sampler seed (diffusion and flow policies)")
	opts := runtimeFlags(fs)
	dir, extra, err := parseAround(fs, args, stderr)
	if err != nil {
		return err
	}
	if extra > 0 {
		return fmt.Errorf("%s: want one DATASET; %d more arguments: %q", fs.Name(), extra, fs.Args()[len(fs.Args())-extra:])
	}
	if dir == "" || *bundle == "" {
		return errors.New("eval-offline: usage: robotd eval-offline DATASET --bundle DIR")
	}
	ds, err := episode.Open(dir)
	if err != nil {
		return err
	}
	pol, err := policy.Load(*bundle, onnx.Opener(*opts), policy.Options{Seed: *seed})
	if err != nil {
		return err
	}
	defer pol.Close()
	ev, err := newOfflineEval(ds, pol)
	if err != nil {
		return err
	}
	defer ev.close()
	idx, err := episodeList(*which, len(ds.Episodes))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "eval-offline: %s on %s: %d episode(s), policy every %d frame(s) (%v), %d actions compared per step\n",
		*bundle, dir, len(idx), ev.stride, pol.Dt(), ev.keep)
	var total offlineResult
	for n, i := range idx {
		r, err := ev.episode(i, n == 0 && *plotPath != "")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "episode %d: %d steps, action MSE %.6g, max |error| %.4g; RMS per dimension %s\n", i, r.steps, r.mse(), r.max, r.dims(ev.names))
		total.add(r)
	}
	fmt.Fprintf(stdout, "all: %d steps, action MSE %.6g, max |error| %.4g; RMS per dimension %s; inference %v per step\n",
		total.steps, total.mse(), total.max, total.dims(ev.names), (ev.infer / time.Duration(max(total.steps, 1))).Round(time.Microsecond))
	if *plotPath != "" {
		if err := ev.plot(*plotPath); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "plot: %s\n", *plotPath)
	}
	return nil
}

func episodeList(s string, n int) ([]int, error) {
	if s == "all" {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		i, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || i < 0 || i >= n {
			return nil, fmt.Errorf("eval-offline: --episodes %q: %q is not an episode index in [0, %d)", s, f, n)
		}
		out = append(out, i)
	}
	return out, nil
}

// offlineEval runs a policy over recorded observations.
type offlineEval struct {
	ds     *episode.Dataset
	pol    *policy.Policy
	names  []string
	dim    int
	to6D   bool // the recorded actions (x y z rx ry rz gripper) are compared as ee_pose_6d
	stride int  // dataset frames per policy step
	keep   int  // predicted actions compared per step
	state  int  // observation index of observation.state (-1: none)
	vecs   []offlineVec
	cams   []offlineCam
	obs    policy.Observation
	infer  time.Duration

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
	pipe offlinePipe
}

// offlinePipe is a camera's preprocessing, as eval-offline uses it (a *cv.Pipeline, which
// holds OpenCV matrices until closed).
type offlinePipe interface {
	Run(f *perception.Frame, dst []float32) error
	Close() error
}

// offlinePipeline builds a camera's preprocessing for a policy image feature from
// width x height frames (a variable for tests).
var offlinePipeline = func(feat *policy.Feature, width, height int) (offlinePipe, error) {
	pl, err := system.FeaturePipeline(feat, nil, width, height)
	if err != nil {
		return nil, err
	}
	return pl, nil
}

// newOfflineEval checks the policy against the dataset and builds the cameras'
// preprocessing; on an error nothing it built is left open.
func newOfflineEval(ds *episode.Dataset, pol *policy.Policy) (ev *offlineEval, err error) {
	b := pol.Bundle
	act, ok := ds.Info.Feature(episode.KeyAction)
	if !ok {
		return nil, fmt.Errorf("eval-offline: %s has no action feature", ds.Dir)
	}
	ev = &offlineEval{ds: ds, pol: pol, names: act.Names, dim: act.Dim(), state: -1}
	if act.Dim() != b.ActionDim() {
		// A policy acting in ee_pose_6d (10 values) on robotd's recorded actions (x y z rx
		// ry rz gripper): the recorded ones are compared in the policy's space. (Compared
		// as rotation vectors they would be wrong by 2 pi wherever a downward tool's
		// rotation vector flips sign.)
		if b.ActionDim() != 10 || !slices.Equal(act.Names, actionNames) {
			return nil, fmt.Errorf("eval-offline: the policy's action has %d values, the dataset's %d (%q)", b.ActionDim(), act.Dim(), act.Names)
		}
		ev.to6D = true
		ev.names = append(daemon.SpaceEEPose6D.Names(nil), "gripper")
		ev.dim = 10
	}
	built := ev // the error returns below clear ev
	defer func() {
		if err != nil {
			built.close()
		}
	}()
	ratio := float64(ds.Info.FPS) * pol.Dt().Seconds()
	ev.stride = int(math.Round(ratio))
	if ev.stride < 1 || math.Abs(ratio-float64(ev.stride)) > 1e-6 {
		return nil, fmt.Errorf("eval-offline: the policy runs every %v, not a whole number of the dataset's frames (%d fps)", pol.Dt(), ds.Info.FPS)
	}
	c := &b.Config
	ev.keep = c.Horizon - pol.Start()
	if c.NActionSteps > 0 {
		ev.keep = min(ev.keep, c.NActionSteps)
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
			pipe, err := offlinePipeline(&b.Observations[i], w, h)
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

func (ev *offlineEval) close() {
	for _, c := range ev.cams {
		c.pipe.Close()
	}
	ev.cams = nil
}

// offlineResult accumulates squared and absolute errors.
type offlineResult struct {
	steps, n int
	sq       float64
	max      float64
	dimSq    []float64
	dimN     int
}

func (r *offlineResult) mse() float64 { return r.sq / float64(max(r.n, 1)) }

func (r *offlineResult) add(o offlineResult) {
	r.steps += o.steps
	r.n += o.n
	r.sq += o.sq
	r.max = max(r.max, o.max)
	if r.dimSq == nil {
		r.dimSq = make([]float64, len(o.dimSq))
	}
	for i, v := range o.dimSq {
		r.dimSq[i] += v
	}
	r.dimN += o.dimN
}

func (r *offlineResult) dims(names []string) string {
	var parts []string
	for i, v := range r.dimSq {
		parts = append(parts, fmt.Sprintf("%s %.4g", names[i], math.Sqrt(v/float64(max(r.dimN, 1)))))
	}
	return strings.Join(parts, ", ")
}

// episode runs the policy over episode i.
func (ev *offlineEval) episode(i int, keepPlot bool) (offlineResult, error) {
	data, err := ev.ds.Episode(i)
	if err != nil {
		return offlineResult{}, err
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
			return offlineResult{}, err
		}
	}
	frames := make([]perception.Frame, len(ev.cams))
	r := offlineResult{dimSq: make([]float64, ev.dim)}
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
		if k%ev.stride != 0 {
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
		ev.infer += time.Since(t0)
		if err != nil {
			return r, fmt.Errorf("eval-offline: episode %d frame %d: %w", i, k, err)
		}
		r.steps++
		for j := 0; j < ev.keep; j++ {
			f := k + j*ev.stride
			if f >= n {
				break
			}
			for d := 0; d < ev.dim; d++ {
				e := float64(actions[j*ev.dim+d] - rec[f][d])
				r.sq += e * e
				r.dimSq[d] += e * e
				r.max = max(r.max, math.Abs(e))
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

// plot draws, per action dimension, the first predicted action at each step against the
// recorded one.
func (ev *offlineEval) plot(path string) error {
	var panels []panel
	for d, name := range ev.names {
		pred, rec := make(plotter.XYs, len(ev.pred)), make(plotter.XYs, len(ev.rec))
		for k := range ev.pred {
			pred[k] = plotter.XY{X: ev.times[k], Y: float64(ev.pred[k][d])}
			rec[k] = plotter.XY{X: ev.times[k], Y: float64(ev.rec[k][d])}
		}
		panels = append(panels, panel{Title: "action " + name, XLabel: "time (s)", YLabel: name,
			Lines: []series{{Name: "predicted", XY: pred}, {Name: "recorded", XY: rec, Dashed: true}}})
	}
	return plotPanels(path, panels)
}
