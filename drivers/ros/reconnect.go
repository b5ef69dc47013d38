package ros

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/apimaster"
	"github.com/bluenviron/goroslib/v2/pkg/apislave"

	"github.com/robotd/robotd/clock"
)

// masterWatch re-registers a node with a master that restarted. Every node robotd makes
// has one (Arm, StopListener, StatusPublisher, Camera; sim/rosbridge's Server and Cameras; each
// config's MasterCheck is its period).
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
// getSystemState / getTopicTypes taken while the master was healthy, refreshed every
// couple of seconds), then hands each subscriber the publishers the new master returned
// through the node's own publisherUpdate, exactly as the master's callback would.
//
// Publishers connected before the restart are kept: rospy and roscpp nodes never
// register again, so a new master does not list them, and goroslib drops a publisher
// that a publisherUpdate leaves out. Every publisher a subscriber had that still answers
// and still publishes the topic (its getPublications) is added to what is handed over,
// and when the master's own publisherUpdate later drops one (a new publisher of the
// topic appeared), the next check hands it back (goroslib reconnects; a latched
// publisher then delivers its message once more). goroslib keys publishers by
// host:port, so handing over a publisher it has already changes nothing: registering
// again never duplicates a connection or a callback. A handover that could drop a
// publisher the master registered meanwhile is checked against the master's list again.
//
// A node of the same name at another URL means another process took the name (the
// master told this node to shut down: in ROS the newest node of a name wins); the watch
// then logs it and does not register, which would shut the other one down in turn.
//
// Each XML-RPC call the watch makes times out after the period plus a second; stop
// cancels the call in flight.
type masterWatch struct {
	name   string // absolute node name
	url    string // the node's slave API
	master *apimaster.Client
	self   *apislave.Client
	hc     *http.Client
	tr     *http.Transport // hc's, closed by stop
	period time.Duration
	clk    clock.Clock // the checks' period
	every  int         // healthy checks between two snapshots of the subscriptions
	log    *slog.Logger

	// Owned by run (by watchMaster before run starts).
	subs map[string]string         // topic -> type: the node's subscriptions (last verified snapshot)
	kept map[string]map[string]int // topic -> publisher host:port the master does not list -> consecutive handbacks

	reregs atomic.Uint64
	kepts  atomic.Uint64 // publishers handed back after the master's publisherUpdate dropped them
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// snapshotPeriod is how often a healthy watch refreshes its snapshot of the node's
// subscriptions (only subscriptions made after the node's constructor returned need it).
const snapshotPeriod = 2 * time.Second

// maxHandbacks is how many checks in a row may hand back a kept publisher that goroslib
// still does not list (its subscription was closed) before the watch forgets it.
const maxHandbacks = 3

// watchMaster starts a watch of node, named name, on master (host:port), checking every
// period on clk. A period <= 0 returns nil (no watch); a nil watch's methods do nothing.
// Errors when the node or its subscriptions cannot be read from the master now.
func watchMaster(node *goroslib.Node, clk clock.Clock, master, name string, period time.Duration, log *slog.Logger) (*masterWatch, error) {
	if period <= 0 {
		return nil, nil
	}
	if log == nil {
		log = slog.Default()
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	abs := "/" + name
	ctx, cancel := context.WithCancel(context.Background())
	w := &masterWatch{
		name:   abs,
		hc:     &http.Client{Timeout: period + time.Second, Transport: &cancelTransport{ctx: ctx, base: tr}},
		tr:     tr,
		ctx:    ctx,
		cancel: cancel,
		period: period,
		clk:    clk,
		every:  max(1, int(snapshotPeriod/period)),
		log:    log,
		subs:   map[string]string{},
		kept:   map[string]map[string]int{},
		done:   make(chan struct{}),
	}
	w.master = apimaster.NewClient(master, abs, w.hc)
	var err error
	if w.url, err = w.master.LookupNode(abs); err != nil {
		cancel()
		tr.CloseIdleConnections()
		return nil, fmt.Errorf("ros: master %s does not know node %s: %w", master, abs, err)
	}
	w.self = apislave.NewClient(urlHost(w.url), abs, w.hc)
	if err := w.snapshot(); err != nil {
		cancel()
		tr.CloseIdleConnections()
		return nil, fmt.Errorf("ros: node %s: %w", abs, err)
	}
	go w.run()
	return w, nil
}

// urlHost turns http://host:port/ into host:port.
func urlHost(u string) string {
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		return p.Host
	}
	return strings.TrimRight(strings.TrimPrefix(u, "http://"), "/")
}

// stop ends the watch, cancelling the call in flight, if any.
func (w *masterWatch) stop() {
	if w == nil {
		return
	}
	w.cancel()
	<-w.done
}

// reregistrations counts how often the node registered again with a restarted master.
func (w *masterWatch) reregistrations() uint64 {
	if w == nil {
		return 0
	}
	return w.reregs.Load()
}

var errMasterChanged = errors.New("the master changed during the snapshot")

// snapshot replaces the record of the node's subscriptions with what the master knows,
// when the master still knows the node afterwards (a master that restarted in between
// would otherwise yield an empty record).
func (w *masterWatch) snapshot() error {
	state, err := w.master.GetSystemState()
	if err != nil {
		return fmt.Errorf("getSystemState: %w", err)
	}
	types, err := w.master.GetTopicTypes()
	if err != nil {
		return fmt.Errorf("getTopicTypes: %w", err)
	}
	if u, err := w.master.LookupNode(w.name); err != nil || u != w.url {
		return errMasterChanged
	}
	typ := map[string]string{}
	for _, t := range types {
		typ[t.Name] = t.Type
	}
	subs := map[string]string{}
	for _, e := range state.SubscribedTopics {
		if typ[e.Name] != "" && slices.Contains(e.Nodes, w.name) {
			subs[e.Name] = typ[e.Name]
		}
	}
	w.subs = subs
	for topic := range w.kept {
		if _, ok := subs[topic]; !ok {
			delete(w.kept, topic)
		}
	}
	return nil
}

func (w *masterWatch) run() {
	defer close(w.done)
	defer w.tr.CloseIdleConnections()
	t := w.clk.NewTicker(w.period)
	defer t.Stop()
	var st watchState
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C():
		}
		if w.ctx.Err() != nil { // both were ready
			return
		}
		w.check(&st)
	}
}

