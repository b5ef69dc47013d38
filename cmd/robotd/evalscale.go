package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/robotd/robotd/eval"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/system"
)

const evalScaleUsage = `robotd eval --shard I/N ...            the I-th (0-based) of N slices of the episodes
robotd eval merge --out DIR SHARD_DIR...  merge the shards into one evaluation
robotd eval compare [--alpha A] BASE NEW  paired comparison of two evaluations (CI's gate)
robotd eval sweep SPEC.yaml [--jobs N | --plan FILE | --table]
                                         a matrix of evaluations, run here or on Slurm

Evaluation at scale (docs/eval.md). --shard runs a contiguous slice of the seeds, each
episode on a fresh system so that its outcome depends on its seed only, and writes
eval.json and shard.json (what merge checks: bundle, launch file, flags, robotd build)
into --out. robotd eval --shard 0/1 is the unsharded run that merged shards equal
episode for episode.

compare pairs the episodes of BASE and NEW (eval.json files or their directories) by
seed: McNemar's exact test on the discordant seeds, the success difference with its
interval, the time-to-success difference. Exit status: 0 no detectable change,
4 regression, 5 improvement (1 on an error).

sweep expands SPEC.yaml (launch files x bundles x camera noise x latency x executor x
steering, on the same seeds, each cell in shards) into shard jobs of robotd eval: --jobs N
runs them here N at a time and then the table; --plan FILE writes one job per line (the
robotd arguments, for scripts/slurm/submit.sh) and runs nothing; --table merges the
cells after the jobs ran and writes sweep.md, sweep.csv and sweep.png.
`

// Exit statuses of robotd eval compare besides 0 (no detectable change).
const (
	exitRegression  = 4
	exitImprovement = 5
)

// evalScale is robotd eval's --shard flag and what the shard record needs of the flags.
type evalScale struct {
	shard string
	fs    *flag.FlagSet
}

// register adds --shard to robotd eval's flags.
func (c *evalScale) register(fs *flag.FlagSet) {
	c.fs = fs
	fs.StringVar(&c.shard, "shard", "", "run the I-th (0-based) of N contiguous slices of the episodes, each on a fresh system, for robotd eval merge (I/N)")
}

// flags are the flags set on the command line as name=value, except those the shard
// record holds otherwise (--shard, --out, --episodes, --seed, --videos) and those that
// change no outcome (--min-success, --mcap: a shard's own log directory).
func (c *evalScale) flags() []string {
	var out []string
	c.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "shard", "out", "episodes", "seed", "videos", "min-success", "mcap":
		default:
			out = append(out, f.Name+"="+f.Value.String())
		}
	})
	return out
}

// evalSubcommand runs robotd eval merge, compare and sweep; ok is false for other
// arguments (robotd eval itself).
func evalSubcommand(ctx context.Context, args []string, stdout, stderr io.Writer) (ok bool, err error) {
	if len(args) == 0 {
		return false, nil
	}
	switch args[0] {
	case "merge":
		return true, evalMergeCmd(args[1:], stdout, stderr)
	case "compare":
		return true, evalCompareCmd(args[1:], stdout, stderr)
	case "sweep":
		return true, evalSweepCmd(ctx, args[1:], stdout, stderr)
	}
	return false, nil
}

// evalShardCmd runs robotd eval --shard: the shard's slice of the episodes, each on a
// fresh system built from f, into c.out with shard.json beside eval.json.
func evalShardCmd(ctx context.Context, c *evalFlags, f *launch.File, stdout, stderr io.Writer) error {
	sh, err := eval.ParseShard(c.scale.shard)
	if err != nil {
		return err
	}
	if f.Arm.Driver == launch.DriverROS {
		return fmt.Errorf("eval: --shard runs lockstep evaluations (each seed's outcome reproducible); %s drives a ROS arm", f.Path())
	}
	if c.mcap != "" || f.Telemetry.Foxglove != "" {
		return fmt.Errorf("eval: --shard builds a system per episode and logs none of them: run without --mcap and telemetry.foxglove (%s)", f.Path())
	}
	first, n := sh.Range(c.opts.Episodes)
	if n == 0 {
		return fmt.Errorf("eval: --shard %s of %d episode(s) has no episode: want at most %d shards", sh, c.opts.Episodes, c.opts.Episodes)
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	rec, err := eval.NewShardRecord(sh, c.opts, f.Path(), f.Policy.Bundle, c.scale.flags())
	if err != nil {
		return err
	}
	if err := rec.Write(c.out); err != nil {
		return err
	}
	o := c.opts
	o.Seed, o.Episodes = c.opts.Seed+int64(first), n
	o.OnEpisode = func(p eval.Progress) { printProgress(stdout, p, n) }
	iso := eval.Isolated{
		NewSystem: func(ctx context.Context) (*system.System, error) {
			s, _, err := wireLogged(ctx, f, stderr, slog.LevelWarn)
			return s, err
		},
		NewVideo: func(s *system.System, path string) (eval.Video, error) { return sceneVideo(s, path) },
	}
	fmt.Fprintf(stdout, "evaluating shard %s: %d episode(s) from seed %d (of %d from seed %d), each on a fresh system\n",
		sh, n, o.Seed, c.opts.Episodes, c.opts.Seed)
	rep, files, err := eval.RunIsolated(ctx, iso, o, first)
	if errors.Is(err, eval.ErrInterrupted) {
		return exitError{code: system.ExitInterrupted, err: err}
	} else if err != nil {
		return faultExit(err)
	}
	rep.Write(stdout)
	fmt.Fprintf(stdout, "wrote        %s\n", strings.Join(append(files, filepath.Join(c.out, eval.ShardFile)), ", "))
	return evalExit(stdout, rep, c.minSuccess)
}

func evalMergeCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval merge", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), evalScaleUsage, "\nFlags:\n"); fs.PrintDefaults() }
	out := fs.String("out", "", "directory for the merged eval.json, videos and plot (required)")
	minSuccess := fs.Float64("min-success", 0, "fail (exit 1) when the merged success rate is below this (0..1)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		return fmt.Errorf("eval merge: want --out DIR and at least one shard directory")
	}
	rep, files, err := eval.Merge(*out, fs.Args())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "merged %d shard(s): %d episode(s) from seed %d\n", fs.NArg(), rep.Episodes, rep.Seed)
	rep.Write(stdout)
	fmt.Fprintf(stdout, "wrote        %s\n", strings.Join(files, ", "))
	return evalExit(stdout, rep, *minSuccess)
}

func evalCompareCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval compare", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), evalScaleUsage, "\nFlags:\n"); fs.PrintDefaults() }
	alpha := fs.Float64("alpha", 0.05, "significance level of the verdict; the interval is at 1-alpha")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("eval compare: want BASE and NEW (eval.json files or directories), got %d argument(s)", fs.NArg())
	}
	base, err := eval.ReadReport(fs.Arg(0))
	if err != nil {
		return err
	}
	nw, err := eval.ReadReport(fs.Arg(1))
	if err != nil {
		return err
	}
	c, err := eval.Compare(base, nw, fs.Arg(0), fs.Arg(1), *alpha)
	if err != nil {
		return err
	}
	c.Write(stdout)
	switch c.Verdict {
	case eval.Regression:
		return exitError{code: exitRegression, err: fmt.Errorf("eval compare: %s is a regression from %s (McNemar p = %.3g < %g)", fs.Arg(1), fs.Arg(0), c.PValue, *alpha)}
	case eval.Improvement:
		return exitError{code: exitImprovement, err: fmt.Errorf("eval compare: %s is an improvement on %s (McNemar p = %.3g < %g)", fs.Arg(1), fs.Arg(0), c.PValue, *alpha)}
	}
	return nil
}

func evalSweepCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval sweep", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), evalScaleUsage, "\nFlags:\n"); fs.PrintDefaults() }
	jobs := fs.Int("jobs", 1, "shard jobs to run at a time here")
	plan := fs.String("plan", "", "write the shard jobs to this file, one per line, and run nothing")
	table := fs.Bool("table", false, "only merge the cells whose jobs ran and write the table")
	var spec string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		spec, args = args[0], args[1:] // SPEC.yaml before the flags too
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if spec == "" && fs.NArg() == 1 {
		spec = fs.Arg(0)
	} else if spec == "" || fs.NArg() > 0 {
		return fmt.Errorf("eval sweep: want one SPEC.yaml")
	}
	if *jobs < 1 {
		return fmt.Errorf("eval sweep: --jobs %d: want at least 1", *jobs)
	}
	sw, err := eval.LoadSweep(spec)
	if err != nil {
		return err
	}
	all := sw.Jobs()
	if *plan != "" {
		var b strings.Builder
		for _, j := range all {
			b.WriteString(shellJoin(j.Args) + "\n")
		}
		if err := os.WriteFile(*plan, []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("eval sweep: %w", err)
		}
		fmt.Fprintf(stdout, "wrote %s: %d job(s), %d cell(s) x %d shard(s)\n", *plan, len(all), len(sw.Cells()), sw.Shards)
		return nil
	}
	if !*table {
		if err := runJobs(ctx, all, *jobs, stdout); err != nil {
			return err
		}
	}
	rows, files, err := sw.Table()
	if err != nil {
		return err
	}
	for _, r := range rows {
		fmt.Fprintf(stdout, "cell %d: %d/%d = %.1f %% (%.1f .. %.1f %%)\n", r.Cell.Index, r.Report.Successes, r.Report.Episodes,
			100*r.Report.SuccessRate, 100*r.Report.Wilson95[0], 100*r.Report.Wilson95[1])
	}
	fmt.Fprintf(stdout, "wrote        %s\n", strings.Join(files, ", "))
	return nil
}

// runJobs runs the shard jobs as robotd subprocesses, n at a time, each one's output in
// its directory's log.txt. A job that wrote no eval.json is an error naming its log.
func runJobs(ctx context.Context, jobs []eval.SweepJob, n int, stdout io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("eval sweep: %w", err)
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := runJob(ctx, self, j)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			fmt.Fprintf(stdout, "cell %d shard %s done\n", j.Cell, j.Shard)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func runJob(ctx context.Context, self string, j eval.SweepJob) error {
	if err := os.MkdirAll(j.Dir, 0o755); err != nil {
		return fmt.Errorf("eval sweep: %w", err)
	}
	logPath := filepath.Join(j.Dir, "log.txt")
	log, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("eval sweep: %w", err)
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, self, j.Args...)
	cmd.Stdout, cmd.Stderr = log, log
	runErr := cmd.Run()
	if _, err := os.Stat(filepath.Join(j.Dir, "eval.json")); err != nil {
		return fmt.Errorf("eval sweep: cell %d shard %s failed (%v): see %s", j.Cell, j.Shard, runErr, logPath)
	}
	return nil
}

// shellJoin quotes args for a POSIX shell.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}
