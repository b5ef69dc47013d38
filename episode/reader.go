package episode

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// VideoRef locates an episode's frames inside a shared mp4 file.
type VideoRef struct {
	Chunk, File int
	// From and To are the episode's first frame time and end time in the file, seconds.
	From, To float64
}

// EpisodeMeta is one row of meta/episodes.
type EpisodeMeta struct {
	Index               int
	Tasks               []string
	Length              int
	DataChunk, DataFile int
	// From and To are the episode's global frame indices [From, To) (column index).
	From, To            int64
	Videos              map[string]VideoRef
	MetaChunk, MetaFile int
	metaPath            string
}

// Dataset is a LeRobotDataset opened for reading: v3.0, or v2.1 (Info.Legacy).
type Dataset struct {
	Dir      string
	Info     *Info
	Tasks    []string // by task_index
	Episodes []EpisodeMeta
	Stats    *Stats // meta/stats.json; nil when absent
}

// Open reads a dataset's metadata: info.json, tasks, the episodes table and stats.
// It writes nothing; a dataset whose last commit was interrupted is reported (open it
// with OpenAppend to finish it). A v2.1 dataset (LeRobot's previous layout: one data
// parquet and one mp4 per episode, meta/episodes.jsonl, meta/tasks.jsonl) is read too,
// without its stats (Stats nil); robotd does not append to it.
func Open(dir string) (*Dataset, error) {
	if _, err := os.Stat(filepath.Join(dir, journalPath)); err == nil {
		return nil, fmt.Errorf("episode: %s: an episode commit was interrupted (%s exists); OpenAppend completes it", dir, journalPath)
	}
	in, err := readInfo(dir)
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Dir: dir, Info: in}
	if in.Legacy() {
		if ds.Tasks, err = readLegacyTasks(dir, in); err != nil {
			return nil, err
		}
		if ds.Episodes, err = readLegacyEpisodes(dir, in); err != nil {
			return nil, err
		}
		return ds, nil
	}
	if ds.Tasks, err = readTasks(dir, in); err != nil {
		return nil, err
	}
	if ds.Episodes, err = readEpisodes(dir, in); err != nil {
		return nil, err
	}
	if ds.Stats, err = readStats(dir, in); err != nil {
		return nil, err
	}
	return ds, nil
}

func readStats(dir string, in *Info) (*Stats, error) {
	path := filepath.Join(dir, StatsPath)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("episode: %w", err)
	}
	st, err := parseStats(b, in)
	if err != nil {
		return nil, fmt.Errorf("episode: %s: %w", path, err)
	}
	return st, nil
}

func readTasks(dir string, in *Info) ([]string, error) {
	path := filepath.Join(dir, TasksPath)
	if in.TotalTasks == 0 {
		if _, err := os.Stat(path); err != nil {
			return nil, nil
		}
	}
	t, err := readTable(path, nil)
	if err != nil {
		return nil, fmt.Errorf("episode: tasks: %w", err)
	}
	col := "task"
	if !t.has(col) {
		col = "__index_level_0__" // pandas index without a name
	}
	if !t.has(col) || !t.has("task_index") {
		return nil, fmt.Errorf("episode: %s: want columns task and task_index, have %v", path, t.cols)
	}
	tasks := make([]string, len(t.rows))
	for i := range t.rows {
		idx, ok := valInt(t.cell(i, "task_index"))
		s := valStrings(t.cell(i, col))
		if !ok || idx < 0 || int(idx) >= len(tasks) || len(s) != 1 || tasks[idx] != "" {
			return nil, fmt.Errorf("episode: %s: row %d: bad task or task_index", path, i)
		}
		tasks[idx] = s[0]
	}
	if len(tasks) != in.TotalTasks {
		return nil, fmt.Errorf("episode: %s: %d tasks, info.json says total_tasks %d", path, len(tasks), in.TotalTasks)
	}
	return tasks, nil
}

