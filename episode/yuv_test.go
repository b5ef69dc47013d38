package episode

import (
	"bytes"
	"math"
	"os/exec"
	"path/filepath"
	"testing"
)

// rgbToYUV420 makes what ffmpeg's swscale makes of rgb24 (luma within one level,
// chroma within a few: swscale filters chroma vertically over more rows than the 2x2
// mean), and its histograms are histogram's.
func TestRGBToYUV420LikeFFmpeg(t *testing.T) {
	const w, h = 224, 96
	img := newBenchImages(w, h, 3)
	rgb := make([]byte, w*h*3)
	img.frame(rgb, 17)
	got := make([]byte, w*h*3/2)
	var hist, want [3][256]uint32
	rgbToYUV420(got, rgb, w, h, &hist)
	histogram(rgb, w, h, 1, &want)
	if hist != want {
		t.Error("the fused histogram differs from histogram's")
	}
	cmd := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "224x96",
		"-i", "pipe:0", "-pix_fmt", "yuv420p", "-f", "rawvideo", "pipe:1")
	cmd.Stdin = bytes.NewReader(rgb)
	ref, err := cmd.Output()
	if err != nil || len(ref) != len(got) {
		t.Fatalf("ffmpeg: %v (%d bytes)", err, len(ref))
	}
	n := w * h
	for _, p := range []struct {
		name          string
		lo, hi        int
		maxDiff, mean float64
	}{{"Y", 0, n, 1, 0.5}, {"U", n, n + n/4, 6, 1}, {"V", n + n/4, n + n/2, 6, 1}} {
		var sum, worst float64
		for i := p.lo; i < p.hi; i++ {
			d := math.Abs(float64(got[i]) - float64(ref[i]))
			sum += d
			worst = max(worst, d)
		}
		mean := sum / float64(p.hi-p.lo)
		t.Logf("%s: mean |diff| %.3f, max %v", p.name, mean, worst)
		if worst > p.maxDiff || mean > p.mean {
			t.Errorf("%s plane: mean |diff| %.3f, max %v from swscale's; want <= %v and %v", p.name, mean, worst, p.mean, p.maxDiff)
		}
	}
}

// What the encoder writes decodes back to the recorded images (colours, planes and
// frame order right): the decoded frames are within a few levels of the input on average,
// and closer to their own image than to one eight frames away.
func TestVideoDecodesToRecordedImages(t *testing.T) {
	s := testSpec()
	s.Video.Wait = true // frames added back to back: no drops (a dropped image repeats the last)
	dir := filepath.Join(t.TempDir(), "ds")
	w, err := Create(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	frames := recordEpisodes(t, w, 9, 40)
	w.Close()
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for ci, c := range s.Cameras {
		r, err := ds.OpenVideo(0, c.Key)
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		for k, f := range frames[0] {
			img, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			d := meanAbsDiff(img, f.Images[ci])
			worst = max(worst, d)
			// The test images change by one level per frame: eight frames apart is
			// well above the coding error.
			if k >= 8 && meanAbsDiff(img, frames[0][k-8].Images[ci]) < d {
				t.Fatalf("%s frame %d decodes closer to frame %d", c.Key, k, k-8)
			}
		}
		r.Close()
		t.Logf("%s: worst mean |diff| per frame %.2f", c.Key, worst)
		if worst > 6 { // veryfast and swscale: 5.4 and 3.8 on these hard-edged images
			t.Errorf("%s: decoded frames differ from the recorded ones by up to %.2f on average", c.Key, worst)
		}
	}
}

func BenchmarkRGBToYUV420(b *testing.B) {
	const w, h = 224, 224
	rgb := make([]byte, w*h*3)
	newBenchImages(w, h, 1).frame(rgb, 0)
	dst := make([]byte, w*h*3/2)
	var hist [3][256]uint32
	b.SetBytes(int64(len(rgb)))
	for b.Loop() {
		rgbToYUV420(dst, rgb, w, h, &hist)
	}
}

func BenchmarkHistogram(b *testing.B) {
	const w, h = 224, 224
	rgb := make([]byte, w*h*3)
	newBenchImages(w, h, 1).frame(rgb, 0)
	var hist [3][256]uint32
	b.SetBytes(int64(len(rgb)))
	for b.Loop() {
		histogram(rgb, w, h, 1, &hist)
	}
}
