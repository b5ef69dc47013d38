package calib

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// ParseBoard reads a board as robotd calib's flags give it: inner corners written
// COLSxROWS (e.g. 9x6, each at least 2) and the square's side in metres (positive, at
// most 1 m: a larger one is a size in the wrong unit). Errors name the flags.
func ParseBoard(corners string, square float64) (Board, error) {
	c, r, ok := strings.Cut(strings.ToLower(corners), "x")
	var b Board
	var err error
	if ok {
		b.Cols, err = strconv.Atoi(c)
		if err == nil {
			b.Rows, err = strconv.Atoi(r)
		}
	}
	switch {
	case !ok || err != nil || b.Cols < 2 || b.Rows < 2:
		return Board{}, fmt.Errorf("--board %q: want inner corners as COLSxROWS, each at least 2 (e.g. 9x6)", corners)
	case !(square > 0) || math.IsInf(square, 0):
		return Board{}, fmt.Errorf("--square %v: want a positive size in metres", square)
	case square > 1:
		return Board{}, fmt.Errorf("--square %v: squares larger than 1 m; the size is in metres (25 mm is 0.025)", square)
	}
	b.Square = square
	return b, nil
}

// ImageExts are the file extensions (lower case) ListImages takes for images.
var ImageExts = []string{".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}

// ListImages returns the names of dir's image files (ImageExts, in any case), sorted.
// A directory without any is an error; errors name robotd calib's --images flag.
func ListImages(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--images: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && slices.Contains(ImageExts, strings.ToLower(filepath.Ext(e.Name()))) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("--images %s: no image files (%s)", dir, strings.Join(ImageExts, ", "))
	}
	sort.Strings(names)
	return names, nil
}

// PosedImages reads the robot poses file posesFile and checks that every image it names
// exists in dir. It returns the poses, the images they name (in the file's order), and
// the images of dir that have no pose (ignored by a hand-eye calibration).
func PosedImages(posesFile, dir string) (poses []RobotPose, names, unposed []string, err error) {
	if poses, err = ReadRobotPoses(posesFile); err != nil {
		return nil, nil, nil, err
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, nil, nil, fmt.Errorf("--images: %w", err)
	} else if !st.IsDir() {
		return nil, nil, nil, fmt.Errorf("--images %s: not a directory", dir)
	}
	names = make([]string, len(poses))
	for i, p := range poses {
		names[i] = p.Image
		if _, err := os.Stat(filepath.Join(dir, p.Image)); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: poses[%d]: image %s: %w", posesFile, i, p.Image, err)
		}
	}
	if all, err := ListImages(dir); err == nil && len(all) > len(names) {
		for _, n := range all {
			if !slices.Contains(names, n) {
				unposed = append(unposed, n)
			}
		}
	}
	return poses, names, unposed, nil
}
