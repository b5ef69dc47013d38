// Package mcaplog writes the viz channel set to an MCAP file (github.com/foxglove/mcap):
// zstd-compressed, indexed chunks, one schema and channel per viz.Channel, JSON messages
// stamped with their wall time. A chunk goes to the file as soon as it is full, so a
// process killed mid-run leaves a file readable up to its last finished chunk (an MCAP
// stream reader, or `mcap recover`, reads it); Close writes the index and the summary.
package mcaplog

import (
	"fmt"
	"os"
	"time"

	"github.com/foxglove/mcap/go/mcap"

	"github.com/robotd/robotd/viz"
)

// DefaultChunkSize is the uncompressed size at which a chunk is compressed and written
// (bytes): at robotd's 1 kHz per-tick channels (about 1.5 MB/s of JSON) a chunk about
// every 0.3 s, which bounds what a kill loses.
const DefaultChunkSize = 512 << 10

// Writer is a viz.Sink writing one MCAP file. It is not safe for concurrent use (the Hub
// serializes its writes).
type Writer struct {
	path     string
	f        *os.File
	w        *mcap.Writer
	known    map[uint16]bool // channels written so far
	seq      map[uint16]uint32
	messages uint64
}

// Create creates (truncates) the MCAP file at path with chunkSize-byte chunks (0:
// DefaultChunkSize).
func Create(path string, chunkSize int64) (*Writer, error) {
	if chunkSize == 0 {
		chunkSize = DefaultChunkSize
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("mcap: %w", err)
	}
	w, err := mcap.NewWriter(f, &mcap.WriterOptions{
		Chunked:     true,
		ChunkSize:   chunkSize,
		Compression: mcap.CompressionZSTD,
		IncludeCRC:  true,
	})
	if err == nil {
		err = w.WriteHeader(&mcap.Header{Profile: "", Library: "robotd"})
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mcap: %s: %w", path, err)
	}
	return &Writer{path: path, f: f, w: w, known: map[uint16]bool{}, seq: map[uint16]uint32{}}, nil
}

// Path is the file's path.
func (w *Writer) Path() string { return w.path }

// Messages is how many messages were written.
func (w *Writer) Messages() uint64 { return w.messages }

// Write implements viz.Sink: the channel's schema and channel records on its first
// message, then the message.
func (w *Writer) Write(ch *viz.Channel, t time.Time, data []byte) error {
	if !w.known[ch.ID] {
		if err := w.w.WriteSchema(&mcap.Schema{ID: ch.ID, Name: ch.Schema, Encoding: viz.SchemaEncoding, Data: []byte(ch.Definition)}); err != nil {
			return fmt.Errorf("mcap: %s: schema %s: %w", w.path, ch.Schema, err)
		}
		if err := w.w.WriteChannel(&mcap.Channel{ID: ch.ID, SchemaID: ch.ID, Topic: ch.Topic, MessageEncoding: viz.MessageEncoding, Metadata: map[string]string{}}); err != nil {
			return fmt.Errorf("mcap: %s: channel %s: %w", w.path, ch.Topic, err)
		}
		w.known[ch.ID] = true
	}
	ns := uint64(t.UnixNano())
	s := w.seq[ch.ID]
	w.seq[ch.ID] = s + 1
	if err := w.w.WriteMessage(&mcap.Message{ChannelID: ch.ID, Sequence: s, LogTime: ns, PublishTime: ns, Data: data}); err != nil {
		return fmt.Errorf("mcap: %s: %s: %w", w.path, ch.Topic, err)
	}
	w.messages++
	return nil
}

// Close writes the last chunk, the index and the summary, and closes the file.
func (w *Writer) Close() error {
	err := w.w.Close()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("mcap: %s: %w", w.path, err)
	}
	return nil
}
