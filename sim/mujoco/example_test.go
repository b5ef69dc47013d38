package mujoco_test

import (
	"fmt"
	"log"

	"github.com/robotd/robotd/sim/mujoco"
)

// Load a model, reset it to a keyframe, hold the arm against gravity for one second and read
// a site pose.
func ExampleLoad() {
	s, err := mujoco.Load("../models/scene.xml")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.ResetKeyframe("home"); err != nil {
		log.Fatal(err)
	}
	tcp, err := s.ID(mujoco.ObjSite, "tcp")
	if err != nil {
		log.Fatal(err)
	}
	g := make([]float64, s.NV()) // preallocated: the loop below allocates nothing
	for i := 0; i < 1000; i++ {
		if err := s.Step1(); err != nil { // state, bias forces
			log.Fatal(err)
		}
		if err := s.GravityForce(g); err != nil {
			log.Fatal(err)
		}
		copy(s.Ctrl()[:7], g[:7]) // the seven joint motors
		s.Ctrl()[7] = 0.04        // gripper open
		if err := s.Step2(); err != nil {
			log.Fatal(err)
		}
	}
	pos, _ := s.SitePose(tcp)
	fmt.Printf("t = %.3f s, tcp %.3f m in front of the base, %.3f m above the table\n", s.Time(), pos[0], pos[2])
	// Output: t = 1.000 s, tcp 0.307 m in front of the base, 0.487 m above the table
}

// Render the scene camera at 96x96 into a reused buffer.
func ExampleNewRenderer() {
	s, err := mujoco.Load("../models/scene.xml")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	r, err := mujoco.NewRenderer(s, 96, 96)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close() // before s.Close
	cam, err := s.ID(mujoco.ObjCamera, "scene")
	if err != nil {
		log.Fatal(err)
	}
	rgb := make([]byte, 96*96*3)
	if err := r.RGB(cam, rgb); err != nil { // do not Step s while this runs
		log.Fatal(err)
	}
	fmt.Println(len(rgb))
	// Output: 27648
}
