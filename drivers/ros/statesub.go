package ros

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/apimaster"
	"github.com/bluenviron/goroslib/v2/pkg/apislave"
	"github.com/bluenviron/goroslib/v2/pkg/msgproc"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"golang.org/x/sys/unix"

	"github.com/robotd/robotd/clock"
	"github.com/robotd/robotd/internal/rt"
)

// stateSub is the Arm's subscriber of its sensor_msgs/JointState topic: a TCPROS client of
// every publisher the master lists, written here rather than taken from goroslib for three
// reasons (measured in BenchmarkStateLatency, see BENCHMARKS.md):
//
//   - Delivery. goroslib reads each connection on a goroutine parked in Go's network poller,
//     then hands each message through an unbuffered channel to a dispatcher goroutine that
//     calls the callback. A readable socket is noticed only when some thread of the
//     process polls the network, and on 2 loaded cores those threads (normal scheduling)
//     waited 20-77 ms for a core while the publisher kept its 1 ms period: the control
//     loop saw no new state for that long, and the state_stale watchdog tripped. Here
//     each connection has its own goroutine locked to an OS thread that blocks in read(2)
//     on the socket: the kernel wakes that thread when data arrives, and with
//     ArmConfig.RTPriority it runs under SCHED_FIFO, ahead of any normal thread.
//   - Allocation. goroslib decodes each message by reflection into new slices and strings
//     (garbage at 1 kHz: GC cycles stop the control loop's thread too). Here a message is
//     decoded into one reused sensor_msgs.JointState; joint names are compared with the
//     previous message's and allocated only when they change.
//   - Identity. goroslib's callback does not say which publisher sent a message (the
//     TCPROS connection header carries the publisher's callerid, and goroslib keeps it to
//     itself). Here each message comes with its publisher's callerid, so the Arm can hold
//     to the publisher it took first (RejectPublisher).
//
// Discovery: the subscription is registered with the master under the Arm's node (its
// slave URL), and registered again every discoverPeriod, which returns the topic's current
// publishers (the master's publisherUpdate calls go to the goroslib node, which has no
// subscriber of its own on the topic and ignores them). So a publisher that starts later
// is connected within discoverPeriod, and after a master restart the subscription is on
// the new master within one period. A connection ends only when its publisher closes it
// (or Close): a publisher missing from one list (a restarted master it has not reached
// yet) keeps its connection; one that ended is dialled again while the master lists it.
type stateSub struct {
	topic, node, nodeURL string
	master               *apimaster.Client
	hc                   *http.Client
	prio                 int
	handle               func(from string, m *sensor_msgs.JointState)
	log                  *slog.Logger
	clk                  clock.Clock // the discovery's period
	md5, def             string

	mu     sync.Mutex
	conns  map[string]*stateConn // by publisher slave address
	closed bool
	fifoNo atomic.Bool // SCHED_FIFO refusal logged

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// longAgo is a deadline in the past: set on a connection, it fails its pending I/O at
// once (net.Conn deadlines are wall-clock times, on no Clock).
var longAgo = time.Unix(1, 0)

// discoverPeriod is how often the master is asked for the state topic's publishers.
const discoverPeriod = 200 * time.Millisecond

// maxStateMessage bounds one JointState message (a robot with 10,000 joints is not one).
const maxStateMessage = 1 << 20

const jointStateType = "sensor_msgs/JointState"

func newStateSub(clk clock.Clock, master, node, topic string, prio int, log *slog.Logger, handle func(string, *sensor_msgs.JointState)) (*stateSub, error) {
	md5, err := msgproc.MD5(sensor_msgs.JointState{})
	if err != nil {
		return nil, err
	}
	def, err := msgproc.Definition(sensor_msgs.JointState{})
	if err != nil {
		return nil, err
	}
	abs := "/" + strings.TrimPrefix(node, "/")
	s := &stateSub{topic: topic, node: abs, prio: prio, handle: handle, log: log, clk: clk, md5: md5, def: def,
		hc: &http.Client{Timeout: 2 * time.Second}, conns: map[string]*stateConn{}}
	s.master = apimaster.NewClient(master, abs, s.hc)
	if s.nodeURL, err = s.master.LookupNode(abs); err != nil {
		return nil, fmt.Errorf("ros: master %s does not know node %s: %w", master, abs, err)
	}
	uris, err := s.master.RegisterSubscriber(topic, jointStateType, s.nodeURL)
	if err != nil {
		return nil, fmt.Errorf("ros: subscribe %s: %w", topic, err)
	}
	var ctx context.Context
	ctx, s.cancel = context.WithCancel(context.Background())
	s.connect(ctx, uris)
	s.wg.Add(1)
	go s.discover(ctx)
	return s, nil
}

// discover registers the subscription again every discoverPeriod and connects new
// publishers.
func (s *stateSub) discover(ctx context.Context) {
	defer s.wg.Done()
	t := s.clk.NewTicker(discoverPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		if uris, err := s.master.RegisterSubscriber(s.topic, jointStateType, s.nodeURL); err == nil {
			s.connect(ctx, uris)
		}
	}
}

// connect starts a connection to each publisher not connected yet.
func (s *stateSub) connect(ctx context.Context, uris []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	for _, u := range uris {
		addr := urlHost(u)
		if _, ok := s.conns[addr]; ok {
			continue
		}
		c := &stateConn{sub: s, addr: addr, fd: -1}
		s.conns[addr] = c
		s.wg.Add(1)
		go c.run(ctx)
	}
}

// close ends every connection and unregisters the subscription.
func (s *stateSub) close() {
	s.mu.Lock()
	s.closed = true
	for _, c := range s.conns {
		c.shutdown()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.master.UnregisterSubscriber(s.topic, s.nodeURL) //nolint:errcheck // the master may be gone
	s.hc.CloseIdleConnections()
}

// stateConn is one publisher's connection.
type stateConn struct {
	sub  *stateSub
	addr string

	mu   sync.Mutex
	fd   int  // the socket while reading (-1 before and after)
	shut bool // shutdown was asked
}

// shutdown unblocks the reader's read(2) (called with sub.mu held).
func (c *stateConn) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shut = true
	if c.fd >= 0 {
		unix.Shutdown(c.fd, unix.SHUT_RDWR) //nolint:errcheck
	}
}

// run dials the publisher, then reads its messages on this goroutine's own OS thread until
// the connection ends. The thread is not unlocked: it ends with the goroutine, taking its
// SCHED_FIFO policy with it.
func (c *stateConn) run(ctx context.Context) {
	s := c.sub
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c.addr)
		s.mu.Unlock()
	}()
	f, callerID, err := c.dial(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Debug("ros: joint state publisher unreachable", "topic", s.topic, "publisher", c.addr, "err", err)
		}
		return
	}
	defer f.Close()
	rt.LockThread()
	rt.SetTimerSlack(time.Nanosecond) //nolint:errcheck // a refusal only costs wake-up precision
	if s.prio > 0 {
		if err := rt.SetFIFO(s.prio); err != nil && !s.fifoNo.Swap(true) {
			s.log.Warn("ros: joint states received with normal scheduling (SCHED_FIFO refused)", "topic", s.topic, "priority", s.prio, "err", err)
		}
	}
	fd := int(f.Fd()) // blocking mode from here on
	c.mu.Lock()
	if c.shut {
		c.mu.Unlock()
		return
	}
	c.fd = fd
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.fd = -1
		c.mu.Unlock()
	}()
	err = c.read(fd, callerID)
	if ctx.Err() == nil && !errors.Is(err, io.EOF) {
		s.log.Warn("ros: joint state connection ended", "topic", s.topic, "publisher", callerID, "err", err)
	}
}

