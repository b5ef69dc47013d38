package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/robotd/robotd/sim/mujoco"
)

func versionCmd(w io.Writer) error {
	fmt.Fprintf(w, "robotd (%s %s/%s)\nmujoco %s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, mujoco.Version())
	return nil
}
