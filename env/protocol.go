package env

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
)

// A message on the socket, either way (docs/env.md):
//
//	uint32 little-endian: the header's length in bytes
//	the header: one JSON object (Header)
//	the payload: the header's arrays, in order, each its values as little-endian
//	float32 in C order, with nothing in between
//
// Images and actions travel as raw float32, never as JSON numbers.

// Limits on what a peer may send; beyond them the connection is closed with an error.
const (
	// MaxHeader is the largest header accepted (bytes).
	MaxHeader = 1 << 20
	// MaxPayload is the largest payload accepted (bytes): 64 MiB.
	MaxPayload = 64 << 20
	// maxDims is the most dimensions an array may have.
	maxDims = 8
)

// Array describes one float32 array of a message's payload.
type Array struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	// DType is always "float32" (the field exists so that a reader can check it).
	DType string `json:"dtype"`
}

// size is the number of values, or an error for a malformed shape.
func (a Array) size() (int, error) {
	if a.DType != "" && a.DType != "float32" {
		return 0, fmt.Errorf("array %q: dtype %q, only float32 is accepted", a.Name, a.DType)
	}
	if len(a.Shape) > maxDims {
		return 0, fmt.Errorf("array %q: %d dimensions, at most %d", a.Name, len(a.Shape), maxDims)
	}
	n := 1
	for _, d := range a.Shape {
		if d < 0 || d > MaxPayload/4 {
			return 0, fmt.Errorf("array %q: dimension %d out of range (shape %v)", a.Name, d, a.Shape)
		}
		n *= d
		if n > MaxPayload/4 {
			return 0, fmt.Errorf("array %q: shape %v holds more than %d bytes", a.Name, a.Shape, MaxPayload)
		}
	}
	return n, nil
}

// Header is a message's JSON header: Type says which message, the other fields are the
// message's (docs/env.md lists them per message; absent fields take their zero value).
type Header struct {
	Type string `json:"type"`

	// reset
	Seed        int64   `json:"seed,omitempty"`
	Mode        string  `json:"mode,omitempty"` // also step's
	Rate        string  `json:"rate,omitempty"`
	CameraNoise float64 `json:"camera_noise,omitempty"`
	LatencyMS   float64 `json:"latency_ms,omitempty"`
	Images      bool    `json:"images,omitempty"`
	Privileged  bool    `json:"privileged,omitempty"`
	Fresh       bool    `json:"fresh,omitempty"`

	// observation
	Episode int     `json:"episode,omitempty"`
	Step    int     `json:"step,omitempty"`
	Time    float64 `json:"time,omitempty"`
	Reward  float64 `json:"reward,omitempty"`
	Done    bool    `json:"done,omitempty"`
	Success bool    `json:"success,omitempty"`
	Timeout bool    `json:"timeout,omitempty"`
	Fault   string  `json:"fault,omitempty"`
	// FaultMessage says why the fault (the daemon's message).
	FaultMessage string   `json:"fault_message,omitempty"`
	Prefix       int      `json:"prefix,omitempty"`
	Decision     string   `json:"decision,omitempty"`
	Outcome      *Outcome `json:"outcome,omitempty"`

	// error
	Error string `json:"error,omitempty"`

	// info (the server's reply to info)
	Info *Info `json:"info,omitempty"`

	Arrays []Array `json:"arrays,omitempty"`
}

// Message is a header and its arrays' values (Values[i] holds Header.Arrays[i]'s).
type Message struct {
	Header
	Values [][]float32
}

// Get returns the values of the array named name and its shape (nil, nil when absent).
func (m *Message) Get(name string) ([]float32, []int) {
	for i, a := range m.Arrays {
		if a.Name == name {
			return m.Values[i], a.Shape
		}
	}
	return nil, nil
}

// Add appends an array (its values are not copied: they must stay unchanged until the
// message is written).
func (m *Message) Add(name string, values []float32, shape ...int) {
	m.Arrays = append(m.Arrays, Array{Name: name, Shape: shape, DType: "float32"})
	m.Values = append(m.Values, values)
}

// ErrFraming is (wrapped in) ReadMessage's error when the stream cannot be read on: the
// connection must be closed.
var ErrFraming = errors.New("env: framing")

// ReadMessage reads one message. io.EOF means the peer closed the connection between
// messages; a malformed message is an error wrapping ErrFraming that says what was wrong.
func ReadMessage(r io.Reader) (*Message, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err // io.EOF between messages
	}
	hl := binary.LittleEndian.Uint32(n[:])
	if hl == 0 || hl > MaxHeader {
		return nil, fmt.Errorf("%w: header length %d, want 1 to %d bytes (a message starts with a uint32 little-endian header length)", ErrFraming, hl, MaxHeader)
	}
	hb := make([]byte, hl)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, fmt.Errorf("%w: header of %d bytes: %v", ErrFraming, hl, unexpected(err))
	}
	m := &Message{}
	if err := json.Unmarshal(hb, &m.Header); err != nil {
		return nil, fmt.Errorf("%w: header is not a JSON object: %v", ErrFraming, err)
	}
	total := 0
	sizes := make([]int, len(m.Arrays))
	for i, a := range m.Arrays {
		s, err := a.size()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFraming, err)
		}
		sizes[i], total = s, total+s
		if total > MaxPayload/4 {
			return nil, fmt.Errorf("%w: the arrays hold more than %d bytes", ErrFraming, MaxPayload)
		}
	}
	buf := make([]byte, 4*total)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("%w: payload of %d bytes (arrays %s): %v", ErrFraming, len(buf), arrayNames(m.Arrays), unexpected(err))
	}
	all := make([]float32, total)
	for i := range all {
		all[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
	}
	m.Values = make([][]float32, len(sizes))
	off := 0
	for i, s := range sizes {
		m.Values[i] = all[off : off+s : off+s]
		off += s
	}
	return m, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func arrayNames(as []Array) string {
	s := ""
	for i, a := range as {
		if i > 0 {
			s += ", "
		}
		s += a.Name
	}
	return s
}

// WriteMessage writes m in one write (header length, header, payload).
func WriteMessage(w io.Writer, m *Message) error {
	for i, a := range m.Arrays {
		n, err := a.size()
		if err != nil {
			return err
		}
		if len(m.Values[i]) != n {
			return fmt.Errorf("env: array %q has %d values, its shape %v holds %d", a.Name, len(m.Values[i]), a.Shape, n)
		}
	}
	hb, err := json.Marshal(&m.Header)
	if err != nil {
		return err
	}
	total := 0
	for _, v := range m.Values {
		total += len(v)
	}
	buf := make([]byte, 4+len(hb), 4+len(hb)+4*total)
	binary.LittleEndian.PutUint32(buf, uint32(len(hb)))
	copy(buf[4:], hb)
	for _, v := range m.Values {
		for _, x := range v {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
	}
	_, err = w.Write(buf)
	return err
}
