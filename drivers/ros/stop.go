package ros

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/robotd/robotd/clock"
)

// StopConfig configures a StopListener. Zero fields take the documented defaults.
type StopConfig struct {
	// MasterAddress is the ROS master. Default as ArmConfig's.
	MasterAddress string
	// Node is the listener's own node name. Default "robotd_stop".
	Node string
	// Namespace holds the stop topics: <Namespace>/stop and <Namespace>/stop_now. Default
	// "/robotd" (the StatusPublisher's).
	Namespace string
	// Backoff as in ArmConfig.
	Backoff time.Duration
	// MasterCheck as in ArmConfig: how often the listener checks that the master still
	// knows it, and registers its subscriptions again after a master restart (default
	// 250 ms; negative: no check). Without it, stop requests from peers that start after
	// a master restart never arrive.
	MasterCheck time.Duration
	// Clock as in ArmConfig: the backoff and the master checks. Default clock.Real.
	Clock clock.Clock
}

// WithDefaults returns the config with its zero fields filled.
func (c StopConfig) WithDefaults() StopConfig {
	a := ArmConfig{MasterAddress: c.MasterAddress, Backoff: c.Backoff, MasterCheck: c.MasterCheck, Clock: c.Clock}.WithDefaults()
	c.MasterAddress, c.Backoff, c.MasterCheck, c.Clock = a.MasterAddress, a.Backoff, a.MasterCheck, a.Clock
	if c.Node == "" {
		c.Node = "robotd_stop"
	}
	if c.Namespace == "" {
		c.Namespace = "/robotd"
	}
	return c
}

// Validate checks the config after defaults.
func (c StopConfig) Validate() error {
	if strings.ContainsAny(c.Namespace, " \t") || strings.ContainsAny(c.Node, " \t/") {
		return fmt.Errorf("ros: stop config: namespace %q or node %q is not a ROS name", c.Namespace, c.Node)
	}
	if c.Backoff < 0 {
		return fmt.Errorf("ros: stop config: Backoff %v must be positive", c.Backoff)
	}
	return nil
}

// StopTopic is the topic of graceful stop requests.
func (c StopConfig) StopTopic() string { return "/" + strings.Trim(c.Namespace, "/") + "/stop" }

// StopNowTopic is the topic of immediate (safe) stop requests.
func (c StopConfig) StopNowTopic() string { return "/" + strings.Trim(c.Namespace, "/") + "/stop_now" }

// StopFunc receives a stop request: the reason, and whether the stop is immediate.
type StopFunc func(reason string, immediate bool)

// StopListener takes stop requests from ROS peers. The convention:
//
//   - <Namespace>/stop (std_msgs/String): a graceful stop, as SIGINT: the arm ramps to a
//     hold at its pose and the run ends normally (robotd run exits 0);
//   - <Namespace>/stop_now (std_msgs/String): an immediate safe stop, as a second SIGINT:
//     the run ends in its safe stop (robotd run exits 3, fault stop_now).
//
// The message's data is the reason, reported in the log and the run's summary; an empty
// one reads "ROS <topic>". From a shell:
//
//	rostopic pub -1 /robotd/stop std_msgs/String "data: 'operator: end of shift'"
//	rostopic pub -1 /robotd/stop_now std_msgs/String "data: 'person in the cell'"
//
// Every message is a request (there is no "resume"); repeated ones are harmless. The
// StopFunc runs on goroslib's callback goroutine: it must not block.
//
// After a master restart the listener registers its two subscriptions again (within
// StopConfig.MasterCheck of the master's return), so peers that start afterwards reach
// it; publishers connected before the restart stay connected (see masterWatch).
type StopListener struct {
	cfg       StopConfig
	node      *goroslib.Node
	stop, now *goroslib.Subscriber
	watch     *masterWatch
	fn        StopFunc
	stops     atomic.Uint64
	stopNows  atomic.Uint64
}

// NewStopListener connects to the master (retrying with backoff until ctx ends) with a
// node of its own and subscribes the two stop topics; fn receives the requests until
// Close.
func NewStopListener(ctx context.Context, cfg StopConfig, fn StopFunc) (*StopListener, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, fmt.Errorf("ros: stop listener: no StopFunc")
	}
	l := &StopListener{cfg: cfg, fn: fn}
	node, err := connect(ctx, cfg.Clock, cfg.MasterAddress, cfg.Node, cfg.Backoff)
	if err != nil {
		return nil, err
	}
	l.node = node
	l.stop, err = goroslib.NewSubscriber(goroslib.SubscriberConf{Node: node, Topic: cfg.StopTopic(),
		Callback: func(m *std_msgs.String) { l.request(cfg.StopTopic(), m.Data, false) }})
	if err == nil {
		l.now, err = goroslib.NewSubscriber(goroslib.SubscriberConf{Node: node, Topic: cfg.StopNowTopic(),
			Callback: func(m *std_msgs.String) { l.request(cfg.StopNowTopic(), m.Data, true) }})
	}
	if err == nil {
		l.watch, err = watchMaster(node, cfg.Clock, cfg.MasterAddress, cfg.Node, cfg.MasterCheck, nil)
	}
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("ros: stop listener: %w", err)
	}
	return l, nil
}

func (l *StopListener) request(topic, reason string, immediate bool) {
	if immediate {
		l.stopNows.Add(1)
	} else {
		l.stops.Add(1)
	}
	if reason == "" {
		reason = "ROS " + topic
	} else {
		reason = "ROS " + topic + ": " + reason
	}
	l.fn(reason, immediate)
}

// Stats returns how many graceful and immediate stop requests arrived.
func (l *StopListener) Stats() (stops, stopNows uint64) { return l.stops.Load(), l.stopNows.Load() }

// Reregistrations counts the listener's registrations with a restarted master (see
// StopConfig.MasterCheck). It is not in Stats, whose two results callers already take.
func (l *StopListener) Reregistrations() uint64 { return l.watch.reregistrations() }

// Close unsubscribes and leaves the ROS graph.
func (l *StopListener) Close() {
	l.watch.stop()
	closeAll(subClose(l.now), subClose(l.stop))
	closeNode(l.node)
}
