package episode

// Datasets in the layout LeRobot itself writes, made here without LeRobot (no pyarrow on
// these machines) from what its code does (huggingface/lerobot, src/lerobot/datasets):
//
//   - data files: dataset_writer.py _save_episode_data builds a datasets.Dataset with
//     feature_utils.get_hf_features_from_features (shape (1,) -> Value, (n,) ->
//     Sequence(length=n) = Arrow fixed_size_list, 2-D -> Array2D = nested lists, image ->
//     Image = struct{bytes, path}, language -> list<struct>) and writes it with
//     pq.ParquetWriter(compression="snappy", use_dictionary=True), one write_table (one row
//     group) per episode. pyarrow makes every field nullable, writes lists as the 3-level
//     LIST structure (list / element) and fixed_size_list as a plain LIST, pages v1,
//     and the datasets features as key-value metadata "huggingface".
//   - meta/episodes: dataset_metadata.py _flush_metadata_buffer, pa.Table.from_pydict of
//     the buffered episode dicts (several episodes per row group): int64, double,
//     list<string> tasks, stats as list<double> (count list<int64>, images
//     list<list<list<double>>>).
//   - meta/tasks.parquet: pandas DataFrame({"task_index"}, index=Index(tasks, name="task"))
//     .to_parquet: task_index int64, then the index as a "task" column, pandas metadata.
//   - videos: AV1 (libsvtav1), yuv420p, g 2, crf 30 (video_utils.py defaults), episodes
//     concatenated in a file.
//   - v2.1 (scripts/convert_dataset_v21_to_v30.py's "OLD" side): data/chunk-000/
//     episode_000000.parquet and videos/chunk-000/KEY/episode_000000.mp4 per episode,
//     meta/episodes.jsonl, meta/tasks.jsonl, meta/episodes_stats.jsonl, info.json with
//     total_chunks and total_videos and no file sizes.
//
// What the fixture does not reproduce: the Arrow schema pyarrow stores in "ARROW:schema"
// (a flatbuffer; readers fall back to the parquet schema, which is what this one checks)
// and pyarrow's column order (parquet-go orders a group's columns by name; every reader
// here looks columns up by name).

import (
	"bytes"

	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"
)

const lrFPS, lrSize = 30, 64

var lrLengths = []int{20, 25}

var lrTasks = []string{"pick up the cube", "stack the cubes"}

// lrOptions picks the parts of the fixture: plain has only features robotd's Spec can
// record (so that OpenAppend can add to it); legacy writes v2.1.
type lrOptions struct {
	plain, legacy bool
}

// lrFeatures are the info.json features, in LeRobot's order (the recorded features,
// then DEFAULT_FEATURES).
func lrFeatures(o lrOptions) string {
	video := fmt.Sprintf(`{"dtype": "video", "shape": [%d, %d, 3], "names": ["height", "width", "channels"], "info": {"video.height": %d, "video.width": %d, "video.codec": "av1", "video.pix_fmt": "yuv420p", "video.is_depth_map": false, "video.fps": %d, "video.channels": 3, "video.g": 2, "video.crf": 30, "video.preset": 12, "video.fast_decode": 0, "has_audio": false, "is_depth_map": false}}`,
		lrSize, lrSize, lrSize, lrSize, lrFPS)
	f := `"action": {"dtype": "float32", "shape": [6], "names": ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]},
        "observation.state": {"dtype": "float32", "shape": [6], "names": ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]},
        "observation.images.front": ` + video + `,
        "next.reward": {"dtype": "float32", "shape": [1], "names": null},
        "next.done": {"dtype": "bool", "shape": [1], "names": null},`
	if !o.plain {
		f += `
        "observation.velocity": {"dtype": "float64", "shape": [2], "names": {"axes": ["vx", "vy"]}},
        "observation.grid": {"dtype": "float32", "shape": [2, 3], "names": ["row", "col"]},
        "observation.images.top": {"dtype": "image", "shape": [16, 16, 3], "names": ["height", "width", "channels"]},
        "language_persistent": {"dtype": "language", "shape": [1], "names": null},`
	}
	return f + `
        "timestamp": {"dtype": "float32", "shape": [1], "names": null},
        "frame_index": {"dtype": "int64", "shape": [1], "names": null},
        "episode_index": {"dtype": "int64", "shape": [1], "names": null},
        "index": {"dtype": "int64", "shape": [1], "names": null},
        "task_index": {"dtype": "int64", "shape": [1], "names": null}`
}

