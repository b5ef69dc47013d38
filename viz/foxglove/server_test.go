package foxglove

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/robotd/robotd/telemetry"
	"github.com/robotd/robotd/viz"
)

// dial opens a WebSocket to s asking for proto and returns the connection and its
// reader once the handshake is answered (with the status line).
func dial(t *testing.T, s *Server, proto string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	var key [16]byte
	rand.Read(key[:])
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(key[:]), proto)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, br, resp.Status
}

// sendText writes a masked text frame, as a client must.
func sendText(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	b := []byte{0x81, 0x80 | byte(len(msg)), 1, 2, 3, 4}
	for i := range len(msg) {
		b = append(b, msg[i]^b[2+i%4])
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func newServer(t *testing.T, queue int) (*Server, *telemetry.Registry, func()) {
	t.Helper()
	reg := telemetry.NewRegistry()
	chans := []viz.Channel{{ID: 1, Topic: "/a", Schema: "robotd.A", Definition: "{}"}, {ID: 2, Topic: "/b", Schema: "robotd.B", Definition: "{}"}}
	s, err := Listen(":0", chans, Options{Metrics: reg, ClientQueue: queue, WriteTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Loopback() {
		t.Errorf("%s: an address without a host must bind loopback", s.Addr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()
	return s, reg, func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestSubscribe: a client asking for foxglove.sdk.v1 gets it, then serverInfo and the
// advertisement, then exactly the messages of the channel it subscribed to, framed as the
// protocol says (opcode 1, its subscription ID, the time in ns, the payload); an unknown
// subprotocol is refused.
func TestSubscribe(t *testing.T) {
	defer goleak.VerifyNone(t)
	s, _, stop := newServer(t, 16)
	defer stop()
	if _, _, status := dial(t, s, "chat"); !strings.HasPrefix(status, "400") {
		t.Errorf("subprotocol chat: %s, want 400", status)
	}
	c, br, status := dial(t, s, "foxglove.sdk.v1")
	defer c.Close()
	if !strings.HasPrefix(status, "101") {
		t.Fatalf("handshake: %s", status)
	}
	for _, want := range []string{`"op":"serverInfo"`, `"op":"advertise"`} {
		op, _, p, err := readFrame(br)
		if err != nil || op != opText || !strings.Contains(string(p), want) {
			t.Fatalf("frame op %d %q (%v), want text with %s", op, p, err, want)
		}
	}
	sendText(t, c, `{"op":"subscribe","subscriptions":[{"id":7,"channelId":2}]}`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		n := 0
		for cl := range s.clients {
			cl.mu.Lock()
			n += len(cl.subs[2])
			cl.mu.Unlock()
		}
		s.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("subscription not registered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s.Wants(&viz.Channel{ID: 1}) || !s.Wants(&viz.Channel{ID: 2}) {
		t.Errorf("wants channel 1 %v, 2 %v; want only the subscribed 2", s.Wants(&viz.Channel{ID: 1}), s.Wants(&viz.Channel{ID: 2}))
	}
	at := time.Unix(12, 345)
	s.Write(&viz.Channel{ID: 1, Topic: "/a"}, at, []byte(`{"a":1}`))
	s.Write(&viz.Channel{ID: 2, Topic: "/b"}, at, []byte(`{"b":2}`))
	op, fin, p, err := readFrame(br)
	if err != nil || op != opBinary || !fin || len(p) != 13+7 {
		t.Fatalf("frame op %d fin %v len %d (%v)", op, fin, len(p), err)
	}
	if p[0] != 1 || binary.LittleEndian.Uint32(p[1:]) != 7 || binary.LittleEndian.Uint64(p[5:]) != uint64(at.UnixNano()) || string(p[13:]) != `{"b":2}` {
		t.Errorf("message data %v %q: want opcode 1, subscription 7, time %d, {\"b\":2}", p[:13], p[13:], at.UnixNano())
	}
}

// TestSlowClient: a client that subscribes and then never reads cannot hold the sink up:
// 20000 writes of 4 KiB return within a second in total, the messages beyond the
// client's queue and the socket buffers are dropped and counted (the Prometheus counter
// says the same).
func TestSlowClient(t *testing.T) {
	defer goleak.VerifyNone(t)
	s, reg, stop := newServer(t, 64)
	defer stop()
	slow, _, _ := dial(t, s, "foxglove.websocket.v1")
	defer slow.Close()
	sendText(t, slow, `{"op":"subscribe","subscriptions":[{"id":1,"channelId":1}]}`)
	time.Sleep(100 * time.Millisecond)
	payload := []byte(strings.Repeat("x", 4096))
	ch := &viz.Channel{ID: 1, Topic: "/a"}
	t0 := time.Now()
	for range 20000 {
		s.Write(ch, time.Now(), payload)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("20000 writes took %v with a client that does not read", d)
	}
	dropped := s.dropped.Value()
	if dropped == 0 || dropped > 20000 {
		t.Errorf("dropped %d of 20000", dropped)
	}
	var buf strings.Builder
	reg.WriteText(&buf)
	if !strings.Contains(buf.String(), fmt.Sprintf("robotd_viz_live_dropped_total %d", dropped)) {
		t.Errorf("metrics lack robotd_viz_live_dropped_total %d:\n%s", dropped, buf.String())
	}
	t.Logf("dropped %d of 20000 messages of 4 KiB for a client that never reads", dropped)
}
