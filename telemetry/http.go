package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Handlers connects the HTTP endpoints to the daemon. Both functions are called from HTTP
// goroutines and must be safe for that; neither may block for long.
type Handlers struct {
	// Ready reports whether the daemon is ready to work (its state machine is running)
	// and, when not, why. /readyz answers 200 when it is, else 503 with the reason. When
	// Ready is nil, /readyz answers 503 "no readiness check".
	Ready func() (ready bool, reason string)
	// Stop asks the daemon to stop (ramp to hold, then exit); reason says who asked and
	// why. POST /stop calls it and answers 202. When Stop is nil, POST /stop answers 501.
	Stop func(reason string)
	// Extra, when set, serves the GETs of paths none of the endpoints below has (the operator
	// page and its data: package viz/page); otherwise they get 404.
	Extra http.Handler
}

// ShutdownTimeout bounds how long a [Server] waits for requests in flight once its
// context ends; then it closes their connections.
const ShutdownTimeout = 2 * time.Second

// Server is a running telemetry HTTP server returned by [Serve].
type Server struct {
	ln        net.Listener
	srv       *http.Server
	quit      chan struct{} // closed by Close, once
	closeOnce sync.Once
	done      chan struct{} // closed when the server has stopped and its goroutines ended
	err       error         // written before done is closed
}

// Serve listens on addr and serves, until ctx ends:
//
//	GET /metrics   reg in the Prometheus text format (Content-Type [ContentType])
//	GET /healthz   200 "ok" while the process is alive
//	GET /readyz    200 "ready" when h.Ready says so, else 503 and the reason
//	POST /stop     calls h.Stop with "POST /stop from ADDR[: reason]" (the reason from
//	               the form or query value "reason"), answers 202
//
// POST /stop has no authentication, so addr is bound as [ListenAddr] says: an address
// without a host (":9102"; ":0" picks a free port) listens on the loopback interface
// only; any other interface must be named (0.0.0.0:9102, a host's address). Use
// [Server.Loopback] to warn when it is not loopback.
//
// Other methods get 405 with an Allow header, other paths 404. Serve returns once the
// listener is bound, or an error naming addr. The server's goroutines end when ctx ends
// or Close is called; Wait waits for that.
func Serve(ctx context.Context, addr string, reg *Registry, h Handlers) (*Server, error) {
	if reg == nil {
		return nil, errors.New("telemetry: Serve: nil registry")
	}
	ln, err := net.Listen("tcp", ListenAddr(addr))
	if err != nil {
		return nil, fmt.Errorf("telemetry: listen on %q: %w", addr, err)
	}
	s := &Server{
		ln:   ln,
		srv:  &http.Server{Handler: NewHandler(reg, h), ReadHeaderTimeout: 5 * time.Second},
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(ln) }()
	go func() {
		defer close(s.done)
		select {
		case <-ctx.Done():
		case <-s.quit:
		case err := <-served: // Serve failed on its own (it closed the listener)
			s.err = fmt.Errorf("telemetry: serve on %s: %w", s.Addr(), err)
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		if err := s.srv.Shutdown(sctx); err != nil {
			s.srv.Close()
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			s.err = fmt.Errorf("telemetry: serve on %s: %w", s.Addr(), err)
		}
	}()
	return s, nil
}

// LoopbackHost is the host an address without one (":9102", ":0") is bound to.
const LoopbackHost = "127.0.0.1"

// ListenAddr is the address [Serve] binds for addr: addr with [LoopbackHost] as its host when
// it names none (":9102" -> "127.0.0.1:9102"), else addr as given ("0.0.0.0:9102",
// "[::]:9102", "192.0.2.7:9102", "localhost:9102"). Go's own ":PORT" means every
// interface; here it does not, so that an unauthenticated POST /stop reaches the network
// only when an address says so.
func ListenAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "" {
		return addr // net.Listen reports a malformed address
	}
	return net.JoinHostPort(LoopbackHost, port)
}

// Addr returns the address the server listens on, with the port it bound.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Loopback reports whether the server listens on a loopback address only (reachable
// from this machine alone). When it does not, anyone who can reach the address can stop
// the robot: callers log a warning.
func (s *Server) Loopback() bool {
	a, ok := s.ln.Addr().(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

// Wait blocks until the server has stopped (its context ended or Close was called) and
// its goroutines have returned. It returns nil after a clean shutdown.
func (s *Server) Wait() error {
	<-s.done
	return s.err
}

// Close stops the server as if its context had ended and waits for it. It may be called
// more than once, and together with Wait.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.quit) })
	return s.Wait()
}

// NewHandler returns the http.Handler that [Serve] serves, for mounting the endpoints in
// another server or testing them with net/http/httptest.
func NewHandler(reg *Registry, h Handlers) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		if err := reg.WriteText(&buf); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		w.Write(buf.Bytes())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		plain(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if h.Ready == nil {
			plain(w, http.StatusServiceUnavailable, "no readiness check")
			return
		}
		if ok, reason := h.Ready(); !ok {
			if reason == "" {
				reason = "not ready"
			}
			plain(w, http.StatusServiceUnavailable, reason)
			return
		}
		plain(w, http.StatusOK, "ready")
	})
	mux.HandleFunc("POST /stop", func(w http.ResponseWriter, r *http.Request) {
		if h.Stop == nil {
			plain(w, http.StatusNotImplemented, "no stop handler")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		reason := "POST /stop from " + r.RemoteAddr
		if v := r.FormValue("reason"); v != "" {
			reason += ": " + v
		}
		h.Stop(reason)
		plain(w, http.StatusAccepted, "stopping")
	})
	if h.Extra != nil {
		mux.Handle("GET /", h.Extra)
	}
	return mux
}

func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}
