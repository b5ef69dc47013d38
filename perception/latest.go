package perception

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Freshness says when a camera's frames may no longer be used. Zero fields take the defaults.
type Freshness struct {
	// MaxAge is how old the newest frame may be, measured on the session clock from its
	// capture Time. Default 100 ms.
	MaxAge time.Duration

	// FrozenAfter is how long a camera may deliver byte-identical frames before it counts as
	// frozen (a driver repeating its last buffer, a video pipeline stuck on one image), measured
	// on the Latest's clock from the arrival of the first of them. Default 500 ms;
	// [FrozenCheckOff] disables the check.
	//
	// A simulated camera looking at a scene where nothing moves renders identical frames,
	// legitimately: turn the check off for simulated cameras of static scenes (or expect them
	// to be reported frozen, which is right for a policy that must see motion). Real sensors
	// have noise, so two identical full frames from a real camera mean a repeated buffer.
	FrozenAfter time.Duration

	// Keep is how many of the newest frames are kept for [Latest.Closest]. Default 4.
	Keep int
}

// The Freshness defaults.
const (
	DefaultMaxAge      = 100 * time.Millisecond
	DefaultFrozenAfter = 500 * time.Millisecond
	DefaultKeep        = 4
)

// FrozenCheckOff as Freshness.FrozenAfter disables frozen-camera detection. (The zero value
// means the default, so that a Freshness left empty is safe: a frozen camera must never reach a
// policy silently.)
const FrozenCheckOff time.Duration = -1

// WithDefaults returns f with its zero fields filled.
func (f Freshness) WithDefaults() Freshness {
	if f.MaxAge == 0 {
		f.MaxAge = DefaultMaxAge
	}
	if f.FrozenAfter == 0 {
		f.FrozenAfter = DefaultFrozenAfter
	}
	if f.Keep == 0 {
		f.Keep = DefaultKeep
	}
	return f
}

// Validate reports a setting out of range (after WithDefaults).
func (f Freshness) Validate() error {
	if f.MaxAge <= 0 {
		return fmt.Errorf("perception: freshness: MaxAge %v: want a positive duration", f.MaxAge)
	}
	if f.FrozenAfter < 0 && f.FrozenAfter != FrozenCheckOff {
		return fmt.Errorf("perception: freshness: FrozenAfter %v: want a positive duration or FrozenCheckOff",
			f.FrozenAfter)
	}
	if f.Keep < 1 || f.Keep > 1024 {
		return fmt.Errorf("perception: freshness: Keep %d: want 1 to 1024 frames", f.Keep)
	}
	return nil
}

// ErrStale is matched (errors.Is) by every *StaleError.
var ErrStale = errors.New("camera stale")

// StaleReason says why a camera's frames may not be used.
type StaleReason int

// The reasons.
const (
	NoFrame StaleReason = iota + 1 // nothing delivered yet
	TooOld                         // the newest frame is older than Freshness.MaxAge
	Frozen                         // identical frames for longer than Freshness.FrozenAfter
	Ended                          // a finite source (a video file) reached its end
	Stopped                        // the reader (Latest.Run) returned
	Failed                         // the source's Read failed and no good frame came since
)

var staleReasons = [...]string{"", "no frame yet", "too old", "frozen", "source ended", "reader stopped", "read error"}

func (r StaleReason) String() string {
	if r > 0 && int(r) < len(staleReasons) {
		return staleReasons[r]
	}
	return fmt.Sprintf("StaleReason(%d)", int(r))
}

// StaleError reports a camera whose frames may not be used, and why.
type StaleError struct {
	Camera string
	Reason StaleReason
	Age    time.Duration // TooOld: the newest frame's age; Frozen: how long frames have been identical
	Limit  time.Duration // TooOld: MaxAge; Frozen: FrozenAfter
	Err    error         // Failed: the last read error
}

