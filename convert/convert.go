// Package convert turns recordings of a robot into a LeRobotDataset v3.0 (through
// package episode): ROS1 bags (a teleoperation session recorded with rosbag: joint
// states, commands, camera topics) and robotd's own MCAP logs (viz/mcaplog). Each input
// file becomes one episode. The topic mapping (which topic is observation.state, which is
// action, which are the cameras) comes from a Config, given as flags or a small YAML file
// (robotd convert; docs/live.md).
//
// Streams are resampled onto the dataset's frame grid by zero-order hold: frame k, at
// t0 + k/fps, holds each stream's newest message at or before it, from t0, the first time
// every stream has a message, to the last message of the input. Times are the record
// times (a bag's receive time, an MCAP message's log time).
package convert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/foxglove/mcap/go/mcap"
	"go.yaml.in/yaml/v3"

	"github.com/robotd/robotd/episode"
)

// Config is a conversion's topic mapping. Zero fields take the defaults documented on each.
type Config struct {
	// FPS is the dataset's frame rate. Default 30.
	FPS int `yaml:"fps"`
	// Task is every episode's task text. Default "teleoperation".
	Task string `yaml:"task"`
	// RobotType goes to info.json's robot_type. Default "".
	RobotType string `yaml:"robot_type"`
	// State is observation.state and Action is action. For robotd's MCAP logs they default
	// to /robotd/joint_states (positions) and /robotd/target_pose (x y z qx qy qz qw);
	// for a bag both are required.
	State  Stream `yaml:"state"`
	Action Stream `yaml:"action"`
	// Cameras become observation.images.<name>. For robotd's MCAP logs, default: every
	// /camera/<name> channel; for a bag, none.
	Cameras []Camera `yaml:"cameras"`
}

// Stream maps a numeric topic onto a dataset vector.
type Stream struct {
	// Topic carries sensor_msgs/JointState, std_msgs/Float64MultiArray or
	// geometry_msgs/PoseStamped (bags), robotd.JointState, robotd.JointCommand or
	// foxglove.PoseInFrame (robotd MCAP).
	Topic string `yaml:"topic"`
	// Field is the JointState array: position, velocity or effort. Default position
	// (effort for robotd.JointCommand).
	Field string `yaml:"field"`
	// Names picks and orders the values by name (joint names; x y z qx qy qz qw for
	// poses); for an unnamed array (Float64MultiArray) they name its values in order.
	// Default: every value, named as the first message names them (a0, a1, ... unnamed).
	Names []string `yaml:"names"`
}

// Camera maps an image topic (sensor_msgs/Image, sensor_msgs/CompressedImage,
// foxglove.CompressedImage) onto observation.images.<Name>.
type Camera struct {
	Name  string `yaml:"name"`
	Topic string `yaml:"topic"`
}

// LoadConfig reads a YAML mapping strictly (an unknown key is an error naming it).
func LoadConfig(path string) (Config, error) {
	var c Config
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("convert: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && err != io.EOF {
		return c, fmt.Errorf("convert: %s: %w", path, err)
	}
	return c, nil
}

func (c *Config) defaults(mcapInput bool, imageTopics []string) {
	if c.FPS == 0 {
		c.FPS = 30
	}
	if c.Task == "" {
		c.Task = "teleoperation"
	}
	if !mcapInput {
		return
	}
	if c.State.Topic == "" {
		c.State.Topic = "/robotd/joint_states"
	}
	if c.Action.Topic == "" {
		c.Action.Topic = "/robotd/target_pose"
	}
	if c.Cameras == nil {
		for _, t := range imageTopics {
			c.Cameras = append(c.Cameras, Camera{Name: strings.TrimPrefix(t, "/camera/"), Topic: t})
		}
	}
}

