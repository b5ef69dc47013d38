package env

import (
	"context"
	"encoding/binary"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

const testLaunch = "../launch/pickplace_diffusion.yaml"

// startServer serves the reference launch file on a Unix socket in a fresh short
// directory (socket paths are limited to 108 bytes) and returns the socket's path.
func startServer(t *testing.T) (*Server, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "env")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s")
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, Config{Launch: testLaunch})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		cancel()
		s.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		s.Close()
	})
	return s, path
}

type client struct {
	t *testing.T
	c net.Conn
}

func dial(t *testing.T, path string) *client {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	t.Cleanup(func() { c.Close() })
	return &client{t, c}
}

// do sends m and reads the reply.
func (c *client) do(m *Message) *Message {
	c.t.Helper()
	if err := WriteMessage(c.c, m); err != nil {
		c.t.Fatal(err)
	}
	r, err := ReadMessage(c.c)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// want sends m and checks that the reply is of type typ (and, for an error, that it
// contains text).
func (c *client) want(m *Message, typ, text string) *Message {
	c.t.Helper()
	r := c.do(m)
	if r.Type != typ || !strings.Contains(r.Error, text) {
		c.t.Fatalf("%s request %+v: reply %s %q, want %s containing %q", m.Type, m.Header, r.Type, r.Error, typ, text)
	}
	return r
}

func msg(typ string) *Message { return &Message{Header: Header{Type: typ}} }

func reset(seed int64, mode string) *Message {
	return &Message{Header: Header{Type: "reset", Seed: seed, Mode: mode}}
}

func step(mode string, name string, v []float32, shape ...int) *Message {
	m := &Message{Header: Header{Type: "step", Mode: mode}}
	if name != "" {
		m.Add(name, v, shape...)
	}
	return m
}

// runToEnd steps with the base policy until the episode is done; it returns the
// terminal message and the number of steps.
func (c *client) runToEnd(r *Message) (*Message, int) {
	c.t.Helper()
	n := 0
	for !r.Done {
		if r.Type != "observation" {
			c.t.Fatalf("reply %s %q", r.Type, r.Error)
		}
		r = c.want(step(ModePolicy, "", nil), "observation", "")
		n++
	}
	if r.Outcome == nil {
		c.t.Fatalf("terminal observation without an outcome: %+v", r.Header)
	}
	return r, n
}

// TestServerRefusesBadRequests: every wrong request gets an error reply naming what was
// wrong and the connection stays usable; the observation carries what was asked (the
// features, labelled privileged state, the base chunk); an unreadable message closes the
// connection and the next client is served.
func TestServerRefusesBadRequests(t *testing.T) {
	s, path := startServer(t)
	info := s.Info()
	c := dial(t, path)
	if r := c.want(msg("info"), "info", ""); r.Info == nil || r.Info.ActionDim != 10 || r.Info.ChunkRows != 15 || r.Info.Samples != 1 {
		t.Fatalf("info %+v", r.Info)
	}
	c.want(msg("jump"), "error", `unknown message type "jump"`)
	c.want(msg(""), "error", `no "type"`)
	c.want(step(ModePolicy, "", nil), "error", "step before reset")
	c.want(reset(0, "dance"), "error", `mode "dance"`)
	c.want(&Message{Header: Header{Type: "reset", Rate: "sometimes"}}, "error", `rate "sometimes"`)
	c.want(&Message{Header: Header{Type: "reset", Mode: ModeChunk, Rate: "action"}}, "error", "modes policy and residual only")
	c.want(&Message{Header: Header{Type: "reset", CameraNoise: -1}}, "error", "camera_noise -1")
	c.want(&Message{Header: Header{Type: "reset", LatencyMS: 1e9}}, "error", "latency_ms")

	r := c.want(&Message{Header: Header{Type: "reset", Seed: 4, Mode: ModeResidual, Privileged: true, Images: true}}, "observation", "")
	if r.Done || r.Decision != "chunk" || r.Episode < 1 {
		t.Fatalf("first observation %+v", r.Header)
	}
	for _, want := range []struct {
		name  string
		shape []int
	}{
		{"observation.state", []int{8}}, {"observation.images.scene", []int{3, 96, 96}}, {"observation.images.wrist", []int{3, 96, 96}},
		{"base.chunk", []int{info.ChunkRows, info.ActionDim}},
		{"privileged.cube", []int{7}}, {"privileged.tool", []int{7}}, {"privileged.gripper", []int{1}},
	} {
		if v, shape := r.Get(want.name); v == nil || !equalInts(shape, want.shape) {
			t.Errorf("observation array %s: shape %v, want %v", want.name, shape, want.shape)
		}
	}
	if cube, _ := r.Get("privileged.cube"); cube != nil && (cube[2] < 0 || cube[2] > 0.2 || cube[3] == 0 && cube[4] == 0 && cube[5] == 0 && cube[6] == 0) {
		t.Errorf("privileged.cube %v is not a cube pose on the table", cube)
	}

	rows := info.ChunkRows - r.Prefix
	c.want(step(ModeChunk, "actions", make([]float32, info.ChunkRows*10), info.ChunkRows, 10), "error", "reset with mode residual")
	c.want(step(ModeResidual, "noise", make([]float32, 10), 10), "error", `one array "correction"`)
	c.want(step(ModeResidual, "correction", make([]float32, 10), 10), "error", "has shape [10]")
	c.want(step(ModePolicy, "correction", make([]float32, 10), 10), "error", "takes no arrays")
	r = c.want(step(ModeResidual, "correction", make([]float32, rows*10), rows, 10), "observation", "")
	if r.Step != 1 || r.Done {
		t.Fatalf("after a zero correction: %+v", r.Header)
	}

	// Chunk mode: a non-finite action is refused before it reaches the executor.
	r = c.want(reset(4, ModeChunk), "observation", "")
	base, _ := r.Get("base.chunk")
	bad := append([]float32(nil), base...)
	bad[13] = float32(posInf())
	c.want(step(ModeChunk, "actions", bad, info.ChunkRows, 10), "error", "actions[1][3] is +Inf")
	r = c.want(step(ModeChunk, "actions", base, info.ChunkRows, 10), "observation", "")
	if r.Done {
		t.Fatal("one replayed base chunk ended the episode")
	}

	// Noise mode decides before sampling: no base; the noise is [samples, horizon, A].
	r = c.want(reset(4, ModeNoise), "observation", "")
	if r.Decision != "noise" {
		t.Fatalf("noise mode: decision %q", r.Decision)
	}
	if v, _ := r.Get("base.chunk"); v != nil {
		t.Error("noise mode: the observation carries a base chunk before it was sampled")
	}
	noise := make([]float32, info.Samples*info.Horizon*10)
	c.want(step(ModeNoise, "noise", noise, info.Horizon, 10), "error", "want [1 16 10]")
	c.want(step(ModeNoise, "noise", noise, info.Samples, info.Horizon, 10), "observation", "")

	// Rate action decides each action, one policy period apart, on the base action.
	r = c.want(&Message{Header: Header{Type: "reset", Seed: 4, Mode: ModeResidual, Rate: "action"}}, "observation", "")
	t0 := r.Time
	for i := 1; i <= 3; i++ {
		if v, shape := r.Get("base.action"); r.Decision != "action" || v == nil || !equalInts(shape, []int{10}) {
			t.Fatalf("rate action: decision %q, base.action %v", r.Decision, shape)
		}
		r = c.want(step(ModeResidual, "correction", make([]float32, 10), 10), "observation", "")
		if dt := r.Time - t0; math.Abs(dt-float64(i)*info.PolicyDt) > 1e-6 {
			t.Fatalf("rate action: decision %d at %v s after the first, want %v", i, dt, float64(i)*info.PolicyDt)
		}
	}

	// Camera noise is the launch file's: a reset that changes it rebuilds the system.
	c.want(&Message{Header: Header{Type: "reset", Seed: 4, CameraNoise: 8}}, "observation", "")
	if r := c.want(msg("info"), "info", ""); r.Info.CameraNoise != 8 {
		t.Errorf("after a reset with camera_noise 8, info says %v", r.Info.CameraNoise)
	}

	// An unreadable message: an error reply, then the connection is closed.
	raw := binary.LittleEndian.AppendUint32(nil, 5)
	if _, err := c.c.Write(append(raw, "{oops"...)); err != nil {
		t.Fatal(err)
	}
	if r, err := ReadMessage(c.c); err != nil || r.Type != "error" || !strings.Contains(r.Error, "not a JSON object") {
		t.Fatalf("reply to a bad header: %v %v", r, err)
	}
	if _, err := ReadMessage(c.c); err == nil {
		t.Fatal("the connection stayed open after an unreadable message")
	}

	// The next client is served, and its steps run (the abandoned episode was stopped).
	c2 := dial(t, path)
	r = c2.want(reset(4, ModePolicy), "observation", "")
	c2.want(step(ModePolicy, "", nil), "observation", "")
	c2.want(msg("close"), "closed", "")
}

func posInf() float64 { return 1 / zero }

var zero float64

// TestServerDisconnectMidEpisode: a client that vanishes in the middle of an episode
// leaves the server ready: the next client's fresh episode of the same seed ends exactly
// as the first client's fresh episode did (lockstep is deterministic); once the server
// is closed, none of its goroutines is left.
func TestServerDisconnectMidEpisode(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs after the server's cleanup
	_, path := startServer(t)
	c := dial(t, path)
	first, steps := c.runToEnd(c.want(&Message{Header: Header{Type: "reset", Seed: 2, Fresh: true}}, "observation", ""))
	if steps < 3 || first.Outcome.Duration <= 0 || first.Outcome.Seed != 2 {
		t.Fatalf("first episode: %d steps, outcome %+v", steps, *first.Outcome)
	}
	c.want(step(ModePolicy, "", nil), "error", "after the episode ended")
	c.want(reset(2, ModePolicy), "observation", "")
	c.want(step(ModePolicy, "", nil), "observation", "")
	c.c.Close() // mid-episode, without close

	c2 := dial(t, path)
	again, steps2 := c2.runToEnd(c2.want(&Message{Header: Header{Type: "reset", Seed: 2, Fresh: true}}, "observation", ""))
	if *again.Outcome != *first.Outcome || steps2 != steps {
		t.Errorf("after a disconnect: %d steps, outcome %+v; the first client's: %d, %+v", steps2, *again.Outcome, steps, *first.Outcome)
	}
	if again.Success && again.Reward != 1 || !again.Success && again.Reward != 0 {
		t.Errorf("terminal reward %v with success %v", again.Reward, again.Success)
	}
}
