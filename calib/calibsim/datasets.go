package calibsim

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/calib"
	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
)

// View is one rendered image with its ground truth.
type View struct {
	Frame perception.Frame // RGB8
	// CamFromBoard is the true pose of the board in the camera's optical frame.
	CamFromBoard control.Pose
	// Robot is T_base_ee (the tcp site) when the image was taken; Q the arm's joints.
	Robot control.Pose
	Q     []float64
}

// Dataset is a set of views of one camera with the truth to check a calibration against.
type Dataset struct {
	Camera     string
	Intrinsics calib.Intrinsics // the camera's exact model
	Square     float64          // the board's square (m)
	Views      []View
	// Mode and CameraTruth: the hand-eye answer, T_ee_cam (eye-in-hand) or T_base_cam
	// (eye-to-hand). BoardTruth: T_base_board (eye-in-hand, and for the intrinsics
	// scenario) or T_ee_board (eye-to-hand).
	Mode        calib.Mode
	CameraTruth control.Pose
	BoardTruth  control.Pose
}

// Options size a dataset.
type Options struct {
	Views         int    // how many images; default 12
	Width, Height int    // image size; default 640x480 (the scenes' offscreen buffer)
	Seed          uint64 // for the random choice of poses
	// Camera is the worldbody camera IntrinsicsDataset moves around the board: "calib"
	// (default, fovy 58 deg) or "scene" (fovy 50 deg: its intrinsics as if it were taken
	// off its mount to be calibrated up close).
	Camera string
}

func (o Options) withDefaults() Options {
	if o.Views == 0 {
		o.Views = 12
	}
	if o.Width == 0 {
		o.Width, o.Height = 640, 480
	}
	if o.Camera == "" {
		o.Camera = "calib"
	}
	return o
}

// rig is a loaded scene with a renderer.
type rig struct {
	arm *mujoco.Arm
	s   *mujoco.Sim
	r   *mujoco.Renderer
	w   int
	h   int
}

func newRig(model string, o Options) (*rig, error) {
	arm, err := mujoco.NewArm(sim.Scene{Model: model})
	if err != nil {
		return nil, err
	}
	r, err := mujoco.NewRenderer(arm.Sim(), o.Width, o.Height)
	if err != nil {
		arm.Close()
		return nil, err
	}
	return &rig{arm: arm, s: arm.Sim(), r: r, w: o.Width, h: o.Height}, nil
}

func (g *rig) close() {
	g.r.Close()
	g.arm.Close()
}

func (g *rig) id(t mujoco.ObjType, name string) (int, error) { return g.s.ID(t, name) }

func (g *rig) tool() control.Pose {
	p, q := g.arm.ToolPose()
	return control.Pose{Pos: p, Rot: q}
}

func (g *rig) render(cam int, name string) (perception.Frame, error) {
	var f perception.Frame
	err := Render(g.r, cam, name, &f)
	return f, err
}

// margin keeps the board this many pixels inside the image.
const margin = 8

// IntrinsicsDataset renders the table board from o.Views poses of camera o.Camera: 0.3
// to 0.55 m away (scaled for a narrower field of view), up to 45 deg off the board's
// normal, rolled freely, with the whole board in view.
func IntrinsicsDataset(o Options) (*Dataset, error) {
	o = o.withDefaults()
	g, err := newRig(BoardModel(), o)
	if err != nil {
		return nil, err
	}
	defer g.close()
	cam, err := g.id(mujoco.ObjCamera, o.Camera)
	if err != nil {
		return nil, err
	}
	site, err := g.id(mujoco.ObjSite, BoardSite)
	if err != nil {
		return nil, err
	}
	board := SitePose(g.s, site)
	ds := &Dataset{Camera: o.Camera, Intrinsics: TrueIntrinsics(g.s, cam, g.w, g.h), Square: BoardSquare, BoardTruth: board}
	// Distances for which the board fills the image about as much as with fovy 58 deg.
	zoom := math.Tan(29*math.Pi/180) / math.Tan(g.s.CameraFovy(cam)/2*math.Pi/180)
	centre := calib.Apply(board, mgl64.Vec3{4 * BoardSquare, 2.5 * BoardSquare, 0})
	rng := rand.New(rand.NewPCG(o.Seed, 0x1234))
	for tries := 0; len(ds.Views) < o.Views; tries++ {
		if tries > 100*o.Views {
			return nil, fmt.Errorf("calibsim: found only %d of %d camera poses that see the board", len(ds.Views), o.Views)
		}
		dist := (0.3 + 0.25*rng.Float64()) * zoom
		tilt := 45 * math.Pi / 180 * math.Sqrt(rng.Float64())
		az := 2 * math.Pi * rng.Float64()
		eye := centre.Add(mgl64.Vec3{math.Sin(tilt) * math.Cos(az), math.Sin(tilt) * math.Sin(az), math.Cos(tilt)}.Mul(dist))
		// Aim near (not exactly at) the centre, so the board wanders over the image.
		aim := centre.Add(mgl64.Vec3{0.04 * rng.NormFloat64(), 0.04 * rng.NormFloat64(), 0})
		pose := LookAt(eye, aim, 2*math.Pi*rng.Float64())
		camFromBoard := calib.Compose(calib.Invert(pose), board)
		if !BoardInView(&ds.Intrinsics, camFromBoard, BoardSquare, margin) {
			continue
		}
		if err := SetOpticalPose(g.s, cam, pose); err != nil {
			return nil, err
		}
		f, err := g.render(cam, ds.Camera)
		if err != nil {
			return nil, err
		}
		ds.Views = append(ds.Views, View{Frame: f, CamFromBoard: calib.Compose(calib.Invert(OpticalPose(g.s, cam)), board)})
	}
	return ds, nil
}

