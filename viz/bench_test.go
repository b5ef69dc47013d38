package viz

import (
	"bytes"
	"image"
	"math"
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

// BenchmarkObserverTick is the control loop's side of an observed tick: Hub.Tick copying
// the record into a free buffer and queueing it (the encoder's side is BenchmarkHubTick).
func BenchmarkObserverTick(b *testing.B) {
	h, err := New(Config{Joints: []string{"j1", "j2", "j3", "j4", "j5", "j6", "j7"}})
	if err != nil {
		b.Fatal(err)
	}
	rec := &daemon.TickRecord{Q: make([]float64, 7), DQ: make([]float64, 7), Tau: make([]float64, 7)}
	b.ReportAllocs()
	for b.Loop() {
		h.Tick(rec)
		h.freeTicks <- <-h.ticks // what the encoder does with a buffer, without encoding
	}
}