// Validate checks the mapping: both vectors named, cameras named once each, a rate.
func (c *Config) Validate() error {
	if c.FPS < 1 || c.FPS > 1000 {
		return fmt.Errorf("convert: fps %d: want 1..1000", c.FPS)
	}
	if c.State.Topic == "" || c.Action.Topic == "" {
		return errors.New("convert: state.topic and action.topic are required (--state, --action or the YAML mapping)")
	}
	seen := map[string]bool{}
	for i, cam := range c.Cameras {
		if cam.Name == "" || cam.Topic == "" || strings.ContainsAny(cam.Name, "/. ") {
			return fmt.Errorf("convert: cameras[%d]: name %q and topic %q: want a plain name and a topic", i, cam.Name, cam.Topic)
		}
		if seen[cam.Name] {
			return fmt.Errorf("convert: cameras[%d]: camera %q named twice", i, cam.Name)
		}
		seen[cam.Name] = true
	}
	return nil
}

// EpisodeResult is what one input became.
type EpisodeResult struct {
	Input    string
	Index    int           // the episode's index in the dataset
	Frames   int           // rows written
	Duration time.Duration // from the first to the last frame
	Messages int           // messages of the mapped topics read
}

// Result is a conversion's outcome.
type Result struct {
	Dir      string
	Spec     episode.Spec
	Episodes []EpisodeResult
}

// message is one input message of a mapped topic.
type message struct {
	topic, typ string // typ: the ROS type or the MCAP schema name
	json       bool   // an MCAP JSON message (robotd's)
	t          time.Duration
	data       []byte
}

// isMCAP reports whether path starts with the MCAP magic.
func isMCAP(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("convert: %w", err)
	}
	defer f.Close()
	var b [8]byte
	n, _ := io.ReadFull(f, b[:])
	return n == 8 && bytes.Equal(b[:], mcap.Magic), nil
}

// mcapImageTopics lists an MCAP file's foxglove.CompressedImage channels (its summary,
// or a scan of a file without one).
func mcapImageTopics(path string) ([]string, error) {
	var topics []string
	err := readMCAP(path, nil, func(m *message) error {
		if m.typ == "foxglove.CompressedImage" && !slices.Contains(topics, m.topic) {
			topics = append(topics, m.topic)
		}
		return nil
	})
	slices.Sort(topics)
	return topics, err
}

// readMCAP calls fn for the messages of topics (nil: all) in log-time order (file order
// for a file without an index: a killed run's, read up to its last whole record).
func readMCAP(path string, topics []string, fn func(*message) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	defer f.Close()
	r, err := mcap.NewReader(f)
	if err != nil {
		return fmt.Errorf("convert: %s: %w", path, err)
	}
	defer r.Close()
	opts := []mcap.ReadOpt{mcap.InOrder(mcap.LogTimeOrder)}
	if topics != nil {
		opts = append(opts, mcap.WithTopics(topics))
	}
	it, err := r.Messages(opts...)
	indexed := err == nil
	if err != nil {
		if _, serr := f.Seek(0, io.SeekStart); serr != nil {
			return fmt.Errorf("convert: %s: %w", path, err)
		}
		if r, err = mcap.NewReader(f); err == nil {
			it, err = r.Messages(mcap.UsingIndex(false))
		}
		if err != nil {
			return fmt.Errorf("convert: %s: %w", path, err)
		}
	}
	var msg mcap.Message
	for {
		schema, ch, m, err := it.NextInto(&msg)
		if err == io.EOF || !indexed && errors.Is(err, io.ErrUnexpectedEOF) {
			return nil // the end, or where a killed run's file was cut: its last whole record
		}
		if err != nil {
			return fmt.Errorf("convert: %s: %w", path, err)
		}
		if topics != nil && !slices.Contains(topics, ch.Topic) {
			continue
		}
		name := ""
		if schema != nil {
			name = schema.Name
		}
		if err := fn(&message{topic: ch.Topic, typ: name, json: ch.MessageEncoding == "json", t: time.Duration(m.LogTime), data: m.Data}); err != nil {
			return err
		}
	}
}

