package policy

import (
	"slices"
	"strings"
	"testing"
)

// TestResolve binds tensors of the shapes PyTorch exports produce to the sizes a bundle
// (horizon 16, action 7, n_obs_steps 2, a [3 48 48] image, a [7] state) implies, and
// refuses, naming the tensor, the axis and the layouts tried, what cannot fit.
func TestResolve(t *testing.T) {
	b := &Bundle{Config: Config{Horizon: 16, NObsSteps: 2}, Action: Feature{Name: "action", Shape: []int{7}, Size: 7}}
	img := Feature{Name: "observation.images.wrist", Shape: []int{3, 48, 48}, Size: 3 * 48 * 48}
	one := &Bundle{Config: Config{Horizon: 16, NObsSteps: 1}, Action: b.Action}
	timestep := Expect{"int64", "one timestep", [][]Span{{}, {{1, "one timestep"}}}}
	cases := []struct {
		name  string
		shape []int64
		e     Expect
		dims  []int64
		bound []Axis // Tensor is "x"
		err   string
	}{
		{"fixed", []int64{-1, 16, 7}, horizonAction(b), []int64{16, 7}, nil, ""},
		{"fixed flattened", []int64{-1, 112}, horizonAction(b), []int64{112}, nil, ""},
		{"fixed wrong", []int64{-1, 12, 7}, horizonAction(b), nil, nil,
			"m.onnx: x float32[?,12,7]: 84 values per batch entry, the bundle says horizon 16 x action 7 (112 values)"},
		{"dynamic horizon", []int64{-1, -1, 7}, horizonAction(b), []int64{16, 7},
			[]Axis{{"x", 1, 16, "horizon"}}, ""},
		{"dynamic horizon and action", []int64{-1, -1, -1}, horizonAction(b), []int64{16, 7},
			[]Axis{{"x", 1, 16, "horizon"}, {"x", 2, 7, "action"}}, ""},
		{"dynamic flattened", []int64{-1, -1}, horizonAction(b), []int64{112},
			[]Axis{{"x", 1, 112, "horizon x action"}}, ""},
		{"dynamic, fixed action wrong", []int64{-1, -1, 8}, horizonAction(b), nil, nil,
			"m.onnx: x float32[?,?,8]: cannot bind dynamic axis 1 to a size the bundle implies (horizon 16 x action 7); " +
				"tried [horizon 16, action 7]: axis 2 is fixed at 8, not action 7; [horizon x action 112]: 1 axes after the batch axis, the tensor has 2"},
		{"dynamic, channels first", []int64{-1, 7, -1}, horizonAction(b), nil, nil,
			"axis 1 is fixed at 7, not horizon 16"},
		{"dynamic, rank 4", []int64{-1, -1, 7, 1}, horizonAction(b), nil, nil,
			"cannot bind dynamic axis 1"},
		{"image history", []int64{-1, -1, 3, 48, 48}, observation(b, img), []int64{2, 3, 48, 48},
			[]Axis{{"x", 1, 2, "n_obs_steps"}}, ""},
		{"image size", []int64{-1, 2, 3, -1, -1}, observation(b, img), []int64{2, 3, 48, 48},
			[]Axis{{"x", 3, 48, "observation.images.wrist dim 1"}, {"x", 4, 48, "observation.images.wrist dim 2"}}, ""},
		{"one step without its axis", []int64{-1, 3, -1, -1}, observation(one, img), []int64{3, 48, 48},
			[]Axis{{"x", 2, 48, "observation.images.wrist dim 1"}, {"x", 3, 48, "observation.images.wrist dim 2"}}, ""},
		{"history without its axis", []int64{-1, 3, -1, -1}, observation(b, img), nil, nil,
			"tried [n_obs_steps 2, observation.images.wrist dim 0 3, observation.images.wrist dim 1 48, observation.images.wrist dim 2 48]: 4 axes after the batch axis, the tensor has 3"},
		{"conditioning", []int64{-1, -1}, condition(78, "conditioning"), []int64{78},
			[]Axis{{"x", 1, 78, "conditioning"}}, ""},
		{"timestep", []int64{-1}, timestep, []int64{}, nil, ""},
		{"timestep [B,1]", []int64{-1, -1}, timestep, []int64{1}, []Axis{{"x", 1, 1, "one timestep"}}, ""},
		{"scalar", []int64{}, horizonAction(b), nil, nil, "x is a scalar"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dtype := c.e.DType
			dims, bound, err := Resolve("m.onnx", TensorInfo{Name: "x", DType: dtype, Shape: c.shape}, c.e)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v\nwant it to contain %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(dims, c.dims) || (dims == nil) != (c.dims == nil) {
				t.Errorf("dims %v, want %v", dims, c.dims)
			}
			if !slices.Equal(bound, c.bound) {
				t.Errorf("bound %v, want %v", bound, c.bound)
			}
		})
	}
	if _, _, err := Resolve("m.onnx", TensorInfo{Name: "x", DType: "float64", Shape: []int64{-1, -1, 7}}, horizonAction(b)); err == nil || !strings.Contains(err.Error(), "x is float64, want float32") {
		t.Errorf("float64 tensor: %v", err)
	}
}
