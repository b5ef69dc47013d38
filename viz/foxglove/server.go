// Package foxglove serves the viz channel set live over the Foxglove WebSocket protocol
// (https://github.com/foxglove/ws-protocol, subprotocol foxglove.websocket.v1; foxglove.sdk.v1,
// which foxglove_bridge 3.x asks for, is the same wire format and accepted too), so that
// Foxglove (Open connection -> Foxglove WebSocket -> ws://HOST:PORT) shows a running robotd.
//
// The server is a viz.Sink: the Hub hands it each message, and it queues a copy for every
// client subscribed to the channel without waiting. A client's queue is bounded
// (Options.ClientQueue messages): when it is full the message is dropped for that client
// (robotd_viz_live_dropped_total), so a slow client never backs up the Hub, let alone the
// control loop. The WebSocket layer (RFC 6455: handshake, framing, ping, close) is written
// here on net/http's hijacked connection.
package foxglove

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/robotd/robotd/telemetry"
	"github.com/robotd/robotd/viz"
)

// Subprotocols accepted, in order of preference.
var Subprotocols = []string{"foxglove.websocket.v1", "foxglove.sdk.v1"}

// Options configures a Server. Zero fields take the defaults documented on each.
type Options struct {
	// Name is the server's name in serverInfo. Default "robotd".
	Name string
	// ClientQueue is how many messages may wait for one client before its messages are
	// dropped. Default 256.
	ClientQueue int
	// WriteTimeout bounds one write to a client; a client that takes longer is
	// disconnected. Default 2 s.
	WriteTimeout time.Duration
	// Metrics is where robotd_viz_live_* are registered. Default: a new registry.
	Metrics *telemetry.Registry
	// Logger logs clients connecting and leaving. Default slog.Default().
	Logger *slog.Logger
}

// Server is a Foxglove WebSocket server for a Hub's channels.
type Server struct {
	opts     Options
	channels []viz.Channel
	ln       net.Listener
	srv      *http.Server
	session  string

	mu      sync.Mutex
	clients map[*client]struct{}

	dropped  *telemetry.Counter
	sent     *telemetry.Counter
	nclients *telemetry.Gauge
	done     chan struct{}
}

type client struct {
	conn net.Conn
	out  chan []byte // whole WebSocket frames
	quit chan struct{}
	once sync.Once

	mu   sync.Mutex
	subs map[uint16][]uint32 // channel ID -> subscription IDs
}

