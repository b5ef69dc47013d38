package perception

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robotd/robotd/clock"
)

const ms = time.Millisecond

// shot is one scripted Read: a frame (w x h of format, every byte = fill) or an error.
type shot struct {
	seq    uint64
	t      time.Duration // capture time
	w, h   int
	format Format
	fill   byte
	short  bool // one byte missing: fails Frame.Check
	err    error
}

func rgb(seq uint64, t time.Duration, fill byte) shot {
	return shot{seq: seq, t: t, w: 4, h: 3, format: RGB8, fill: fill}
}

// scriptCam delivers the shots a test pushes, one per Read. It stands in for a source only to
// test the hand-over logic; real sources are tested with their own packages (sim/mujoco).
type scriptCam struct {
	name string
	in   chan shot
	idle chan struct{} // a Read has started: the previous frame is fully handled
}

func newScriptCam(name string) *scriptCam {
	return &scriptCam{name: name, in: make(chan shot), idle: make(chan struct{})}
}

func (c *scriptCam) Name() string { return c.name }
func (c *scriptCam) Close() error { return nil }

func (c *scriptCam) Read(ctx context.Context, dst *Frame) error {
	select {
	case c.idle <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case s := <-c.in:
		if s.err != nil {
			return s.err
		}
		fillFrame(dst, c.name, s)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func fillFrame(dst *Frame, name string, s shot) {
	n := s.w * s.h * s.format.BytesPerPixel()
	if s.short {
		n--
	}
	if cap(dst.Data) < n {
		dst.Data = make([]byte, n)
	}
	dst.Data = dst.Data[:n]
	if n > 0 {
		dst.Data[0] = s.fill
		for i := 1; i < n; i *= 2 {
			copy(dst.Data[i:], dst.Data[:i])
		}
	}
	dst.Camera, dst.Seq, dst.Time, dst.Format, dst.Width, dst.Height = name, s.seq, s.t, s.format, s.w, s.h
}

// harness runs a Latest over a scriptCam on a manual clock.
type harness struct {
	t     *testing.T
	cam   *scriptCam
	clock *clock.Manual
	l     *Latest
	done  chan error // Run's result
	stop  context.CancelFunc
}

func newHarness(t *testing.T, cfg Freshness) *harness {
	t.Helper()
	return newNamedHarness(t, "front", cfg)
}

func newNamedHarness(t *testing.T, camera string, cfg Freshness) *harness {
	t.Helper()
	h := &harness{t: t, cam: newScriptCam(camera), clock: new(clock.Manual), done: make(chan error, 1)}
	var err error
	if h.l, err = NewLatest(h.cam, cfg, h.clock.Now); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { h.done <- h.l.Run(ctx) }()
	<-h.cam.idle
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return h
}

// push delivers s at clock time `at` and waits until Latest has handled it.
func (h *harness) push(at time.Duration, s shot) {
	h.t.Helper()
	h.clock.Set(at)
	h.cam.in <- s
	select {
	case <-h.cam.idle:
	case err := <-h.done:
		h.t.Fatalf("Run returned %v", err)
	}
}

// get calls Get and returns the frame's Seq (0 if refused) and the error.
func (h *harness) get(now time.Duration) (uint64, error) {
	var f Frame
	err := h.l.Get(now, &f)
	return f.Seq, err
}

func staleReason(t *testing.T, err error) StaleReason {
	t.Helper()
	if err == nil {
		return 0
	}
	var se *StaleError
	if !errors.As(err, &se) || !errors.Is(err, ErrStale) {
		t.Fatalf("error %v (%T) is not a *StaleError matching ErrStale", err, err)
	}
	if !strings.Contains(err.Error(), "camera "+se.Camera) || se.Camera == "" {
		t.Errorf("error %q does not name the camera", err)
	}
	return se.Reason
}

func TestLatestStaleWhenSourceStops(t *testing.T) {
	h := newHarness(t, Freshness{}) // MaxAge 100 ms
	if _, err := h.get(0); staleReason(t, err) != NoFrame {
		t.Fatalf("before any frame: %v, want no frame yet", err)
	}
	// 30 fps for a second: live all along, the newest frame is returned.
	for i := range 30 {
		at := time.Duration(i) * 33 * ms
		h.push(at+2*ms, rgb(uint64(i+1), at, byte(i)))
		if seq, err := h.get(at + 20*ms); err != nil || seq != uint64(i+1) {
			t.Fatalf("frame %d: Get = seq %d, %v", i+1, seq, err)
		}
	}
	last := 29 * 33 * ms
	// The source stops: live up to MaxAge after the last capture, stale after.
	if _, err := h.get(last + 100*ms); err != nil {
		t.Errorf("at exactly MaxAge: %v", err)
	}
	_, err := h.get(last + 101*ms)
	if staleReason(t, err) != TooOld {
		t.Fatalf("101 ms after the last frame: %v, want too old", err)
	}
	var se *StaleError
	errors.As(err, &se)
	if se.Camera != "front" || se.Age != 101*ms || se.Limit != 100*ms {
		t.Errorf("StaleError %+v", *se)
	}
	t.Log(err)
	// It comes back with the next frame.
	h.push(last+500*ms, rgb(31, last+495*ms, 1))
	if seq, err := h.get(last + 510*ms); err != nil || seq != 31 {
		t.Errorf("after the source resumed: seq %d, %v", seq, err)
	}
	// A frame stamped well in the past is stale on arrival.
	h.push(last+2000*ms, rgb(32, last+1800*ms, 2))
	if _, err := h.get(last + 2000*ms); staleReason(t, err) != TooOld {
		t.Errorf("frame 200 ms old on arrival: %v", err)
	}
}

func TestLatestFrozen(t *testing.T) {
	h := newHarness(t, Freshness{}) // FrozenAfter 500 ms
	now := time.Duration(0)
	// Changing frames for 2 s: never frozen.
	for i := range 60 {
		now = time.Duration(i) * 33 * ms
		h.push(now, rgb(uint64(i+1), now, byte(i%2)))
		if _, err := h.get(now); err != nil {
			t.Fatalf("changing frames, frame %d: %v", i+1, err)
		}
	}
	if st := h.l.Stats(); st.Frozen != 0 {
		t.Errorf("changing frames counted %d frozen events", st.Frozen)
	}
	// Now the same bytes again and again, fresh timestamps: frozen once more than 500 ms of
	// identical frames have arrived, counted once.
	seq := uint64(60)
	first := now + 33*ms // arrival of the first of the identical run (it differs from frame 60)
	var frozeAt time.Duration
	for i := range 30 {
		now += 33 * ms
		seq++
		h.push(now, rgb(seq, now, 7))
		_, err := h.get(now)
		switch r := staleReason(t, err); {
		case now-first <= 500*ms && r != 0:
			t.Fatalf("identical for %v: %v", now-first, err)
		case now-first > 500*ms && r != Frozen:
			t.Fatalf("identical for %v: %v, want frozen", now-first, err)
		case r == Frozen && frozeAt == 0:
			frozeAt = now - first
			t.Logf("after %v of identical frames: %v", frozeAt, err)
		}
		_ = i
	}
	if frozeAt == 0 || frozeAt > 533*ms {
		t.Errorf("frozen detected after %v of identical frames, want 500-533 ms", frozeAt)
	}
	if st := h.l.Stats(); st.Frozen != 1 {
		t.Errorf("Stats().Frozen = %d, want 1 event", st.Frozen)
	}
	// One changed frame thaws it.
	now += 33 * ms
	seq++
	h.push(now, rgb(seq, now, 8))
	if _, err := h.get(now); err != nil {
		t.Errorf("after a changed frame: %v", err)
	}
}

func TestLatestFrozenCheckOff(t *testing.T) {
	h := newHarness(t, Freshness{FrozenAfter: FrozenCheckOff}) // a static simulated scene
	for i := range 60 {
		now := time.Duration(i) * 33 * ms
		h.push(now, rgb(uint64(i+1), now, 3))
		if _, err := h.get(now); err != nil {
			t.Fatalf("frame %d: %v", i+1, err)
		}
	}
	if st := h.l.Stats(); st.Frozen != 0 || st.Frames != 60 {
		t.Errorf("Stats() = %+v", st)
	}
}

// logCounter counts slog records by level and keeps their messages.
type logCounter struct {
	mu   sync.Mutex
	msgs []string
}

func (c *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCounter) WithGroup(string) slog.Handler            { return c }
func (c *logCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	c.msgs = append(c.msgs, b.String())
	return nil
}

func (c *logCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.msgs
	c.msgs = nil
	return m
}

func captureLog(t *testing.T) *logCounter {
	c := &logCounter{}
	old := slog.Default()
	slog.SetDefault(slog.New(c))
	t.Cleanup(func() { slog.SetDefault(old) })
	return c
}

func TestLatestDropsBadFrames(t *testing.T) {
	logs := captureLog(t)
	h := newHarness(t, Freshness{})
	h.push(0, rgb(1, 0, 1))
	h.push(10*ms, rgb(2, 10*ms, 2))

	// A burst: wrong size, wrong format, malformed; then good frames again.
	wide := rgb(3, 20*ms, 3)
	wide.w = 5
	mono := shot{seq: 4, t: 30 * ms, w: 4, h: 3, format: Mono8, fill: 4}
	short := rgb(5, 40*ms, 5)
	short.short = true
	for i, s := range []shot{wide, mono, short} {
		h.push(s.t, s)
		if seq, err := h.get(s.t); err != nil || seq != 2 {
			t.Errorf("after bad frame %d: Get = seq %d, %v; want frame 2 still", i, seq, err)
		}
	}
	msgs := logs.take()
	if len(msgs) != 1 || !strings.Contains(msgs[0], "WARN") || !strings.Contains(msgs[0], "5x3") ||
		!strings.Contains(msgs[0], "4x3") {
		t.Errorf("log after a burst of 3 bad frames: %q; want one warning naming both sizes", msgs)
	}
	h.push(50*ms, rgb(6, 50*ms, 6))
	h.push(60*ms, rgb(7, 60*ms, 7))
	if msgs := logs.take(); len(msgs) != 1 || !strings.Contains(msgs[0], "dropped=3") {
		t.Errorf("log when good frames resume: %q; want one line with dropped=3", msgs)
	}
	// A second burst logs again, once.
	for seq := uint64(8); seq < 18; seq++ {
		s := rgb(seq, time.Duration(seq)*10*ms, 1)
		s.h = 2
		h.push(s.t, s)
	}
	h.push(180*ms, rgb(18, 180*ms, 1))
	if msgs := logs.take(); len(msgs) != 2 {
		t.Errorf("log over a second burst of 10: %q; want a warning and a resume line", msgs)
	}
	// Never published: Closest over the whole ring sees only good frames.
	var f Frame
	for at := time.Duration(0); at <= 180*ms; at += 10 * ms {
		if err := h.l.Closest(180*ms, &f); err != nil || f.Width != 4 || f.Height != 3 || f.Format != RGB8 {
			t.Fatalf("Closest(%v) = %dx%d %s, %v", at, f.Width, f.Height, f.Format, err)
		}
	}
	st := h.l.Stats()
	if st.Frames != 5 || st.Dropped != 13 || st.Gaps != 0 {
		t.Errorf("Stats() = %+v; want 5 frames, 13 dropped, no gaps (dropped frames are not lost frames)", st)
	}
}

func TestLatestSequenceGaps(t *testing.T) {
	h := newHarness(t, Freshness{})
	for i, seq := range []uint64{1, 2, 5, 6, 10, 11} {
		at := time.Duration(i) * 10 * ms
		h.push(at, rgb(seq, at, byte(i)))
	}
	if st := h.l.Stats(); st.Gaps != 5 || st.Frames != 6 {
		t.Errorf("Stats() = %+v; want 5 frames lost (3, 4, 7, 8, 9)", st)
	}
	// A source that restarts its count or does not number frames is not a gap.
	h.push(60*ms, rgb(1, 60*ms, 9))
	h.push(70*ms, rgb(0, 70*ms, 8))
	h.push(80*ms, rgb(0, 80*ms, 7))
	h.push(90*ms, rgb(2, 90*ms, 6))
	if st := h.l.Stats(); st.Gaps != 5 {
		t.Errorf("gaps after a restart and unnumbered frames: %d, want still 5", st.Gaps)
	}
}

func TestLatestClosest(t *testing.T) {
	h := newHarness(t, Freshness{Keep: 4})
	for i := range 6 { // frames at 0..50 ms; the newest 4 (20..50 ms) are kept
		at := time.Duration(i) * 10 * ms
		h.push(at, rgb(uint64(i+1), at, byte(i)))
	}
	for _, tc := range []struct {
		t    time.Duration
		want time.Duration
	}{
		{50 * ms, 50 * ms},
		{60 * ms, 50 * ms},  // after the newest
		{33 * ms, 30 * ms},  // between, nearer the older
		{37 * ms, 40 * ms},  // between, nearer the newer
		{45 * ms, 50 * ms},  // a tie goes to the newer
		{20 * ms, 20 * ms},  // the oldest kept
		{-5 * ms, 20 * ms},  // before the oldest kept
		{150 * ms, 50 * ms}, // exactly MaxAge after the newest
	} {
		var f Frame
		if err := h.l.Closest(tc.t, &f); err != nil || f.Time != tc.want || f.Data[0] != byte(tc.want/(10*ms)) {
			t.Errorf("Closest(%v) = frame at %v (data %v), %v; want the frame at %v", tc.t, f.Time, f.Data, err, tc.want)
		}
	}
	var f Frame
	if err := h.l.Closest(151*ms, &f); staleReason(t, err) != TooOld {
		t.Errorf("Closest 101 ms after the newest: %v", err)
	}
	// Keep 1: Closest is Get.
	h1 := newHarness(t, Freshness{Keep: 1})
	h1.push(0, rgb(1, 0, 1))
	h1.push(10*ms, rgb(2, 10*ms, 2))
	if err := h1.l.Closest(0, &f); err != nil || f.Seq != 2 {
		t.Errorf("Keep 1: Closest(0) = seq %d, %v; want the only frame kept", f.Seq, err)
	}
}

func TestLatestEnds(t *testing.T) {
	// A finite source: Run returns nil at io.EOF and the camera reads as ended.
	h := newHarness(t, Freshness{})
	h.push(0, rgb(1, 0, 1))
	h.cam.in <- shot{err: io.EOF}
	if err := <-h.done; err != nil {
		t.Errorf("Run at the end of the source = %v, want nil", err)
	}
	h.done <- nil // for the cleanup
	if _, err := h.get(0); staleReason(t, err) != Ended {
		t.Errorf("after EOF: %v, want source ended", err)
	}

	// Cancellation: nil, and the camera reads as stopped.
	h = newHarness(t, Freshness{})
	h.push(0, rgb(1, 0, 1))
	h.stop()
	if err := <-h.done; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	h.done <- nil
	if _, err := h.get(0); staleReason(t, err) != Stopped {
		t.Errorf("after cancel: %v, want reader stopped", err)
	}
}

func TestLatestReadErrors(t *testing.T) {
	logs := captureLog(t)
	h := newHarness(t, Freshness{})
	h.push(0, rgb(1, 0, 1))
	boom := errors.New("VIDIOC_DQBUF: no such device")
	h.push(5*ms, shot{err: boom})
	_, err := h.get(5 * ms)
	if staleReason(t, err) != Failed || !errors.Is(err, boom) || !strings.Contains(err.Error(), "VIDIOC_DQBUF") {
		t.Errorf("after a read error: %v; want stale, wrapping the read error", err)
	}
	h.push(6*ms, shot{err: boom})
	h.push(10*ms, rgb(2, 10*ms, 2))
	if seq, err := h.get(10 * ms); err != nil || seq != 2 {
		t.Errorf("after a good frame: seq %d, %v", seq, err)
	}
	if msgs := logs.take(); len(msgs) != 2 {
		t.Errorf("logs for 2 failed reads then a good one: %q; want a warning and a resume line", msgs)
	}
	// MaxReadErrors in a row: Run gives up with the error.
	for i := range MaxReadErrors {
		h.cam.in <- shot{err: boom}
		if i < MaxReadErrors-1 {
			<-h.cam.idle
		}
	}
	err = <-h.done
	h.done <- nil
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "front") {
		t.Errorf("Run after %d failed reads = %v", MaxReadErrors, err)
	}
	if _, err := h.get(20 * ms); staleReason(t, err) != Failed {
		t.Errorf("after Run gave up: %v", err)
	}
	if st := h.l.Stats(); st.ReadErrors != 2+MaxReadErrors || st.Frames != 2 {
		t.Errorf("Stats() = %+v", st)
	}
}

func TestLatestRunOnce(t *testing.T) {
	h := newHarness(t, Freshness{})
	if err := h.l.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run = %v", err)
	}
}

