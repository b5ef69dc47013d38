package eval

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Sweep is a sweep specification (robotd eval sweep SPEC.yaml): a matrix of evaluations,
// every combination of its axes (launch files x bundles x camera noise x latency x
// executor x steering), each run on the same seeds in Shards shards. An axis left out
// (or empty) has one value: the launch file's own setting. Relative paths (launch files,
// bundles, out) are resolved against the spec file's directory.
type Sweep struct {
	// Launch are the launch files (at least one), each a lockstep pick-and-place scene
	// with a policy section.
	Launch []string `yaml:"launch"`
	// Bundles are policy bundle directories (--bundle).
	Bundles []string `yaml:"bundles"`
	// CameraNoise are Gaussian pixel noise levels (--camera-noise, 8-bit levels).
	CameraNoise []float64 `yaml:"camera_noise"`
	// Latency are modelled inference latencies (--latency, Go durations: "20ms").
	Latency []string `yaml:"latency"`
	// Executor are chunk executors (--executor).
	Executor []string `yaml:"executor"`
	// Steer are steering settings passed as --steer (e.g. "on", "off").
	Steer []string `yaml:"steer"`
	// Seed is the first seed; Episodes how many seeds (Seed .. Seed+Episodes-1) every
	// cell runs, so cells compare seed by seed (robotd eval compare).
	Seed     int64 `yaml:"seed"`
	Episodes int   `yaml:"episodes"`
	// Shards is how many shard jobs each cell is split into (default 1, at most Episodes).
	Shards int `yaml:"shards"`
	// Videos is how many of each cell's first episodes get a video (default 0).
	Videos int `yaml:"videos"`
	// Out is the sweep's directory: cell_NNN/shard_I of each job, cell_NNN's merged
	// eval.json, and the table (sweep.md, sweep.csv, sweep.png). Required.
	Out string `yaml:"out"`

	path string
}

// SweepCell is one evaluation of a sweep: its flags for robotd eval and its directory.
type SweepCell struct {
	Index int
	// Values are the cell's axis values by axis name (launch, bundle, camera_noise,
	// latency, executor, steer), for the table; an axis the spec leaves out is absent.
	Values map[string]string
	Flags  []string // robotd eval flags (--launch FILE ...), without --shard and --out
	Dir    string
}

// SweepJob is one shard of one cell: robotd eval Args (with --shard and --out).
type SweepJob struct {
	Cell  int
	Shard Shard
	Dir   string
	Args  []string
}

// sweepAxes is the order of the axes in cells, flags and tables.
var sweepAxes = []string{"launch", "bundle", "camera_noise", "latency", "executor", "steer"}

// LoadSweep reads and checks a sweep specification (YAML, unknown keys are errors).
func LoadSweep(path string) (*Sweep, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("eval sweep: %w", err)
	}
	var s Sweep
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("eval sweep: %s: empty file", path)
		}
		return nil, fmt.Errorf("eval sweep: %s: %w", path, err)
	}
	s.path = path
	if s.Shards == 0 {
		s.Shards = 1
	}
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("eval sweep: %s: %s: %s", path, key, fmt.Sprintf(format, args...))
	}
	switch {
	case len(s.Launch) == 0:
		return nil, bad("launch", "want at least one launch file")
	case s.Episodes < 1:
		return nil, bad("episodes", "%d: want at least 1", s.Episodes)
	case s.Shards < 1 || s.Shards > s.Episodes:
		return nil, bad("shards", "%d: want 1..episodes (%d)", s.Shards, s.Episodes)
	case s.Videos < 0:
		return nil, bad("videos", "%d: want 0 or more", s.Videos)
	case s.Out == "":
		return nil, bad("out", "missing: the sweep's output directory")
	}
	for i, l := range s.Latency {
		if d, err := time.ParseDuration(l); err != nil || d < 0 {
			return nil, bad(fmt.Sprintf("latency[%d]", i), "%q: want a duration such as 20ms", l)
		}
	}
	for i, n := range s.CameraNoise {
		if n < 0 {
			return nil, bad(fmt.Sprintf("camera_noise[%d]", i), "%v: want >= 0", n)
		}
	}
	for i, l := range s.Launch {
		if _, err := os.Stat(s.resolve(l)); err != nil {
			return nil, bad(fmt.Sprintf("launch[%d]", i), "%v", err)
		}
	}
	for i, b := range s.Bundles {
		if st, err := os.Stat(s.resolve(b)); err != nil || !st.IsDir() {
			return nil, bad(fmt.Sprintf("bundles[%d]", i), "%s: not a directory", s.resolve(b))
		}
	}
	return &s, nil
}

