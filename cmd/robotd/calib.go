package main

import (
	"flag"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/robotd/robotd/calib"
	"github.com/robotd/robotd/perception/cv"
)

const calibUsage = `usage:
  robotd calib intrinsics --images DIR --board COLSxROWS --square METERS [--name CAM] [--out FILE.yaml] [--force]
      find the chessboard in every image of DIR, calibrate the camera (pinhole with
      plumb_bob distortion), report each view's reprojection error and flag outliers, and
      write the ROS camera_calibration YAML (to stdout without --out)
  robotd calib handeye --mode eye-in-hand|eye-to-hand --intrinsics FILE.yaml --poses FILE.yaml
                       --images DIR --board COLSxROWS --square METERS [--out FILE.yaml] [--force]
      find the board's pose in every image listed in the poses file (the robot's T_base_ee
      when the image was taken), solve AX = XB and write the camera pose: T_ee_cam for a
      camera on the hand, T_base_cam for a camera fixed in the world (to stdout without
      --out)

--board counts inner corners (a board of 10 x 7 squares is 9x6). The poses file:
  poses:
    - image: view_00.png        # relative to --images
      position: [0.4, 0.0, 0.5] # metres
      orientation: [0, 1, 0, 0] # unit quaternion w, x, y, z
`

func calibCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, calibUsage)
		return errUsage
	}
	switch args[0] {
	case "intrinsics":
		return calibIntrinsicsCmd(args[1:], stdout, stderr)
	case "handeye":
		return calibHandEyeCmd(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, calibUsage)
		return flag.ErrHelp
	}
	fmt.Fprintf(stderr, "robotd calib: unknown subcommand %q\n\n%s", args[0], calibUsage)
	return errUsage
}

// boardFlags are the flags both subcommands take.
type boardFlags struct {
	images, board, out string
	square             float64
	force              bool
	calib.Board        // from board and square, by check
}

func (b *boardFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.images, "images", "", "directory of images (.png, .jpg, .jpeg, .bmp, .tif, .tiff)")
	fs.StringVar(&b.board, "board", "", "chessboard inner corners, COLSxROWS (e.g. 9x6)")
	fs.Float64Var(&b.square, "square", 0, "side of a chessboard square in metres")
	fs.StringVar(&b.out, "out", "", "output YAML file (default: stdout)")
	fs.BoolVar(&b.force, "force", false, "overwrite --out if it exists")
}

// check validates the shared flags; name is the subcommand for messages.
func (b *boardFlags) check(name string, stderr io.Writer) error {
	switch {
	case b.images == "":
		fmt.Fprintf(stderr, "robotd calib %s: --images is required\n", name)
		return errUsage
	case b.board == "":
		fmt.Fprintf(stderr, "robotd calib %s: --board is required\n", name)
		return errUsage
	case b.square == 0:
		fmt.Fprintf(stderr, "robotd calib %s: --square is required\n", name)
		return errUsage
	}
	var err error
	if b.Board, err = calib.ParseBoard(b.board, b.square); err != nil {
		return err
	}
	if b.out != "" && !b.force {
		if _, err := os.Stat(b.out); err == nil {
			return fmt.Errorf("--out %s exists; pass --force to overwrite it", b.out)
		}
	}
	return nil
}

// detect searches the named images for the board (calib.Detect with OpenCV's detector),
// printing a line per image, and keeps the views that show it (at least 3).
func (b *boardFlags) detect(names []string, want image.Point, stdout io.Writer) (all, found []calib.View, err error) {
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	all, err = calib.Detect(b.images, names, b.Board, want, cv.FindChessboardFile, func(i int, v calib.View) {
		status := "board not found"
		if v.Corners != nil {
			status = fmt.Sprintf("board found, %d corners", len(v.Corners))
		}
		fmt.Fprintf(stdout, "[%*d/%d] %-*s  %dx%d  %s\n", len(strconv.Itoa(len(names))), i+1, len(names), width, v.Name, v.Size.X, v.Size.Y, status)
	})
	if err != nil {
		return nil, nil, err
	}
	found, err = calib.Found(all)
	return all, found, err
}