func TestFreshnessValidate(t *testing.T) {
	cam := newScriptCam("c")
	l, err := NewLatest(cam, Freshness{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Freshness(); got != (Freshness{MaxAge: 100 * ms, FrozenAfter: 500 * ms, Keep: 4}) {
		t.Errorf("defaults: %+v", got)
	}
	for _, bad := range []Freshness{{MaxAge: -1}, {FrozenAfter: -2}, {Keep: -1}, {Keep: 5000}} {
		if _, err := NewLatest(cam, bad, nil); err == nil || !strings.Contains(err.Error(), "camera c") {
			t.Errorf("NewLatest(%+v) = %v, want an error naming the camera", bad, err)
		}
	}
	if _, err := NewLatest(nil, Freshness{}, nil); err == nil {
		t.Error("nil camera accepted")
	}
}

// genCam delivers frames as fast as it is read: w x h RGB, every byte = byte(seq), Time from a
// clock. It allocates nothing once dst has room.
type genCam struct {
	name  string
	w, h  int
	seq   uint64
	clock Clock
	limit uint64 // io.EOF after this many frames (0: never)
}

func (c *genCam) Name() string { return c.name }
func (c *genCam) Close() error { return nil }
func (c *genCam) Read(ctx context.Context, dst *Frame) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.limit > 0 && c.seq >= c.limit {
		return io.EOF
	}
	c.seq++
	fillFrame(dst, c.name, shot{seq: c.seq, t: c.clock(), w: c.w, h: c.h, format: RGB8, fill: byte(c.seq)})
	return nil
}

// TestLatestConcurrent runs the producer and several readers at full speed (run it with
// -race): every frame a reader gets is whole (all its bytes from one frame), Seq never goes
// backwards for a reader, and Run's goroutine ends with its context.
func TestLatestConcurrent(t *testing.T) {
	before := runtime.NumGoroutine()
	clock := Monotonic
	cam := &genCam{name: "wrist", w: 64, h: 48, clock: clock}
	l, err := NewLatest(cam, Freshness{MaxAge: time.Hour, FrozenAfter: FrozenCheckOff}, clock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- l.Run(ctx) }()

	var wg sync.WaitGroup
	var got atomic.Int64
	deadline := time.Now().Add(300 * ms)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var f Frame
			var last uint64
			for time.Now().Before(deadline) {
				var err error
				if r%2 == 0 {
					err = l.Get(clock(), &f)
				} else {
					err = l.Closest(clock(), &f)
				}
				if err != nil {
					if staleReason(t, err) == NoFrame {
						continue
					}
					t.Error(err)
					return
				}
				for i, b := range f.Data {
					if b != byte(f.Seq) {
						t.Errorf("reader %d: torn frame %d: byte %d is %d", r, f.Seq, i, b)
						return
					}
				}
				if r%2 == 0 && f.Seq < last {
					t.Errorf("reader %d: Get went back from frame %d to %d", r, last, f.Seq)
					return
				}
				last = f.Seq
				got.Add(1)
			}
		}()
	}
	wg.Wait()
	cancel()
	if err := <-runErr; err != nil {
		t.Errorf("Run = %v", err)
	}
	st := l.Stats()
	t.Logf("%d frames published, %d copies read by 4 readers in 300 ms", st.Frames, got.Load())
	if st.Frames < 100 || got.Load() < 100 || st.Dropped != 0 || st.Gaps != 0 {
		t.Errorf("Stats() = %+v, %d reads", st, got.Load())
	}
	time.Sleep(10 * ms)
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Run returned, %d before", n, before)
	}
}

