package mujoco_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
)

// TestControlKinematicsAgreesWithMuJoCo: control's forward kinematics and Jacobian,
// parsed from the same MJCF, equal MuJoCo's mj_kinematics and mj_jacSite to 1e-9 over
// 1000 random configurations inside the joint limits.
func TestControlKinematicsAgreesWithMuJoCo(t *testing.T) {
	scene := sim.Scene{}.WithDefaults()
	robot, err := control.ParseMJCF(scene.Model, scene.Tool)
	if err != nil {
		t.Fatal(err)
	}
	s, err := mujoco.Load(scene.Model)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	site, err := s.ID(mujoco.ObjSite, scene.Tool)
	if err != nil {
		t.Fatal(err)
	}
	nv := s.NV()
	qadr, dadr := make([]int, robot.DoF()), make([]int, robot.DoF())
	for i, name := range robot.JointNames() {
		j, err := s.ID(mujoco.ObjJoint, name)
		if err != nil {
			t.Fatal(err)
		}
		qadr[i], dadr[i] = s.JointQposAdr(j), s.JointDofAdr(j)
		lo, hi, limited := s.JointRange(j)
		if jt := robot.Joints[i]; !limited || lo != jt.Lower || hi != jt.Upper {
			t.Errorf("joint %s: MuJoCo range [%g, %g] limited=%v, control [%g, %g]", name, lo, hi, limited, jt.Lower, jt.Upper)
		}
	}
	k := robot.NewKinematics()
	jacp, jacr := make([]float64, 3*nv), make([]float64, 3*nv)
	q := make([]float64, robot.DoF())
	rng := rand.New(rand.NewPCG(7, 8))
	worstPos, worstRot, worstJ := 0.0, 0.0, 0.0
	for trial := 0; trial < 1000; trial++ {
		for i, j := range robot.Joints {
			q[i] = j.Lower + rng.Float64()*(j.Upper-j.Lower)
			s.Qpos()[qadr[i]] = q[i]
		}
		if err := s.Kinematics(); err != nil {
			t.Fatal(err)
		}
		pos, rot := s.SitePose(site)
		s.JacSite(site, jacp, jacr)
		robot.Forward(k, q)
		for r := 0; r < 3; r++ {
			worstPos = math.Max(worstPos, math.Abs(pos[r]-k.Pos[r]))
			for c := 0; c < 3; c++ {
				worstRot = math.Max(worstRot, math.Abs(rot[3*r+c]-k.Rot.At(r, c)))
			}
			for i := range q {
				worstJ = math.Max(worstJ, math.Abs(jacp[r*nv+dadr[i]]-k.J[r*len(q)+i]))
				worstJ = math.Max(worstJ, math.Abs(jacr[r*nv+dadr[i]]-k.J[(r+3)*len(q)+i]))
			}
		}
	}
	t.Logf("max |difference| over 1000 configurations: position %.2g m, rotation %.2g, Jacobian %.2g", worstPos, worstRot, worstJ)
	if worstPos > 1e-9 || worstRot > 1e-9 || worstJ > 1e-9 {
		t.Errorf("control and MuJoCo disagree: position %.3g, rotation %.3g, Jacobian %.3g (tolerance 1e-9)", worstPos, worstRot, worstJ)
	}
}
