package rosbridge

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/control_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/robotd/robotd/drivers/ros"
)

// gripperServer serves the sim's gripper (Server side): width commands or action
// goals in, finger joints or the width out.
type gripperServer struct {
	cfg     ros.GripperConfig
	fingers [2]int // qpos addresses of the finger joints
	pending atomic.Uint64
	fresh   atomic.Bool
	width   atomic.Uint64 // float64 bits, after the last step
	sub     *goroslib.Subscriber
	sas     *goroslib.SimpleActionServer
	pub     *goroslib.Publisher // nil when the fingers go in the arm's JointState
	closing atomic.Bool
	got     atomic.Uint64 // commands and goals taken
}

func (g *gripperServer) onWidth(m *std_msgs.Float64) {
	if !finite(m.Data) {
		return
	}
	g.pending.Store(math.Float64bits(m.Data))
	g.fresh.Store(true)
	g.got.Add(1)
}

// onGoal executes an action goal: set the width, then report when the fingers are there
// (within 1 mm), stopped (blocked by an object), preempted, or after 5 s of wall time.
func (g *gripperServer) onGoal(sas *goroslib.SimpleActionServer, goal *control_msgs.GripperCommandActionGoal) {
	scale := g.cfg.PositionScale()
	target := goal.Command.Position / scale
	if !finite(target) {
		sas.SetAborted(&control_msgs.GripperCommandActionResult{})
		return
	}
	target = math.Max(0, math.Min(g.cfg.MaxWidth, target))
	g.pending.Store(math.Float64bits(target))
	g.fresh.Store(true)
	g.got.Add(1)
	deadline := time.Now().Add(5 * time.Second)
	last, still := math.NaN(), 0
	for !g.closing.Load() && !sas.IsPreemptRequested() && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
		w := math.Float64frombits(g.width.Load())
		if math.Abs(w-target) < 1e-3 {
			sas.SetSucceeded(&control_msgs.GripperCommandActionResult{Position: scale * w, ReachedGoal: true})
			return
		}
		if math.Abs(w-last) < 1e-6 {
			still++
		} else {
			still = 0
		}
		last = w
		if still > 100 {
			sas.SetSucceeded(&control_msgs.GripperCommandActionResult{Position: scale * w, Stalled: true})
			return
		}
	}
	sas.SetAborted(&control_msgs.GripperCommandActionResult{Position: scale * math.Float64frombits(g.width.Load())})
}

// finite is false for NaN and the infinities.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
