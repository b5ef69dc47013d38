package ros

import (
	"context"
	"log/slog"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/geometry_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/calib"
	"github.com/robotd/robotd/clock"
	"github.com/robotd/robotd/drivers"
)

// This file exports the client's ROS plumbing for the other side of its topics: the sim's
// ROS bridge (sim/rosbridge), which serves a MuJoCo arm and its cameras as a robot would,
// with the same node lifecycle (connect with backoff, re-register with a restarted master,
// close without goroslib's stalls) and the same message conversions as the client. They
// live here, in pure Go, so that both sides share one copy and the client needs no cgo.

// Connect creates a goroslib node named name on master (host:port), retrying every
// backoff while the master does not answer, until ctx ends. Its XML-RPC calls time out
// after 2 s, which bounds Close with a hung master.
func Connect(ctx context.Context, master, name string, backoff time.Duration) (*goroslib.Node, error) {
	return connect(ctx, clock.Real, master, name, backoff)
}

// MasterWatch re-registers a node's publishers and subscriptions with a master that
// restarted (the watch every node of this package has; its doc is masterWatch's in
// reconnect.go). A nil *MasterWatch does nothing.
type MasterWatch struct{ w *masterWatch }

// WatchMaster starts a watch of node, named name, on master, checking every period
// (<= 0: no watch, and a nil *MasterWatch); log takes its messages (nil: slog.Default).
// It errors when the node or its subscriptions cannot be read from the master now.
func WatchMaster(node *goroslib.Node, master, name string, period time.Duration, log *slog.Logger) (*MasterWatch, error) {
	w, err := watchMaster(node, clock.Real, master, name, period, log)
	if w == nil || err != nil {
		return nil, err
	}
	return &MasterWatch{w}, nil
}

// Stop ends the watch, cancelling the call in flight, if any.
func (m *MasterWatch) Stop() {
	if m != nil {
		m.w.stop()
	}
}

// Reregistrations counts how often the node registered again with a restarted master.
func (m *MasterWatch) Reregistrations() uint64 {
	if m == nil {
		return 0
	}
	return m.w.reregistrations()
}

// CloseAll runs the closers at once and waits for them all: goroslib's Subscriber.Close
// and Publisher.Close each wait for an unregistration at the master, which takes up to
// 2 s when the master does not answer. Nil closers are skipped.
func CloseAll(closers ...func()) { closeAll(closers...) }

// SubscriberCloser and PublisherCloser are closers for CloseAll (nil for nil).
func SubscriberCloser(s *goroslib.Subscriber) func() { return subClose(s) }

// PublisherCloser: see SubscriberCloser.
func PublisherCloser(p *goroslib.Publisher) func() { return pubClose(p) }

// CloseNode closes a goroslib node without the 5 s stall net/http can add (see closeNode
// in reconnect.go for the measurement).
func CloseNode(n *goroslib.Node) { closeNode(n) }

// CommandKindOf is the drivers.CommandKind of a command convention (ArmConfig.Command:
// CommandEffort, CommandPose or CommandTrajectory); false for another string.
func CommandKindOf(command string) (drivers.CommandKind, bool) {
	k, ok := commandKinds[command]
	return k, ok
}

// PoseFromMessage is a geometry_msgs/Pose as a position (m) and a unit quaternion, as the
// Arm's pose commands carry them.
func PoseFromMessage(p *geometry_msgs.Pose) (mgl64.Vec3, mgl64.Quat) { return poseFromMessage(p) }

// CameraInfoMessage is in as a sensor_msgs/CameraInfo (plumb_bob, no binning, full
// image), the message the Camera reads back into the same intrinsics.
func CameraInfoMessage(h std_msgs.Header, in *calib.Intrinsics) *sensor_msgs.CameraInfo {
	return cameraInfoMsg(h, in)
}

// PositionScale is a GripperCommand action's command.position per metre of opening (1
// with ActionPosition "width", 0.5 for a finger's travel).
func (c GripperConfig) PositionScale() float64 { return c.positionScale() }

// Mailbox is the single-producer, single-consumer latest-value mailbox over three
// preallocated buffers that the Arm hands its states and commands through (triple in
// mailbox.go): neither side blocks or allocates, and the consumer sees the newest
// complete value.
type Mailbox[T any] = triple[T]

// NewMailbox makes a Mailbox whose three buffers mk allocates.
func NewMailbox[T any](mk func() T) *Mailbox[T] { return newTriple(mk) }
