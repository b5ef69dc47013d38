// Command export turns a LeRobotDataset v3.0 (as robotd record writes it) into plain
// NumPy arrays for tools/train/train.py, which has no parquet reader (Debian's Python has
// no pyarrow): robotd's own episode reader reads the tables and ffmpeg decodes the videos.
//
//	go run ./tools/train/export -dataset out/demos -out out/demos.npy
//
// The output directory holds, for N frames in episode order:
//
//	meta.json                      fps, feature names, per-episode [start, end) rows, source
//	observation.state.npy          float32 [N, S]
//	action.npy                     float32 [N, A]
//	episode_index.npy, frame_index.npy   int64 [N]
//	<every other numeric feature>.npy    float32 [N, D] (next.success, ...)
//	observation.images.<cam>.npy   uint8 [N, H, W, 3]
//
// An existing output directory is refused (nothing is overwritten) unless -force.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/robotd/robotd/episode"
	"github.com/robotd/robotd/internal/npy"
)

func main() {
	dataset := flag.String("dataset", "", "LeRobotDataset v3.0 directory (required)")
	out := flag.String("out", "", "output directory (required; must not exist unless -force)")
	force := flag.Bool("force", false, "replace an existing output directory")
	flag.Parse()
	if err := run(*dataset, *out, *force); err != nil {
		fmt.Fprintln(os.Stderr, "export:", err)
		os.Exit(1)
	}
}

type meta struct {
	Dataset  string              `json:"dataset"`
	FPS      int                 `json:"fps"`
	Frames   int                 `json:"frames"`
	Names    map[string][]string `json:"names"`
	Episodes [][2]int            `json:"episodes"` // [start, end) rows
	Tasks    []string            `json:"tasks"`
}

func run(dataset, out string, force bool) error {
	if dataset == "" || out == "" {
		return errors.New("-dataset and -out are required")
	}
	ds, err := episode.Open(dataset)
	if err != nil {
		return err
	}
	if _, err := os.Stat(out); err == nil {
		if !force {
			return fmt.Errorf("%s exists (use -force to replace it)", out)
		}
		if err := os.RemoveAll(out); err != nil {
			return err
		}
	}
	tmp := out + ".part"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	m := meta{Dataset: dataset, FPS: ds.Info.FPS, Names: map[string][]string{}, Tasks: ds.Tasks}
	vectors := map[string][]float32{}
	dims := map[string]int{}
	var epIdx, frIdx []int64
	videos := ds.Info.VideoKeys()
	sort.Strings(videos)
	images := map[string][]uint8{}
	for i := range ds.Episodes {
		d, err := ds.Episode(i)
		if err != nil {
			return err
		}
		start := len(epIdx)
		for r := range d.FrameIndex {
			epIdx = append(epIdx, int64(i))
			frIdx = append(frIdx, d.FrameIndex[r])
		}
		m.Episodes = append(m.Episodes, [2]int{start, len(epIdx)})
		for key, rows := range d.Vectors {
			for _, row := range rows {
				vectors[key] = append(vectors[key], row...)
				dims[key] = len(row)
			}
		}
		for _, key := range videos {
			vr, err := ds.OpenVideo(i, key)
			if err != nil {
				return err
			}
			for range d.FrameIndex {
				img, err := vr.Next()
				if err != nil {
					vr.Close()
					return err
				}
				images[key] = append(images[key], img...)
			}
			vr.Close()
		}
		fmt.Fprintf(os.Stderr, "\rexport: episode %d/%d", i+1, len(ds.Episodes))
	}
	fmt.Fprintln(os.Stderr)
	m.Frames = len(epIdx)
	arrays := []*npy.Array{
		{Name: "episode_index", Shape: []int{len(epIdx)}, Data: epIdx},
		{Name: "frame_index", Shape: []int{len(frIdx)}, Data: frIdx},
	}
	for _, key := range videos {
		hw := len(images[key]) / 3 / max(1, m.Frames)
		f, _ := ds.Info.Feature(key)
		h, w := f.Shape[0], f.Shape[1]
		if len(f.Names) == 3 && f.Names[0] == "channels" {
			h, w = f.Shape[1], f.Shape[2]
		}
		if hw != h*w {
			return fmt.Errorf("%s: decoded %d bytes for %d frames of %dx%d", key, len(images[key]), m.Frames, w, h)
		}
		arrays = append(arrays, &npy.Array{Name: key, Shape: []int{m.Frames, h, w, 3}, Data: images[key]})
	}
	for key, v := range vectors {
		arrays = append(arrays, &npy.Array{Name: key, Shape: []int{len(v) / dims[key], dims[key]}, Data: v})
	}
	for _, a := range arrays {
		if err := writeNPY(filepath.Join(tmp, a.Name+".npy"), a); err != nil {
			return err
		}
	}
	for _, f := range ds.Info.Features {
		if len(f.Names) > 0 && !f.IsVideo() {
			m.Names[f.Key] = f.Names
		}
	}
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "meta.json"), b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "export: %d episodes, %d frames, cameras %s -> %s\n", len(ds.Episodes), m.Frames, strings.Join(videos, ", "), out)
	return nil
}

// writeNPY writes one array as a .npy file.
func writeNPY(path string, a *npy.Array) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	if err := npy.WriteNPY(bw, a); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
