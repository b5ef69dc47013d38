package telemetry

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeDaemon struct {
	ready  atomic.Bool
	mu     sync.Mutex
	stops  []string
	reason string
}

func (d *fakeDaemon) handlers() Handlers {
	return Handlers{
		Ready: func() (bool, string) { return d.ready.Load(), "state homing" },
		Stop: func(reason string) {
			d.mu.Lock()
			defer d.mu.Unlock()
			d.stops = append(d.stops, reason)
		},
	}
}

type response struct {
	code  int
	ctype string
	allow string
	body  string
}

func do(t *testing.T, c *http.Client, method, u string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Allow"), string(b)}
}

// waitGoroutines waits up to a second for the goroutine count to fall to at most n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	var now int
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if now = runtime.NumGoroutine(); now <= n {
			return
		}
	}
	buf := make([]byte, 1<<16)
	t.Errorf("%d goroutines left, want at most %d:\n%s", now, n, buf[:runtime.Stack(buf, true)])
}

// TestServe runs the real server on a loopback port and checks every endpoint, then that
// cancelling its context stops it cleanly and leaves no goroutine behind.
func TestServe(t *testing.T) {
	before := runtime.NumGoroutine()
	reg := NewRegistry()
	ticks := reg.Counter("robotd_ticks_total", "Control ticks.")
	ticks.Add(7)
	var d fakeDaemon
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := Serve(ctx, "127.0.0.1:0", reg, d.handlers())
	if err != nil {
		t.Fatal(err)
	}
	if _, port, _ := net.SplitHostPort(srv.Addr()); port == "0" || port == "" {
		t.Fatalf("Addr() = %q, want the bound port", srv.Addr())
	}
	base := "http://" + srv.Addr()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}

	res := do(t, c, "GET", base+"/metrics", nil)
	var want bytes.Buffer
	reg.WriteText(&want)
	if res.code != 200 || res.ctype != ContentType || res.body != want.String() {
		t.Errorf("GET /metrics = %d %q\n%s\nwant 200 %q\n%s", res.code, res.ctype, res.body, ContentType, want.String())
	}
	fams := parsePython(t, []byte(res.body))
	if len(fams) != 1 || fams[0].Name != "robotd_ticks" || fams[0].Type != "counter" {
		t.Errorf("the Python parser read /metrics as %+v", fams)
	}

	tests := []struct {
		method, path, body string
		code               int
		want               string // body, or Allow header for 405
	}{
		{"GET", "/healthz", "", 200, "ok\n"},
		{"HEAD", "/healthz", "", 200, ""},
		{"GET", "/readyz", "", 503, "state homing\n"},
		{"POST", "/healthz", "", 405, "GET, HEAD"},
		{"PUT", "/metrics", "", 405, "GET, HEAD"},
		{"GET", "/stop", "", 405, "POST"},
		{"GET", "/nope", "", 404, "404 page not found\n"},
		{"GET", "/metrics/x", "", 404, "404 page not found\n"},
		{"POST", "/stop", "reason=" + url.QueryEscape("operator: done\n"), 202, "stopping\n"},
		{"POST", "/stop?reason=by+query", "", 202, "stopping\n"},
		{"POST", "/stop", "", 202, "stopping\n"},
	}
	for _, tt := range tests {
		var body io.Reader
		if tt.body != "" {
			body = strings.NewReader(tt.body)
		}
		res := do(t, c, tt.method, base+tt.path, body)
		got := res.body
		if tt.code == 405 {
			got = res.allow
		}
		if res.code != tt.code || got != tt.want {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, res.code, got, tt.code, tt.want)
		}
	}
	d.ready.Store(true)
	if res := do(t, c, "GET", base+"/readyz", nil); res.code != 200 || res.body != "ready\n" {
		t.Errorf("GET /readyz when ready = %d %q, want 200 ready", res.code, res.body)
	}
	d.mu.Lock()
	stops := d.stops
	d.mu.Unlock()
	if len(stops) != 3 || !strings.HasPrefix(stops[0], "POST /stop from 127.0.0.1:") ||
		!strings.HasSuffix(stops[0], ": operator: done\n") || !strings.HasSuffix(stops[1], ": by query") ||
		strings.Count(stops[2], ":") != 1 {
		t.Errorf("Stop reasons = %q", stops)
	}

	cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Wait after cancel = %v, want nil", err)
		}
	case <-time.After(ShutdownTimeout + time.Second):
		t.Fatal("server did not stop after its context ended")
	}
	if _, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		t.Error("the listener is still open after shutdown")
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close after shutdown = %v", err)
	}
	c.CloseIdleConnections()
	waitGoroutines(t, before)
}

