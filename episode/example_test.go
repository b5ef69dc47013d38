package episode_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/robotd/robotd/episode"
)

// Recording: one episode of 30 frames from a 7-joint arm and one camera.
func ExampleCreate() {
	spec := episode.Spec{
		RobotType: "panda", FPS: 30,
		State:   episode.FeatureSpec{Names: []string{"j0", "j1", "j2", "j3", "j4", "j5", "j6"}},
		Action:  episode.FeatureSpec{Names: []string{"j0", "j1", "j2", "j3", "j4", "j5", "j6"}},
		Cameras: []episode.CameraSpec{{Key: "observation.images.front", Width: 224, Height: 224}},
	}
	w, err := episode.Create("/tmp/robotd-example-dataset", spec) // OpenAppend for an existing one
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	ep, err := w.BeginEpisode("pick up the cube")
	if err != nil {
		log.Fatal(err)
	}
	img := make([]byte, 224*224*3)
	for k := 0; k < 30; k++ {
		f := &episode.Frame{Timestamp: time.Duration(k) * time.Second / 30,
			State: make([]float32, 7), Action: make([]float32, 7), Images: [][]byte{img}}
		if err := ep.AddFrame(f); err != nil {
			log.Fatal(err)
		}
	}
	res, err := ep.End(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Index, res.Length, w.Progress().DroppedFrames)
}

// Reading: the actions of episode 0 and its first camera frame.
func ExampleOpen() {
	ds, err := episode.Open("/tmp/robotd-example-dataset")
	if err != nil {
		log.Fatal(err)
	}
	d, err := ds.Episode(0)
	if err != nil {
		log.Fatal(err)
	}
	r, err := ds.OpenVideo(0, "observation.images.front")
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	rgb, err := r.Next()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(d.Action), len(rgb))
}