func TestLatestNoAllocs(t *testing.T) {
	clock := new(clock.Manual)
	cam := &genCam{name: "c", w: 640, h: 480, clock: clock.Now}
	l, err := NewLatest(cam, Freshness{}, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	step := func() {
		clock.Advance(33 * ms)
		if done, err := l.step(ctx); done || err != nil {
			t.Fatal(done, err)
		}
	}
	step() // warm-up: the camera sizes its first buffer, Latest sizes its ring
	if a := testing.AllocsPerRun(100, step); a != 0 {
		t.Errorf("Run's loop allocates %v times per frame, want 0", a)
	}
	var f Frame
	if err := l.Get(clock.Now(), &f); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(100, func() {
		if err := l.Get(clock.Now(), &f); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Get allocates %v times, want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() {
		if err := l.Closest(clock.Now()-50*ms, &f); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Closest allocates %v times, want 0", a)
	}
	cam2 := &genCam{name: "d", w: 320, h: 240, clock: clock.Now}
	l2, _ := NewLatest(cam2, Freshness{}, clock.Now)
	for range 3 {
		l2.step(ctx)
	}
	cams, dst := []*Latest{l, l2}, make([]Frame, 2)
	if _, err := Assemble(clock.Now(), cams, 10*ms, dst); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(100, func() {
		if _, err := Assemble(clock.Now(), cams, 10*ms, dst); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Assemble allocates %v times, want 0", a)
	}
	if st := l.Stats(); st.Frames != 102 {
		t.Errorf("Stats() = %+v", st)
	}
}

func benchLatest(b *testing.B, w, h int) (*Latest, *clock.Manual) {
	clock := new(clock.Manual)
	cam := &genCam{name: "c", w: w, h: h, clock: clock.Now}
	l, err := NewLatest(cam, Freshness{MaxAge: time.Hour}, clock.Now)
	if err != nil {
		b.Fatal(err)
	}
	for range 5 {
		l.step(context.Background())
	}
	return l, clock
}

// BenchmarkLatestGet copies the newest 640x480 RGB frame out.
func BenchmarkLatestGet(b *testing.B) {
	l, clock := benchLatest(b, 640, 480)
	var f Frame
	b.ReportAllocs()
	b.SetBytes(640 * 480 * 3)
	for b.Loop() {
		if err := l.Get(clock.Now(), &f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLatestPublish is Run's work per 640x480 RGB frame beyond the camera's Read
// (which here fills the frame: subtract BenchmarkFill): check, hash, swap.
func BenchmarkLatestPublish(b *testing.B) {
	l, _ := benchLatest(b, 640, 480)
	b.ReportAllocs()
	b.SetBytes(640 * 480 * 3)
	for b.Loop() {
		l.step(context.Background())
	}
}

// BenchmarkFill is the scripted camera's own cost per 640x480 frame.
func BenchmarkFill(b *testing.B) {
	var f Frame
	b.SetBytes(640 * 480 * 3)
	for b.Loop() {
		fillFrame(&f, "c", shot{seq: 1, w: 640, h: 480, format: RGB8, fill: 1})
	}
}