// watchState is what a watch remembers from one check to the next.
type watchState struct {
	down    bool // the master was unreachable, or registering failed
	foreign bool // another node has this node's name
	healthy int  // checks since the last registration that found the master knowing the node
}

// check asks the master about the node once and registers it again when needed.
func (w *masterWatch) check(st *watchState) {
	url, err := w.master.LookupNode(w.name)
	if w.ctx.Err() != nil {
		return
	}
	switch {
	case err != nil && !isMasterAnswer(err):
		// Master unreachable: nothing to do until it is back.
		if !st.down {
			w.log.Warn("ros: master unreachable; will register again when it is back", "node", w.name, "err", err)
		}
		st.down = true
		return
	case err == nil && url != w.url:
		if !st.foreign {
			w.log.Error("ros: another node registered under this node's name; this one stays unregistered, so new peers do not find it (give each process its own node names)",
				"node", w.name, "url", w.url, "other", url)
		}
		st.foreign = true
		return
	case err == nil && !st.down:
		st.foreign = false
		if st.healthy++; st.healthy%w.every == 0 {
			w.snapshot() // a failure keeps the previous record
		}
		if err := w.keep(); err != nil && w.ctx.Err() == nil {
			w.log.Warn("ros: handing back publishers the master does not list failed; retrying", "node", w.name, "err", err)
		}
		return
	}
	if err := w.register(); err != nil {
		if w.ctx.Err() == nil {
			w.log.Warn("ros: registering with the master again failed; retrying", "node", w.name, "err", err)
		}
		st.down = true
		return
	}
	*st = watchState{}
}

// isMasterAnswer reports whether err is the master's own refusal (it answered), rather
// than a transport failure.
func isMasterAnswer(err error) bool {
	// goroslib's apimaster formats a non-1 status code this way; transport errors differ.
	return strings.HasPrefix(err.Error(), "server returned an error")
}

// register registers every publication and the snapshot's subscriptions again, and
// hands each subscriber the new master's publishers plus the ones it had that still
// publish its topic.
func (w *masterWatch) register() error {
	pubs, err := w.self.GetPublications()
	if err != nil {
		return fmt.Errorf("own publications: %w", err)
	}
	for _, p := range pubs {
		if len(p) != 2 {
			continue
		}
		if err := w.ctx.Err(); err != nil {
			return err
		}
		if _, err := w.master.RegisterPublisher(p[0], p[1], w.url); err != nil {
			return fmt.Errorf("registerPublisher %s: %w", p[0], err)
		}
	}
	bus, err := w.inbound()
	if err != nil {
		return err
	}
	nkept := 0
	for topic, typ := range w.subs {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		uris, err := w.master.RegisterSubscriber(topic, typ, w.url)
		if err != nil {
			return fmt.Errorf("registerSubscriber %s: %w", topic, err)
		}
		listed := hostSet(uris)
		keep := map[string]int{}
		for _, set := range []map[string]bool{bus[topic], keys(w.kept[topic])} {
			for addr := range set {
				if _, seen := keep[addr]; !seen && !listed[addr] && w.publishes(addr, topic) {
					keep[addr] = 0
				}
			}
		}
		if len(keep) > 0 {
			w.kept[topic] = keep
		} else {
			delete(w.kept, topic)
		}
		nkept += len(keep)
		if err := w.handover(topic, typ, bus[topic], keep); err != nil {
			return err
		}
	}
	w.reregs.Add(1)
	w.log.Info("ros: registered again with the master", "node", w.name, "publications", len(pubs),
		"subscriptions", len(w.subs), "kept_publishers", nkept)
	return nil
}