// Listen binds addr as telemetry.ListenAddr does (no host: loopback) and returns the
// server for channels; Serve serves it.
func Listen(addr string, channels []viz.Channel, o Options) (*Server, error) {
	if o.Name == "" {
		o.Name = "robotd"
	}
	if o.ClientQueue == 0 {
		o.ClientQueue = 256
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 2 * time.Second
	}
	if o.Metrics == nil {
		o.Metrics = telemetry.NewRegistry()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", telemetry.ListenAddr(addr))
	if err != nil {
		return nil, fmt.Errorf("foxglove: listen on %q (telemetry.foxglove): %w", addr, err)
	}
	var sid [8]byte
	rand.Read(sid[:])
	s := &Server{opts: o, channels: channels, ln: ln, session: hex.EncodeToString(sid[:]), clients: map[*client]struct{}{}, done: make(chan struct{})}
	r := o.Metrics
	s.dropped = r.Counter("robotd_viz_live_dropped_total", "Live messages dropped for a Foxglove client whose queue was full.")
	s.sent = r.Counter("robotd_viz_live_messages_total", "Live messages queued for Foxglove clients.")
	s.nclients = r.Gauge("robotd_viz_live_clients", "Foxglove WebSocket clients connected.")
	s.srv = &http.Server{Handler: http.HandlerFunc(s.upgrade), ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Loopback reports whether the server listens on a loopback address only.
func (s *Server) Loopback() bool {
	a, ok := s.ln.Addr().(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

// Serve serves until ctx ends, then closes every client; it returns nil then.
func (s *Server) Serve(ctx context.Context) error {
	defer close(s.done)
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("foxglove: serve on %s: %w", s.Addr(), err)
	}
	s.srv.Close()
	s.mu.Lock()
	for c := range s.clients {
		c.close()
	}
	s.mu.Unlock()
	<-errc
	return nil
}

// Write implements viz.Sink: a copy of the message, framed, for each subscription to ch
// (dropped for a client whose queue is full).
func (s *Server) Write(ch *viz.Channel, t time.Time, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		c.mu.Lock()
		ids := c.subs[ch.ID]
		for _, id := range ids {
			// Binary message data: opcode 1, subscription ID, receive time (ns), payload.
			head := 1 + 4 + 8
			f := frameHeader(opBinary, head+len(data), head+len(data))
			n := len(f)
			f = f[:n+head]
			f[n] = 1
			binary.LittleEndian.PutUint32(f[n+1:], id)
			binary.LittleEndian.PutUint64(f[n+5:], uint64(t.UnixNano()))
			f = append(f, data...)
			select {
			case c.out <- f:
				s.sent.Inc()
			default:
				s.dropped.Inc()
			}
		}
		c.mu.Unlock()
	}
	return nil
}

// Wants implements viz.Wanter: whether a client is subscribed to ch.
func (s *Server) Wants(ch *viz.Channel) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		c.mu.Lock()
		n := len(c.subs[ch.ID])
		c.mu.Unlock()
		if n > 0 {
			return true
		}
	}
	return false
}

// WebSocket opcodes.
const (
	opText   = 1
	opBinary = 2
	opClose  = 8
	opPing   = 9
	opPong   = 10
)

// frameHeader returns an unmasked final frame's header for an n-byte payload, with room
// for capacity payload bytes after it.
func frameHeader(op byte, n, capacity int) []byte {
	b := make([]byte, 0, 10+capacity)
	b = append(b, 0x80|op)
	switch {
	case n < 126:
		b = append(b, byte(n))
	case n < 1<<16:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return b
}

func frame(op byte, payload []byte) []byte {
	return append(frameHeader(op, len(payload), len(payload)), payload...)
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// upgrade performs the WebSocket handshake, then runs the client.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || r.Header.Get("Sec-WebSocket-Key") == "" {
		http.Error(w, "robotd Foxglove WebSocket server: connect with a WebSocket client (subprotocol foxglove.websocket.v1)", http.StatusBadRequest)
		return
	}
	proto := ""
	for _, p := range strings.Split(r.Header.Get("Sec-WebSocket-Protocol"), ",") {
		p = strings.TrimSpace(p)
		for _, want := range Subprotocols {
			if p == want && proto == "" {
				proto = p
			}
		}
	}
	if proto == "" {
		http.Error(w, "unsupported WebSocket subprotocol: want "+strings.Join(Subprotocols, " or "), http.StatusBadRequest)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + wsGUID))
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]), proto)
	if err := rw.Flush(); err != nil {
		conn.Close()
		return
	}
	c := &client{conn: conn, out: make(chan []byte, s.opts.ClientQueue), quit: make(chan struct{}), subs: map[uint16][]uint32{}}
	s.run(c, rw.Reader, r.RemoteAddr)
}

// run sends the server info and the advertisement, then reads the client's requests
// while a writer goroutine sends its queue, until either fails or the server closes.
func (s *Server) run(c *client, br *bufio.Reader, remote string) {
	info, _ := json.Marshal(map[string]any{"op": "serverInfo", "name": s.opts.Name, "capabilities": []string{},
		"supportedEncodings": []string{}, "metadata": map[string]string{}, "sessionId": s.session})
	type adv struct {
		ID             uint16 `json:"id"`
		Topic          string `json:"topic"`
		Encoding       string `json:"encoding"`
		SchemaName     string `json:"schemaName"`
		Schema         string `json:"schema"`
		SchemaEncoding string `json:"schemaEncoding"`
	}
	var chans []adv
	for _, ch := range s.channels {
		chans = append(chans, adv{ch.ID, ch.Topic, viz.MessageEncoding, ch.Schema, ch.Definition, viz.SchemaEncoding})
	}
	advert, _ := json.Marshal(map[string]any{"op": "advertise", "channels": chans})
	c.out <- frame(opText, info)
	c.out <- frame(opText, advert)

	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		c.conn.Close()
		return
	default:
	}
	s.clients[c] = struct{}{}
	s.nclients.Set(float64(len(s.clients)))
	s.mu.Unlock()
	s.opts.Logger.Info("foxglove: client connected", "remote", remote)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.write(c) }()
	err := s.read(c, br)
	c.close()
	wg.Wait()
	s.mu.Lock()
	delete(s.clients, c)
	s.nclients.Set(float64(len(s.clients)))
	s.mu.Unlock()
	s.opts.Logger.Info("foxglove: client left", "remote", remote, "why", err)
}