func (e *StaleError) Error() string {
	switch e.Reason {
	case TooOld:
		return fmt.Sprintf("camera %s stale: newest frame is %v old (max %v)", e.Camera, e.Age, e.Limit)
	case Frozen:
		return fmt.Sprintf("camera %s stale: frozen: identical frames for %v (max %v)",
			e.Camera, e.Age, e.Limit)
	case Failed:
		return fmt.Sprintf("camera %s stale: read error: %v", e.Camera, e.Err)
	}
	return fmt.Sprintf("camera %s stale: %v", e.Camera, e.Reason)
}

// Is makes errors.Is(err, ErrStale) true.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// Unwrap returns the read error of a Failed camera.
func (e *StaleError) Unwrap() error { return e.Err }

// Stats counts what a Latest has seen since it was made.
type Stats struct {
	Frames     uint64 // frames published
	Dropped    uint64 // frames never published: failing Frame.Check or of another size or format than the first
	Gaps       uint64 // frames lost at the source: the sum of the gaps in the sequence numbers
	Frozen     uint64 // times the camera started delivering identical frames for longer than FrozenAfter
	ReadErrors uint64 // failed Reads (not counting the end of a finite source or cancellation)
}

// MaxReadErrors is how many Reads in a row may fail before Run gives up and returns the last
// error. A single failure makes the camera stale until the next good frame.
const MaxReadErrors = 5

// Latest hands a Camera's frames from the goroutine that reads them (Run) to any number of
// consumers (the policy goroutine, recorders): Get copies the newest frame, Closest the frame
// captured nearest to a given time. Both refuse, with a *StaleError, to return a frame from a
// camera that is not delivering live images.
//
// Buffer ownership: Run reads each frame into a spare buffer that only it touches, checks and
// hashes it there, and then publishes it by swapping the spare with the oldest of the Keep
// ring slots under a lock held for that swap only; the evicted slot becomes the next spare.
// Consumers hold the lock (shared among them) while they copy one frame out, so the producer
// waits at most for one frame copy (about 30 us for 640x480 RGB) and never for a consumer's
// processing; consumers never see a frame being written. All buffers are sized at the first
// good frame and reused, so nothing is allocated per frame. This relies on the Camera
// contract: Read writes into dst.Data (growing it only when too small) and keeps no reference
// to it afterwards.
type Latest struct {
	cam   Camera
	name  string
	cfg   Freshness
	clock Clock
	log   *slog.Logger
	seed  maphash.Seed

	running atomic.Bool

	// Owned by the Run goroutine.
	spare     Frame
	shape     frameShape // of the first good frame
	haveShape bool
	lastSeq   uint64
	lastHash  uint64
	haveHash  bool
	dropBurst uint64 // frames dropped since the last published one
	errBurst  int    // read errors since the last good Read

	mu          sync.RWMutex // guards the fields below
	ring        []Frame      // ring[head] is the newest of n frames
	head, n     int
	sameSince   time.Duration // arrival of the first of the current run of identical frames
	lastArrival time.Duration // arrival of the newest frame
	frozenSeen  bool          // the current run has been counted in stats.Frozen
	state       StaleReason   // Ended, Stopped or Failed; 0 while live
	readErr     error         // with Failed
	stats       Stats
}

type frameShape struct {
	format        Format
	width, height int
}

// NewLatest makes the hand-over for cam's frames. cfg's zero fields take the defaults; clock
// is the session clock that stamps frame arrivals for frozen detection (nil: [Monotonic]).
// Start the reader with Run.
func NewLatest(cam Camera, cfg Freshness, clock Clock) (*Latest, error) {
	if cam == nil {
		return nil, errors.New("perception: NewLatest: nil camera")
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("perception: camera %s: %w", cam.Name(), err)
	}
	if clock == nil {
		clock = Monotonic
	}
	return &Latest{
		cam:   cam,
		name:  cam.Name(),
		cfg:   cfg,
		clock: clock,
		log:   slog.Default(),
		seed:  maphash.MakeSeed(),
		ring:  make([]Frame, cfg.Keep),
	}, nil
}

// Name is the camera's name.
func (l *Latest) Name() string { return l.name }

// Freshness is the configuration in use, defaults filled.
func (l *Latest) Freshness() Freshness { return l.cfg }

