package convert

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pierrec/lz4/v4"
)

// ROS1 bag format 2.0 (http://wiki.ros.org/Bags/Format/2.0): a magic line, then records,
// each a header (name=value fields) and data. Record ops used here.
const (
	bagMagic      = "#ROSBAG V2.0\n"
	opMessageData = 0x02
	opBagHeader   = 0x03
	opChunk       = 0x05
	opConnection  = 0x07
)

// bagConn is a bag connection: a topic and its message type.
type bagConn struct {
	topic, typ string
}

// readBag calls fn for every message of the bag at path, in file order (chunks in order,
// messages in each chunk in the order recorded), with its connection and record time.
// Chunks may be uncompressed, bz2 or lz4 (rosbag record --bz2 / --lz4).
func readBag(path string, fn func(c *bagConn, t time.Duration, data []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	magic := make([]byte, len(bagMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != bagMagic {
		return fmt.Errorf("convert: %s: not a ROS bag v2.0 (first line %q)", path, strings.TrimSpace(string(magic)))
	}
	conns := map[uint32]*bagConn{}
	var handle func(r io.Reader, inChunk bool) error
	handle = func(r io.Reader, inChunk bool) error {
		for {
			h, data, err := readRecord(r)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			op, ok := h["op"]
			if !ok || len(op) != 1 {
				return errors.New("record without op")
			}
			switch op[0] {
			case opConnection:
				id, err := u32(h, "conn")
				if err != nil {
					return err
				}
				ch, err := parseFields(data)
				if err != nil {
					return fmt.Errorf("connection %d: %w", id, err)
				}
				conns[id] = &bagConn{topic: string(h["topic"]), typ: string(ch["type"])}
			case opMessageData:
				id, err := u32(h, "conn")
				if err != nil {
					return err
				}
				c, ok := conns[id]
				if !ok {
					return fmt.Errorf("message on connection %d before its connection record", id)
				}
				tb, ok := h["time"]
				if !ok || len(tb) != 8 {
					return fmt.Errorf("message on %s without a time", c.topic)
				}
				t := time.Duration(binary.LittleEndian.Uint32(tb))*time.Second + time.Duration(binary.LittleEndian.Uint32(tb[4:]))
				if err := fn(c, t, data); err != nil {
					return err
				}
			case opChunk:
				if inChunk {
					return errors.New("chunk inside a chunk")
				}
				var cr io.Reader
				switch comp := string(h["compression"]); comp {
				case "none":
					cr = bytes.NewReader(data)
				case "bz2":
					cr = bzip2.NewReader(bytes.NewReader(data))
				case "lz4":
					cr = lz4.NewReader(bytes.NewReader(data))
				default:
					return fmt.Errorf("chunk compression %q (want none, bz2 or lz4)", comp)
				}
				if err := handle(cr, true); err != nil {
					return fmt.Errorf("chunk: %w", err)
				}
			}
		}
	}
	if err := handle(br, false); err != nil {
		return fmt.Errorf("convert: %s: %w", path, err)
	}
	return nil
}

// readRecord reads one record: its header fields and its data.
func readRecord(r io.Reader) (map[string][]byte, []byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, nil, errors.New("truncated record")
		}
		return nil, nil, err
	}
	hl := binary.LittleEndian.Uint32(n[:])
	if hl > 1<<24 {
		return nil, nil, fmt.Errorf("record header of %d bytes", hl)
	}
	hb := make([]byte, hl)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, nil, errors.New("truncated record header")
	}
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, nil, errors.New("truncated record")
	}
	dl := binary.LittleEndian.Uint32(n[:])
	if dl > 1<<31 {
		return nil, nil, fmt.Errorf("record data of %d bytes", dl)
	}
	data := make([]byte, dl)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, nil, errors.New("truncated record data")
	}
	h, err := parseFields(hb)
	return h, data, err
}

// parseFields parses a record header (or a connection header): length-prefixed
// name=value fields.
func parseFields(b []byte) (map[string][]byte, error) {
	m := map[string][]byte{}
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, errors.New("truncated header field")
		}
		n := binary.LittleEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return nil, errors.New("header field past the header's end")
		}
		f := b[4 : 4+n]
		b = b[4+n:]
		i := bytes.IndexByte(f, '=')
		if i < 0 {
			return nil, fmt.Errorf("header field %q without '='", f)
		}
		m[string(f[:i])] = f[i+1:]
	}
	return m, nil
}

func u32(h map[string][]byte, key string) (uint32, error) {
	v, ok := h[key]
	if !ok || len(v) != 4 {
		return 0, fmt.Errorf("record without a 4-byte %s", key)
	}
	return binary.LittleEndian.Uint32(v), nil
}
