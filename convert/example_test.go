package convert_test

import (
	"context"
	"fmt"
	"log"

	"github.com/robotd/robotd/convert"
)

// Two teleoperation bags into one dataset of two episodes: joint positions as
// observation.state (picked by name), the commanded positions as the action, two cameras.
func ExampleConvert() {
	cfg := convert.Config{
		FPS:  30,
		Task: "pick up the cube",
		State: convert.Stream{Topic: "/joint_states", Names: []string{"panda_joint1", "panda_joint2", "panda_joint3",
			"panda_joint4", "panda_joint5", "panda_joint6", "panda_joint7"}},
		Action:  convert.Stream{Topic: "/joint_commands"},
		Cameras: []convert.Camera{{Name: "front", Topic: "/front/image_raw"}, {Name: "wrist", Topic: "/wrist/image_raw/compressed"}},
	}
	res, err := convert.Convert(context.Background(), cfg, []string{"session1.bag", "session2.bag"}, "data/teleop")
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range res.Episodes {
		fmt.Println(e.Input, e.Frames)
	}
}
