package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/robotd/robotd/internal/npy"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/policy/onnx"
	"github.com/robotd/robotd/policy/steer"
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
	return onnx.WriteInfo(stdout, path, *opts)
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
	launchPath := fs.String("launch", "", "bundle: run the launch file's policy.steering (its policy.bundle unless --bundle is given)")
	var steerOff bool
	fs.Var(steerFlag{&steerOff}, "steer", "with --launch: on (the launch file's steering) or off")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	var steering *steer.Config
	if *launchPath != "" {
		f, err := launch.Load(*launchPath)
		if err != nil {
			return err
		}
		if f.Policy == nil {
			return fmt.Errorf("--launch %s has no policy section", *launchPath)
		}
		if *bundle == "" {
			*bundle = f.Policy.Bundle
		}
		if !steerOff {
			steering = f.Policy.Steering
		}
		if steering != nil && (*samples != 1 || *noise != "") {
			return fmt.Errorf("--samples and --noise: the launch file's policy.steering sets the samples (pass --steer off to draw them yourself)")
		}
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
		result, err = onnx.RunFile(*model, *opts, in)
	} else {
		if steering != nil {
			result, err = onnx.RunSteered(*bundle, *opts, in, *seed, *steering)
		} else {
			result, err = onnx.RunBundle(*bundle, *opts, in, *seed, *samples, *noise)
		}
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