// Convert converts each input (a ROS1 bag or an MCAP file) into one episode of the
// LeRobotDataset at dir (created, or appended to when it exists).
func Convert(ctx context.Context, cfg Config, inputs []string, dir string) (*Result, error) {
	if len(inputs) == 0 {
		return nil, errors.New("convert: no input files")
	}
	res := &Result{Dir: dir}
	var w *episode.Writer
	defer func() {
		if w != nil {
			w.Close()
		}
	}()
	for _, in := range inputs {
		isM, err := isMCAP(in)
		if err != nil {
			return nil, err
		}
		c := cfg
		if isM && c.Cameras == nil {
			topics, err := mcapImageTopics(in)
			if err != nil {
				return nil, err
			}
			c.defaults(true, topics)
		} else {
			c.defaults(isM, nil)
		}
		if err := c.Validate(); err != nil {
			return nil, err
		}
		ep, err := convertOne(ctx, &c, in, isM, dir, &w, res)
		if err != nil {
			return nil, err
		}
		res.Episodes = append(res.Episodes, ep)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("convert: %s: %w", dir, err)
	}
	w = nil
	return res, nil
}

// stream is one mapped topic's newest message during resampling.
type stream struct {
	topic, field string
	names        []string // wanted names (nil: from the first message)
	image        bool
	have         bool
	vec          []float32 // vectors: the newest values, in names' order
	raw          []byte    // images: the newest message, decoded when a frame needs it
	typ          string
	json         bool
	rawSeq       int // messages taken (images: to decode each once)
	rgb          []byte
	rgbSeq       int
	w, h         int
}

// take stores message m as s's newest.
func (s *stream) take(m *message) error {
	s.typ, s.json = m.typ, m.json
	if s.image {
		s.raw = append(s.raw[:0], m.data...)
		s.rawSeq++
		s.have = true
		return nil
	}
	var v vector
	var err error
	if m.json {
		v, err = decodeJSONVector(m.typ, m.data, s.field)
	} else {
		v, err = decodeROSVector(m.typ, m.data, s.field)
	}
	if err != nil {
		return fmt.Errorf("topic %s: %w", s.topic, err)
	}
	if s.names == nil {
		s.names = v.names
		if s.names == nil {
			for i := range v.values {
				s.names = append(s.names, fmt.Sprintf("a%d", i))
			}
		}
	}
	if s.vec == nil {
		s.vec = make([]float32, len(s.names))
	}
	if v.names == nil { // unnamed: the names name the values in order
		if len(v.values) != len(s.names) {
			return fmt.Errorf("topic %s: %d values, %d names given", s.topic, len(v.values), len(s.names))
		}
		for i, x := range v.values {
			s.vec[i] = float32(x)
		}
	} else {
		for i, name := range s.names {
			j := slices.Index(v.names, name)
			if j < 0 {
				return fmt.Errorf("topic %s: no value named %q (the message has %v)", s.topic, name, v.names)
			}
			s.vec[i] = float32(v.values[j])
		}
	}
	s.have = true
	return nil
}

// image decodes s's newest image (once per message).
func (s *stream) decoded() ([]byte, error) {
	if s.rgbSeq == s.rawSeq && s.rgb != nil {
		return s.rgb, nil
	}
	var rgb []byte
	var w, h int
	var err error
	if s.json {
		rgb, w, h, err = decodeJSONImage(s.typ, s.raw)
	} else {
		rgb, w, h, err = decodeROSImage(s.typ, s.raw)
	}
	if err != nil {
		return nil, fmt.Errorf("topic %s: %w", s.topic, err)
	}
	if s.w != 0 && (w != s.w || h != s.h) {
		return nil, fmt.Errorf("topic %s: a %dx%d image after %dx%d ones", s.topic, w, h, s.w, s.h)
	}
	s.rgb, s.rgbSeq, s.w, s.h = rgb, s.rawSeq, w, h
	return rgb, nil
}