// fdFile is the socket taken out of Go's network poller.
type fdFile interface {
	Fd() uintptr
	Close() error
}

// dial asks the publisher for a TCPROS connection and does the header exchange (through
// Go's network poller, with timeouts), then hands the socket over as a file for blocking
// reads. It returns the publisher's callerid.
func (c *stateConn) dial(ctx context.Context) (fdFile, string, error) {
	s := c.sub
	slave := apislave.NewClient(c.addr, s.node, s.hc)
	proto, err := slave.RequestTopic(s.topic, [][]interface{}{{"TCPROS"}})
	if err != nil {
		return nil, "", fmt.Errorf("requestTopic: %w", err)
	}
	if len(proto) != 3 || proto[0] != "TCPROS" {
		return nil, "", fmt.Errorf("requestTopic: protocol %v, want TCPROS host port", proto)
	}
	host, _ := proto[1].(string)
	port, _ := proto[2].(int)
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, "", err
	}
	defer conn.Close()
	stop := context.AfterFunc(dctx, func() { conn.SetDeadline(longAgo) })
	defer stop()
	hdr := encodeHeader(map[string]string{"callerid": s.node, "topic": s.topic, "type": jointStateType,
		"md5sum": s.md5, "message_definition": s.def, "tcp_nodelay": "1"})
	if _, err := conn.Write(hdr); err != nil {
		return nil, "", fmt.Errorf("write header: %w", err)
	}
	fields, err := readHeader(conn)
	if err != nil {
		return nil, "", fmt.Errorf("read header: %w", err)
	}
	if e, ok := fields["error"]; ok {
		return nil, "", fmt.Errorf("publisher refused: %s", e)
	}
	if m := fields["md5sum"]; m != s.md5 && m != "*" {
		return nil, "", fmt.Errorf("publisher's md5sum %s (type %s), want %s (%s)", m, fields["type"], s.md5, jointStateType)
	}
	if !stop() {
		return nil, "", dctx.Err()
	}
	f, err := conn.(*net.TCPConn).File()
	if err != nil {
		return nil, "", err
	}
	callerID := fields["callerid"]
	if callerID == "" {
		callerID = c.addr
	}
	return f, callerID, nil
}