// readEpisodes reads every meta/episodes file, checks the rows against info.json and
// each other, and returns them by episode index.
func readEpisodes(dir string, in *Info) ([]EpisodeMeta, error) {
	paths, _ := filepath.Glob(filepath.Join(dir, "meta", "episodes", "*", "*.parquet"))
	sort.Strings(paths)
	var eps []EpisodeMeta
	for _, p := range paths {
		t, err := readTable(p, nil)
		if err != nil {
			return nil, fmt.Errorf("episode: episodes: %w", err)
		}
		rel, _ := filepath.Rel(dir, p)
		for _, c := range []string{"episode_index", "length", "data/chunk_index", "data/file_index", "dataset_from_index", "dataset_to_index"} {
			if !t.has(c) {
				return nil, fmt.Errorf("episode: %s: no column %q", rel, c)
			}
		}
		for i := range t.rows {
			get := func(c string) int64 {
				v, ok := valInt(t.cell(i, c))
				if !ok {
					err = fmt.Errorf("episode: %s: row %d: column %q: want one integer", rel, i, c)
				}
				return v
			}
			e := EpisodeMeta{Index: int(get("episode_index")), Length: int(get("length")),
				DataChunk: int(get("data/chunk_index")), DataFile: int(get("data/file_index")),
				From: get("dataset_from_index"), To: get("dataset_to_index"), metaPath: rel,
				Tasks: valStrings(t.cell(i, "tasks"))}
			if t.has("meta/episodes/chunk_index") {
				e.MetaChunk, e.MetaFile = int(get("meta/episodes/chunk_index")), int(get("meta/episodes/file_index"))
			}
			for _, k := range in.VideoKeys() {
				p := "videos/" + k + "/"
				if !t.has(p + "chunk_index") {
					return nil, fmt.Errorf("episode: %s: no columns for video %q", rel, k)
				}
				if e.Videos == nil {
					e.Videos = map[string]VideoRef{}
				}
				from, to := t.cell(i, p+"from_timestamp"), t.cell(i, p+"to_timestamp")
				if len(from) != 1 || len(to) != 1 {
					return nil, fmt.Errorf("episode: %s: row %d: video %q timestamps missing", rel, i, k)
				}
				e.Videos[k] = VideoRef{Chunk: int(get(p + "chunk_index")), File: int(get(p + "file_index")),
					From: valFloat(from[0]), To: valFloat(to[0])}
			}
			if err != nil {
				return nil, err
			}
			eps = append(eps, e)
		}
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].Index < eps[j].Index })
	var next int64
	for i, e := range eps {
		if e.Index != i {
			return nil, fmt.Errorf("episode: %s: episode %d where %d was expected (missing or duplicate episode)", e.metaPath, e.Index, i)
		}
		if e.From != next || e.To-e.From != int64(e.Length) {
			return nil, fmt.Errorf("episode: %s: episode %d: frames [%d, %d) length %d, want to start at %d", e.metaPath, i, e.From, e.To, e.Length, next)
		}
		next = e.To
	}
	if len(eps) != in.TotalEpisodes || next != int64(in.TotalFrames) {
		return nil, fmt.Errorf("episode: %s: meta/episodes has %d episodes and %d frames, info.json says %d and %d",
			dir, len(eps), next, in.TotalEpisodes, in.TotalFrames)
	}
	return eps, nil
}

// DataPath returns the episode's data file, relative to the dataset root.
func (ds *Dataset) DataPath(e EpisodeMeta) string {
	if ds.Info.Legacy() {
		return formatTemplate(ds.Info.DataPath, "", map[string]int{"episode_chunk": e.DataChunk, "episode_index": e.Index})
	}
	return formatPath(ds.Info.DataPath, "", e.DataChunk, e.DataFile)
}

// VideoPath returns the file holding an episode's frames of a camera, relative to the
// dataset root.
func (ds *Dataset) VideoPath(e EpisodeMeta, key string) string {
	v := e.Videos[key]
	if ds.Info.Legacy() {
		return formatTemplate(ds.Info.VideoPath, key, map[string]int{"episode_chunk": v.Chunk, "episode_index": e.Index})
	}
	return formatPath(ds.Info.VideoPath, key, v.Chunk, v.File)
}

