package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/robotd/robotd/policy/onnx"
)

// The flag helpers every command uses.

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

// steerFlag is --steer on|off: off drops the launch file's policy.steering.
type steerFlag struct{ off *bool }

func (f steerFlag) String() string {
	if f.off != nil && *f.off {
		return "off"
	}
	return "on"
}

func (f steerFlag) Set(s string) error {
	switch s {
	case "on":
		*f.off = false
	case "off":
		*f.off = true
	default:
		return fmt.Errorf("%q: want on or off", s)
	}
	return nil
}
