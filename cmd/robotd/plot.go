package main

import "github.com/robotd/robotd/internal/plot"

// plotDemo draws the demo's tool position against the target per axis, and the tracking
// error on a log scale, one panel each, into a PNG (plot.Reach).
func plotDemo(path string, res *demoResult) error {
	trace := make([]plot.ReachPoint, len(res.Trace))
	for i, s := range res.Trace {
		trace[i] = plot.ReachPoint{T: s.T, Tool: s.Tool, Target: s.Target, PosErr: s.PosErr}
	}
	return plot.Reach(path, trace, res.SimTime.Seconds())
}