// resolve makes a spec-relative path absolute.
func (s *Sweep) resolve(p string) string {
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(s.path), p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// OutDir is the sweep's output directory, resolved.
func (s *Sweep) OutDir() string { return s.resolve(s.Out) }

// Cells expands the matrix, the first axis (launch) varying slowest.
func (s *Sweep) Cells() []SweepCell {
	type axis struct {
		name, flag string
		values     []string
	}
	var axes []axis
	str := func(xs []float64) []string {
		var out []string
		for _, x := range xs {
			out = append(out, strconv.FormatFloat(x, 'g', -1, 64))
		}
		return out
	}
	res := func(ps []string) []string {
		var out []string
		for _, p := range ps {
			out = append(out, s.resolve(p))
		}
		return out
	}
	for _, a := range []axis{
		{"launch", "--launch", res(s.Launch)}, {"bundle", "--bundle", res(s.Bundles)},
		{"camera_noise", "--camera-noise", str(s.CameraNoise)}, {"latency", "--latency", s.Latency},
		{"executor", "--executor", s.Executor}, {"steer", "--steer", s.Steer},
	} {
		if len(a.values) > 0 {
			axes = append(axes, a)
		}
	}
	cells := []SweepCell{{Values: map[string]string{}}}
	for _, a := range axes {
		var next []SweepCell
		for _, c := range cells {
			for _, v := range a.values {
				vals := map[string]string{a.name: v}
				for k, x := range c.Values {
					vals[k] = x
				}
				next = append(next, SweepCell{Values: vals, Flags: append(append([]string(nil), c.Flags...), a.flag, v)})
			}
		}
		cells = next
	}
	for i := range cells {
		cells[i].Index = i
		cells[i].Dir = filepath.Join(s.OutDir(), fmt.Sprintf("cell_%03d", i))
		cells[i].Flags = append(cells[i].Flags, "--episodes", strconv.Itoa(s.Episodes), "--seed",
			strconv.FormatInt(s.Seed, 10), "--videos", strconv.Itoa(s.Videos))
	}
	return cells
}

// Jobs are the shard jobs of every cell, cell by cell: robotd eval arguments each.
func (s *Sweep) Jobs() []SweepJob {
	var jobs []SweepJob
	for _, c := range s.Cells() {
		for i := 0; i < s.Shards; i++ {
			dir := filepath.Join(c.Dir, fmt.Sprintf("shard_%d", i))
			sh := Shard{i, s.Shards}
			args := append([]string{"eval"}, c.Flags...)
			jobs = append(jobs, SweepJob{Cell: c.Index, Shard: sh, Dir: dir, Args: append(args, "--shard", sh.String(), "--out", dir)})
		}
	}
	return jobs
}

// SweepRow is a cell's line of the sweep's table.
type SweepRow struct {
	Cell   SweepCell
	Report *Report
}

// Table merges each cell's shards (Merge into the cell's directory) and writes the
// sweep's table into its directory: sweep.md (markdown), sweep.csv and sweep.png (success
// rate with its 95 % Wilson interval per cell). A cell whose shards are missing or do not
// merge is an error naming it. It returns the rows and the files written.
func (s *Sweep) Table() ([]SweepRow, []string, error) {
	var rows []SweepRow
	for _, c := range s.Cells() {
		var dirs []string
		for i := 0; i < s.Shards; i++ {
			dirs = append(dirs, filepath.Join(c.Dir, fmt.Sprintf("shard_%d", i)))
		}
		r, _, err := Merge(c.Dir, dirs)
		if err != nil {
			return nil, nil, fmt.Errorf("eval sweep: cell %d (%s): %w", c.Index, c.label(), err)
		}
		rows = append(rows, SweepRow{c, r})
	}
	out := s.OutDir()
	md, csvPath, png := filepath.Join(out, "sweep.md"), filepath.Join(out, "sweep.csv"), filepath.Join(out, "sweep.png")
	var cols []string
	for _, a := range sweepAxes {
		if _, ok := rows[0].Cell.Values[a]; ok {
			cols = append(cols, a)
		}
	}
	head := append(append([]string{"cell"}, cols...), "episodes", "successes", "success_rate", "wilson95_lo", "wilson95_hi", "time_to_success_mean_s", "faulted")
	var b strings.Builder
	fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	var records [][]string
	for _, r := range rows {
		rec := []string{strconv.Itoa(r.Cell.Index)}
		for _, a := range cols {
			rec = append(rec, r.Cell.short(a))
		}
		rp := r.Report
		rec = append(rec, strconv.Itoa(rp.Episodes), strconv.Itoa(rp.Successes), fmt.Sprintf("%.4f", rp.SuccessRate),
			fmt.Sprintf("%.4f", rp.Wilson95[0]), fmt.Sprintf("%.4f", rp.Wilson95[1]), fmt.Sprintf("%.3f", rp.TTSMean), strconv.Itoa(rp.Faulted))
		records = append(records, rec)
		fmt.Fprintf(&b, "| %s |\n", strings.Join(rec, " | "))
	}
	fmt.Fprintf(&b, "\n%d seeds from %d per cell; cell directories under %s\n", s.Episodes, s.Seed, out)
	if err := os.WriteFile(md, []byte(b.String()), 0o644); err != nil {
		return nil, nil, fmt.Errorf("eval sweep: %w", err)
	}
	var cb bytes.Buffer
	w := csv.NewWriter(&cb)
	w.Write(head)
	w.WriteAll(records)
	if err := os.WriteFile(csvPath, cb.Bytes(), 0o644); err != nil {
		return nil, nil, fmt.Errorf("eval sweep: %w", err)
	}
	if err := plotSweep(png, rows); err != nil {
		return nil, nil, fmt.Errorf("eval sweep: plot: %w", err)
	}
	return rows, []string{md, csvPath, png}, nil
}

// short is the cell's value of axis a for a table: a path by its base name.
func (c SweepCell) short(a string) string {
	v := c.Values[a]
	if a == "launch" || a == "bundle" {
		v = filepath.Base(v)
	}
	return v
}

// label names the cell by its axis values.
func (c SweepCell) label() string {
	var parts []string
	for _, a := range sweepAxes {
		if _, ok := c.Values[a]; ok {
			parts = append(parts, a+"="+c.short(a))
		}
	}
	if len(parts) == 0 {
		return "the launch file's settings"
	}
	return strings.Join(parts, " ")
}

// plotSweep draws each cell's success rate with its 95 % Wilson interval.
func plotSweep(path string, rows []SweepRow) error {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = "success rate per cell (95 % Wilson interval)", "cell", "success rate"
	p.Add(plotter.NewGrid())
	pts := make(plotter.XYs, len(rows))
	errs := make(plotter.YErrors, len(rows))
	// Each cell is labelled by its values on the axes that vary.
	var varying []string
	for _, a := range sweepAxes {
		for _, r := range rows[1:] {
			if r.Cell.Values[a] != rows[0].Cell.Values[a] {
				varying = append(varying, a)
				break
			}
		}
	}
	var names []string
	for i, r := range rows {
		pts[i] = plotter.XY{X: float64(i), Y: r.Report.SuccessRate}
		errs[i].Low, errs[i].High = r.Report.SuccessRate-r.Report.Wilson95[0], r.Report.Wilson95[1]-r.Report.SuccessRate
		name := strconv.Itoa(r.Cell.Index)
		for _, a := range varying {
			name += "\n" + r.Cell.short(a)
		}
		names = append(names, name)
	}
	if len(varying) > 0 {
		p.X.Label.Text = "cell: " + strings.Join(varying, ", ")
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return err
	}
	sc.Color = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	eb, err := plotter.NewYErrorBars(struct {
		plotter.XYs
		plotter.YErrors
	}{pts, errs})
	if err != nil {
		return err
	}
	eb.Color = sc.Color
	p.Add(sc, eb)
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(rows))-0.5
	p.Y.Min, p.Y.Max = 0, 1.02
	return p.Save(vg.Length(max(4, 0.5*float64(len(rows))+2))*vg.Inch, 3.5*vg.Inch, path)
}
