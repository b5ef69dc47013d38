package episode

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchSeconds is the length of the recorded episode (ROBOTD_EPISODE_BENCH_SECONDS, 30).
func benchSeconds() int {
	if n, err := strconv.Atoi(os.Getenv("ROBOTD_EPISODE_BENCH_SECONDS")); err == nil && n > 0 {
		return n
	}
	return 30
}

// benchSpec: two 224x224 cameras at 30 fps plus a 7-joint + gripper state and action.
func benchSpec() Spec {
	s := testSpec()
	s.Cameras = []CameraSpec{{Key: "observation.images.front", Width: 224, Height: 224},
		{Key: "observation.images.wrist", Width: 224, Height: 224}}
	return s
}

// benchImages makes camera-like frames: smooth shading, a few blocks and mild noise,
// shifted a little every frame (motion), the same recipe as testdata/bench_peer.py.
type benchImages struct {
	base []byte
	w, h int
}

func newBenchImages(w, h int, seed int64) *benchImages {
	rng := rand.New(rand.NewSource(seed))
	b := &benchImages{base: make([]byte, 2*w*h*3), w: 2 * w, h: h}
	for y := 0; y < h; y++ {
		for x := 0; x < 2*w; x++ {
			p := (y*2*w + x) * 3
			v := [3]int{x / 2, y, 128 + (x+y)/8}
			if (x/40+y/40)%3 == 0 {
				v = [3]int{200, 60, 40}
			}
			for c := 0; c < 3; c++ {
				b.base[p+c] = byte(min(255, max(0, v[c]+rng.Intn(9)-4)))
			}
		}
	}
	return b
}

// frame k is the w-wide window starting k pixels in (wrapping).
func (b *benchImages) frame(dst []byte, k int) {
	w := b.w / 2
	off := k % w
	for y := 0; y < b.h; y++ {
		copy(dst[y*w*3:(y+1)*w*3], b.base[(y*b.w+off)*3:(y*b.w+off+w)*3])
	}
}

func cpuTimes() (self, children time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	children = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return
}

// BenchmarkRecord records one episode in real time (2 cameras 224x224 at 30 fps plus
// state) after an earlier episode, so End appends to the shared files as it does in a
// session, and reports CPU (this process and its ffmpeg children, % of one core over
// the recording), dropped frames and the time End takes. Sub-benchmark peer runs
// testdata/bench_peer.py: the same frames encoded the way LeRobot's streaming encoder
// does (PyAV libx264 with the same settings, one thread per camera), in real time.
func BenchmarkRecord(b *testing.B) {
	secs := benchSeconds()
	b.Run("robotd", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s := benchSpec()
			dir := filepath.Join(b.TempDir(), "ds")
			w, err := Create(dir, s)
			if err != nil {
				b.Fatal(err)
			}
			imgs := []*benchImages{newBenchImages(224, 224, 1), newBenchImages(224, 224, 2)}
			f := &Frame{State: make([]float32, 8), Action: make([]float32, 8), Images: [][]byte{make([]byte, 224*224*3), make([]byte, 224*224*3)}}
			var selfRec time.Duration // this process's CPU while recording (End excluded)
			record := func(n int, paced bool) (EpisodeResult, time.Duration, time.Duration) {
				ep, err := w.BeginEpisode("pick the cube")
				if err != nil {
					b.Fatal(err)
				}
				s0, c0 := cpuTimes()
				t0 := time.Now()
				period := time.Second / time.Duration(s.FPS)
				for k := 0; k < n; k++ {
					if paced {
						time.Sleep(time.Until(t0.Add(time.Duration(k) * period)))
					}
					f.Timestamp = time.Duration(k) * period
					if paced {
						f.Timestamp = time.Since(t0)
					}
					for j := range f.State {
						f.State[j], f.Action[j] = float32(k+j)*0.001, float32(k-j)*0.001
					}
					imgs[0].frame(f.Images[0], k)
					imgs[1].frame(f.Images[1], 2*k)
					if err := ep.AddFrame(f); err != nil {
						b.Fatal(err)
					}
				}
				wall := time.Since(t0)
				sr, _ := cpuTimes()
				selfRec = sr - s0
				res, err := ep.End(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				s1, c1 := cpuTimes()
				return res, wall, (s1 - s0) + (c1 - c0)
			}
			record(secs*s.FPS, false) // an earlier episode: the next End appends
			res, wall, cpu := record(secs*s.FPS, true)
			w.Close()
			b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu-%core")
			b.ReportMetric(100*res.EncoderCPU.Seconds()/wall.Seconds(), "ffmpeg-%core")
			b.ReportMetric(100*selfRec.Seconds()/wall.Seconds(), "go-%core")
			b.ReportMetric(float64(res.DroppedFrames), "dropped")
			b.ReportMetric(float64(res.CloseTime.Milliseconds()), "close-ms")
			b.ReportMetric(float64(res.OffGridFrames), "offgrid")
			b.ReportMetric(float64(res.Length), "frames")
		}
	})
	b.Run("peer", func(b *testing.B) {
		py := "/usr/bin/python3"
		if err := exec.Command(py, "-c", "import av, numpy").Run(); err != nil {
			b.Skip("python3-av not installed (scripts/setup.sh)")
		}
		for i := 0; i < b.N; i++ {
			out, err := exec.Command(py, "testdata/bench_peer.py", b.TempDir(), strconv.Itoa(secs)).CombinedOutput()
			if err != nil {
				b.Fatalf("bench_peer.py: %v\n%s", err, out)
			}
			// "cpu-%core X close-ms Y dropped Z frames N"
			fields := strings.Fields(strings.TrimSpace(string(out)))
			for j := 0; j+1 < len(fields); j += 2 {
				v, err := strconv.ParseFloat(fields[j+1], 64)
				if err != nil {
					b.Fatalf("bench_peer.py output %q", out)
				}
				b.ReportMetric(v, fields[j])
			}
		}
	})
}

