package ros

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/apimaster"
	"github.com/bluenviron/goroslib/v2/pkg/apislave"
)

// masterWatch re-registers a node with a master that restarted.
//
// goroslib registers a node's publishers and subscribers once, when they are created,
// and never again: a restarted rosmaster knows nothing of them, so no new peer finds the
// node's topics and the node learns of no new publisher (checked against Debian's
// rosmaster in TestMasterRestart*). Connections already made between peers survive,
// since TCPROS does not go through the master.
//
// The watch asks the master every period whether it knows the node at its own slave URL
// (lookupNode). When it does not, or when the master was unreachable at the previous
// check, it registers again every publisher the node has (from the node's own slave API,
// getPublications) and every subscription it had on the old master (a snapshot of
// getSystemState / getTopicTypes taken while the master was healthy), then hands each
// subscriber the publishers the new master returned through the node's own
// publisherUpdate, exactly as the master's callback would. An empty publisher list is not
// handed over: that would drop connections to publishers that are alive but have not
// re-registered yet; the master's own publisherUpdate brings them when they do.
type masterWatch struct {
	name   string // absolute node name
	url    string // the node's slave API
	master *apimaster.Client
	self   *apislave.Client
	period time.Duration
	log    *slog.Logger

	mu   sync.Mutex
	subs map[string]string // topic -> type, subscriptions seen on a healthy master

	reregs atomic.Uint64
	cancel context.CancelFunc
	done   chan struct{}
}

// watchMaster starts a watch of node, named name, on master (host:port). A period <= 0
// returns nil (no watch). Errors only when the node cannot be found on the master now.
func watchMaster(node *goroslib.Node, master, name string, period time.Duration, log *slog.Logger) (*masterWatch, error) {
	if period <= 0 {
		return nil, nil
	}
	hc := &http.Client{Timeout: period + time.Second}
	abs := "/" + name
	w := &masterWatch{
		name:   abs,
		master: apimaster.NewClient(master, abs, hc),
		period: period,
		log:    log,
		subs:   map[string]string{},
		done:   make(chan struct{}),
	}
	var err error
	if w.url, err = w.master.LookupNode(abs); err != nil {
		return nil, fmt.Errorf("ros: master %s does not know node %s: %w", master, abs, err)
	}
	w.self = apislave.NewClient(urlHost(w.url), abs, hc)
	w.snapshot()
	var ctx context.Context
	ctx, w.cancel = context.WithCancel(context.Background())
	go w.run(ctx)
	return w, nil
}

// urlHost turns http://host:port/ into host:port.
func urlHost(u string) string {
	return strings.TrimRight(strings.TrimPrefix(u, "http://"), "/")
}

func (w *masterWatch) stop() {
	if w == nil {
		return
	}
	w.cancel()
	<-w.done
}

// Reregistrations counts how often the node registered again with a restarted master.
func (w *masterWatch) reregistrations() uint64 {
	if w == nil {
		return 0
	}
	return w.reregs.Load()
}

// snapshot records the node's subscriptions as the master knows them.
func (w *masterWatch) snapshot() {
	state, err := w.master.GetSystemState()
	if err != nil {
		return
	}
	types, err := w.master.GetTopicTypes()
	if err != nil {
		return
	}
	typ := map[string]string{}
	for _, t := range types {
		typ[t.Name] = t.Type
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range state.SubscribedTopics {
		for _, n := range e.Nodes {
			if n == w.name && typ[e.Name] != "" {
				w.subs[e.Name] = typ[e.Name]
			}
		}
	}
}

func (w *masterWatch) run(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(w.period)
	defer t.Stop()
	wasDown := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		url, err := w.master.LookupNode(w.name)
		switch {
		case err != nil && !isMasterAnswer(err):
			// Master unreachable: nothing to do until it is back.
			if !wasDown {
				w.log.Warn("ros: master unreachable; will register again when it is back", "node", w.name, "err", err)
			}
			wasDown = true
			continue
		case err == nil && url == w.url && !wasDown:
			w.snapshot()
			continue
		}
		if err := w.register(); err != nil {
			w.log.Warn("ros: registering with the master again failed; retrying", "node", w.name, "err", err)
			wasDown = true
			continue
		}
		wasDown = false
	}
}

// isMasterAnswer reports whether err is the master's own refusal (it answered), rather
// than a transport failure.
func isMasterAnswer(err error) bool {
	// goroslib's apimaster formats a non-1 status code this way; transport errors differ.
	return strings.HasPrefix(err.Error(), "server returned an error")
}

// register registers every publication and the snapshot's subscriptions again.
func (w *masterWatch) register() error {
	pubs, err := w.self.GetPublications()
	if err != nil {
		return fmt.Errorf("own publications: %w", err)
	}
	for _, p := range pubs {
		if len(p) != 2 {
			continue
		}
		if _, err := w.master.RegisterPublisher(p[0], p[1], w.url); err != nil {
			return fmt.Errorf("registerPublisher %s: %w", p[0], err)
		}
	}
	w.mu.Lock()
	subs := make(map[string]string, len(w.subs))
	for k, v := range w.subs {
		subs[k] = v
	}
	w.mu.Unlock()
	for topic, typ := range subs {
		uris, err := w.master.RegisterSubscriber(topic, typ, w.url)
		if err != nil {
			return fmt.Errorf("registerSubscriber %s: %w", topic, err)
		}
		if len(uris) > 0 {
			if err := w.self.PublisherUpdate(topic, uris); err != nil {
				return fmt.Errorf("publisherUpdate %s: %w", topic, err)
			}
		}
	}
	w.reregs.Add(1)
	w.log.Info("ros: registered again with the master", "node", w.name, "publications", len(pubs), "subscriptions", len(subs))
	return nil
}

// closeNode closes a goroslib node without the 5 s stall net/http can add: goroslib's
// XML-RPC clients use http.DefaultTransport, which may dial a spare connection to a
// node's slave API that never carries a request; http.Server.Shutdown waits 5 s for such
// a connection before it counts it idle. Closing the idle connections of the default
// transport first (they are redialled when needed) lets nodes in this process close at
// once. Measured: 4 of 12 closes of a pose-mode pair took 5.9-6.5 s without it. They
// are closed again afterwards: the node's last calls to the master leave a keep-alive
// connection (and its two goroutines) that would otherwise outlive the node.
func closeNode(n *goroslib.Node) {
	t, ok := http.DefaultTransport.(*http.Transport)
	if ok {
		t.CloseIdleConnections()
	}
	n.Close()
	if ok {
		t.CloseIdleConnections()
	}
}