// convertOne resamples input in onto the frame grid and writes it as one episode,
// creating the dataset writer *w at the first frame (when the names and the image sizes
// are known).
func convertOne(ctx context.Context, c *Config, in string, isM bool, dir string, w **episode.Writer, res *Result) (EpisodeResult, error) {
	out := EpisodeResult{Input: in}
	streams := []*stream{{topic: c.State.Topic, field: c.State.Field, names: c.State.Names}, {topic: c.Action.Topic, field: c.Action.Field, names: c.Action.Names}}
	for _, cam := range c.Cameras {
		streams = append(streams, &stream{topic: cam.Topic, image: true})
	}
	byTopic := map[string][]*stream{}
	var topics []string
	for _, s := range streams {
		if byTopic[s.topic] == nil {
			topics = append(topics, s.topic)
		}
		byTopic[s.topic] = append(byTopic[s.topic], s)
	}
	period := time.Second / time.Duration(c.FPS)
	var (
		ready   bool
		t0, at  time.Duration // the grid's start, the next frame's time
		last    time.Duration
		ep      *episode.EpisodeWriter
		frame   episode.Frame
		started bool
	)
	emit := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if ep == nil {
			if err := begin(c, streams, dir, w, res); err != nil {
				return err
			}
			var err error
			if ep, err = (*w).BeginEpisode(c.Task); err != nil {
				return fmt.Errorf("convert: %s: %w", dir, err)
			}
			frame.Images = make([][]byte, len(c.Cameras))
		}
		frame.Timestamp = at - t0
		frame.State, frame.Action = streams[0].vec, streams[1].vec
		for i := range c.Cameras {
			rgb, err := streams[2+i].decoded()
			if err != nil {
				return err
			}
			frame.Images[i] = rgb
		}
		if err := ep.AddFrame(&frame); err != nil {
			return fmt.Errorf("convert: %s: frame %d: %w", in, out.Frames, err)
		}
		out.Frames++
		at += period
		return nil
	}
	handle := func(m *message) error {
		ss := byTopic[m.topic]
		if ss == nil {
			return nil
		}
		out.Messages++
		if started && m.t < last {
			m.t = last // a message recorded out of order: held from the newest time
		}
		started, last = true, m.t
		for ready && at < m.t {
			if err := emit(); err != nil {
				return err
			}
		}
		for _, s := range ss {
			if err := s.take(m); err != nil {
				return fmt.Errorf("convert: %s: %w", in, err)
			}
		}
		if !ready {
			ready = true
			for _, s := range streams {
				ready = ready && s.have
			}
			if ready {
				t0, at = m.t, m.t
			}
		}
		return nil
	}
	var err error
	if isM {
		err = readMCAP(in, topics, handle)
	} else {
		err = readBag(in, func(bc *bagConn, t time.Duration, data []byte) error {
			return handle(&message{topic: bc.topic, typ: bc.typ, t: t, data: data})
		})
	}
	for err == nil && ready && at <= last {
		err = emit()
	}
	if err != nil {
		if ep != nil {
			ep.Discard()
		}
		return out, err
	}
	if !ready {
		var missing []string
		for _, s := range streams {
			if !s.have {
				missing = append(missing, s.topic)
			}
		}
		return out, fmt.Errorf("convert: %s: no message on %s (%d messages of the mapped topics read)", in, strings.Join(missing, ", "), out.Messages)
	}
	r, err := ep.End(ctx)
	if err != nil {
		return out, fmt.Errorf("convert: %s: %w", dir, err)
	}
	out.Index = r.Index
	out.Duration = time.Duration(out.Frames-1) * period
	return out, nil
}

// begin creates (or opens for appending) the dataset at the first frame, its spec from
// the streams' names and image sizes.
func begin(c *Config, streams []*stream, dir string, w **episode.Writer, res *Result) error {
	spec := episode.Spec{RobotType: c.RobotType, FPS: c.FPS,
		State:  episode.FeatureSpec{Names: streams[0].names},
		Action: episode.FeatureSpec{Names: streams[1].names},
		Video:  episode.VideoSpec{Wait: true}}
	for i, cam := range c.Cameras {
		s := streams[2+i]
		if _, err := s.decoded(); err != nil {
			return fmt.Errorf("convert: %w", err)
		}
		spec.Cameras = append(spec.Cameras, episode.CameraSpec{Key: episode.CameraKeyPrefix + cam.Name, Width: s.w, Height: s.h})
	}
	if *w != nil {
		return nil // the next input of the same conversion: AddFrame checks its sizes
	}
	var err error
	if _, serr := os.Stat(filepath.Join(dir, "meta", "info.json")); serr == nil {
		*w, err = episode.OpenAppend(dir, spec)
	} else {
		*w, err = episode.Create(dir, spec)
	}
	if err != nil {
		return fmt.Errorf("convert: %s: %w", dir, err)
	}
	res.Spec = spec
	return nil
}
