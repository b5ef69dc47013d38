package episode

import (
	"path/filepath"
	"strings"
	"testing"
)

// A VideoFile holds every frame written, readable by the dataset's decoder, and is a
// whole mp4 (checkVideo); a frame of the wrong size is refused.
func TestVideoFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scene.mp4")
	const w, h, fps, n = 64, 48, 30, 45
	v, err := CreateVideo(path, w, h, fps, VideoSpec{Preset: "medium", GOP: 250, Tune: "none"})
	if err != nil {
		t.Fatal(err)
	}
	img := make([]byte, w*h*3)
	for k := 0; k < n; k++ {
		for i := range img {
			img[i] = byte(k * 5)
		}
		if err := v.Write(img); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Write(img[:10]); err == nil {
		t.Error("a frame of 10 bytes was accepted")
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil || v.Frames() != n {
		t.Fatalf("second Close: %v; %d frames, want %d", err, v.Frames(), n)
	}
	if err := checkVideo(path, float64(n)/fps); err != nil {
		t.Fatal(err)
	}
	r, err := openVideo(path, 0, fps, n+1, w, h)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := 0
	for {
		f, err := r.Next()
		if err != nil {
			break
		}
		if d := int(f[0]) - got*5; d < -3 || d > 3 {
			t.Fatalf("frame %d: first byte %d, want %d within 3", got, f[0], got*5)
		}
		got++
	}
	if got != n {
		t.Fatalf("decoded %d frames, want %d", got, n)
	}
	if _, err := CreateVideo(path+"2", 63, 48, fps, VideoSpec{}); err == nil {
		t.Error("an odd width was accepted")
	}
}

// checkVideo accepts a whole video as long as its episodes and names a whole but
// shorter one (frames lost, e.g. a file replaced by an older copy).
func TestCheckVideoDuration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "short.mp4")
	v, err := CreateVideo(path, 32, 32, 30, VideoSpec{})
	if err != nil {
		t.Fatal(err)
	}
	img := make([]byte, 32*32*3)
	for range 10 {
		if err := v.Write(img); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := checkVideo(path, 10.0/30); err != nil {
		t.Fatalf("10 frames against 10: %v", err)
	}
	if err := checkVideo(path, 20.0/30); err == nil || !strings.Contains(err.Error(), "frames are missing") || !strings.Contains(err.Error(), path) {
		t.Fatalf("10 frames against 20: %v, want the file named and frames missing", err)
	}
}
