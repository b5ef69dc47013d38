package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/robotd/robotd/episode"
	"github.com/robotd/robotd/eval"
	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/onnx"
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
	ev, err := eval.NewOffline(ds, pol)
	if err != nil {
		return err
	}
	defer ev.Close()
	idx, err := episodeList(*which, len(ds.Episodes))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "eval-offline: %s on %s: %d episode(s), policy every %d frame(s) (%v), %d actions compared per step\n",
		*bundle, dir, len(idx), ev.Stride, pol.Dt(), ev.Keep)
	var total eval.Result
	for n, i := range idx {
		r, err := ev.Episode(i, n == 0 && *plotPath != "")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "episode %d: %d steps, action MSE %.6g, max |error| %.4g; RMS per dimension %s\n", i, r.Steps, r.MSE(), r.Max, r.Dims(ev.Names))
		total.Add(r)
	}
	fmt.Fprintf(stdout, "all: %d steps, action MSE %.6g, max |error| %.4g; RMS per dimension %s; inference %v per step\n",
		total.Steps, total.MSE(), total.Max, total.Dims(ev.Names), (ev.Infer / time.Duration(max(total.Steps, 1))).Round(time.Microsecond))
	if *plotPath != "" {
		if err := ev.Plot(*plotPath); err != nil {
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