// Run reads frames until ctx ends (it returns nil), the source ends (io.EOF: it marks the
// camera Ended and returns nil) or MaxReadErrors Reads in a row fail (it returns the last
// error). The caller owns the goroutine that runs it; once Run returns, the camera reads as
// stale (Stopped, Ended or Failed) until a later Run publishes a frame. Only one Run may be
// active at a time.
func (l *Latest) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return fmt.Errorf("perception: camera %s: Latest.Run is already running", l.name)
	}
	defer l.running.Store(false)
	for {
		if done, err := l.step(ctx); done {
			return err
		}
	}
}

// Step reads and hands over one frame in the caller's goroutine, instead of Run: for a
// source the caller paces itself, such as a simulated camera in lockstep (the goroutine that
// steps the simulation renders between ticks and then calls Step, so the frame is visible to
// Get and Closest when Step returns). It returns the Read error, nil for a frame that was
// dropped as malformed (counted in Stats). Step must not be called while Run is active.
func (l *Latest) Step(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return fmt.Errorf("perception: camera %s: Latest.Step while Run is running", l.name)
	}
	defer l.running.Store(false)
	done, err := l.step(ctx)
	if done && err == nil {
		return ctx.Err()
	}
	return err
}

// step reads and handles one frame: Run's loop body. done says Run must return err.
func (l *Latest) step(ctx context.Context) (done bool, err error) {
	if ctx.Err() != nil {
		l.end(Stopped)
		return true, nil
	}
	err = l.cam.Read(ctx, &l.spare)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		l.end(Stopped)
		return true, nil
	case errors.Is(err, io.EOF):
		l.end(Ended)
		l.log.Info("perception: camera source ended", "camera", l.name)
		return true, nil
	default:
		return l.readError(err)
	}
	now := l.clock()
	if l.errBurst > 0 {
		l.log.Info("perception: camera reads again", "camera", l.name, "failed_reads", l.errBurst)
		l.errBurst = 0
	}
	f := &l.spare
	if f.Camera == "" {
		f.Camera = l.name
	}
	gaps := l.sequence(f.Seq)
	if err := l.check(f); err != nil {
		l.drop(err, gaps)
		return false, nil
	}
	l.publish(now, gaps)
	return false, nil
}

// sequence returns how many frames the source skipped before one numbered seq (0: the source
// does not number its frames).
func (l *Latest) sequence(seq uint64) (gaps uint64) {
	if seq == 0 {
		return 0
	}
	if l.lastSeq != 0 && seq > l.lastSeq+1 {
		gaps = seq - l.lastSeq - 1
	}
	l.lastSeq = seq // a smaller seq means the source restarted its count
	return gaps
}

// check refuses a frame that is malformed or of another shape than the first good one. The
// first good frame sets the shape and sizes the ring's buffers.
func (l *Latest) check(f *Frame) error {
	if err := f.Check(); err != nil {
		return err
	}
	s := frameShape{f.Format, f.Width, f.Height}
	if !l.haveShape {
		l.shape, l.haveShape = s, true
		l.mu.Lock()
		for i := range l.ring {
			if cap(l.ring[i].Data) < len(f.Data) {
				l.ring[i].Data = make([]byte, 0, len(f.Data))
			}
		}
		l.mu.Unlock()
		return nil
	}
	if s != l.shape {
		return fmt.Errorf("camera %s: frame %d is %dx%d %s, the stream is %dx%d %s", l.name, f.Seq,
			f.Width, f.Height, f.Format, l.shape.width, l.shape.height, l.shape.format)
	}
	return nil
}

// drop counts a refused frame, logging the first of each burst.
func (l *Latest) drop(reason error, gaps uint64) {
	l.mu.Lock()
	l.stats.Dropped++
	l.stats.Gaps += gaps
	l.mu.Unlock()
	if l.dropBurst == 0 {
		l.log.Warn("perception: dropping bad frames", "camera", l.name, "err", reason)
	}
	l.dropBurst++
}

