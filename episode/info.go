package episode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Paths of the LeRobot v3.0 layout, relative to the dataset root.
const (
	InfoPath         = "meta/info.json"
	StatsPath        = "meta/stats.json"
	TasksPath        = "meta/tasks.parquet"
	defaultDataPath  = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
	defaultVideoPath = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
	episodesPathFmt  = "meta/episodes/chunk-%03d/file-%03d.parquet"
)

// ErrVersion is wrapped by the error for a dataset of another format version.
var ErrVersion = errors.New("unsupported LeRobotDataset version")

// Feature is one entry of info.json's features.
type Feature struct {
	Key   string
	Dtype string // float32, float64, int64, bool, video, image, string, ...
	Shape []int
	// Names names the dimensions (flattened when info.json has them as a dict); nil when null.
	Names []string
	// VideoInfo is the feature's "info" object for videos (video.codec, video.fps, ...).
	VideoInfo map[string]any

	raw   json.RawMessage // as read, written back unchanged
	video *CameraSpec     // set for features robotd creates
	fps   int
	vspec VideoSpec
}

// IsVideo reports whether the feature is stored as mp4 video.
func (f Feature) IsVideo() bool { return f.Dtype == "video" }

// Dim is the number of values per frame (the product of Shape).
func (f Feature) Dim() int {
	n := 1
	for _, d := range f.Shape {
		n *= d
	}
	return n
}

func (f Feature) MarshalJSON() ([]byte, error) {
	if f.raw != nil {
		return f.raw, nil
	}
	var o object
	o.set("dtype", f.Dtype)
	o.set("shape", f.Shape)
	o.set("names", f.Names)
	if f.video != nil {
		var vi object
		vi.set("video.height", f.video.Height)
		vi.set("video.width", f.video.Width)
		vi.set("video.codec", "h264")
		vi.set("video.pix_fmt", "yuv420p")
		vi.set("video.fps", f.fps)
		vi.set("video.channels", 3)
		vi.set("video.g", f.vspec.GOP)
		vi.set("video.crf", f.vspec.CRF)
		vi.set("video.preset", f.vspec.Preset)
		extra := map[string]string{}
		if f.vspec.Tune != "" && f.vspec.Tune != "none" {
			extra["tune"] = f.vspec.Tune
		}
		vi.set("video.fast_decode", 0)
		vi.set("video.extra_options", extra)
		vi.set("has_audio", false)
		vi.set("is_depth_map", false)
		o.set("info", vi)
	}
	return json.Marshal(o)
}

