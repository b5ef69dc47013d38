// Package plot draws robotd's report figures into PNG files: panels of named lines
// stacked vertically against a shared kind of x axis (eval's tool against target and
// inference latency, replay's recorded against replayed tool, eval-offline's predicted
// against recorded actions), and the demo's reaching figure. It wraps gonum/plot so that
// the commands and libraries that report do not each style their own figures.
package plot

import (
	"fmt"
	"image/color"
	"math"
	"os"

	"github.com/go-gl/mathgl/mgl64"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Panel is one plot of a stacked figure: named lines against the same x axis.
type Panel struct {
	Title, XLabel, YLabel string
	Lines                 []Series
}

// Series is one line; Dashed draws it as a reference (a target, a recording).
type Series struct {
	Name   string
	XY     plotter.XYs
	Dashed bool
}

// palette is the lines' colours in order (matplotlib's first four).
var palette = []color.RGBA{{R: 31, G: 119, B: 180, A: 255}, {R: 255, G: 127, B: 14, A: 255}, {R: 44, G: 160, B: 44, A: 255}, {R: 214, G: 39, B: 40, A: 255}}

// Panels writes panels stacked vertically into a PNG at path, 8 inches wide and 2.6
// inches per panel. A series with a NaN or infinite value is an error naming the panel
// and the series.
func Panels(path string, panels []Panel) error {
	var plots [][]*plot.Plot
	for _, pn := range panels {
		p := plot.New()
		p.Title.Text, p.X.Label.Text, p.Y.Label.Text = pn.Title, pn.XLabel, pn.YLabel
		p.Add(plotter.NewGrid())
		for i, s := range pn.Lines {
			l, err := plotter.NewLine(s.XY)
			if err != nil {
				return fmt.Errorf("plot %s: %s: %w", pn.Title, s.Name, err)
			}
			l.Color, l.Width = palette[i%len(palette)], vg.Points(1.5)
			if s.Dashed {
				l.Dashes, l.Width = []vg.Length{vg.Points(4), vg.Points(3)}, vg.Points(1)
			}
			p.Add(l)
			p.Legend.Add(s.Name, l)
		}
		p.Legend.Top = true
		plots = append(plots, []*plot.Plot{p})
	}
	return writeStack(path, plots, vg.Length(2.6*float64(len(panels)))*vg.Inch)
}

// writeStack draws plots (one per row) onto an 8-inch wide canvas of the given height
// and writes it as a PNG.
func writeStack(path string, plots [][]*plot.Plot, height vg.Length) error {
	img := vgimg.New(8*vg.Inch, height)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter, PadY: 2 * vg.Millimeter,
		PadTop: vg.Millimeter, PadBottom: vg.Millimeter, PadLeft: vg.Millimeter, PadRight: 2 * vg.Millimeter}
	canvases := plot.Align(plots, tiles, draw.New(img))
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReachPoint is one instant of a reaching run: time (s), the measured tool position and
// its target (m), and the distance between them (m).
type ReachPoint struct {
	T            float64
	Tool, Target mgl64.Vec3
	PosErr       float64
}

// Reach draws a reaching run into a PNG: the tool position against the target per axis,
// and the tracking error on a log scale (floored at 1 µm) with a 2 mm reference line up
// to end (s), one panel each, 8 x 10 inches.
func Reach(path string, trace []ReachPoint, end float64) error {
	blue, orange := palette[0], palette[1]
	var panels [][]*plot.Plot
	for axis, name := range []string{"x", "y", "z"} {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("tool %s", name)
		p.X.Label.Text = "time (s)"
		p.Y.Label.Text = name + " (m)"
		tool, target := make(plotter.XYs, len(trace)), make(plotter.XYs, len(trace))
		for i, s := range trace {
			tool[i] = plotter.XY{X: s.T, Y: s.Tool[axis]}
			target[i] = plotter.XY{X: s.T, Y: s.Target[axis]}
		}
		lt, err := plotter.NewLine(target)
		if err != nil {
			return err
		}
		lt.Color, lt.Dashes = orange, []vg.Length{vg.Points(4), vg.Points(3)}
		la, err := plotter.NewLine(tool)
		if err != nil {
			return err
		}
		la.Color, la.Width = blue, vg.Points(1.5)
		p.Add(lt, la, plotter.NewGrid())
		if axis == 0 {
			p.Legend.Add("target", lt)
			p.Legend.Add("tool (MuJoCo)", la)
			p.Legend.Top = true
		}
		panels = append(panels, []*plot.Plot{p})
	}
	p := plot.New()
	p.Title.Text = "tracking error (log scale)"
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "|tool - target| (mm)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	errs := make(plotter.XYs, len(trace))
	for i, s := range trace {
		errs[i] = plotter.XY{X: s.T, Y: math.Max(s.PosErr*1e3, 1e-3)}
	}
	le, err := plotter.NewLine(errs)
	if err != nil {
		return err
	}
	le.Color = blue
	thr, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 2}, {X: end, Y: 2}})
	if err != nil {
		return err
	}
	thr.Color, thr.Dashes = color.RGBA{R: 200, A: 255}, []vg.Length{vg.Points(2), vg.Points(2)}
	p.Add(le, thr, plotter.NewGrid())
	p.Legend.Add("2 mm", thr)
	p.Legend.Top = true
	panels = append(panels, []*plot.Plot{p})
	return writeStack(path, panels, 10*vg.Inch)
}