// lrValue is the deterministic value of dimension j of a vector feature at frame k of
// episode e (exact in float32).
func lrValue(e, k, j int) float32 { return float32(e*1000+k*10+j) / 64 }

// lrFrame is camera frame k of episode e: smooth shading that moves.
func lrFrame(e, k int) []byte {
	img := make([]byte, lrSize*lrSize*3)
	for y := 0; y < lrSize; y++ {
		for x := 0; x < lrSize; x++ {
			p := (y*lrSize + x) * 3
			img[p], img[p+1], img[p+2] = byte(x*3+k*2), byte(y*3+e*40), byte(128+(x+y)/2)
		}
	}
	return img
}

// lrDataSchema is the data parquet schema pyarrow writes for lrFeatures.
func lrDataSchema(o lrOptions) *parquet.Schema {
	dict := func(n parquet.Node) parquet.Node { return parquet.Optional(parquet.Encoded(n, &parquet.RLEDictionary)) }
	f32, f64, i64, boolean := dict(parquet.Leaf(parquet.FloatType)), dict(parquet.Leaf(parquet.DoubleType)), dict(parquet.Int(64)), parquet.Optional(parquet.Leaf(parquet.BooleanType))
	list := func(n parquet.Node) parquet.Node { return parquet.Optional(parquet.List(n)) }
	g := parquet.Group{
		"action": list(f32), "observation.state": list(f32), "next.reward": f32, "next.done": boolean,
		"timestamp": f32, "frame_index": i64, "episode_index": i64, "index": i64, "task_index": i64,
	}
	if !o.plain {
		str := parquet.Optional(parquet.String())
		g["observation.velocity"] = list(f64)
		g["observation.grid"] = list(list(f32))
		g["observation.images.top"] = parquet.Optional(parquet.Group{"bytes": parquet.Optional(parquet.Leaf(parquet.ByteArrayType)), "path": str})
		g["language_persistent"] = list(parquet.Optional(parquet.Group{
			"role": parquet.String(), "content": str, "style": str, "timestamp": parquet.Leaf(parquet.FloatType),
			"camera": str, "tool_calls": list(str)}))
	}
	return parquet.NewSchema("schema", g)
}

const lrHFMeta = `{"info": {"features": {"observation.state": {"feature": {"dtype": "float32", "_type": "Value"}, "length": 6, "_type": "Sequence"}, "action": {"feature": {"dtype": "float32", "_type": "Value"}, "length": 6, "_type": "Sequence"}, "timestamp": {"dtype": "float32", "_type": "Value"}, "frame_index": {"dtype": "int64", "_type": "Value"}, "episode_index": {"dtype": "int64", "_type": "Value"}, "index": {"dtype": "int64", "_type": "Value"}, "task_index": {"dtype": "int64", "_type": "Value"}}}}`

