package main

import (
	"fmt"
	"image/color"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// plotDemo draws the tool position against the target per axis, and the tracking error
// on a log scale, one panel each, into a PNG.
func plotDemo(path string, res *demoResult) error {
	blue := color.RGBA{R: 31, G: 119, B: 180, A: 255}
	orange := color.RGBA{R: 255, G: 127, B: 14, A: 255}
	var panels []*plot.Plot
	for axis, name := range []string{"x", "y", "z"} {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("tool %s", name)
		p.X.Label.Text = "time (s)"
		p.Y.Label.Text = name + " (m)"
		tool, target := make(plotter.XYs, len(res.Trace)), make(plotter.XYs, len(res.Trace))
		for i, s := range res.Trace {
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
		panels = append(panels, p)
	}
	p := plot.New()
	p.Title.Text = "tracking error (log scale)"
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "|tool - target| (mm)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	errs := make(plotter.XYs, len(res.Trace))
	for i, s := range res.Trace {
		errs[i] = plotter.XY{X: s.T, Y: math.Max(s.PosErr*1e3, 1e-3)}
	}
	le, err := plotter.NewLine(errs)
	if err != nil {
		return err
	}
	le.Color = blue
	thr, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 2}, {X: res.SimTime.Seconds(), Y: 2}})
	if err != nil {
		return err
	}
	thr.Color, thr.Dashes = color.RGBA{R: 200, A: 255}, []vg.Length{vg.Points(2), vg.Points(2)}
	p.Add(le, thr, plotter.NewGrid())
	p.Legend.Add("2 mm", thr)
	p.Legend.Top = true
	panels = append(panels, p)

	const rows = 4
	img := vgimg.New(8*vg.Inch, 10*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: 1, PadX: vg.Millimeter, PadY: 2 * vg.Millimeter,
		PadTop: vg.Millimeter, PadBottom: vg.Millimeter, PadLeft: vg.Millimeter, PadRight: 2 * vg.Millimeter}
	canvases := plot.Align([][]*plot.Plot{{panels[0]}, {panels[1]}, {panels[2]}, {panels[3]}}, tiles, dc)
	for i := 0; i < rows; i++ {
		panels[i].Draw(canvases[i][0])
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

// panel is one plot of a stacked figure: named lines against the same x axis.
type panel struct {
	Title, XLabel, YLabel string
	Lines                 []series
}

// series is one line; Dashed draws it as a reference (a target, a recording).
type series struct {
	Name   string
	XY     plotter.XYs
	Dashed bool
}

// plotPanels writes panels stacked vertically into a PNG.
func plotPanels(path string, panels []panel) error {
	palette := []color.RGBA{{R: 31, G: 119, B: 180, A: 255}, {R: 255, G: 127, B: 14, A: 255}, {R: 44, G: 160, B: 44, A: 255}, {R: 214, G: 39, B: 40, A: 255}}
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
	img := vgimg.New(8*vg.Inch, vg.Length(2.6*float64(len(panels)))*vg.Inch)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadX: vg.Millimeter, PadY: 2 * vg.Millimeter,
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
