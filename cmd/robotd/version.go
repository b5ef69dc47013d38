package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/robotd/robotd/policy/onnx"
	"github.com/robotd/robotd/sim/mujoco"
)

func versionCmd(w io.Writer) error {
	fmt.Fprintf(w, "robotd (%s %s/%s)\nmujoco %s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, mujoco.Version())
	if err := onnx.Init(""); err != nil {
		fmt.Fprintf(w, "onnxruntime: %v\n", err)
	} else {
		fmt.Fprintf(w, "onnxruntime %s\n", onnx.Version())
	}
	return nil
}
