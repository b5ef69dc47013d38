package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/robotd/robotd/internal/npy"
	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/onnx"
)

const policyUsage = `usage:
  robotd policy info BUNDLE_DIR|MODEL.onnx
      a bundle's configuration and its models' inputs and outputs, or one model's
  robotd policy run --model MODEL.onnx --inputs IN.npz --out OUT.npz
      run any ONNX model on arrays named by its input names; write its outputs by name
  robotd policy run --bundle DIR --inputs OBS.npz --out ACTIONS.npz [--seed S] [--samples N] [--noise NOISE.npy]
      one full policy step offline: normalize, encode, sample, unnormalize

common flags: --threads N (ONNX Runtime intra-op threads, default 1),
              --onnxruntime PATH (libonnxruntime.so; default $ROBOTD_ONNXRUNTIME or .cache/onnxruntime)
`

func policyCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, policyUsage)
		return errUsage
	}
	switch args[0] {
	case "info":
		return policyInfoCmd(args[1:], stdout, stderr)
	case "run":
		return policyRunCmd(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, policyUsage)
		return flag.ErrHelp
	}
	fmt.Fprintf(stderr, "robotd policy: unknown subcommand %q\n\n%s", args[0], policyUsage)
	return errUsage
}

// runtimeFlags are the ONNX Runtime flags every policy subcommand takes.
func runtimeFlags(fs *flag.FlagSet) *onnx.Options {
	opts := &onnx.Options{}
	fs.IntVar(&opts.Threads, "threads", 1, "ONNX Runtime intra-op threads")
	fs.StringVar(&opts.Library, "onnxruntime", "", "path of libonnxruntime.so (default $"+onnx.EnvLibrary+" or .cache/onnxruntime/)")
	return opts
}

func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

// parseAround parses fs's flags around one positional argument, which may come before or
// after them (robotd replay DATASET --episode 2, or --episode 2 DATASET). It returns the
// argument ("" when there is none) and how many arguments are left over after it.
func parseAround(fs *flag.FlagSet, args []string, stderr io.Writer) (arg string, extra int, err error) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return "", 0, err
	}
	rest := fs.Args()
	if arg == "" && len(rest) > 0 {
		arg, rest = rest[0], rest[1:]
	}
	return arg, len(rest), nil
}

func policyInfoCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("policy info", flag.ContinueOnError)
	opts := runtimeFlags(fs)
	path, extra, err := parseAround(fs, args, stderr)
	if err != nil {
		return err
	}
	if path == "" || extra > 0 {
		fmt.Fprint(stderr, "robotd policy info: want one BUNDLE_DIR or MODEL.onnx\n")
		return errUsage
	}
	if opts.Threads < 1 {
		return fmt.Errorf("--threads %d: want >= 1", opts.Threads)
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		m, err := onnx.Open(path, *opts)
		if err != nil {
			return err
		}
		defer m.Close()
		fmt.Fprintf(stdout, "onnxruntime %s\n", onnx.Version())
		printModel(stdout, "model", m)
		return nil
	}
	p, err := policy.Load(path, onnx.Opener(*opts), policy.Options{})
	if err != nil {
		return err
	}
	defer p.Close()
	b := p.Bundle
	c := &b.Config
	fmt.Fprintf(stdout, "bundle   %s\nname     %s\nkind     %s\n", b.Dir, c.Name, c.Kind)
	fmt.Fprintf(stdout, "rate     %g Hz (actions every %.1f ms)\n", c.ControlRateHz, 1000/c.ControlRateHz)
	fmt.Fprintf(stdout, "history  n_obs_steps %d\nchunk    horizon %d, executed from index %d (%d actions), n_action_steps %d\n",
		c.NObsSteps, c.Horizon, p.Start(), c.Horizon-p.Start(), c.NActionSteps)
	fmt.Fprintln(stdout, "features")
	for _, f := range append(append([]policy.Feature(nil), b.Observations...), b.Action) {
		fmt.Fprintf(stdout, "  %-28s %-14s %s\n", f.Name, fmt.Sprint(f.Shape), f.Norm.Mode)
	}
	if d := c.Diffusion; d != nil {
		fmt.Fprintf(stdout, "sampler  %s, %d steps, prediction %s, clip %v", d.Sampler, d.NumInferenceSteps, d.PredictionType, d.ClipSample)
		if s := p.Sampler().Scheduler(); s != nil {
			fmt.Fprintf(stdout, ", %s schedule over %d train steps, eta %g\n         timesteps %v", d.BetaSchedule, d.NumTrainTimesteps, d.Eta, s.Timesteps())
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "onnxruntime %s, %d thread(s)\n", onnx.Version(), opts.Threads)
	for _, m := range p.Models() {
		printModel(stdout, filepath.Base(m.Path()), m)
	}
	return nil
}

func printModel(w io.Writer, label string, m policy.Model) {
	fmt.Fprintf(w, "%s %s\n", label, m.Path())
	for _, t := range m.Inputs() {
		fmt.Fprintf(w, "  in   %s\n", t)
	}
	for _, t := range m.Outputs() {
		fmt.Fprintf(w, "  out  %s\n", t)
	}
}

func policyRunCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("policy run", flag.ContinueOnError)
	opts := runtimeFlags(fs)
	model := fs.String("model", "", "an ONNX model to run on --inputs")
	bundle := fs.String("bundle", "", "a policy bundle directory (see docs/policy-bundle.md)")
	inputs := fs.String("inputs", "", ".npz (or .npy) with the inputs: model input names, or bundle observation feature names")
	out := fs.String("out", "", ".npz file to write")
	force := fs.Bool("force", false, "overwrite --out if it exists")
	seed := fs.Uint64("seed", 0, "bundle: noise seed")
	samples := fs.Int("samples", 1, "bundle: action sequences drawn in one batched call")
	noise := fs.String("noise", "", "bundle: .npy initial noise [samples, horizon, action] in the normalized space")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "robotd policy run: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	case (*model == "") == (*bundle == ""):
		fmt.Fprint(stderr, "robotd policy run: give exactly one of --model and --bundle\n")
		return errUsage
	case *inputs == "":
		fmt.Fprint(stderr, "robotd policy run: --inputs is required\n")
		return errUsage
	case *out == "":
		fmt.Fprint(stderr, "robotd policy run: --out is required\n")
		return errUsage
	case opts.Threads < 1:
		return fmt.Errorf("--threads %d: want >= 1", opts.Threads)
	case *samples < 1:
		return fmt.Errorf("--samples %d: want >= 1", *samples)
	}
	if _, err := os.Stat(*out); err == nil && !*force {
		return fmt.Errorf("--out %s exists; pass --force to overwrite it", *out)
	}
	in, err := npy.ReadFile(*inputs)
	if err != nil {
		return err
	}
	var result []*npy.Array
	if *model != "" {
		result, err = runModel(*model, *opts, in)
	} else {
		result, err = runBundle(*bundle, *opts, in, *seed, *samples, *noise)
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := npy.WriteNPZ(*out, result); err != nil {
		return err
	}
	for _, a := range result {
		fmt.Fprintf(stdout, "%s %s%v\n", a.Name, a.DType(), a.Shape)
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}

func runModel(path string, opts onnx.Options, in []*npy.Array) ([]*npy.Array, error) {
	m, err := onnx.Open(path, opts)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	// A lone .npy names no input: give it the model's only input.
	if len(in) == 1 && len(m.Inputs()) == 1 && npy.Find(in, m.Inputs()[0].Name) == nil && !strings.Contains(in[0].Name, ".") {
		in[0].Name = m.Inputs()[0].Name
	}
	return m.RunOnce(in)
}

// runBundle feeds the observations (each [*shape] or a history [T, *shape], oldest first)
// and runs one step.
func runBundle(dir string, opts onnx.Options, in []*npy.Array, seed uint64, samples int, noisePath string) ([]*npy.Array, error) {
	p, err := policy.Load(dir, onnx.Opener(opts), policy.Options{Seed: seed})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	b := p.Bundle
	steps := -1
	values := make([][]float32, len(b.Observations))
	for i, f := range b.Observations {
		a := npy.Find(in, f.Name)
		if a == nil {
			return nil, fmt.Errorf("--inputs has no array %q (the bundle observes %s)", f.Name, b.ObservationNames())
		}
		if values[i], err = a.Float32(); err != nil {
			return nil, err
		}
		n := len(values[i]) / f.Size
		if len(values[i]) != n*f.Size || n < 1 || (len(a.Shape) != len(f.Shape) && len(a.Shape) != len(f.Shape)+1) {
			return nil, fmt.Errorf("--inputs %s has shape %v; want %v or [steps, %v]", f.Name, a.Shape, f.Shape, strings.Trim(fmt.Sprint(f.Shape), "[]"))
		}
		if steps >= 0 && n != steps {
			return nil, fmt.Errorf("--inputs %s holds %d steps, other features %d", f.Name, n, steps)
		}
		steps = n
	}
	for _, a := range in {
		if !slices.ContainsFunc(b.Observations, func(f policy.Feature) bool { return f.Name == a.Name }) {
			return nil, fmt.Errorf("--inputs array %q is not an observation feature of the bundle (%s)", a.Name, b.ObservationNames())
		}
	}
	for k := range steps {
		o := policy.Observation{Values: make([][]float32, len(values))}
		for i, f := range b.Observations {
			o.Values[i] = values[i][k*f.Size : (k+1)*f.Size]
		}
		if err := p.Observe(o); err != nil {
			return nil, err
		}
	}
	opt := policy.StepOptions{Samples: samples}
	if noisePath != "" {
		na, err := npy.ReadFile(noisePath)
		if err != nil {
			return nil, err
		}
		if len(na) != 1 {
			return nil, fmt.Errorf("--noise %s: want one array, found %d", noisePath, len(na))
		}
		if opt.Noise, err = na[0].Float32(); err != nil {
			return nil, err
		}
	}
	actions, err := p.Step(opt)
	if err != nil {
		return nil, err
	}
	keep := b.Config.Horizon - p.Start()
	raw := append([]float32(nil), p.Raw()...)
	return []*npy.Array{
		{Name: "action", Shape: []int{samples, keep, b.ActionDim()}, Data: append([]float32(nil), actions...)},
		{Name: "action.normalized", Shape: []int{samples, b.Config.Horizon, b.ActionDim()}, Data: raw},
	}, nil
}
