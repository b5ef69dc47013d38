// Command robotd is robotd's single binary. Subcommands:
//
//	robotd run [--launch FILE] [--duration D] [--listen ADDR] [--summary-json FILE] [--trace FILE]
//	    the real-time daemon: perception -> policy -> chunk executor -> safety ->
//	    impedance controller -> arm, as the launch file says (launch/*.yaml); exit
//	    status 3 when the run ended in a fault (docs/daemon.md).
//	robotd sim [--launch launch/sim_ros.yaml]
//	    the MuJoCo scene served over ROS1 as a ros_control robot would serve it.
//	robotd record --launch FILE --out DATASET --task TEXT [--episodes N] [--source policy|expert]
//	    record episodes as a LeRobotDataset v3.0 (docs/episodes.md).
//	robotd eval --launch FILE [--bundle DIR] [--episodes N] [--seed S]
//	    success rate of a policy on the simulated pick-and-place task, with video and plot.
//	robotd eval --shard I/N ... | eval merge | eval compare BASE NEW | eval sweep SPEC.yaml
//	    evaluation at scale: shards, their merge, paired comparison, matrices (docs/eval.md).
//	robotd env [--launch FILE] [--socket PATH | --tcp 127.0.0.1:PORT]
//	    the lockstep pick-and-place task served to a learner over a local socket (docs/env.md).
//	robotd replay DATASET --episode N [--launch FILE] [--plot FILE.png]
//	    send a recorded episode's actions to the arm; report tracking against the recording.
//	robotd eval-offline DATASET --bundle DIR [--episodes all|I,J] [--plot FILE.png]
//	    feed recorded observations to a policy; report its action error per episode.
//	robotd demo [--out DIR] [--model FILE] [--video=false]
//	    the arm in lockstep simulation reaching a sequence of Cartesian targets under
//	    Cartesian impedance control; writes a plot, a video, a CSV trace and a summary.
//	robotd policy info BUNDLE|MODEL.onnx
//	robotd policy run --model MODEL.onnx | --bundle DIR --inputs IN.npz --out OUT.npz
//	    inspect and run policy bundles and ONNX models offline (docs/policy-bundle.md).
//	robotd calib intrinsics --images DIR --board COLSxROWS --square METERS [--out FILE.yaml]
//	robotd calib handeye --mode eye-in-hand|eye-to-hand --intrinsics FILE.yaml --poses FILE.yaml --images DIR ...
//	    camera intrinsics (ROS camera_calibration YAML) and hand-eye calibration from
//	    chessboard images.
//	robotd version
//	    versions of robotd's native components.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: robotd <command> [flags]

commands:
  run       the real-time daemon: cameras -> policy -> chunk executor -> impedance
            control -> arm, from a launch file (default launch/sim.yaml)
  sim       serve the MuJoCo scene over ROS as a ros_control robot (launch sim_server)
  record    record episodes (policy or scripted expert) as a LeRobotDataset v3.0
  replay    send a recorded episode's actions to the arm and report tracking
  eval      closed-loop evaluation of a policy on the simulated pick-and-place task
            (eval merge|compare|sweep: evaluation at scale, docs/eval.md)
  eval-offline  run a policy on a dataset's observations; action error per episode
  convert   ROS1 bags and robotd MCAP logs to a LeRobotDataset v3.0 (docs/live.md)
  env       serve the lockstep pick-and-place task to a learner over a local socket
            (reset, step by policy, chunk, noise or residual; docs/env.md)
  demo      run the simulated arm through a sequence of Cartesian targets
  policy    inspect and run policy bundles and ONNX models (info, run)
  calib     calibrate cameras from chessboard images (intrinsics, handeye)
  version   print the versions of robotd's native components

"robotd <command> -h" shows a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "demo":
		err = demoCmd(ctx, args[1:], stdout, stderr)
	case "run":
		err = runCmd(ctx, args[1:], stdout, stderr)
	case "sim":
		err = simCmd(ctx, args[1:], stdout, stderr)
	case "record":
		err = recordCmd(ctx, args[1:], stdout, stderr)
	case "replay":
		err = replayCmd(ctx, args[1:], stdout, stderr)
	case "eval":
		err = evalCmd(ctx, args[1:], stdout, stderr)
	case "eval-offline":
		err = evalOfflineCmd(args[1:], stdout, stderr)
	case "convert":
		err = convertCmd(ctx, args[1:], stdout, stderr)
	case "env":
		err = envCmd(ctx, args[1:], stdout, stderr)
	case "policy":
		err = policyCmd(args[1:], stdout, stderr)
	case "calib":
		err = calibCmd(args[1:], stdout, stderr)
	case "version":
		err = versionCmd(stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "robotd: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(stderr, "robotd %s: %v\n", args[0], err)
	var ee exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	default:
		return 1
	}
}

// errUsage marks errors already reported by a flag set.
var errUsage = errors.New("usage")
