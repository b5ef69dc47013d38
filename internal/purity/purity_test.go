// Package purity holds the test that keeps robotd's pure packages free of cgo.
//
// The control loop, the ports, the ROS client, the policy executors, the launch files,
// the dataset writer and telemetry must build with CGO_ENABLED=0, so that the driver of a
// real arm builds without libmujoco, OpenCV or ONNX Runtime (their tests may use those,
// as real peers); cgo stays at the edges (perception/cv, policy/onnx, sim/mujoco, and the sim's
// ROS bridge that serves sim/mujoco), as README.md's package table says.
package purity

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// pure are the packages that must build without cgo (issue 17): the ports, the ROS
// client, the policy logic, configuration, datasets and telemetry.
var pure = []string{
	"github.com/robotd/robotd/control",
	"github.com/robotd/robotd/drivers",
	"github.com/robotd/robotd/drivers/ros",
	"github.com/robotd/robotd/policy",
	"github.com/robotd/robotd/policy/chunk",
	"github.com/robotd/robotd/policy/steer",
	"github.com/robotd/robotd/clock",
	"github.com/robotd/robotd/launch",
	"github.com/robotd/robotd/episode",
	"github.com/robotd/robotd/telemetry",
}

// pkg is the part of `go list -json` this test reads.
type pkg struct {
	ImportPath string
	Standard   bool
	CgoFiles   []string
	Imports    []string
}

// goTool is the go command of the toolchain running the test.
func goTool(t *testing.T) string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no go command on $PATH nor in %s: %v", filepath.Dir(p), err)
	}
	return p
}

// list runs go list -deps over the pure packages with CGO_ENABLED set to cgo and returns
// the packages by import path.
func list(t *testing.T, cgo string) map[string]*pkg {
	cmd := exec.Command(goTool(t), append([]string{"list", "-deps", "-json=ImportPath,Standard,CgoFiles,Imports"}, pure...)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("CGO_ENABLED=%s go list: %v\n%s", cgo, err, stderr.Bytes())
	}
	pkgs := map[string]*pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// TestPurePackagesHaveNoCgo follows the imports of each pure package as a build without
// cgo does, and fails naming every package outside the standard library on that path
// that has cgo files when cgo is enabled, with the import chain that pulls it in: such a
// package does not build without cgo (sim/mujoco, gocv) unless it has a pure fallback,
// which the build below then tells. It then follows the imports as a cgo build does (a
// plain go build on a machine with a C compiler), and fails the same way: a pure package
// links no C library in either build, so that a cgo build of the driver of a real arm
// needs no libmujoco or OpenCV either. (drivers/ros used to decode compressed images with
// gocv when cgo was there; it now takes the decoder as CameraConfig.Decode, and robotd
// passes perception/cv's.) The standard library's cgo files (net, os/user) have pure-Go
// fallbacks and do not count.
func TestPurePackagesHaveNoCgo(t *testing.T) {
	nocgo, withCgo := list(t, "0"), list(t, "1")
	for path, p := range nocgo {
		if q := withCgo[path]; q != nil {
			p.CgoFiles = q.CgoFiles
		}
	}
	for _, root := range pure {
		if nocgo[root] == nil {
			t.Fatalf("go list did not list %s", root)
		}
		for _, chain := range cgoChains(nocgo, root) {
			files := nocgo[chain[len(chain)-1]].CgoFiles
			t.Errorf("%s is not pure: it imports cgo through %s (%d cgo files: %s)", root, strings.Join(chain, " -> "),
				len(files), strings.Join(files[:min(3, len(files))], ", "))
		}
		for _, chain := range cgoChains(withCgo, root) {
			files := withCgo[chain[len(chain)-1]].CgoFiles
			t.Errorf("%s is not pure in a cgo build: it imports cgo through %s (%d cgo files: %s)", root, strings.Join(chain, " -> "),
				len(files), strings.Join(files[:min(3, len(files))], ", "))
		}
	}
	// What issue 17 named, explicitly: the ROS client of a cgo build links neither OpenCV
	// nor MuJoCo.
	for _, dep := range []string{"gocv.io/x/gocv", "github.com/robotd/robotd/sim/mujoco"} {
		if chain := importChain(withCgo, "github.com/robotd/robotd/drivers/ros", dep); chain != nil {
			t.Errorf("a cgo build of drivers/ros imports %s: %s", dep, strings.Join(chain, " -> "))
		}
	}
}

// importChain returns the shortest import chain from root to dep in pkgs, nil when root
// does not depend on dep.
func importChain(pkgs map[string]*pkg, root, dep string) []string {
	parent := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		if path == dep {
			var chain []string
			for q := path; q != ""; q = parent[q] {
				chain = append(chain, q)
			}
			slices.Reverse(chain)
			return chain
		}
		if p := pkgs[path]; p != nil {
			for _, imp := range p.Imports {
				if _, seen := parent[imp]; !seen {
					parent[imp] = path
					queue = append(queue, imp)
				}
			}
		}
	}
	return nil
}

// cgoChains returns, for each non-standard package with cgo files that root depends on, the
// shortest import chain from root to it (breadth-first over the imports), sorted.
func cgoChains(pkgs map[string]*pkg, root string) [][]string {
	parent := map[string]string{root: ""}
	queue := []string{root}
	var found [][]string
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		p := pkgs[path]
		if p == nil {
			continue
		}
		if !p.Standard && (len(p.CgoFiles) > 0 || slices.Contains(p.Imports, "C")) {
			var chain []string
			for q := path; q != ""; q = parent[q] {
				chain = append(chain, q)
			}
			slices.Reverse(chain)
			found = append(found, chain)
			continue // what it imports is reached through it anyway
		}
		for _, imp := range p.Imports {
			if _, seen := parent[imp]; !seen {
				parent[imp] = path
				queue = append(queue, imp)
			}
		}
	}
	slices.SortFunc(found, func(a, b []string) int { return strings.Compare(a[len(a)-1], b[len(b)-1]) })
	return found
}

// TestPurePackagesBuildWithoutCgo builds the pure packages with CGO_ENABLED=0, as the
// driver of a real arm is built without the C libraries: what the list above cannot see
// (a file that needs cgo through a build constraint) fails here.
func TestPurePackagesBuildWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the build takes a while when nothing is cached")
	}
	cmd := exec.Command(goTool(t), append([]string{"build", "-o", os.DevNull}, pure...)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build %s: %v\n%s", strings.Join(pure, " "), err, out)
	}
}