// lrPtrs makes a row's values pointers: parquet-go writes the zero value of an optional
// field as null, pyarrow writes it as a value.
func lrPtrs(v any) any {
	switch x := v.(type) {
	case float32, float64, int64, bool, string:
		return ptrTo(x)
	case []float32:
		return ptrsOf(x)
	case []float64:
		return ptrsOf(x)
	case []int64:
		return ptrsOf(x)
	case []string:
		return ptrsOf(x)
	case [][]float32:
		out := make([][]*float32, len(x))
		for i := range x {
			out[i] = ptrsOf(x[i])
		}
		return out
	case [][][]float64:
		out := make([][][]*float64, len(x))
		for i := range x {
			out[i] = make([][]*float64, len(x[i]))
			for j := range x[i] {
				out[i][j] = ptrsOf(x[i][j])
			}
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = lrPtrs(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = lrPtrs(x[i])
		}
		return out
	}
	return v
}

func ptrTo[T any](v T) *T { return &v }

func ptrsOf[T any](s []T) []*T {
	out := make([]*T, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}

// lrWrite writes rows (as one row group unless the writer flushes in between).
func lrWrite(t *testing.T, w *parquet.GenericWriter[map[string]any], rows []map[string]any) {
	t.Helper()
	conv := make([]map[string]any, len(rows))
	for i, r := range rows {
		conv[i] = lrPtrs(r).(map[string]any)
	}
	if _, err := w.Write(conv); err != nil {
		t.Fatal(err)
	}
}

// lrWriter writes a parquet file the way pq.ParquetWriter does: snappy, dictionary,
// data pages v1, created_by parquet-cpp-arrow.
func lrWriter(t *testing.T, path string, schema *parquet.Schema, kv ...string) (*parquet.GenericWriter[map[string]any], func()) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := []parquet.WriterOption{schema, parquet.Compression(&snappy.Codec{}), parquet.DataPageVersion(1),
		parquet.CreatedBy("parquet-cpp-arrow", "17.0.0", "")}
	for i := 0; i+1 < len(kv); i += 2 {
		opts = append(opts, parquet.KeyValueMetadata(kv[i], kv[i+1]))
	}
	w := parquet.NewGenericWriter[map[string]any](f, opts...)
	return w, func() {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// lrRows are episode e's data rows, starting at global index from.
func lrRows(t *testing.T, o lrOptions, e int, from int64) []map[string]any {
	var rows []map[string]any
	var pngBuf bytes.Buffer
	im := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := range im.Pix {
		im.Pix[i] = byte(i)
	}
	im.Set(0, 0, color.RGBA{255, 0, 0, 255})
	if err := png.Encode(&pngBuf, im); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < lrLengths[e]; k++ {
		vec := func(n, off int) []float32 {
			v := make([]float32, n)
			for j := range v {
				v[j] = lrValue(e, k, j+off)
			}
			return v
		}
		r := map[string]any{
			"action": vec(6, 0), "observation.state": vec(6, 100), "next.reward": float32(k) / 10, "next.done": k == lrLengths[e]-1,
			"timestamp": float32(k) / lrFPS, "frame_index": int64(k), "episode_index": int64(e), "index": from + int64(k), "task_index": int64(e % 2),
		}
		if !o.plain {
			r["observation.velocity"] = []float64{float64(lrValue(e, k, 200)), -float64(lrValue(e, k, 201))}
			g := vec(6, 300)
			r["observation.grid"] = [][]float32{g[:3], g[3:]}
			r["observation.images.top"] = map[string]any{"bytes": pngBuf.Bytes(), "path": nil}
			var lang []any
			if k == 0 {
				lang = []any{map[string]any{"role": "user", "content": lrTasks[e%2], "style": "subtask", "timestamp": float32(0), "camera": nil, "tool_calls": []string{}}}
			}
			r["language_persistent"] = lang
		}
		rows = append(rows, r)
	}
	return rows
}

// lrEncode writes frames [from, to) of the episodes' camera as an AV1 mp4, as LeRobot's
// encoder does (libsvtav1, yuv420p, g 2, crf 30, preset 12).
func lrEncode(t *testing.T, path string, frames [][]byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
		"-s", fmt.Sprintf("%dx%d", lrSize, lrSize), "-framerate", fmt.Sprint(lrFPS), "-i", "pipe:0",
		"-c:v", "libsvtav1", "-preset", "12", "-crf", "30", "-g", "2", "-pix_fmt", "yuv420p", path)
	cmd.Stdin = bytes.NewReader(bytes.Join(frames, nil))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg libsvtav1: %v\n%s", err, out)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lrStatsJSON is a stats.json as LeRobot's aggregate_stats writes it for the fixture's
// numeric and camera features (without quantiles, as datasets made before they existed).
func lrStatsJSON(o lrOptions) string {
	vec := func(n int) string {
		return fmt.Sprintf(`{"min": %s, "max": %s, "mean": %s, "std": %s, "count": [45]}`,
			lrNums(n, 0), lrNums(n, 2), lrNums(n, 1), lrNums(n, 0.5))
	}
	img := `{"min": [[[0.0]], [[0.0]], [[0.0]]], "max": [[[1.0]], [[1.0]], [[1.0]]], "mean": [[[0.5]], [[0.5]], [[0.5]]], "std": [[[0.2]], [[0.2]], [[0.2]]], "count": [45]}`
	s := `{"action": ` + vec(6) + `, "observation.state": ` + vec(6) + `, "observation.images.front": ` + img +
		`, "next.reward": ` + vec(1) + `, "next.done": ` + vec(1)
	if !o.plain {
		s += `, "observation.velocity": ` + vec(2) + `, "observation.grid": ` + vec(6) + `, "observation.images.top": ` + img
	}
	for _, k := range []string{"timestamp", "frame_index", "episode_index", "index", "task_index"} {
		s += `, "` + k + `": ` + vec(1)
	}
	return s + "}"
}

func lrNums(n int, v float64) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprint(v)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// writeLeRobotDataset writes the fixture dataset into dir.
func writeLeRobotDataset(t *testing.T, dir string, o lrOptions) {
	t.Helper()
	total := 0
	for _, n := range lrLengths {
		total += n
	}
	var frames [][][]byte
	for e, n := range lrLengths {
		var f [][]byte
		for k := 0; k < n; k++ {
			f = append(f, lrFrame(e, k))
		}
		frames = append(frames, f)
	}
	schema := lrDataSchema(o)
	if o.legacy {
		info := fmt.Sprintf(`{
    "codebase_version": "v2.1", "robot_type": "so100", "total_episodes": %d, "total_frames": %d, "total_tasks": 2,
    "total_videos": %d, "total_chunks": 1, "chunks_size": 1000, "fps": %d, "splits": {"train": "0:%d"},
    "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
    "video_path": "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
    "features": {%s}
}`, len(lrLengths), total, len(lrLengths), lrFPS, len(lrLengths), lrFeatures(o))
		writeFile(t, filepath.Join(dir, InfoPath), info)
		var eps, stats strings.Builder
		from := int64(0)
		for e, n := range lrLengths {
			fmt.Fprintf(&eps, `{"episode_index": %d, "tasks": [%q], "length": %d}`+"\n", e, lrTasks[e%2], n)
			fmt.Fprintf(&stats, `{"episode_index": %d, "stats": {"observation.state": {"min": %s, "max": %s, "mean": %s, "std": %s, "count": [%d]}}}`+"\n",
				e, lrNums(6, 0), lrNums(6, 2), lrNums(6, 1), lrNums(6, 0.5), n)
			w, done := lrWriter(t, filepath.Join(dir, fmt.Sprintf("data/chunk-000/episode_%06d.parquet", e)), schema, "huggingface", lrHFMeta)
			lrWrite(t, w, lrRows(t, o, e, from))
			done()
			lrEncode(t, filepath.Join(dir, fmt.Sprintf("videos/chunk-000/observation.images.front/episode_%06d.mp4", e)), frames[e])
			from += int64(n)
		}
		writeFile(t, filepath.Join(dir, "meta/episodes.jsonl"), eps.String())
		writeFile(t, filepath.Join(dir, "meta/episodes_stats.jsonl"), stats.String())
		writeFile(t, filepath.Join(dir, "meta/tasks.jsonl"), fmt.Sprintf("{\"task_index\": 0, \"task\": %q}\n{\"task_index\": 1, \"task\": %q}\n", lrTasks[0], lrTasks[1]))
		return
	}

	// DatasetInfo.to_dict's key order.
	info := fmt.Sprintf(`{
    "codebase_version": "v3.0",
    "fps": %d,
    "features": {%s},
    "total_episodes": %d, "total_frames": %d, "total_tasks": 2,
    "chunks_size": 1000, "data_files_size_in_mb": 100, "video_files_size_in_mb": 200,
    "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
    "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
    "robot_type": "so100",
    "splits": {"train": "0:%d"}
}`, lrFPS, lrFeatures(o), len(lrLengths), total, len(lrLengths))
	writeFile(t, filepath.Join(dir, InfoPath), info)
	writeFile(t, filepath.Join(dir, StatsPath), lrStatsJSON(o))

	// Data: one row group per episode.
	w, done := lrWriter(t, filepath.Join(dir, "data/chunk-000/file-000.parquet"), schema, "huggingface", lrHFMeta)
	from := int64(0)
	for e := range lrLengths {
		lrWrite(t, w, lrRows(t, o, e, from))
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		from += int64(lrLengths[e])
	}
	done()

	// Episodes: both rows in one row group (LeRobot buffers episode metadata).
	opt := func(n parquet.Node) parquet.Node { return parquet.Optional(n) }
	i64, dbl := opt(parquet.Int(64)), opt(parquet.Leaf(parquet.DoubleType))
	list := func(n parquet.Node) parquet.Node { return opt(parquet.List(n)) }
	eg := parquet.Group{"episode_index": i64, "tasks": list(opt(parquet.String())), "length": i64,
		"data/chunk_index": i64, "data/file_index": i64, "dataset_from_index": i64, "dataset_to_index": i64,
		"meta/episodes/chunk_index": i64, "meta/episodes/file_index": i64}
	v := "videos/observation.images.front/"
	eg[v+"chunk_index"], eg[v+"file_index"], eg[v+"from_timestamp"], eg[v+"to_timestamp"] = i64, i64, dbl, dbl
	for _, sk := range []string{"min", "max", "mean", "std"} {
		eg["stats/observation.state/"+sk] = list(dbl)
		eg["stats/observation.images.front/"+sk] = list(list(list(dbl)))
	}
	eg["stats/observation.state/count"] = list(i64)
	eg["stats/observation.images.front/count"] = list(i64)
	ew, edone := lrWriter(t, filepath.Join(dir, "meta/episodes/chunk-000/file-000.parquet"), parquet.NewSchema("schema", eg))
	var erows []map[string]any
	from = 0
	for e, n := range lrLengths {
		start := float64(from) / lrFPS
		r := map[string]any{"episode_index": int64(e), "tasks": []string{lrTasks[e%2]}, "length": int64(n),
			"data/chunk_index": int64(0), "data/file_index": int64(0), "dataset_from_index": from, "dataset_to_index": from + int64(n),
			"meta/episodes/chunk_index": int64(0), "meta/episodes/file_index": int64(0),
			v + "chunk_index": int64(0), v + "file_index": int64(0), v + "from_timestamp": start, v + "to_timestamp": start + float64(n)/lrFPS,
			"stats/observation.state/count": []int64{int64(n)}, "stats/observation.images.front/count": []int64{int64(n)}}
		for _, sk := range []string{"min", "max", "mean", "std"} {
			r["stats/observation.state/"+sk] = []float64{0, 1, 2, 3, 4, 5}
			r["stats/observation.images.front/"+sk] = [][][]float64{{{0.5}}, {{0.5}}, {{0.5}}}
		}
		erows = append(erows, r)
		from += int64(n)
	}
	lrWrite(t, ew, erows)
	edone()

	// Tasks: pandas' to_parquet of a DataFrame indexed by task.
	tw, tdone := lrWriter(t, filepath.Join(dir, TasksPath), parquet.NewSchema("schema", parquet.Group{"task_index": i64, "task": opt(parquet.String())}),
		"pandas", `{"index_columns": ["task"], "column_indexes": [{"name": null, "field_name": null, "pandas_type": "unicode", "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}], "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64", "metadata": null}, {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": null}], "creator": {"library": "pyarrow", "version": "17.0.0"}, "pandas_version": "2.2.2"}`)
	lrWrite(t, tw, []map[string]any{{"task_index": int64(0), "task": lrTasks[0]}, {"task_index": int64(1), "task": lrTasks[1]}})
	tdone()

	lrEncode(t, filepath.Join(dir, "videos/observation.images.front/chunk-000/file-000.mp4"), append(append([][]byte(nil), frames[0]...), frames[1]...))
}

func needSVTAV1(t *testing.T) {
	out, err := exec.Command(ffmpeg, "-hide_banner", "-encoders").Output()
	if err != nil || !bytes.Contains(out, []byte("libsvtav1")) {
		t.Skip("ffmpeg without libsvtav1 (Debian's ffmpeg has it)")
	}
}

// checkLeRobotEpisodes reads the fixture's episodes back: values bit for bit, columns
// robotd does not read (image, language) skipped, videos decoded.
func checkLeRobotEpisodes(t *testing.T, ds *Dataset, o lrOptions) {
	t.Helper()
	if len(ds.Episodes) != len(lrLengths) || strings.Join(ds.Tasks, "|") != strings.Join(lrTasks, "|") || ds.Info.RobotType != "so100" {
		t.Fatalf("%d episodes, tasks %q, robot %q", len(ds.Episodes), ds.Tasks, ds.Info.RobotType)
	}
	for e, n := range lrLengths {
		d, err := ds.Episode(e)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.State) != n || len(d.Action) != n || d.Meta.Tasks[0] != lrTasks[e%2] || d.TaskIndex[0] != int64(e%2) {
			t.Fatalf("episode %d: %d state rows, %d action rows, tasks %q; want %d", e, len(d.State), len(d.Action), d.Meta.Tasks, n)
		}
		for k := 0; k < n; k++ {
			for j := 0; j < 6; j++ {
				if d.Action[k][j] != lrValue(e, k, j) || d.State[k][j] != lrValue(e, k, j+100) {
					t.Fatalf("episode %d frame %d dim %d: action %v state %v", e, k, j, d.Action[k][j], d.State[k][j])
				}
			}
			if d.Timestamp[k] != float32(k)/lrFPS || d.FrameIndex[k] != int64(k) || d.Index[k] != d.Meta.From+int64(k) ||
				d.Vectors[KeyReward][k][0] != float32(k)/10 || (d.Vectors[KeyDone][k][0] == 1) != (k == n-1) {
				t.Fatalf("episode %d frame %d: timestamp %v frame_index %d index %d reward %v done %v", e, k, d.Timestamp[k], d.FrameIndex[k], d.Index[k], d.Vectors[KeyReward][k], d.Vectors[KeyDone][k])
			}
			if !o.plain {
				v, g := d.Vectors["observation.velocity"][k], d.Vectors["observation.grid"][k]
				if len(v) != 2 || v[0] != lrValue(e, k, 200) || v[1] != -lrValue(e, k, 201) || len(g) != 6 || g[4] != lrValue(e, k, 304) {
					t.Fatalf("episode %d frame %d: velocity %v grid %v", e, k, v, g)
				}
			}
		}
		if !o.plain {
			if _, ok := d.Vectors["observation.images.top"]; ok {
				t.Error("the image feature was read as a vector")
			}
			if _, ok := d.Vectors["language_persistent"]; ok {
				t.Error("the language feature was read as a vector")
			}
		}
		r, err := ds.OpenVideo(e, "observation.images.front")
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < n; k++ {
			img, err := r.Next()
			if err != nil {
				t.Fatalf("episode %d: %v", e, err)
			}
			if diff := meanAbsDiff(img, lrFrame(e, k)); diff > 6 {
				t.Fatalf("episode %d frame %d: decoded image differs from the encoded one by %.1f on average (another frame?)", e, k, diff)
			}
		}
		r.Close()
	}
}

func meanAbsDiff(a, b []byte) float64 {
	var s float64
	for i := range a {
		s += math.Abs(float64(a[i]) - float64(b[i]))
	}
	return s / float64(len(a))
}

// robotd reads a v3.0 dataset laid out as LeRobot writes it: nullable columns, lists
// (from fixed_size_list) with dictionary-encoded elements, float64 and 2-D features, an
// inline image column and a language column (skipped), pandas' tasks table, AV1 videos
// with two episodes in one file. DuckDB reads the same files with the types pyarrow
// gives them, which checks the fixture itself.
func TestReadsLeRobotV30(t *testing.T) {
	needSVTAV1(t)
	dir := filepath.Join(t.TempDir(), "lerobot")
	o := lrOptions{}
	writeLeRobotDataset(t, dir, o)
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Stats == nil || len(ds.Stats.Get(KeyState).Mean) != 6 {
		t.Fatalf("stats.json: %+v", ds.Stats)
	}
	checkLeRobotEpisodes(t, ds, o)

	r := duckdb(t, dir, lrFPS)
	want := map[string]map[string]string{
		"data/chunk-000/file-000.parquet": {"observation.state": "FLOAT[]", "action": "FLOAT[]", "observation.velocity": "DOUBLE[]",
			"observation.grid": "FLOAT[][]", "observation.images.top": "STRUCT(bytes BLOB, path VARCHAR)", "next.done": "BOOLEAN",
			"timestamp": "FLOAT", "index": "BIGINT"},
		"meta/episodes/chunk-000/file-000.parquet": {"tasks": "VARCHAR[]", "stats/observation.images.front/mean": "DOUBLE[][][]",
			"videos/observation.images.front/from_timestamp": "DOUBLE"},
		TasksPath: {"task_index": "BIGINT", "task": "VARCHAR"},
	}
	for _, f := range r.Files {
		have := map[string]string{}
		for _, c := range f.Columns {
			have[c[0]] = c[1]
		}
		for col, typ := range want[f.Path] {
			if have[col] != typ {
				t.Errorf("duckdb: %s: %s is %q, want %q", f.Path, col, have[col], typ)
			}
		}
		if !strings.HasPrefix(have["language_persistent"], "STRUCT(") && f.Path == "data/chunk-000/file-000.parquet" {
			t.Errorf("duckdb: language_persistent is %q, want a list of structs", have["language_persistent"])
		}
	}
	if len(r.Data) != 2 || len(r.Tasks) != 2 {
		t.Errorf("duckdb: %d episodes in the data, %d tasks", len(r.Data), len(r.Tasks))
	}
}

// robotd appends to a LeRobot v3.0 dataset without rewriting LeRobot's files: the next
// episode starts new data and video files (LeRobot's parquet schema and AV1 video are
// not robotd's), and the whole dataset reads back.
func TestAppendsToLeRobotV30(t *testing.T) {
	needSVTAV1(t)
	dir := filepath.Join(t.TempDir(), "lerobot")
	o := lrOptions{plain: true}
	writeLeRobotDataset(t, dir, o)
	before := snapshot(t, dir)
	names := []string{"shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"}
	spec := Spec{RobotType: "so100", FPS: lrFPS, State: FeatureSpec{Names: names}, Action: FeatureSpec{Names: names},
		Cameras: []CameraSpec{{Key: "observation.images.front", Width: lrSize, Height: lrSize}}, Reward: true, Done: true}
	w, err := OpenAppend(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	added := recordEpisodes(t, w, 5, 15)
	w.Close()
	after := snapshot(t, dir)
	for p, h := range before {
		rel, _ := filepath.Rel(dir, p)
		if after[p] != h && !strings.HasPrefix(rel, "meta/") {
			t.Errorf("%s (LeRobot's) was rewritten", rel)
		}
	}
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkLeRobotEpisodes(t, &Dataset{Dir: ds.Dir, Info: ds.Info, Tasks: ds.Tasks[:2], Episodes: ds.Episodes[:2]}, o)
	e := ds.Episodes[2]
	if ds.DataPath(e) != "data/chunk-000/file-001.parquet" || ds.VideoPath(e, "observation.images.front") != "videos/observation.images.front/chunk-000/file-001.mp4" {
		t.Errorf("appended episode in %s and %s, want the next files", ds.DataPath(e), ds.VideoPath(e, "observation.images.front"))
	}
	checkEpisodes(t, dir, 2, added)
}

// robotd reads LeRobot's v2.1 layout (one data file and one video per episode, JSON-lines
// metadata), and refuses to append to it, naming the version and LeRobot's converter.
func TestReadsLeRobotV21(t *testing.T) {
	needSVTAV1(t)
	dir := filepath.Join(t.TempDir(), "lerobot21")
	o := lrOptions{legacy: true}
	writeLeRobotDataset(t, dir, o)
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !ds.Info.Legacy() || ds.Stats != nil {
		t.Errorf("legacy %v, stats %v", ds.Info.Legacy(), ds.Stats)
	}
	if p := ds.DataPath(ds.Episodes[1]); p != "data/chunk-000/episode_000001.parquet" {
		t.Errorf("episode 1 data in %s", p)
	}
	if p := ds.VideoPath(ds.Episodes[1], "observation.images.front"); p != "videos/chunk-000/observation.images.front/episode_000001.mp4" {
		t.Errorf("episode 1 video in %s", p)
	}
	checkLeRobotEpisodes(t, ds, o)

	before := snapshot(t, dir)
	_, err = OpenAppend(dir, testSpec())
	if err == nil || !strings.Contains(err.Error(), `codebase_version "v2.1"`) || !strings.Contains(err.Error(), "convert_dataset_v21_to_v30") {
		t.Errorf("append to v2.1: %v", err)
	}
	sameSnapshot(t, before, snapshot(t, dir))

	// Broken v2.1 metadata is named.
	for _, tc := range []struct {
		file, content, want string
	}{
		{"meta/episodes.jsonl", `{"episode_index": 0, "tasks": ["x"], "length": 20}` + "\n", "meta/episodes.jsonl has 1 episodes and 20 frames, info.json says 2 and 45"},
		{"meta/episodes.jsonl", "{not json\n", "meta/episodes.jsonl line 1"},
		{"meta/tasks.jsonl", `{"task_index": 3, "task": "x"}` + "\n", "tasks.jsonl line 1"},
	} {
		bad := filepath.Join(t.TempDir(), "bad")
		os.CopyFS(bad, os.DirFS(dir))
		writeFile(t, filepath.Join(bad, tc.file), tc.content)
		if _, err := Open(bad); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: %v, want an error saying %q", tc.file, tc.content, err, tc.want)
		}
	}
	// v2.0 is not read.
	v20 := filepath.Join(t.TempDir(), "v20")
	os.CopyFS(v20, os.DirFS(dir))
	b, _ := os.ReadFile(filepath.Join(v20, InfoPath))
	writeFile(t, filepath.Join(v20, InfoPath), strings.Replace(string(b), `"v2.1"`, `"v2.0"`, 1))
	if _, err := Open(v20); err == nil || !strings.Contains(err.Error(), `codebase_version "v2.0"`) || !strings.Contains(err.Error(), "convert_dataset_v20_to_v21") {
		t.Errorf("v2.0: %v", err)
	}
}