// numericDtype reports whether a feature of this dtype is read into EpisodeData.Vectors
// (others, such as image, video, string and LeRobot's language columns, are not).
func numericDtype(dtype string) bool {
	switch dtype {
	case "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool":
		return true
	}
	return false
}

// EpisodeData is one episode's table: one entry per frame.
type EpisodeData struct {
	Meta       EpisodeMeta
	Timestamp  []float32 // seconds from the episode start
	FrameIndex []int64
	Index      []int64
	TaskIndex  []int64
	// State and Action alias Vectors[KeyState] and Vectors[KeyAction].
	State, Action [][]float32
	// Vectors holds every numeric and bool feature of the data table other than the
	// index features, per frame (bools as 0 and 1, multi-dimensional shapes flattened),
	// by feature key.
	Vectors map[string][][]float32
}

// Episode reads episode i's rows from its data file.
func (ds *Dataset) Episode(i int) (*EpisodeData, error) {
	if i < 0 || i >= len(ds.Episodes) {
		return nil, fmt.Errorf("episode: %s: episode %d out of range [0, %d)", ds.Dir, i, len(ds.Episodes))
	}
	e := ds.Episodes[i]
	rel := ds.DataPath(e)
	t, err := readTable(filepath.Join(ds.Dir, rel), func(cells [][]parquet.Value, index map[string]int) bool {
		c, ok := index[KeyEpisodeIndex]
		if !ok {
			return true
		}
		v, _ := valInt(cells[c])
		return v == int64(i)
	})
	if err != nil {
		return nil, fmt.Errorf("episode: episode %d: %w", i, err)
	}
	if len(t.rows) != e.Length {
		return nil, fmt.Errorf("episode: %s: episode %d has %d rows, meta/episodes says %d", rel, i, len(t.rows), e.Length)
	}
	d := &EpisodeData{Meta: e, Vectors: map[string][][]float32{}}
	var missing []string
	for _, f := range ds.Info.Features {
		if !numericDtype(f.Dtype) {
			continue
		}
		if !t.has(f.Key) {
			missing = append(missing, f.Key)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("episode: %s: columns %s missing (declared in %s)", rel, strings.Join(missing, ", "), InfoPath)
	}
	flat := make([]float32, 0, 64)
	for r := range t.rows {
		for _, f := range ds.Info.Features {
			if !numericDtype(f.Dtype) {
				continue
			}
			cell := t.cell(r, f.Key)
			switch f.Key {
			case KeyTimestamp:
				d.Timestamp = append(d.Timestamp, valFloat32s(cell, flat[:0])...)
				continue
			case KeyFrameIndex, KeyIndex, KeyTaskIndex, KeyEpisodeIndex:
				v, _ := valInt(cell)
				switch f.Key {
				case KeyFrameIndex:
					d.FrameIndex = append(d.FrameIndex, v)
				case KeyIndex:
					d.Index = append(d.Index, v)
				case KeyTaskIndex:
					d.TaskIndex = append(d.TaskIndex, v)
				}
				continue
			}
			if len(cell) != f.Dim() {
				return nil, fmt.Errorf("episode: %s: episode %d row %d: %s has %d values, want %d", rel, i, r, f.Key, len(cell), f.Dim())
			}
			d.Vectors[f.Key] = append(d.Vectors[f.Key], valFloat32s(cell, make([]float32, 0, len(cell))))
		}
	}
	d.State, d.Action = d.Vectors[KeyState], d.Vectors[KeyAction]
	return d, nil
}

// OpenVideo starts decoding episode i's frames of a camera (through ffmpeg, to RGB24);
// close the reader when done.
func (ds *Dataset) OpenVideo(i int, key string) (*VideoReader, error) {
	if i < 0 || i >= len(ds.Episodes) {
		return nil, fmt.Errorf("episode: %s: episode %d out of range [0, %d)", ds.Dir, i, len(ds.Episodes))
	}
	f, ok := ds.Info.Feature(key)
	if !ok || !f.IsVideo() || len(f.Shape) != 3 {
		return nil, fmt.Errorf("episode: %s: no video feature %q (have %v)", ds.Dir, key, ds.Info.VideoKeys())
	}
	e := ds.Episodes[i]
	h, w := f.Shape[0], f.Shape[1]
	if names := f.Names; len(names) == 3 && names[0] == "channels" { // (C, H, W) in some v2 datasets
		h, w = f.Shape[1], f.Shape[2]
	}
	return openVideo(filepath.Join(ds.Dir, ds.VideoPath(e, key)), e.Videos[key].From, ds.Info.FPS, e.Length, w, h)
}

// readJSONLines reads a JSON-lines file (LeRobot v2.1's meta/*.jsonl) into one value per
// non-empty line.
func readJSONLines[T any](path string) ([]T, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []T
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// readLegacyTasks reads v2.1's meta/tasks.jsonl ({"task_index": 0, "task": "..."}).
func readLegacyTasks(dir string, in *Info) ([]string, error) {
	path := filepath.Join(dir, "meta", "tasks.jsonl")
	rows, err := readJSONLines[struct {
		TaskIndex *int    `json:"task_index"`
		Task      *string `json:"task"`
	}](path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && in.TotalTasks == 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("episode: tasks: %w", err)
	}
	tasks := make([]string, len(rows))
	seen := make([]bool, len(rows))
	for i, r := range rows {
		if r.TaskIndex == nil || r.Task == nil || *r.TaskIndex < 0 || *r.TaskIndex >= len(tasks) || seen[*r.TaskIndex] {
			return nil, fmt.Errorf("episode: %s line %d: want a unique task_index in [0, %d) and a task", path, i+1, len(tasks))
		}
		tasks[*r.TaskIndex], seen[*r.TaskIndex] = *r.Task, true
	}
	if len(tasks) != in.TotalTasks {
		return nil, fmt.Errorf("episode: %s: %d tasks, info.json says total_tasks %d", path, len(tasks), in.TotalTasks)
	}
	return tasks, nil
}

// readLegacyEpisodes reads v2.1's meta/episodes.jsonl ({"episode_index", "tasks",
// "length"}): episode i's data is in data_path with episode_chunk i / chunks_size, each
// video holds that episode alone, from time 0.
func readLegacyEpisodes(dir string, in *Info) ([]EpisodeMeta, error) {
	rel := filepath.Join("meta", "episodes.jsonl")
	rows, err := readJSONLines[struct {
		Index  *int     `json:"episode_index"`
		Tasks  []string `json:"tasks"`
		Length *int     `json:"length"`
	}](filepath.Join(dir, rel))
	if err != nil {
		return nil, fmt.Errorf("episode: episodes: %w", err)
	}
	eps := make([]EpisodeMeta, 0, len(rows))
	for i, r := range rows {
		if r.Index == nil || r.Length == nil || *r.Length < 0 {
			return nil, fmt.Errorf("episode: %s line %d: want episode_index and a length", rel, i+1)
		}
		eps = append(eps, EpisodeMeta{Index: *r.Index, Tasks: r.Tasks, Length: *r.Length, metaPath: rel})
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].Index < eps[j].Index })
	var next int64
	for i := range eps {
		e := &eps[i]
		if e.Index != i {
			return nil, fmt.Errorf("episode: %s: episode %d where %d was expected (missing or duplicate episode)", rel, e.Index, i)
		}
		e.DataChunk, e.DataFile = i/in.ChunksSize, i
		e.From, e.To = next, next+int64(e.Length)
		next = e.To
		for _, k := range in.VideoKeys() {
			if e.Videos == nil {
				e.Videos = map[string]VideoRef{}
			}
			e.Videos[k] = VideoRef{Chunk: e.DataChunk, File: i, From: 0, To: float64(e.Length) / float64(in.FPS)}
		}
	}
	if len(eps) != in.TotalEpisodes || next != int64(in.TotalFrames) {
		return nil, fmt.Errorf("episode: %s: %s has %d episodes and %d frames, info.json says %d and %d",
			dir, rel, len(eps), next, in.TotalEpisodes, in.TotalFrames)
	}
	return eps, nil
}
