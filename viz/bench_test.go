package viz

import (
	"bytes"
	"context"
	"image"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/perception"
)

// countSink counts the bytes written to it.
type countSink struct{ n, bytes int }

func (c *countSink) Write(ch *Channel, t time.Time, data []byte) error {
	c.n++
	c.bytes += len(data)
	return nil
}

// BenchmarkJPEG is the JPEG encode cost per camera frame (image/jpeg, quality 80), for
// the rig's 96x96 cameras and a 640x480 one.
func BenchmarkJPEG(b *testing.B) {
	for _, s := range []struct {
		name string
		w, h int
	}{{"96x96", 96, 96}, {"640x480", 640, 480}} {
		b.Run(s.name, func(b *testing.B) {
			f := &perception.Frame{Camera: "c", Format: perception.RGB8, Width: s.w, Height: s.h, Data: make([]byte, s.w*s.h*3)}
			for i := range f.Data { // a smooth gradient with texture, as a rendered scene
				x, y := (i/3)%s.w, (i/3)/s.w
				f.Data[i] = byte(x*255/s.w + int(8*math.Sin(float64(y)/3)))
			}
			var buf bytes.Buffer
			var rgba *image.RGBA
			b.ReportAllocs()
			for b.Loop() {
				if err := encodeJPEG(&buf, f, &rgba, 80); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "bytes/frame")
		})
	}
}

// BenchmarkHubTick is the encoder's work per control tick (off the loop): a 7-joint
// tick's five JSON messages encoded and handed to a sink.
func BenchmarkHubTick(b *testing.B) {
	names := []string{"j1", "j2", "j3", "j4", "j5", "j6", "j7"}
	h, err := New(Config{Joints: names})
	if err != nil {
		b.Fatal(err)
	}
	sink := &countSink{}
	h.SetLog(sink)
	rec := &daemon.TickRecord{Q: make([]float64, 7), DQ: make([]float64, 7), Tau: make([]float64, 7), Gripper: 0.04, GripperCommand: 0.04}
	rec.Tool.Rot.W, rec.Target.Rot.W = 1, 1
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		rec.T = time.Duration(i) * time.Millisecond
		for j := range rec.Q {
			rec.Q[j] = 0.1*float64(j) + 1e-4*float64(i)
		}
		h.Tick(rec)
		h.tick(<-h.ticks)
	}
	b.ReportMetric(float64(sink.bytes)/float64(i), "bytes/tick")
}

// BenchmarkObserverTick is the control loop's side of an observed tick of a logging hub:
// Hub.Tick copying the record into a free buffer and queueing it (the encoder's side is
// BenchmarkHubTick).
func BenchmarkObserverTick(b *testing.B) {
	h, err := New(Config{Joints: []string{"j1", "j2", "j3", "j4", "j5", "j6", "j7"}})
	if err != nil {
		b.Fatal(err)
	}
	h.SetLog(&countSink{})
	rec := &daemon.TickRecord{Q: make([]float64, 7), DQ: make([]float64, 7), Tau: make([]float64, 7)}
	b.ReportAllocs()
	for b.Loop() {
		h.Tick(rec)
		h.freeTicks <- <-h.ticks // what the encoder does with a buffer, without encoding
	}
}

// BenchmarkHubIdle is what a running Hub costs a realtime run that nobody watches: the
// daemon's observer calls at 1 kHz (paced by time.Sleep) into a Hub with the operator
// page as its only live sink, never polled, and no log, as robotd run sets it up; beside
// the same pacing without a hub. One op is 1000 ticks; cpu-ms/s is the process's CPU time
// (user + system, getrusage) per second of ticks, wakeups included.
func BenchmarkHubIdle(b *testing.B) {
	for _, withHub := range []bool{false, true} {
		name := "pacing_only"
		if withHub {
			name = "hub"
		}
		b.Run(name, func(b *testing.B) {
			var h *Hub
			if withHub {
				var err error
				if h, err = New(Config{Joints: []string{"j1", "j2", "j3", "j4", "j5", "j6", "j7"}}); err != nil {
					b.Fatal(err)
				}
				h.AddLive(idleWanter{})
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- h.Run(ctx) }()
				defer func() { cancel(); <-done }()
			}
			rec := &daemon.TickRecord{Q: make([]float64, 7), DQ: make([]float64, 7), Tau: make([]float64, 7), Gripper: math.NaN(), GripperCommand: math.NaN()}
			rec.Tool.Rot.W, rec.Target.Rot.W = 1, 1
			var cpu, wall time.Duration
			i := 0
			for b.Loop() {
				c0, w0 := cpuTime(b), time.Now()
				next := w0
				for range 1000 {
					i++
					rec.T = time.Duration(i) * time.Millisecond
					rec.Q[0] = 1e-4 * float64(i)
					if h != nil {
						h.Tick(rec)
					}
					next = next.Add(time.Millisecond)
					time.Sleep(time.Until(next))
				}
				cpu += cpuTime(b) - c0
				wall += time.Since(w0)
			}
			b.ReportMetric(float64(cpu.Microseconds())/1e3/wall.Seconds(), "cpu-ms/s")
		})
	}
}

// idleWanter is a live sink like the operator page nobody polls: it wants the event
// channels but neither the cameras nor the per-tick channels.
type idleWanter struct{}

func (idleWanter) Write(ch *Channel, t time.Time, data []byte) error { return nil }
func (idleWanter) Wants(ch *Channel) bool {
	return !ch.Live && !strings.HasPrefix(ch.Topic, "/camera/")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
