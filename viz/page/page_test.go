package page

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/robotd/robotd/viz"
)

// TestLive: GET /live answers the newest message of each channel as one JSON object,
// the count of messages taken, and nothing for channels without one.
func TestLive(t *testing.T) {
	chans := []viz.Channel{{ID: 1, Topic: "/robotd/state"}, {ID: 2, Topic: "/camera/wrist"}, {ID: 3, Topic: "/robotd/plan"}}
	p := New(chans)
	p.Write(&chans[0], time.Now(), []byte(`{"to":"homing"}`))
	p.Write(&chans[0], time.Now(), []byte(`{"to":"running"}`))
	p.Write(&chans[1], time.Now(), []byte(`{"format":"jpeg","data":"AAAA"}`))
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest("GET", "/live", nil))
	var got struct {
		Seq    int
		Topics map[string]map[string]string
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("/live: %v: %s", err, w.Body)
	}
	if got.Seq != 3 || len(got.Topics) != 2 || got.Topics["/robotd/state"]["to"] != "running" || got.Topics["/camera/wrist"]["data"] != "AAAA" {
		t.Errorf("/live = %s", w.Body)
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Error("/live may be cached")
	}
	w = httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest("GET", "/nothing", nil))
	if w.Code != 404 {
		t.Errorf("/nothing: %d", w.Code)
	}
}

// TestSelfContained: the page loads nothing from elsewhere (no src or href to another
// origin, no import, no CDN) and has its STOP button posting to /stop.
func TestSelfContained(t *testing.T) {
	w := httptest.NewRecorder()
	New(nil).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	body, _ := io.ReadAll(w.Body)
	html := string(body)
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") || !strings.Contains(html, `id="stop"`) || !strings.Contains(html, `fetch("/stop", { method: "POST"`) {
		t.Fatalf("page: %s, %d bytes, no STOP button posting to /stop", w.Header().Get("Content-Type"), len(html))
	}
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import|\bimport\s*\(`).FindString(html); m != "" {
		t.Errorf("the page refers to another origin: %q", m)
	}
}

// TestWants: the page wants camera frames only while it is polled, other channels always.
func TestWants(t *testing.T) {
	cam, state := &viz.Channel{ID: 1, Topic: "/camera/wrist"}, &viz.Channel{ID: 2, Topic: "/robotd/state"}
	joints := &viz.Channel{ID: 3, Topic: viz.TopicJointStates, Live: true}
	p := New([]viz.Channel{*cam, *state, *joints})
	if p.Wants(cam) || !p.Wants(state) || p.Wants(joints) {
		t.Errorf("before any poll: wants camera %v, state %v, joint states %v; want false, true, false", p.Wants(cam), p.Wants(state), p.Wants(joints))
	}
	p.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/live", nil))
	if !p.Wants(cam) || !p.Wants(joints) {
		t.Errorf("polled, the page wants camera frames %v, joint states %v; want both", p.Wants(cam), p.Wants(joints))
	}
}