// armIK moves the arm to tool poses by control's IK, seeded from the home posture.
type armIK struct {
	ik      *control.IK
	home, q []float64
}

func newArmIK(g *rig) (*armIK, error) {
	robot, err := control.ParseMJCF(BoardModel(), "tcp")
	if err != nil {
		return nil, err
	}
	st := make([]float64, robot.DoF())
	qpos := g.s.Qpos()
	copy(st, qpos[:robot.DoF()])
	return &armIK{ik: control.NewIK(robot), home: st, q: make([]float64, robot.DoF())}, nil
}

// reach moves the arm so that its tcp is at target; it reports false when the IK does not
// converge within the joint limits.
func (a *armIK) reach(g *rig, target control.Pose) (bool, error) {
	if _, _, ok := a.ik.Solve(a.q, a.home, target); !ok {
		return false, nil
	}
	if err := g.arm.SetJointPositions(a.q); err != nil {
		return false, err
	}
	// MuJoCo's kinematics must agree with control's.
	if dt, dr := calib.PoseDistance(g.tool(), target); dt > 1e-6 || dr > 1e-6 {
		return false, fmt.Errorf("calibsim: IK target %v, MuJoCo's tool pose %v", target, g.tool())
	}
	return true, nil
}

// EyeInHandDataset moves the arm through o.Views postures in which the wrist camera sees
// the table board (0.28 to 0.45 m away, up to 35 deg off the vertical, rolled up to 60
// deg either way) and renders the wrist camera. The truth is T_ee_cam (ee = the tcp
// site) and T_base_board.
func EyeInHandDataset(o Options) (*Dataset, error) {
	o = o.withDefaults()
	g, err := newRig(BoardModel(), o)
	if err != nil {
		return nil, err
	}
	defer g.close()
	cam, err := g.id(mujoco.ObjCamera, "wrist")
	if err != nil {
		return nil, err
	}
	site, err := g.id(mujoco.ObjSite, BoardSite)
	if err != nil {
		return nil, err
	}
	ik, err := newArmIK(g)
	if err != nil {
		return nil, err
	}
	board := SitePose(g.s, site)
	eeFromCam := calib.Compose(calib.Invert(g.tool()), OpticalPose(g.s, cam))
	ds := &Dataset{Camera: "wrist", Intrinsics: TrueIntrinsics(g.s, cam, g.w, g.h), Square: BoardSquare,
		Mode: calib.EyeInHand, CameraTruth: eeFromCam, BoardTruth: board}
	centre := calib.Apply(board, mgl64.Vec3{4 * BoardSquare, 2.5 * BoardSquare, 0})
	rng := rand.New(rand.NewPCG(o.Seed, 0x5678))
	for tries := 0; len(ds.Views) < o.Views; tries++ {
		if tries > 100*o.Views {
			return nil, fmt.Errorf("calibsim: found only %d of %d reachable wrist poses that see the board", len(ds.Views), o.Views)
		}
		dist := 0.28 + 0.17*rng.Float64()
		tilt := 35 * math.Pi / 180 * math.Sqrt(rng.Float64())
		az := 2 * math.Pi * rng.Float64()
		eye := centre.Add(mgl64.Vec3{math.Sin(tilt) * math.Cos(az), math.Sin(tilt) * math.Sin(az), math.Cos(tilt)}.Mul(dist))
		aim := centre.Add(mgl64.Vec3{0.03 * rng.NormFloat64(), 0.03 * rng.NormFloat64(), 0})
		// Roll relative to the camera's orientation at home (image up towards the robot).
		roll := math.Pi/2 + (2*rng.Float64()-1)*60*math.Pi/180
		pose := LookAt(eye, aim, roll)
		camFromBoard := calib.Compose(calib.Invert(pose), board)
		if !BoardInView(&ds.Intrinsics, camFromBoard, BoardSquare, margin) {
			continue
		}
		ok, err := ik.reach(g, calib.Compose(pose, calib.Invert(eeFromCam)))
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		f, err := g.render(cam, ds.Camera)
		if err != nil {
			return nil, err
		}
		ds.Views = append(ds.Views, View{Frame: f, Robot: g.tool(), Q: append([]float64(nil), ik.q...),
			CamFromBoard: calib.Compose(calib.Invert(OpticalPose(g.s, cam)), board)})
	}
	return ds, nil
}

