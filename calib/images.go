package calib

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// ParseBoard reads a board's inner corners written COLSxROWS (e.g. 9x6, each at least
// 2), as robotd calib's --board flag takes them.
func ParseBoard(s string) (cols, rows int, err error) {
	c, r, ok := strings.Cut(strings.ToLower(s), "x")
	if ok {
		cols, err = strconv.Atoi(c)
		if err == nil {
			rows, err = strconv.Atoi(r)
		}
	}
	if !ok || err != nil || cols < 2 || rows < 2 {
		return 0, 0, fmt.Errorf("--board %q: want inner corners as COLSxROWS, each at least 2 (e.g. 9x6)", s)
	}
	return cols, rows, nil
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
