package policy

import (
	"strings"
	"testing"

	"github.com/robotd/robotd/internal/npy"
)

// ObservationArrays splits [T, *shape] histories into T observations, oldest first, and
// takes a single step's [*shape]; missing, foreign, misshapen and uneven arrays are
// errors naming the array.
func TestObservationArrays(t *testing.T) {
	b, err := LoadBundle("testdata/unet")
	if err != nil {
		t.Fatal(err)
	}
	arrays := func(steps int, history bool) []*npy.Array {
		var in []*npy.Array
		for _, f := range b.Observations {
			shape := f.Shape
			if history {
				shape = append([]int{steps}, f.Shape...)
			}
			data := make([]float32, steps*f.Size)
			for i := range data {
				data[i] = float32(i / f.Size) // the step's index
			}
			in = append(in, &npy.Array{Name: f.Name, Shape: shape, Data: data})
		}
		return in
	}
	obs, err := b.ObservationArrays(arrays(3, true))
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 3 {
		t.Fatalf("%d observations, want 3", len(obs))
	}
	for k, o := range obs {
		for i, f := range b.Observations {
			if v := o.Values[i]; len(v) != f.Size || v[0] != float32(k) || v[len(v)-1] != float32(k) {
				t.Errorf("step %d %s: %d values from step %v, want %d from step %d", k, f.Name, len(v), v[0], f.Size, k)
			}
		}
	}
	if obs, err := b.ObservationArrays(arrays(1, false)); err != nil || len(obs) != 1 {
		t.Errorf("one step without the time axis: %d observations, %v", len(obs), err)
	}
	first := b.Observations[0]
	for _, c := range []struct {
		name string
		edit func([]*npy.Array) []*npy.Array
		want string
	}{
		{"missing", func(in []*npy.Array) []*npy.Array { return in[1:] }, "has no array"},
		{"foreign", func(in []*npy.Array) []*npy.Array {
			return append(in, &npy.Array{Name: "extra", Shape: []int{1}, Data: []float32{0}})
		}, `array "extra" is not an observation feature`},
		{"shape", func(in []*npy.Array) []*npy.Array { d := in[0].Data.([]float32); in[0].Data = d[:len(d)-1]; return in }, first.Name + " has shape"},
		{"uneven", func(in []*npy.Array) []*npy.Array { in[len(in)-1] = arrays(2, true)[len(in)-1]; return in }, "holds 2 steps, other features 3"},
	} {
		if _, err := b.ObservationArrays(c.edit(arrays(3, true))); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
}