// read decodes messages from the socket until it fails.
func (c *stateConn) read(fd int, callerID string) error {
	r := bufio.NewReaderSize(fdReader(fd), 64<<10)
	var lenBuf [4]byte
	var body []byte
	var m sensor_msgs.JointState
	for {
		if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
			return err
		}
		n := binary.LittleEndian.Uint32(lenBuf[:])
		if n > maxStateMessage {
			return fmt.Errorf("message of %d bytes (more than %d)", n, maxStateMessage)
		}
		if cap(body) < int(n) {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		if err := decodeJointState(body, &m); err != nil {
			return err
		}
		c.sub.handle(callerID, &m)
	}
}

// fdReader reads a blocking socket with read(2).
type fdReader int

func (fd fdReader) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(int(fd), p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// encodeHeader is a TCPROS connection header: length-prefixed key=value fields.
func encodeHeader(fields map[string]string) []byte {
	b := make([]byte, 4)
	for k, v := range fields {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(k)+1+len(v)))
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, v...)
	}
	binary.LittleEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// readHeader reads a TCPROS connection header without reading past it.
func readHeader(r io.Reader) (map[string]string, error) {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(l[:])
	if n > 1<<20 {
		return nil, fmt.Errorf("header of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	fields := map[string]string{}
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, errors.New("truncated header field")
		}
		fl := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if uint64(fl) > uint64(len(b)) {
			return nil, errors.New("truncated header field")
		}
		k, v, ok := strings.Cut(string(b[:fl]), "=")
		if !ok {
			return nil, fmt.Errorf("header field %q without '='", b[:fl])
		}
		fields[k] = v
		b = b[fl:]
	}
	return fields, nil
}

// errTruncated is a JointState message shorter than its fields say.
var errTruncated = errors.New("ros: JointState message truncated")

// decodeJointState decodes a serialized sensor_msgs/JointState into m, reusing its slices;
// a name is allocated only when it differs from the one at its index in the previous
// message. It allocates nothing for a message shaped like the previous one.
func decodeJointState(b []byte, m *sensor_msgs.JointState) error {
	d := decoder{b: b}
	m.Header.Seq = d.u32()
	secs, nsecs := d.u32(), d.u32()
	if secs == 0 && nsecs == 0 {
		m.Header.Stamp = time.Time{}
	} else {
		m.Header.Stamp = time.Unix(int64(int32(secs)), int64(int32(nsecs))).UTC()
	}
	if f := d.bytes(); string(f) != m.Header.FrameId {
		m.Header.FrameId = string(f)
	}
	n := int(d.u32())
	if n > len(d.b) { // each name takes at least 4 bytes
		return errTruncated
	}
	if cap(m.Name) < n {
		m.Name = make([]string, n)
	}
	m.Name = m.Name[:n]
	for i := range m.Name {
		if f := d.bytes(); string(f) != m.Name[i] {
			m.Name[i] = string(f)
		}
	}
	m.Position = d.floats(m.Position)
	m.Velocity = d.floats(m.Velocity)
	m.Effort = d.floats(m.Effort)
	if d.bad {
		return errTruncated
	}
	return nil
}

// decoder reads ROS1 serialization (little-endian); a read past the end sets bad.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) u32() uint32 {
	if len(d.b) < 4 {
		d.bad, d.b = true, nil
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.u32()
	if uint64(n) > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) floats(dst []float64) []float64 {
	n := d.u32()
	if uint64(n)*8 > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return dst[:0]
	}
	if uint32(cap(dst)) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	for i := range dst {
		dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(d.b[8*i:]))
	}
	d.b = d.b[8*n:]
	return dst
}