// keep hands back the kept publishers that goroslib no longer lists (the master's
// publisherUpdate dropped them), and forgets the ones that stopped publishing.
func (w *masterWatch) keep() error {
	if len(w.kept) == 0 {
		return nil
	}
	bus, err := w.inbound()
	if err != nil {
		return err
	}
	for topic, kept := range w.kept {
		back := 0
		for addr, n := range kept {
			switch {
			case bus[topic][addr]:
				kept[addr] = 0
			case n >= maxHandbacks || !w.publishes(addr, topic):
				delete(kept, addr)
			default:
				kept[addr] = n + 1
				back++
			}
		}
		if len(kept) == 0 {
			delete(w.kept, topic)
			continue
		}
		if back == 0 {
			continue
		}
		if err := w.handover(topic, w.subs[topic], bus[topic], kept); err != nil {
			return err
		}
		w.kepts.Add(uint64(back))
		w.log.Info("ros: handed back publishers connected before the master restarted", "node", w.name, "topic", topic, "publishers", back)
	}
	return nil
}

// handover makes the subscriber of topic list the master's publishers plus keep, given
// that it lists have now. goroslib replaces its list with each publisherUpdate, so an
// update built from an older master list would drop a publisher that registered
// meanwhile: after each update the master's list is read again, until it adds nothing.
func (w *masterWatch) handover(topic, typ string, have map[string]bool, keep map[string]int) error {
	sent := have
	for range 5 {
		uris, err := w.master.RegisterSubscriber(topic, typ, w.url) // idempotent: the current list
		if err != nil {
			return fmt.Errorf("registerSubscriber %s: %w", topic, err)
		}
		want := hostSet(uris)
		for addr := range keep {
			want[addr] = true
		}
		if sameSet(want, sent) {
			return nil
		}
		list := make([]string, 0, len(want))
		for addr := range want {
			list = append(list, "http://"+addr+"/")
		}
		slices.Sort(list)
		if err := w.self.PublisherUpdate(topic, list); err != nil {
			return fmt.Errorf("publisherUpdate %s: %w", topic, err)
		}
		sent = want
	}
	return nil
}

// inbound returns, per subscribed topic, the publishers (host:port) goroslib's
// subscriber lists now (connected or retrying), from the node's getBusInfo.
func (w *masterWatch) inbound() (map[string]map[string]bool, error) {
	info, err := w.self.GetBusInfo()
	if err != nil {
		return nil, fmt.Errorf("own bus info: %w", err)
	}
	bus := map[string]map[string]bool{}
	for _, c := range info {
		// [connectionId, destination, direction, transport, topic, connected]
		if len(c) < 5 {
			continue
		}
		dest, _ := c[1].(string)
		dir, _ := c[2].(string)
		topic, _ := c[4].(string)
		if dir != "i" || dest == "" || topic == "" {
			continue
		}
		if bus[topic] == nil {
			bus[topic] = map[string]bool{}
		}
		bus[topic][urlHost(dest)] = true
	}
	return bus, nil
}

// publishes asks the node at addr (host:port of its slave API) whether it publishes
// topic; false when it does not answer.
func (w *masterWatch) publishes(addr, topic string) bool {
	pubs, err := apislave.NewClient(addr, w.name, w.hc).GetPublications()
	if err != nil {
		return false
	}
	for _, p := range pubs {
		if len(p) > 0 && p[0] == topic {
			return true
		}
	}
	return false
}

func hostSet(uris []string) map[string]bool {
	s := make(map[string]bool, len(uris))
	for _, u := range uris {
		s[urlHost(u)] = true
	}
	return s
}

func keys(m map[string]int) map[string]bool {
	s := make(map[string]bool, len(m))
	for k := range m {
		s[k] = true
	}
	return s
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// nodeTimeout bounds each XML-RPC call of a node robotd makes (goroslib's default is 10
// s). Closing a node's subscribers and publishers unregisters each with the master, one
// call each: with a master that hangs (stopped, or a remote host gone) a StopListener's
// Close took 32 s with the default; closeAll also makes those calls at once.
const nodeTimeout = 2 * time.Second

// closeAll runs the closers at once and waits for them all: goroslib's Subscriber.Close
// and Publisher.Close each wait for an unregistration at the master, which takes up to
// nodeTimeout when the master does not answer. Nil closers are skipped.
func closeAll(closers ...func()) {
	var wg sync.WaitGroup
	for _, c := range closers {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); c() }()
	}
	wg.Wait()
}

// cancelTransport ends a watch's requests when the watch stops (ctx ends), as well as at
// the client's timeout: goroslib's XML-RPC clients take no context.
type cancelTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t *cancelTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(r.Context()) // r's carries the client's deadline
	unhook := context.AfterFunc(t.ctx, cancel)
	release := func() { unhook(); cancel() }
	resp, err := t.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		release()
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// releasingBody releases its request's context once read and closed.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// subClose and pubClose are closers for closeAll (nil for nil).
func subClose(s *goroslib.Subscriber) func() {
	if s == nil {
		return nil
	}
	return s.Close
}

func pubClose(p *goroslib.Publisher) func() {
	if p == nil {
		return nil
	}
	return p.Close
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
