package telemetry

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Handlers.Extra serves the GETs of the paths the endpoints do not have (the operator
// page), and changes nothing for the endpoints: /metrics is still the registry, a POST to
// it still 405, POST /stop still the stop.
func TestExtra(t *testing.T) {
	stopped := ""
	extra := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("page " + r.URL.Path)) })
	h := NewHandler(NewRegistry(), Handlers{Stop: func(why string) { stopped = why }, Extra: extra})
	for _, c := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/", 200, "page /"},
		{"GET", "/live", 200, "page /live"},
		{"GET", "/healthz", 200, "ok\n"},
		{"POST", "/metrics", 405, ""},
		{"POST", "/live", 405, ""},
		{"POST", "/stop", 202, "stopping\n"},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		if w.Code != c.code || c.body != "" && w.Body.String() != c.body {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, w.Code, w.Body.String(), c.code, c.body)
		}
	}
	if stopped == "" {
		t.Error("POST /stop did not reach Stop")
	}
}
