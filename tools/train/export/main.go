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
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/robotd/robotd/episode"
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
	vfiles := map[string]*npyWriter{}
	for _, key := range videos {
		f, _ := ds.Info.Feature(key)
		h, w := f.Shape[0], f.Shape[1]
		if len(f.Names) == 3 && f.Names[0] == "channels" {
			h, w = f.Shape[1], f.Shape[2]
		}
		vw, err := newNpy(filepath.Join(tmp, key+".npy"), "|u1", []int{ds.Info.TotalFrames, h, w, 3})
		if err != nil {
			return err
		}
		vfiles[key] = vw
	}
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
				if _, err := vfiles[key].Write(img); err != nil {
					vr.Close()
					return err
				}
			}
			vr.Close()
		}
		fmt.Fprintf(os.Stderr, "\rexport: episode %d/%d", i+1, len(ds.Episodes))
	}
	fmt.Fprintln(os.Stderr)
	m.Frames = len(epIdx)
	for _, key := range videos {
		if err := vfiles[key].Close(); err != nil {
			return err
		}
	}
	for key, v := range vectors {
		if err := writeFloat32(filepath.Join(tmp, key+".npy"), v, dims[key]); err != nil {
			return err
		}
	}
	for _, f := range ds.Info.Features {
		if len(f.Names) > 0 && !f.IsVideo() {
			m.Names[f.Key] = f.Names
		}
	}
	if err := writeInt64(filepath.Join(tmp, "episode_index.npy"), epIdx); err != nil {
		return err
	}
	if err := writeInt64(filepath.Join(tmp, "frame_index.npy"), frIdx); err != nil {
		return err
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

// npyWriter streams a NumPy .npy file (format 1.0, C order) of a declared shape and
// checks on Close that exactly that many bytes were written.
type npyWriter struct {
	f          *os.File
	path       string
	wrote, all int64
}

func newNpy(path, dtype string, shape []int) (*npyWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	dims := make([]string, len(shape))
	n := int64(1)
	for i, s := range shape {
		dims[i] = fmt.Sprint(s)
		n *= int64(s)
	}
	st := strings.Join(dims, ", ")
	if len(shape) == 1 {
		st += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", dtype, st)
	pad := 64 - (10+len(header)+1)%64
	header += strings.Repeat(" ", pad%64) + "\n"
	var pre [10]byte
	copy(pre[:], "\x93NUMPY\x01\x00")
	binary.LittleEndian.PutUint16(pre[8:], uint16(len(header)))
	if _, err := f.Write(pre[:]); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := io.WriteString(f, header); err != nil {
		f.Close()
		return nil, err
	}
	var item int64 = 1
	switch dtype {
	case "<f4":
		item = 4
	case "<i8":
		item = 8
	}
	return &npyWriter{f: f, path: path, all: n * item}, nil
}

func (w *npyWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.wrote += int64(n)
	return n, err
}

func (w *npyWriter) Close() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	if w.wrote != w.all {
		return fmt.Errorf("%s: wrote %d bytes of data, the header declares %d", w.path, w.wrote, w.all)
	}
	return nil
}

func writeFloat32(path string, v []float32, dim int) error {
	w, err := newNpy(path, "<f4", []int{len(v) / dim, dim})
	if err != nil {
		return err
	}
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	if _, err := w.Write(b); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func writeInt64(path string, v []int64) error {
	w, err := newNpy(path, "<i8", []int{len(v)})
	if err != nil {
		return err
	}
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	if _, err := w.Write(b); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
