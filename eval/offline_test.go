package eval

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/robotd/robotd/episode"
	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/sim/task"
	"github.com/robotd/robotd/system"
)

// closeCounter wraps a camera pipeline and remembers whether it was closed.
type closeCounter struct {
	Pipe
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return c.Pipe.Close() }

// When NewOffline fails after it has built a camera's preprocessing (OpenCV
// matrices), what it built is closed: a second image the dataset lacks, a second image
// whose preprocessing cannot make the policy's shape, a vector of the wrong size. A
// setup that succeeds closes everything on close.
func TestOfflineSetupFailureCloses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	joints := []string{"j1", "j2", "j3", "j4", "j5", "j6", "j7"}
	w, err := episode.Create(dir, episode.Spec{FPS: 30, State: episode.FeatureSpec{Names: joints}, Action: episode.FeatureSpec{Names: joints},
		Vectors: []episode.VectorSpec{{Key: episode.KeyEnvState, Names: task.EnvNames}},
		Cameras: []episode.CameraSpec{{Key: "observation.images.wrist", Width: 64, Height: 48}, {Key: "observation.images.scene", Width: 64, Height: 48}}})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	ds, err := episode.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var built []*closeCounter
	defer func(f func(*policy.Feature, int, int) (Pipe, error)) { pipeline = f }(pipeline)
	pipeline = func(feat *policy.Feature, width, height int) (Pipe, error) {
		p, err := system.FeaturePipeline(feat, nil, width, height)
		if err != nil {
			return nil, err
		}
		c := &closeCounter{Pipe: p}
		built = append(built, c)
		return c, nil
	}
	image := func(name string, shape ...int) policy.Feature {
		return policy.Feature{Name: name, Shape: shape, Size: shape[0] * shape[1] * shape[2]}
	}
	for _, tc := range []struct {
		name  string
		extra policy.Feature // observed after observation.images.wrist
		want  string         // "" for success
	}{
		{"missing video", image("observation.images.side", 3, 48, 48), "observation.images.side; the dataset has no such video"},
		{"bad preprocessing", policy.Feature{Name: "observation.images.scene", Shape: []int{3, 48, 48}, Size: 100}, "video observation.images.scene"},
		{"vector size", policy.Feature{Name: episode.KeyEnvState, Shape: []int{3}, Size: 3}, "observation.environment_state with 3 values; the dataset's has 7"},
		{"fine", policy.Feature{Name: episode.KeyEnvState, Shape: []int{7}, Size: 7}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := policy.LoadBundle("../policy/testdata/unet")
			if err != nil {
				t.Fatal(err)
			}
			b.Observations = append(b.Observations, tc.extra)
			built = nil
			ev, err := NewOffline(ds, &policy.Policy{Bundle: b})
			if len(built) == 0 {
				t.Fatalf("no pipeline was built before the error (%v): the test proves nothing", err)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(ev.vecs) != 1 || ev.vecs[0].key != episode.KeyEnvState {
					t.Errorf("vectors fed: %+v", ev.vecs)
				}
				ev.Close()
			} else if err == nil || !strings.Contains(err.Error(), tc.want) || ev != nil {
				t.Fatalf("error %v (eval %v), want one saying %q", err, ev, tc.want)
			}
			for i, c := range built {
				if c.closed != 1 {
					t.Errorf("pipeline %d closed %d times, want once", i, c.closed)
				}
			}
		})
	}
}
