package control_test

import (
	"fmt"
	"math"

	"github.com/robotd/robotd/control"
)

// Parse the arm from the simulator's MJCF and compute where its tool is.
func ExampleParseMJCF() {
	robot, err := control.ParseMJCF("../sim/models/scene.xml", "tcp")
	if err != nil {
		fmt.Println(err)
		return
	}
	k := robot.NewKinematics()
	ready := []float64{0, -math.Pi / 4, 0, -3 * math.Pi / 4, 0, math.Pi / 2, math.Pi / 4}
	robot.Forward(k, ready)
	fmt.Printf("%d joints, tool at (%.3f, %.3f, %.3f) m\n", robot.DoF(), k.Pos[0], k.Pos[1], k.Pos[2])
	// Output: 7 joints, tool at (0.307, 0.000, 0.487) m
}
