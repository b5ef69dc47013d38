package episode

import (
	"context"
	"math/rand"
	"path/filepath"
	"testing"
	"time"
)

// testSpec is a small dataset: 7 joints + gripper, two 64x48 cameras, 30 fps.
func testSpec() Spec {
	names := func(n int, p string) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = p + string(rune('0'+i))
		}
		return s
	}
	return Spec{
		RobotType: "panda", FPS: 30,
		State:  FeatureSpec{Names: names(8, "q")},
		Action: FeatureSpec{Names: names(8, "a")},
		Cameras: []CameraSpec{
			{Key: "observation.images.front", Width: 64, Height: 48},
			{Key: "observation.images.wrist", Width: 32, Height: 32},
		},
		Reward: true, Done: true, Success: true,
	}
}

// synthFrame fills a deterministic frame k of episode e.
func synthFrame(s Spec, e, k int, rng *rand.Rand) *Frame {
	f := &Frame{Timestamp: time.Duration(k) * time.Second / time.Duration(s.FPS)}
	for i := range s.State.Names {
		f.State = append(f.State, float32(e)+float32(k)*0.01+float32(i)+rng.Float32()*1e-3)
	}
	for i := range s.Action.Names {
		f.Action = append(f.Action, -float32(e)-float32(k)*0.02-float32(i)+rng.Float32()*1e-3)
	}
	for _, c := range s.Cameras {
		img := make([]byte, c.Width*c.Height*3)
		for y := 0; y < c.Height; y++ {
			for x := 0; x < c.Width; x++ {
				p := (y*c.Width + x) * 3
				img[p] = byte(x*4 + k)
				img[p+1] = byte(y*4 + e*20)
				img[p+2] = byte(128 + (x+y+k)%64)
			}
		}
		f.Images = append(f.Images, img)
	}
	f.Reward = float32(k) / 100
	f.Success = k > 20
	return f
}

// recordEpisodes adds episodes of the given lengths to w; it returns the frames added.
func recordEpisodes(t testing.TB, w *Writer, seed int64, lengths ...int) [][]*Frame {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	var all [][]*Frame
	for _, n := range lengths {
		task := "pick the cube"
		if len(all)%2 == 1 {
			task = "place the cube"
		}
		ep, err := w.BeginEpisode(task)
		if err != nil {
			t.Fatal(err)
		}
		var frames []*Frame
		for k := 0; k < n; k++ {
			f := synthFrame(w.spec, ep.Index(), k, rng)
			if err := ep.AddFrame(f); err != nil {
				t.Fatal(err)
			}
			frames = append(frames, f)
		}
		if _, err := ep.End(context.Background()); err != nil {
			t.Fatal(err)
		}
		all = append(all, frames)
	}
	return all
}

func newDataset(t testing.TB, lengths ...int) (string, [][]*Frame) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ds")
	w, err := Create(dir, testSpec())
	if err != nil {
		t.Fatal(err)
	}
	frames := recordEpisodes(t, w, 1, lengths...)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, frames
}
