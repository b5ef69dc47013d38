// Package page is robotd's operator page, served by the telemetry server (GET /): the
// state machine, the cameras (latest JPEG), the tool against its target over the last
// seconds, the safety and watchdog counters, the current plan and a stop button (POST
// /stop). One HTML file with its script inline, embedded in the binary: no build step, no
// external assets, nothing fetched from the network.
//
// The Page is a viz.Sink on the Hub's live side: it keeps the newest message of each
// channel, and GET /live answers them all as one JSON object, which the page polls.
package page

import (
	_ "embed"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/robotd/robotd/viz"
)

//go:embed index.html
var indexHTML []byte

// Page keeps the newest message of each channel for the operator page.
type Page struct {
	topics []string // by channel ID - 1

	mu     sync.Mutex
	latest [][]byte  // by channel ID - 1 (nil: none yet)
	seq    uint64    // messages taken so far
	polled time.Time // the last GET /live
}

// pollWindow is how long after a GET /live the page still wants camera frames and the
// per-tick channels.
const pollWindow = 3 * time.Second

// Wants implements viz.Wanter: the page wants camera frames and the per-tick channels
// (viz.Channel.Live: joint states, torques, poses, gripper, safety) while it is polled
// (an open page polls every 150 ms), and the event channels (state, watchdog, plan,
// steering, log) always, so that a page opened later shows the last of each. Unpolled,
// the hub then encodes nothing per tick for it; a page's first poll may show no joint
// state yet, its next one does.
func (p *Page) Wants(ch *viz.Channel) bool {
	if !ch.Live && !strings.HasPrefix(ch.Topic, "/camera/") {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Since(p.polled) < pollWindow
}

// New makes a Page for a Hub's channels.
func New(channels []viz.Channel) *Page {
	p := &Page{latest: make([][]byte, len(channels))}
	for _, c := range channels {
		p.topics = append(p.topics, c.Topic)
	}
	return p
}

// Write implements viz.Sink: the message replaces the channel's previous one.
func (p *Page) Write(ch *viz.Channel, t time.Time, data []byte) error {
	i := int(ch.ID) - 1
	p.mu.Lock()
	defer p.mu.Unlock()
	if i >= 0 && i < len(p.latest) {
		p.latest[i] = append(p.latest[i][:0], data...)
		p.seq++
	}
	return nil
}

// ServeHTTP serves GET / (the page) and GET /live ({"seq": messages so far, "topics":
// {topic: newest message}}); other paths get 404.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/", "/index.html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(indexHTML)
	case "/live":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(p.snapshot())
	default:
		http.NotFound(w, r)
	}
}

// snapshot encodes the newest messages (already JSON) into one object.
func (p *Page) snapshot() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.polled = time.Now()
	b := []byte(`{"seq":`)
	b = appendUint(b, p.seq)
	b = append(b, `,"topics":{`...)
	first := true
	for i, m := range p.latest {
		if m == nil {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, p.topics[i]...) // topics are plain ASCII paths
		b = append(b, `":`...)
		b = append(b, m...)
	}
	return append(b, "}}"...)
}

func appendUint(b []byte, v uint64) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}
