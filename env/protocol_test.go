package env

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// frame builds a raw message: the header length, the header, the payload.
func frame(header string, payload []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(header)))
	return append(append(b, header...), payload...)
}

func floats(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// TestMessageRoundTrip: arrays of every shape (scalar, empty, 3-D) and special values
// come back bit for bit, after the header.
func TestMessageRoundTrip(t *testing.T) {
	m := &Message{Header: Header{Type: "step", Mode: ModeResidual, Seed: -3}}
	nan := float32(math.NaN())
	m.Add("correction", []float32{1, -2, nan, float32(math.Inf(-1)), 1e-45, -0}, 2, 3)
	m.Add("scalar", []float32{7})
	m.Add("empty", []float32{}, 0, 4)
	m.Add("cube", []float32{1, 2, 3, 4, 5, 6, 7, 8}, 2, 2, 2)
	var buf bytes.Buffer
	if err := WriteMessage(&buf, m); err != nil {
		t.Fatal(err)
	}
	got, err := ReadMessage(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != "step" || got.Mode != ModeResidual || got.Seed != -3 || len(got.Arrays) != 4 {
		t.Fatalf("header %+v", got.Header)
	}
	for i, want := range m.Values {
		v, shape := got.Get(m.Arrays[i].Name)
		if !equalInts(shape, m.Arrays[i].Shape) || len(v) != len(want) {
			t.Fatalf("%s: shape %v, %d values; want %v, %d", m.Arrays[i].Name, shape, len(v), m.Arrays[i].Shape, len(want))
		}
		for j := range want {
			if math.Float32bits(v[j]) != math.Float32bits(want[j]) {
				t.Errorf("%s[%d] = %v, want %v bit for bit", m.Arrays[i].Name, j, v[j], want[j])
			}
		}
	}
	if _, err := ReadMessage(&buf); !errors.Is(err, io.EOF) {
		t.Errorf("after the last message: %v, want io.EOF", err)
	}
	bad := &Message{Header: Header{Type: "x"}}
	bad.Add("a", []float32{1, 2}, 3)
	if err := WriteMessage(io.Discard, bad); err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("writing 2 values under shape [3]: %v, want an error naming the array", err)
	}
}

// TestReadMessageRefuses: each malformed message is an ErrFraming error saying what is
// wrong, never a panic or an allocation of what the peer claims.
func TestReadMessageRefuses(t *testing.T) {
	long := binary.LittleEndian.AppendUint32(nil, MaxHeader+1)
	for _, tc := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"zero header length", binary.LittleEndian.AppendUint32(nil, 0), "header length 0"},
		{"huge header length", long, "header length"},
		{"truncated length", []byte{1, 2}, "unexpected EOF"},
		{"truncated header", frame(`{"type":"reset"}`, nil)[:10], "header of 16 bytes"},
		{"not JSON", frame(`reset please`, nil), "not a JSON object"},
		{"JSON array", frame(`[1,2]`, nil), "not a JSON object"},
		{"wrong field type", frame(`{"type":"reset","seed":"zero"}`, nil), "not a JSON object"},
		{"float64", frame(`{"type":"step","arrays":[{"name":"a","shape":[1],"dtype":"float64"}]}`, floats(1, 2)), `dtype "float64"`},
		{"negative dimension", frame(`{"type":"step","arrays":[{"name":"a","shape":[-1]}]}`, nil), "dimension -1"},
		{"huge shape", frame(`{"type":"step","arrays":[{"name":"a","shape":[100000,100000]}]}`, nil), "holds more than"},
		{"too many arrays", frame(`{"type":"step","arrays":[{"name":"a","shape":[10000000]},{"name":"b","shape":[10000000]}]}`, nil), "the arrays hold more than"},
		{"too many dimensions", frame(`{"type":"step","arrays":[{"name":"a","shape":[1,1,1,1,1,1,1,1,1]}]}`, nil), "9 dimensions"},
		{"short payload", frame(`{"type":"step","arrays":[{"name":"noise","shape":[2,2]}]}`, floats(1, 2, 3)), "payload of 16 bytes (arrays noise)"},
	} {
		_, err := ReadMessage(bytes.NewReader(tc.raw))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		} else if tc.name != "truncated length" && !errors.Is(err, ErrFraming) {
			t.Errorf("%s: %v does not wrap ErrFraming", tc.name, err)
		}
	}
	// Random bytes: errors, never panics.
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, r.IntN(64))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		if len(b) >= 4 && r.IntN(2) == 0 {
			binary.LittleEndian.PutUint32(b, uint32(len(b)-4))
		}
		ReadMessage(bytes.NewReader(b))
	}
}