// publish makes the spare frame the newest.
func (l *Latest) publish(now time.Duration, gaps uint64) {
	h := maphash.Bytes(l.seed, l.spare.Data)
	same := l.haveHash && h == l.lastHash
	l.lastHash, l.haveHash = h, true

	l.mu.Lock()
	next := l.head + 1
	if next == len(l.ring) {
		next = 0
	}
	l.ring[next], l.spare = l.spare, l.ring[next]
	l.head = next
	if l.n < len(l.ring) {
		l.n++
	}
	froze := false
	if !same {
		l.sameSince, l.frozenSeen = now, false
	} else if l.cfg.FrozenAfter > 0 && !l.frozenSeen && now-l.sameSince > l.cfg.FrozenAfter {
		l.frozenSeen, froze = true, true
		l.stats.Frozen++
	}
	l.lastArrival = now
	l.state, l.readErr = 0, nil
	l.stats.Frames++
	l.stats.Gaps += gaps
	since := now - l.sameSince
	l.mu.Unlock()

	if froze {
		l.log.Warn("perception: camera frozen: identical frames", "camera", l.name, "for", since)
	}
	if l.dropBurst > 0 {
		l.log.Info("perception: good frames again", "camera", l.name, "dropped", l.dropBurst)
		l.dropBurst = 0
	}
}

// readError counts a failed Read and says whether Run must give up.
func (l *Latest) readError(err error) (done bool, _ error) {
	l.errBurst++
	l.mu.Lock()
	l.stats.ReadErrors++
	l.state, l.readErr = Failed, err
	l.mu.Unlock()
	if l.errBurst == 1 {
		l.log.Warn("perception: camera read failed", "camera", l.name, "err", err)
	}
	if l.errBurst >= MaxReadErrors {
		return true, fmt.Errorf("perception: camera %s: %d reads failed in a row, the last: %w", l.name, l.errBurst, err)
	}
	return false, nil
}

// end marks the camera as no longer delivering. (When Run gives up after read errors, the
// state stays Failed with the last error.)
func (l *Latest) end(why StaleReason) {
	l.mu.Lock()
	l.state, l.readErr = why, nil
	l.mu.Unlock()
}

// Get copies the newest frame into dst (reusing dst.Data when it is large enough: no
// allocation once dst has held a frame) if the camera is live at now: a frame has arrived, the
// newest is at most MaxAge older than now, the camera is not frozen and its source has neither
// ended nor failed. Otherwise it returns a *StaleError and leaves dst unchanged.
func (l *Latest) Get(now time.Duration, dst *Frame) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.staleLocked(now); err != nil {
		return err
	}
	l.ring[l.head].CopyTo(dst)
	return nil
}

// Closest copies into dst the kept frame (of the newest Keep) whose capture Time is nearest to
// t, the newer one on a tie. It judges staleness as Get(t, ...) does, so t is normally the
// current time or an observation time close to it.
func (l *Latest) Closest(t time.Duration, dst *Frame) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.staleLocked(t); err != nil {
		return err
	}
	best, bestD := l.head, absDur(l.ring[l.head].Time-t)
	for k, i := 1, l.head; k < l.n; k++ {
		if i--; i < 0 {
			i = len(l.ring) - 1
		}
		if d := absDur(l.ring[i].Time - t); d < bestD {
			best, bestD = i, d
		}
	}
	l.ring[best].CopyTo(dst)
	return nil
}

// staleLocked says whether the frames may be used at now. l.mu must be held.
func (l *Latest) staleLocked(now time.Duration) error {
	if l.state != 0 {
		return &StaleError{Camera: l.name, Reason: l.state, Err: l.readErr}
	}
	if l.n == 0 {
		return &StaleError{Camera: l.name, Reason: NoFrame}
	}
	if age := now - l.ring[l.head].Time; age > l.cfg.MaxAge {
		return &StaleError{Camera: l.name, Reason: TooOld, Age: age, Limit: l.cfg.MaxAge}
	}
	if l.cfg.FrozenAfter > 0 {
		if same := l.lastArrival - l.sameSince; same > l.cfg.FrozenAfter {
			return &StaleError{Camera: l.name, Reason: Frozen, Age: same, Limit: l.cfg.FrozenAfter}
		}
	}
	return nil
}

// Stats returns the counters.
func (l *Latest) Stats() Stats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.stats
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