func parseFeature(key string, raw json.RawMessage) (Feature, error) {
	var v struct {
		Dtype string          `json:"dtype"`
		Shape []int           `json:"shape"`
		Names json.RawMessage `json:"names"`
		Info  map[string]any  `json:"info"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return Feature{}, fmt.Errorf("feature %q: %w", key, err)
	}
	if v.Dtype == "" || len(v.Shape) == 0 {
		return Feature{}, fmt.Errorf("feature %q: want dtype and shape", key)
	}
	f := Feature{Key: key, Dtype: v.Dtype, Shape: v.Shape, VideoInfo: v.Info, raw: append(json.RawMessage(nil), raw...)}
	f.Names = flattenNames(v.Names)
	return f, nil
}

// flattenNames accepts names as null, a list of strings, or a dict of lists (LeRobot v2
// datasets wrote {"motors": [...]}).
func flattenNames(raw json.RawMessage) []string {
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	var dict object
	if json.Unmarshal(raw, &dict) == nil {
		for _, k := range dict.keys {
			var l []string
			if json.Unmarshal(dict.vals[k], &l) == nil {
				list = append(list, l...)
			}
		}
	}
	return list
}

// Info is meta/info.json. Fields robotd does not know are kept and written back.
type Info struct {
	CodebaseVersion    string
	RobotType          string
	FPS                int
	Features           []Feature
	TotalEpisodes      int
	TotalFrames        int
	TotalTasks         int
	ChunksSize         int
	DataFilesSizeInMB  int
	VideoFilesSizeInMB int
	DataPath           string
	VideoPath          string // empty when the dataset has no videos

	raw object
}

// Feature returns the feature with the key, or false.
func (in *Info) Feature(key string) (Feature, bool) {
	for _, f := range in.Features {
		if f.Key == key {
			return f, true
		}
	}
	return Feature{}, false
}

// VideoKeys lists the video features in info.json order.
func (in *Info) VideoKeys() []string {
	var keys []string
	for _, f := range in.Features {
		if f.IsVideo() {
			keys = append(keys, f.Key)
		}
	}
	return keys
}

func newInfo(s Spec) *Info {
	in := &Info{
		CodebaseVersion:    CodebaseVersion,
		RobotType:          s.RobotType,
		FPS:                s.FPS,
		Features:           s.features(),
		ChunksSize:         s.ChunksSize,
		DataFilesSizeInMB:  s.DataFileMB,
		VideoFilesSizeInMB: s.VideoFileMB,
		DataPath:           defaultDataPath,
	}
	if len(s.Cameras) > 0 {
		in.VideoPath = defaultVideoPath
	}
	return in
}

// MarshalJSON writes info.json in LeRobot's key order, keeping unknown keys.
func (in *Info) MarshalJSON() ([]byte, error) {
	o := in.raw.clone()
	o.set("codebase_version", in.CodebaseVersion)
	if in.RobotType == "" {
		o.set("robot_type", nil)
	} else {
		o.set("robot_type", in.RobotType)
	}
	o.set("total_episodes", in.TotalEpisodes)
	o.set("total_frames", in.TotalFrames)
	o.set("total_tasks", in.TotalTasks)
	o.set("chunks_size", in.ChunksSize)
	o.set("data_files_size_in_mb", in.DataFilesSizeInMB)
	o.set("video_files_size_in_mb", in.VideoFilesSizeInMB)
	o.set("fps", in.FPS)
	o.set("splits", map[string]string{"train": fmt.Sprintf("0:%d", in.TotalEpisodes)})
	o.set("data_path", in.DataPath)
	if in.VideoPath == "" {
		o.set("video_path", nil)
	} else {
		o.set("video_path", in.VideoPath)
	}
	var feats object
	for _, f := range in.Features {
		feats.set(f.Key, f)
	}
	o.set("features", feats)
	return json.MarshalIndent(o, "", "    ")
}

// ReadInfo reads and checks a dataset's meta/info.json only (a quick look at its
// features before Open or OpenAppend). It accepts what Open reads (v3.0 and v2.1).
func ReadInfo(dir string) (*Info, error) { return readInfo(dir) }

// Legacy reports whether the dataset is LeRobot's v2.1 layout (one data file and one
// video per episode, meta/episodes.jsonl and meta/tasks.jsonl), which robotd reads but
// does not write.
func (in *Info) Legacy() bool { return in.CodebaseVersion == LegacyVersion }

// readWritableInfo reads dir/meta/info.json of a dataset robotd may add to: v3.0 only.
func readWritableInfo(dir string) (*Info, error) {
	in, err := readInfo(dir)
	if err != nil {
		return nil, err
	}
	if in.CodebaseVersion != CodebaseVersion {
		return nil, fmt.Errorf("episode: %s: codebase_version %q: %w (want %s; robotd reads %s datasets but writes only %s)%s",
			filepath.Join(dir, InfoPath), in.CodebaseVersion, ErrVersion, CodebaseVersion, in.CodebaseVersion, CodebaseVersion, convertHint)
	}
	return in, nil
}

const convertHint = " (convert it with python -m lerobot.scripts.convert_dataset_v21_to_v30)"

// readInfo reads and checks dir/meta/info.json (v3.0 or v2.1).
func readInfo(dir string) (*Info, error) {
	path := filepath.Join(dir, InfoPath)
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if _, err2 := os.Stat(filepath.Join(dir, "meta", "info.json")); err2 != nil {
				if legacy(dir) {
					return nil, fmt.Errorf("episode: %s: no %s: a LeRobot v1.x dataset? %w (want %s)", dir, InfoPath, ErrVersion, CodebaseVersion)
				}
			}
			return nil, fmt.Errorf("episode: %s: not a LeRobotDataset (no %s)", dir, InfoPath)
		}
		return nil, fmt.Errorf("episode: %w", err)
	}
	in, err := parseInfo(b)
	if err != nil {
		return nil, fmt.Errorf("episode: %s: %w", path, err)
	}
	return in, nil
}

func legacy(dir string) bool {
	for _, p := range []string{"meta_data/info.json", "meta_data/stats.safetensors", "train/dataset_info.json"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			return true
		}
	}
	return false
}

func parseInfo(b []byte) (*Info, error) {
	var o object
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	in := &Info{raw: o}
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(o.vals[k], &s)
		return s
	}
	num := func(k string) (int, bool) {
		var n int
		err := json.Unmarshal(o.vals[k], &n)
		return n, err == nil && o.vals[k] != nil
	}
	in.CodebaseVersion = str("codebase_version")
	switch {
	case in.CodebaseVersion == "":
		return nil, fmt.Errorf("no codebase_version (a LeRobot v1.x dataset?): %w (want %s)", ErrVersion, CodebaseVersion)
	case in.CodebaseVersion != CodebaseVersion && in.CodebaseVersion != LegacyVersion:
		hint := ""
		switch {
		case strings.HasPrefix(in.CodebaseVersion, "v2"):
			hint = " (LeRobot converts v2.0 to v2.1 with python -m lerobot.scripts.convert_dataset_v20_to_v21, then to v3.0 with convert_dataset_v21_to_v30)"
		}
		return nil, fmt.Errorf("codebase_version %q: %w (want %s, or %s to read)%s", in.CodebaseVersion, ErrVersion, CodebaseVersion, LegacyVersion, hint)
	}
	in.RobotType = str("robot_type")
	in.DataPath = str("data_path")
	in.VideoPath = str("video_path")
	var missing []string
	for _, k := range []struct {
		key string
		dst *int
	}{{"fps", &in.FPS}, {"total_episodes", &in.TotalEpisodes}, {"total_frames", &in.TotalFrames},
		{"total_tasks", &in.TotalTasks}, {"chunks_size", &in.ChunksSize},
		{"data_files_size_in_mb", &in.DataFilesSizeInMB}, {"video_files_size_in_mb", &in.VideoFilesSizeInMB}} {
		n, ok := num(k.key)
		if !ok && !(in.Legacy() && strings.HasSuffix(k.key, "_size_in_mb")) { // v2.1 has one file per episode
			missing = append(missing, k.key)
		}
		*k.dst = n
	}
	if in.DataPath == "" {
		missing = append(missing, "data_path")
	}
	var feats object
	if err := json.Unmarshal(o.vals["features"], &feats); err != nil || len(feats.keys) == 0 {
		missing = append(missing, "features")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing or malformed %s", strings.Join(missing, ", "))
	}
	if in.FPS <= 0 || in.ChunksSize <= 0 {
		return nil, fmt.Errorf("fps %d, chunks_size %d: want positive", in.FPS, in.ChunksSize)
	}
	for _, k := range feats.keys {
		f, err := parseFeature(k, feats.vals[k])
		if err != nil {
			return nil, err
		}
		in.Features = append(in.Features, f)
	}
	for _, k := range []string{KeyTimestamp, KeyFrameIndex, KeyEpisodeIndex, KeyIndex, KeyTaskIndex} {
		if _, ok := in.Feature(k); !ok {
			return nil, fmt.Errorf("feature %q missing", k)
		}
	}
	if len(in.VideoKeys()) > 0 && in.VideoPath == "" {
		return nil, fmt.Errorf("video features %v but no video_path", in.VideoKeys())
	}
	return in, nil
}

var templateField = regexp.MustCompile(`\{(\w+)(?::0?(\d+)d)?\}`)

// formatPath fills a LeRobot v3.0 path template ("{chunk_index:03d}", "{video_key}").
func formatPath(tmpl, videoKey string, chunk, file int) string {
	return formatTemplate(tmpl, videoKey, map[string]int{"chunk_index": chunk, "file_index": file})
}

// formatTemplate fills a LeRobot path template: {video_key} and the integer fields
// ("{episode_chunk:03d}", "{episode_index:06d}" in v2.1).
func formatTemplate(tmpl, videoKey string, fields map[string]int) string {
	return templateField.ReplaceAllStringFunc(tmpl, func(m string) string {
		sub := templateField.FindStringSubmatch(m)
		if sub[1] == "video_key" {
			return videoKey
		}
		n, ok := fields[sub[1]]
		if !ok {
			return m
		}
		v := strconv.Itoa(n)
		if w, _ := strconv.Atoi(sub[2]); len(v) < w {
			v = strings.Repeat("0", w-len(v)) + v
		}
		return v
	})
}

func episodesPath(chunk, file int) string { return fmt.Sprintf(episodesPathFmt, chunk, file) }

// object is a JSON object that keeps its key order.
type object struct {
	keys []string
	vals map[string]json.RawMessage
}

func (o *object) set(key string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("episode: marshal %s: %v", key, err))
	}
	if o.vals == nil {
		o.vals = map[string]json.RawMessage{}
	}
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = b
}

func (o object) clone() object {
	c := object{keys: append([]string(nil), o.keys...), vals: map[string]json.RawMessage{}}
	for k, v := range o.vals {
		c.vals[k] = v
	}
	return c
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(o.vals[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (o *object) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("want a JSON object")
	}
	o.keys, o.vals = nil, map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		k := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if _, dup := o.vals[k]; !dup {
			o.keys = append(o.keys, k)
		}
		o.vals[k] = v
	}
	_, err = dec.Token()
	return err
}
