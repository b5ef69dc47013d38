package episode

import (
	"context"
	"math"
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
	for i, v := range s.Vectors {
		vec := make([]float32, len(v.Names))
		for j := range vec {
			vec[j] = float32(i+1)*0.5 + float32(e)*0.1 - float32(k)*0.003 + float32(j) + rng.Float32()*1e-3
		}
		f.Vectors = append(f.Vectors, vec)
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

// expectedFrames generates the frames recordEpisodes adds, episodes first, first+1...
func expectedFrames(s Spec, seed int64, first int, lengths ...int) [][]*Frame {
	rng := rand.New(rand.NewSource(seed))
	var all [][]*Frame
	for i, n := range lengths {
		var frames []*Frame
		for k := 0; k < n; k++ {
			frames = append(frames, synthFrame(s, first+i, k, rng))
		}
		all = append(all, frames)
	}
	return all
}

func taskOf(i int) string {
	if i%2 == 1 {
		return "place the cube"
	}
	return "pick the cube"
}

// recordEpisodes adds episodes of the given lengths to w; it returns the frames added.
func recordEpisodes(t testing.TB, w *Writer, seed int64, lengths ...int) [][]*Frame {
	t.Helper()
	all := expectedFrames(w.spec, seed, w.info.TotalEpisodes, lengths...)
	for _, frames := range all {
		ep, err := w.BeginEpisode(taskOf(w.info.TotalEpisodes))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			if err := ep.AddFrame(f); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ep.End(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return all
}

// checkEpisodes reads episodes back and compares them bit for bit with the frames
// recorded (state, action, reward), and the video frame counts.
func checkEpisodes(t testing.TB, dir string, first int, want [][]*Frame) {
	t.Helper()
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, frames := range want {
		d, err := ds.Episode(first + i)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.State) != len(frames) || ds.Tasks[d.TaskIndex[0]] != taskOf(first+i) {
			t.Fatalf("episode %d: %d rows, task %q; want %d, %q", first+i, len(d.State), ds.Tasks[d.TaskIndex[0]], len(frames), taskOf(first+i))
		}
		for k, f := range frames {
			for j := range f.State {
				if math.Float32bits(d.State[k][j]) != math.Float32bits(f.State[j]) {
					t.Fatalf("episode %d frame %d: state[%d] %v, want %v", first+i, k, j, d.State[k][j], f.State[j])
				}
			}
			for j := range f.Action {
				if math.Float32bits(d.Action[k][j]) != math.Float32bits(f.Action[j]) {
					t.Fatalf("episode %d frame %d: action[%d] %v, want %v", first+i, k, j, d.Action[k][j], f.Action[j])
				}
			}
			for vi, v := range f.Vectors {
				key := ds.Info.Features[2+vi].Key // the Spec's vectors follow state and action
				got := d.Vectors[key]
				if len(got) != len(frames) || len(got[k]) != len(v) {
					t.Fatalf("episode %d frame %d: %s has %d rows, want %d of %d values", first+i, k, key, len(got), len(frames), len(v))
				}
				for j := range v {
					if math.Float32bits(got[k][j]) != math.Float32bits(v[j]) {
						t.Fatalf("episode %d frame %d: %s[%d] %v, want %v", first+i, k, key, j, got[k][j], v[j])
					}
				}
			}
			if r := d.Vectors[KeyReward]; r != nil && r[k][0] != f.Reward {
				t.Fatalf("episode %d frame %d: reward %v, want %v", first+i, k, r[k][0], f.Reward)
			}
		}
	}
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