// EyeToHandDataset writes the hand-held board scene into dir (HandBoardModel), moves the
// arm through o.Views postures that show the board to the fixed scene camera (the board
// 0.75 to 1.05 m from it, turned up to 35 deg away from facing it, the gripper rolled
// about the board's normal) and renders the scene camera. The truth is T_base_cam and
// T_ee_board.
func EyeToHandDataset(dir string, o Options) (*Dataset, error) {
	o = o.withDefaults()
	model, err := HandBoardModel(dir)
	if err != nil {
		return nil, err
	}
	g, err := newRig(model, o)
	if err != nil {
		return nil, err
	}
	defer g.close()
	cam, err := g.id(mujoco.ObjCamera, "scene")
	if err != nil {
		return nil, err
	}
	site, err := g.id(mujoco.ObjSite, HandBoardSite)
	if err != nil {
		return nil, err
	}
	ik, err := newArmIK(g)
	if err != nil {
		return nil, err
	}
	baseFromCam := OpticalPose(g.s, cam)
	eeFromBoard := calib.Compose(calib.Invert(g.tool()), SitePose(g.s, site))
	ds := &Dataset{Camera: "scene", Intrinsics: TrueIntrinsics(g.s, cam, g.w, g.h), Square: HandBoardSquare,
		Mode: calib.EyeToHand, CameraTruth: baseFromCam, BoardTruth: eeFromBoard}
	// The board centre in the board frame.
	centreInBoard := mgl64.Vec3{4 * HandBoardSquare, 2.5 * HandBoardSquare, 0}
	rng := rand.New(rand.NewPCG(o.Seed, 0x9abc))
	for tries := 0; len(ds.Views) < o.Views; tries++ {
		if tries > 200*o.Views {
			return nil, fmt.Errorf("calibsim: found only %d of %d reachable postures that show the board to the scene camera", len(ds.Views), o.Views)
		}
		// Where the board's centre goes: in front of the camera, over the table.
		dist := 0.75 + 0.3*rng.Float64()
		dir := mgl64.Vec3{-0.75, -0.55, -0.45}.Normalize().Add(mgl64.Vec3{0.12 * rng.NormFloat64(), 0.12 * rng.NormFloat64(), 0.08 * rng.NormFloat64()}).Normalize()
		centre := baseFromCam.Pos.Add(dir.Mul(dist))
		// The board faces the camera (its z, into the board, points away from it), turned
		// by up to 35 deg, and rolled freely about its normal.
		z := dir.Add(mgl64.Vec3{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}.Mul(0.3)).Normalize()
		if math.Acos(z.Dot(dir)) > 35*math.Pi/180 {
			continue
		}
		ref := mgl64.Vec3{0, 0, 1}
		x := ref.Cross(z).Normalize()
		y := z.Cross(x)
		rot := quatFromCols(x, y, z).Mul(mgl64.QuatRotate(2*math.Pi*rng.Float64(), mgl64.Vec3{0, 0, 1}))
		boardPose := control.Pose{Rot: rot}
		boardPose.Pos = centre.Sub(rot.Rotate(centreInBoard))
		camFromBoard := calib.Compose(calib.Invert(baseFromCam), boardPose)
		if !BoardInView(&ds.Intrinsics, camFromBoard, HandBoardSquare, margin) {
			continue
		}
		ok, err := ik.reach(g, calib.Compose(boardPose, calib.Invert(eeFromBoard)))
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		f, err := g.render(cam, ds.Camera)
		if err != nil {
			return nil, err
		}
		ds.Views = append(ds.Views, View{Frame: f, Robot: g.tool(), Q: append([]float64(nil), ik.q...),
			CamFromBoard: calib.Compose(calib.Invert(baseFromCam), SitePose(g.s, site))})
	}
	return ds, nil
}