// BenchmarkEpisodeClose records 1 + ROBOTD_EPISODE_CLOSE_EPISODES (500) short episodes
// (ROBOTD_EPISODE_CLOSE_FRAMES frames, 15: half a second; the two 224x224 cameras of
// BenchmarkRecord) into one dataset and reports the time End takes around episode 0,
// 100 and the last (the median of 11), of it the commit after the encoders finished,
// the median over the session and the slowest: a session's close time must not grow
// with the dataset. Frames are paced in real time, as a recording's are, so that End finds the
// encoders caught up (unpaced, End would wait for the encoding of the whole episode).
func BenchmarkEpisodeClose(b *testing.B) {
	episodes, frames := envInt("ROBOTD_EPISODE_CLOSE_EPISODES", 500), envInt("ROBOTD_EPISODE_CLOSE_FRAMES", 15)
	for i := 0; i < b.N; i++ {
		s := benchSpec()
		s.Video.Wait = true
		w, err := Create(filepath.Join(b.TempDir(), "ds"), s)
		if err != nil {
			b.Fatal(err)
		}
		imgs := []*benchImages{newBenchImages(224, 224, 1), newBenchImages(224, 224, 2)}
		f := &Frame{State: make([]float32, 8), Action: make([]float32, 8), Images: [][]byte{make([]byte, 224*224*3), make([]byte, 224*224*3)}}
		closes := make([]time.Duration, 0, episodes+1)
		var commits []time.Duration
		for e := 0; e <= episodes; e++ {
			ep, err := w.BeginEpisode("pick the cube")
			if err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			for k := 0; k < frames; k++ {
				f.Timestamp = time.Duration(k) * time.Second / time.Duration(s.FPS)
				time.Sleep(time.Until(t0.Add(f.Timestamp)))
				for j := range f.State {
					f.State[j], f.Action[j] = float32(e+k+j)*0.001, float32(k-j)*0.001
				}
				imgs[0].frame(f.Images[0], e*frames+k)
				imgs[1].frame(f.Images[1], 2*(e*frames+k))
				if err := ep.AddFrame(f); err != nil {
					b.Fatal(err)
				}
			}
			res, err := ep.End(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			closes = append(closes, res.CloseTime)
			commits = append(commits, res.CommitTime)
		}
		w.Close()
		// The median of the 11 episodes around each point (a single close is at the mercy
		// of the machine's load), and the slowest of all.
		for _, at := range []int{0, 100, episodes} {
			lo, hi := max(0, at-5), min(len(closes), max(0, at-5)+11)
			if lo >= len(closes) {
				continue
			}
			b.ReportMetric(medianMs(closes[lo:hi]), fmt.Sprintf("close-ms@%d", at))
			b.ReportMetric(medianMs(commits[lo:hi]), fmt.Sprintf("commit-ms@%d", at))
		}
		for lo := 0; lo < len(closes); lo += 50 {
			hi := min(len(closes), lo+50)
			b.Logf("episodes %d..%d: close median %.1f ms, commit median %.1f ms", lo, hi-1, medianMs(closes[lo:hi]), medianMs(commits[lo:hi]))
		}
		b.ReportMetric(medianMs(closes), "close-ms-p50")
		b.ReportMetric(float64(slices.Max(closes).Microseconds())/1e3, "close-ms-max")
	}
}

// medianMs is the median of ds in milliseconds.
func medianMs(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2].Microseconds()) / 1e3
}

func envInt(key string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil && n > 0 {
		return n
	}
	return def
}