func (c *client) close() {
	c.once.Do(func() {
		close(c.quit)
		c.conn.Close()
	})
}

// write sends c's queue until c is closed or a write fails or times out.
func (s *Server) write(c *client) {
	for {
		select {
		case f := <-c.out:
			c.conn.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
			if _, err := c.conn.Write(f); err != nil {
				c.close()
				return
			}
		case <-c.quit:
			return
		}
	}
}

// read handles the client's frames: subscribe and unsubscribe requests (text), ping,
// close. It returns why the connection ended.
func (s *Server) read(c *client, br *bufio.Reader) error {
	var msg []byte
	for {
		op, fin, payload, err := readFrame(br)
		if err != nil {
			return err
		}
		switch op {
		case opClose:
			s.send(c, frame(opClose, nil))
			return errors.New("closed by the client")
		case opPing:
			s.send(c, frame(opPong, payload))
			continue
		case opPong:
			continue
		}
		msg = append(msg, payload...)
		if !fin {
			continue
		}
		if err := c.request(msg, s.channels); err != nil {
			s.opts.Logger.Warn("foxglove: bad request", "err", err)
		}
		msg = msg[:0]
	}
}

// send queues a control frame, dropping it when the queue is full.
func (s *Server) send(c *client, f []byte) {
	select {
	case c.out <- f:
	default:
	}
}

// readFrame reads one client frame (masked, as RFC 6455 requires of clients).
func readFrame(br *bufio.Reader) (op byte, fin bool, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(br, h[:]); err != nil {
		return
	}
	fin, op = h[0]&0x80 != 0, h[0]&0x0f
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(br, b[:]); err != nil {
			return
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(br, b[:]); err != nil {
			return
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<20 {
		return 0, false, nil, fmt.Errorf("frame of %d bytes: over 1 MiB", n)
	}
	var mask [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err = io.ReadFull(br, mask[:]); err != nil {
			return
		}
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(br, payload); err != nil {
		return
	}
	if masked {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return op, fin, payload, nil
}

// request applies a subscribe or unsubscribe request; other ops are ignored (the server
// advertises no capabilities).
func (c *client) request(msg []byte, channels []viz.Channel) error {
	var r struct {
		Op            string `json:"op"`
		Subscriptions []struct {
			ID        uint32 `json:"id"`
			ChannelID uint16 `json:"channelId"`
		} `json:"subscriptions"`
		SubscriptionIDs []uint32 `json:"subscriptionIds"`
	}
	if err := json.Unmarshal(msg, &r); err != nil {
		return fmt.Errorf("%q: %w", msg, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch r.Op {
	case "subscribe":
		for _, sub := range r.Subscriptions {
			if sub.ChannelID == 0 || int(sub.ChannelID) > len(channels) {
				return fmt.Errorf("subscribe: no channel %d", sub.ChannelID)
			}
			c.subs[sub.ChannelID] = append(c.subs[sub.ChannelID], sub.ID)
		}
	case "unsubscribe":
		for _, id := range r.SubscriptionIDs {
			for ch, ids := range c.subs {
				kept := ids[:0]
				for _, x := range ids {
					if x != id {
						kept = append(kept, x)
					}
				}
				c.subs[ch] = kept
			}
		}
	}
	return nil
}