// write writes a calibration's YAML to --out, or prints it with a comment line when
// there is no --out.
func (b *boardFlags) write(stdout io.Writer, what string, yaml []byte, write func(path string) error) error {
	if b.out == "" {
		fmt.Fprintf(stdout, "\n# %s (pass --out FILE.yaml to write it to a file)\n", what)
		_, err := stdout.Write(yaml)
		return err
	}
	if err := os.MkdirAll(filepath.Dir(b.out), 0o755); err != nil {
		return err
	}
	if err := write(b.out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", b.out)
	return nil
}

func calibIntrinsicsCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("calib intrinsics", flag.ContinueOnError)
	var b boardFlags
	b.register(fs)
	name := fs.String("name", "camera", "camera_name written to the YAML")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "robotd calib intrinsics: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if err := b.check("intrinsics", stderr); err != nil {
		return err
	}
	names, err := calib.ListImages(b.images)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "searching %d images of %s for a %dx%d chessboard\n", len(names), b.images, b.Cols, b.Rows)
	dets, found, err := b.detect(names, image.Point{}, stdout)
	if err != nil {
		return err
	}
	r, err := calib.CalibrateIntrinsics(*name, found, len(dets), b.Board, func(v [][][2]float64, board image.Point, square float64, size image.Point) ([9]float64, [5]float64, float64, []float64, error) {
		c, err := cv.CalibrateCamera(v, board, square, size)
		return c.K, c.D, c.RMS, c.ViewRMS, err
	})
	if err != nil {
		return err
	}
	in := r.Intrinsics
	r.WriteText(stdout)
	return b.write(stdout, "ROS camera calibration", in.MarshalROS(), func(p string) error { return calib.WriteIntrinsics(p, &in) })
}

// handEyeFlags are calib handeye's own flags.
type handEyeFlags struct {
	boardFlags
	mode            calib.Mode
	intr, posesFile string
}

// parse reads and checks calib handeye's flags.
func (h *handEyeFlags) parse(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("calib handeye", flag.ContinueOnError)
	h.register(fs)
	modeFlag := fs.String("mode", "", "eye-in-hand (camera on the hand) or eye-to-hand (camera fixed, board on the hand)")
	fs.StringVar(&h.intr, "intrinsics", "", "the camera's ROS camera_calibration YAML (robotd calib intrinsics)")
	fs.StringVar(&h.posesFile, "poses", "", "YAML file with the robot pose T_base_ee of each image")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "robotd calib handeye: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	for _, f := range []struct{ name, v string }{{"mode", *modeFlag}, {"intrinsics", h.intr}, {"poses", h.posesFile}} {
		if f.v == "" {
			fmt.Fprintf(stderr, "robotd calib handeye: --%s is required\n", f.name)
			return errUsage
		}
	}
	var err error
	if h.mode, err = calib.ParseMode(*modeFlag); err != nil {
		return fmt.Errorf("--mode %q: want eye-in-hand or eye-to-hand", *modeFlag)
	}
	return h.check("handeye", stderr)
}

func calibHandEyeCmd(args []string, stdout, stderr io.Writer) error {
	var h handEyeFlags
	if err := h.parse(args, stderr); err != nil {
		return err
	}
	in, err := calib.ReadIntrinsics(h.intr)
	if err != nil {
		return err
	}
	poses, names, unposed, err := calib.PosedImages(h.posesFile, h.images)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "searching %d images listed in %s for a %dx%d chessboard\n", len(names), h.posesFile, h.Cols, h.Rows)
	if len(unposed) > 0 {
		fmt.Fprintf(stdout, "(ignoring %d images of %s that have no robot pose: %s)\n", len(unposed), h.images, strings.Join(unposed, ", "))
	}
	_, found, err := h.detect(names, image.Pt(in.Width, in.Height), stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nboard pose per view (PnP with %s):\n", h.intr)
	r := calib.HandEyeReport{Views: found}
	if r.Boards, r.BoardRMS, err = calib.BoardPoses(found, h.Board, &in); err != nil {
		return err
	}
	r.WriteBoards(stdout)
	if r.Result, err = calib.SolveHandEye(calib.ViewPoses(poses, found), r.Boards, h.mode); err != nil {
		return err
	}
	r.WriteText(stdout)
	cp := calib.CameraPose{Camera: in.Name, Mode: h.mode, Pose: r.Result.Camera, Views: len(found), RMS: r.Result.RMS}
	return h.write(stdout, "camera pose", cp.Marshal(), func(p string) error { return calib.WriteCameraPose(p, &cp) })
}
