package cv_test

import (
	"fmt"

	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/perception/cv"
)

// A 640x480 BGR camera feeding a policy that wants a normalized 3x96x96 RGB image.
func ExampleNewPipeline() {
	cfg := perception.PipelineConfig{
		Crop:   &perception.CropConfig{Mode: perception.CropCenter, Width: 480, Height: 480},
		Resize: &perception.ResizeConfig{Width: 96, Height: 96}, // auto: INTER_AREA when shrinking
		Mean:   []float64{0.485, 0.456, 0.406},
		Std:    []float64{0.229, 0.224, 0.225},
	}
	p, err := cv.NewPipeline(cfg, 640, 480, perception.BGR8, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()

	frame := &perception.Frame{Camera: "wrist", Seq: 1, Format: perception.BGR8, Width: 640, Height: 480,
		Data: make([]byte, 640*480*3)}
	for i := 0; i < len(frame.Data); i += 3 {
		frame.Data[i+2] = 255 // pure red, in B, G, R order
	}
	tensor := make([]float32, p.Len()) // allocate once, reuse for every frame
	if err := p.Run(frame, tensor); err != nil {
		fmt.Println(err)
		return
	}
	c, h, w := p.Shape()
	fmt.Printf("%dx%dx%d, R %.3f G %.3f B %.3f\n", c, h, w, tensor[0], tensor[h*w], tensor[2*h*w])

	// a frame from another camera mode is refused, not misread
	small := &perception.Frame{Camera: "wrist", Seq: 2, Format: perception.BGR8, Width: 320, Height: 240,
		Data: make([]byte, 320*240*3)}
	fmt.Println(p.Run(small, tensor))
	// Output:
	// 3x96x96, R 2.249 G -2.036 B -1.804
	// pipeline: camera wrist frame 2: 320x240 bgr8, want 640x480 bgr8: frame mismatch
}
