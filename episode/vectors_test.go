package episode

import (
	"path/filepath"
	"strings"
	"testing"
)

// vectorSpec is testSpec with three extra vector features: a 7-value environment state,
// a 6-value pose and a single value (a scalar column, as LeRobot stores shape (1,)).
func vectorSpec() Spec {
	s := testSpec()
	s.Vectors = []VectorSpec{
		{Key: KeyEnvState, Names: []string{"x", "y", "z", "qw", "qx", "qy", "qz"}},
		{Key: "observation.ee_pose", Names: []string{"x", "y", "z", "rx", "ry", "rz"}},
		{Key: "observation.force", Names: []string{"f"}},
	}
	return s
}

// Extra vector features are written next to state and action, read back bit for bit
// (also after an append that copies the earlier row groups), typed as LeRobot types them
// (DuckDB: FLOAT[] and FLOAT), and have stats in stats.json and the episodes table.
func TestVectorFeatures(t *testing.T) {
	s := vectorSpec()
	dir := filepath.Join(t.TempDir(), "ds")
	w, err := Create(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	frames := recordEpisodes(t, w, 3, 31, 40)
	w.Close()
	w, err = OpenAppend(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	frames = append(frames, recordEpisodes(t, w, 4, 33)...)
	w.Close()

	checkEpisodes(t, dir, 0, frames)
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range s.Vectors {
		f, ok := ds.Info.Feature(v.Key)
		if !ok || f.Dtype != "float32" || f.Dim() != len(v.Names) || strings.Join(f.Names, " ") != strings.Join(v.Names, " ") || ds.Info.Features[2+i].Key != v.Key {
			t.Errorf("info.json feature %q: %+v, want float32 %v after state and action", v.Key, f, v.Names)
		}
		if st := ds.Stats.Get(v.Key); st == nil || len(st.Mean) != len(v.Names) || st.Count != int64(31+40+33) {
			t.Errorf("stats.json %q: %+v", v.Key, st)
		}
	}
	checkWithDuckDB(t, dir, s)
	checkSchema(t, dir)

	// Appending needs exactly the dataset's vectors.
	without := testSpec()
	if _, err := OpenAppend(dir, without); err == nil || !strings.Contains(err.Error(), `feature "observation.environment_state" not recorded by this spec`) {
		t.Errorf("append without the vectors: %v", err)
	}
	more := vectorSpec()
	more.Vectors = append(more.Vectors, VectorSpec{Key: "observation.other", Names: []string{"a", "b"}})
	if _, err := OpenAppend(dir, more); err == nil || !strings.Contains(err.Error(), `feature "observation.other" missing`) {
		t.Errorf("append with another vector: %v", err)
	}
	other := vectorSpec()
	other.Vectors[1].Names = other.Vectors[1].Names[:3]
	if _, err := OpenAppend(dir, other); err == nil || !strings.Contains(err.Error(), `feature "observation.ee_pose" is float32[6], want float32[3]`) {
		t.Errorf("append with a shorter vector: %v", err)
	}

	// A frame whose vectors do not match the spec is refused, naming the feature.
	w, err = OpenAppend(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ep, err := w.BeginEpisode("pick the cube")
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Discard()
	f := synthFrame(s, 0, 0, nil2())
	f.Vectors[0] = f.Vectors[0][:6]
	if err := ep.AddFrame(f); err == nil || !strings.Contains(err.Error(), "observation.environment_state: 6 values, want 7") {
		t.Errorf("short vector: %v", err)
	}
	f.Vectors = f.Vectors[:2]
	if err := ep.AddFrame(f); err == nil || !strings.Contains(err.Error(), "2 vectors, want 3") {
		t.Errorf("missing vector: %v", err)
	}
	if ep.Len() != 0 {
		t.Errorf("refused frames were added: %d", ep.Len())
	}
}

func TestVectorSpecValidate(t *testing.T) {
	for _, tc := range []struct {
		v    []VectorSpec
		want string
	}{
		{[]VectorSpec{{Key: KeyState, Names: []string{"a"}}}, `key "observation.state"`},
		{[]VectorSpec{{Key: "next.reward", Names: []string{"a"}}}, `key "next.reward"`},
		{[]VectorSpec{{Key: "observation.images.x", Names: []string{"a"}}}, `key "observation.images.x"`},
		{[]VectorSpec{{Key: KeyIndex, Names: []string{"a"}}}, `key "index"`},
		{[]VectorSpec{{Key: "", Names: []string{"a"}}}, `key ""`},
		{[]VectorSpec{{Key: "observation.x", Names: []string{"a"}}, {Key: "observation.x", Names: []string{"b"}}}, `"observation.x" twice`},
		{[]VectorSpec{{Key: "observation.x"}}, `"observation.x": no names`},
		{[]VectorSpec{{Key: "observation.x", Names: []string{"a"}}, {Key: "observation.images.front", Names: []string{"a"}}}, `vector 1`},
	} {
		s := testSpec()
		s.Vectors = tc.v
		err := s.withDefaults().Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error saying %s", tc.v, err, tc.want)
		}
	}
}