// TestServeHostlessIsLoopback: ":0" binds 127.0.0.1 and a free port (not every
// interface, as Go's net.Listen would): a connection to another of this machine's
// addresses is refused. Close may be called twice.
func TestServeHostlessIsLoopback(t *testing.T) {
	before := runtime.NumGoroutine()
	srv, err := Serve(context.Background(), ":0", NewRegistry(), Handlers{})
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(srv.Addr())
	if err != nil || port == "0" || host != "127.0.0.1" || !srv.Loopback() {
		t.Fatalf("Addr() = %q, Loopback() = %v, %v: want 127.0.0.1 and a port", srv.Addr(), srv.Loopback(), err)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	if res := do(t, c, "GET", "http://127.0.0.1:"+port+"/healthz", nil); res.code != 200 {
		t.Errorf("GET /healthz = %d", res.code)
	}
	if ip := nonLoopbackIP(); ip != nil {
		if conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), port), 2*time.Second); err == nil {
			conn.Close()
			t.Errorf("%s:%s accepted a connection: the server listens beyond loopback", ip, port)
		}
	} else {
		t.Log("no non-loopback address on this machine: only the bound address is checked")
	}
	for range 2 {
		if err := srv.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	}
	if err := srv.Wait(); err != nil {
		t.Errorf("Wait after Close = %v", err)
	}
	waitGoroutines(t, before)
}

// nonLoopbackIP is an IPv4 address of this machine other than loopback, or nil.
func nonLoopbackIP() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP
		}
	}
	return nil
}

// An explicit host is honoured: 0.0.0.0 listens on every interface (Loopback false, the
// caller warns), 127.0.0.1 and localhost on loopback.
func TestServeExplicitHost(t *testing.T) {
	for _, c := range []struct {
		addr     string
		loopback bool
	}{
		{"0.0.0.0:0", false},
		{"127.0.0.1:0", true},
		{"localhost:0", true},
	} {
		srv, err := Serve(context.Background(), c.addr, NewRegistry(), Handlers{})
		if err != nil {
			t.Fatalf("%s: %v", c.addr, err)
		}
		if srv.Loopback() != c.loopback {
			t.Errorf("Serve(%q): Addr %s, Loopback() = %v, want %v", c.addr, srv.Addr(), srv.Loopback(), c.loopback)
		}
		if !c.loopback {
			if ip := nonLoopbackIP(); ip != nil {
				_, port, _ := net.SplitHostPort(srv.Addr())
				conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), port), 2*time.Second)
				if err != nil {
					t.Errorf("Serve(%q): %s:%s refused: %v", c.addr, ip, port, err)
				} else {
					conn.Close()
				}
			}
		}
		srv.Close()
	}
}

func TestListenAddr(t *testing.T) {
	for in, want := range map[string]string{
		":0":             "127.0.0.1:0",
		":9102":          "127.0.0.1:9102",
		"0.0.0.0:9102":   "0.0.0.0:9102",
		"[::]:9102":      "[::]:9102",
		"192.0.2.7:9102": "192.0.2.7:9102",
		"localhost:9102": "localhost:9102",
		"127.0.0.1:9102": "127.0.0.1:9102",
		"nonsense":       "nonsense",
	} {
		if got := ListenAddr(in); got != want {
			t.Errorf("ListenAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestServeSlowRequestAtShutdown: a request in flight when the context ends is finished,
// not cut, and Wait returns after it.
func TestServeSlowRequestAtShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := Handlers{Stop: func(string) { close(entered); <-release }}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := Serve(ctx, "127.0.0.1:0", NewRegistry(), h)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	got := make(chan response, 1)
	go func() { got <- do(t, c, "POST", "http://"+srv.Addr()+"/stop", nil) }()
	<-entered
	cancel()
	time.AfterFunc(50*time.Millisecond, func() { close(release) })
	if err := srv.Wait(); err != nil {
		t.Errorf("Wait = %v", err)
	}
	if res := <-got; res.code != 202 {
		t.Errorf("the request in flight got %d, want 202", res.code)
	}
}

func TestServeErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	if _, err := Serve(context.Background(), addr, NewRegistry(), Handlers{}); err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("Serve on a used port = %v, want an error naming %s", err, addr)
	}
	if _, err := Serve(context.Background(), "nonsense", NewRegistry(), Handlers{}); err == nil || !strings.Contains(err.Error(), `"nonsense"`) {
		t.Errorf("Serve on a bad address = %v, want an error naming it", err)
	}
	if _, err := Serve(context.Background(), ":0", nil, Handlers{}); err == nil {
		t.Error("Serve with a nil registry did not fail")
	}
}

// TestHandlerWithoutHooks: nil Ready and Stop answer 503 and 501, not 200.
func TestHandlerWithoutHooks(t *testing.T) {
	ts := httptest.NewServer(NewHandler(NewRegistry(), Handlers{}))
	defer ts.Close()
	for _, tt := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/readyz", 503, "no readiness check\n"},
		{"POST", "/stop", 501, "no stop handler\n"},
		{"GET", "/metrics", 200, ""},
	} {
		if res := do(t, ts.Client(), tt.method, ts.URL+tt.path, nil); res.code != tt.code || res.body != tt.body {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, res.code, res.body, tt.code, tt.body)
		}
	}
}
