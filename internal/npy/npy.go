// Package npy reads and writes NumPy's .npy and .npz array files.
//
// A .npy file is the magic string "\x93NUMPY", a two-byte format version, a
// little-endian header length (2 bytes in version 1.0, 4 bytes in 2.0 and
// 3.0), and a header that is a Python dict literal such as
//
//	{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
//
// padded with spaces and a newline so that the raw array data that follows
// starts at a multiple of 64 bytes. A .npz file is a zip archive with one
// "<name>.npy" member per array; np.savez stores the members and
// np.savez_compressed deflates them.
//
// Only plain numeric and boolean dtypes are supported. Big-endian and
// Fortran-ordered files are converted on read to native values in C order;
// this package always writes little-endian C-order data.
package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Array is one n-dimensional array in C (row-major) order.
type Array struct {
	Name  string // key in an .npz (without ".npy"); file base name for .npy
	Shape []int  // empty for a 0-d scalar
	// Data is one of []float32, []float64, []int64, []int32, []int16,
	// []int8, []uint8, []uint16, []uint32, []uint64 or []bool, with Len()
	// elements.
	Data any
}

// dtype describes one supported element type.
type dtype struct {
	name string       // NumPy name, e.g. "float32"
	code string       // descr without the byte-order character, e.g. "f4"
	size int          // bytes per element
	typ  reflect.Type // Go slice type of Array.Data
}

var dtypes = []dtype{
	{"float32", "f4", 4, reflect.TypeFor[[]float32]()},
	{"float64", "f8", 8, reflect.TypeFor[[]float64]()},
	{"int64", "i8", 8, reflect.TypeFor[[]int64]()},
	{"int32", "i4", 4, reflect.TypeFor[[]int32]()},
	{"int16", "i2", 2, reflect.TypeFor[[]int16]()},
	{"int8", "i1", 1, reflect.TypeFor[[]int8]()},
	{"uint8", "u1", 1, reflect.TypeFor[[]uint8]()},
	{"uint16", "u2", 2, reflect.TypeFor[[]uint16]()},
	{"uint32", "u4", 4, reflect.TypeFor[[]uint32]()},
	{"uint64", "u8", 8, reflect.TypeFor[[]uint64]()},
	{"bool", "b1", 1, reflect.TypeFor[[]bool]()},
}

// descr is the dtype string this package writes, e.g. "<f4" or "|u1".
func (d *dtype) descr() string {
	if d.size == 1 {
		return "|" + d.code
	}
	return "<" + d.code
}

func dtypeOf(data any) *dtype {
	t := reflect.TypeOf(data)
	for i := range dtypes {
		if dtypes[i].typ == t {
			return &dtypes[i]
		}
	}
	return nil
}

// kindNames explains unsupported dtype kinds in error messages.
var kindNames = map[byte]string{
	'c': "complex", 'U': "unicode string", 'S': "byte string", 'a': "byte string",
	'O': "Python object", 'V': "void/structured", 'M': "datetime", 'm': "timedelta",
	'f': "float", 'i': "int", 'u': "uint", 'b': "bool",
}

// parseDescr maps a descr string to a supported dtype and its byte order.
func parseDescr(descr string) (*dtype, binary.ByteOrder, error) {
	code, order := descr, binary.ByteOrder(binary.LittleEndian)
	if code != "" && strings.IndexByte("<>|=", code[0]) >= 0 {
		if code[0] == '>' {
			order = binary.BigEndian
		}
		code = code[1:] // '|' and '=' (never written by NumPy for multi-byte types) are taken as little-endian
	}
	for i := range dtypes {
		if dtypes[i].code == code {
			return &dtypes[i], order, nil
		}
	}
	if code != "" && kindNames[code[0]] != "" {
		return nil, nil, fmt.Errorf("unsupported dtype %q (%s)", descr, kindNames[code[0]])
	}
	return nil, nil, fmt.Errorf("unsupported dtype %q", descr)
}

// DType returns the NumPy name of the element type ("float32", "int64", ...),
// or "" if Data is not a supported slice type.
func (a *Array) DType() string {
	if d := dtypeOf(a.Data); d != nil {
		return d.name
	}
	return ""
}

// Len returns the number of elements implied by Shape (1 for a 0-d array).
func (a *Array) Len() int {
	n := 1
	for _, d := range a.Shape {
		n *= d
	}
	return n
}

// Float32 returns the data converted to float32. If Data is already a
// []float32 it is returned as is, not copied. Booleans are not converted.
func (a *Array) Float32() ([]float32, error) { return toFloat[float32](a) }

// Float64 returns the data converted to float64. If Data is already a
// []float64 it is returned as is, not copied. Booleans are not converted.
func (a *Array) Float64() ([]float64, error) { return toFloat[float64](a) }

type number interface {
	float32 | float64 | int64 | int32 | int16 | int8 | uint8 | uint16 | uint32 | uint64
}

func convert[D float32 | float64, S number](src []S) []D {
	out := make([]D, len(src))
	for i, v := range src {
		out[i] = D(v)
	}
	return out
}

func toFloat[D float32 | float64](a *Array) ([]D, error) {
	switch s := a.Data.(type) {
	case []D:
		return s, nil
	case []float32:
		return convert[D](s), nil
	case []float64:
		return convert[D](s), nil
	case []int64:
		return convert[D](s), nil
	case []int32:
		return convert[D](s), nil
	case []int16:
		return convert[D](s), nil
	case []int8:
		return convert[D](s), nil
	case []uint8:
		return convert[D](s), nil
	case []uint16:
		return convert[D](s), nil
	case []uint32:
		return convert[D](s), nil
	case []uint64:
		return convert[D](s), nil
	case []bool:
		return nil, fmt.Errorf("npy: array %q: cannot convert dtype bool to %T", a.Name, D(0))
	}
	return nil, fmt.Errorf("npy: array %q: unsupported data type %T", a.Name, a.Data)
}

// numElems returns the product of shape, rejecting negative dimensions and
// overflow.
func numElems(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("shape %v is too large", shape)
		}
		n *= d
	}
	return n, nil
}

// check validates a for writing and returns its dtype.
func (a *Array) check() (*dtype, error) {
	dt := dtypeOf(a.Data)
	if dt == nil {
		return nil, fmt.Errorf("array %q: unsupported data type %T", a.Name, a.Data)
	}
	want, err := numElems(a.Shape)
	if err != nil {
		return nil, fmt.Errorf("array %q: %w", a.Name, err)
	}
	if got := reflect.ValueOf(a.Data).Len(); got != want {
		return nil, fmt.Errorf("array %q: shape %v needs %d elements, data has %d", a.Name, a.Shape, want, got)
	}
	return dt, nil
}

const (
	magic      = "\x93NUMPY"
	arrayAlign = 64      // NumPy's ARRAY_ALIGN: data starts at a multiple of this
	maxHeader  = 1 << 20 // refuse larger headers rather than allocate them
	growPad    = 21      // NumPy's GROWTH_AXIS_MAX_DIGITS
)

// WriteNPY writes a as a .npy file: format version 1.0 (2.0 if the header
// does not fit), little-endian, C order. For the dtypes supported here the
// output is byte-for-byte what np.save writes.
func WriteNPY(w io.Writer, a *Array) error {
	if err := writeNPY(w, a); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	return nil
}

func writeNPY(w io.Writer, a *Array) error {
	dt, err := a.check()
	if err != nil {
		return err
	}
	shape := make([]string, len(a.Shape))
	for i, d := range a.Shape {
		shape[i] = strconv.Itoa(d)
	}
	tuple := "(" + strings.Join(shape, ", ") + ")"
	if len(shape) == 1 {
		tuple = "(" + shape[0] + ",)"
	}
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", dt.descr(), tuple)
	if len(shape) > 0 {
		// Like NumPy, leave room to rewrite shape[0] in place when appending.
		h += strings.Repeat(" ", max(0, growPad-len(shape[0])))
	}
	// Header length counts the padding and the final newline. NumPy always
	// pads by 1..64 spaces, never 0.
	buf := []byte(magic + "\x01\x00\x00\x00")
	hlen := len(h) + 1
	hlen += arrayAlign - (len(buf)+hlen)%arrayAlign
	if hlen <= math.MaxUint16 {
		binary.LittleEndian.PutUint16(buf[8:], uint16(hlen))
	} else {
		buf = []byte(magic + "\x02\x00\x00\x00\x00\x00")
		hlen = len(h) + 1
		hlen += arrayAlign - (len(buf)+hlen)%arrayAlign
		binary.LittleEndian.PutUint32(buf[8:], uint32(hlen))
	}
	buf = append(buf, h...)
	buf = append(buf, bytes.Repeat([]byte{' '}, hlen-len(h)-1)...)
	buf = append(buf, '\n')
	buf, err = binary.Append(buf, binary.LittleEndian, a.Data)
	if err != nil {
		return fmt.Errorf("array %q: %w", a.Name, err)
	}
	_, err = w.Write(buf)
	return err
}

// ReadNPY reads one .npy array (format version 1.0, 2.0 or 3.0) from r,
// consuming exactly its bytes. Big-endian data is converted to native values
// and Fortran-ordered data to C order. Name is left empty.
func ReadNPY(r io.Reader) (*Array, error) {
	a, err := readNPY(r, "")
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	return a, nil
}

// readNPY reads one array; name is used for Array.Name and error messages.
func readNPY(r io.Reader, name string) (*Array, error) {
	a, err := readNPY1(r, name)
	if err != nil && name != "" {
		err = fmt.Errorf("array %q: %w", name, err)
	}
	return a, err
}

func readNPY1(r io.Reader, name string) (*Array, error) {
	var pre [12]byte
	n, _ := io.ReadFull(r, pre[:8])
	switch m := min(n, 6); {
	case n == 0:
		return nil, errors.New("not a .npy file: no data")
	case string(pre[:m]) != magic[:m]:
		return nil, fmt.Errorf("not a .npy file: starts with %q, want %q", pre[:m], magic)
	case n < 8:
		return nil, fmt.Errorf("truncated .npy file: only %d bytes", n)
	}
	major, minor := pre[6], pre[7]
	var hlen int
	switch {
	case major == 1 && minor == 0:
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return nil, fmt.Errorf("truncated header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint16(pre[8:]))
	case (major == 2 || major == 3) && minor == 0:
		if _, err := io.ReadFull(r, pre[8:12]); err != nil {
			return nil, fmt.Errorf("truncated header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint32(pre[8:]))
	default:
		return nil, fmt.Errorf("unsupported .npy format version %d.%d", major, minor)
	}
	if hlen > maxHeader {
		return nil, fmt.Errorf("header length %d exceeds limit of %d bytes", hlen, maxHeader)
	}
	hdr := make([]byte, hlen)
	if n, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("truncated header: expected %d bytes, got %d", hlen, n)
	}
	// Version 3.0 headers are UTF-8, older ones latin-1; both are parsed as
	// bytes since everything outside string literals is ASCII.
	descr, fortran, shape, err := parseHeader(string(hdr))
	if err != nil {
		return nil, err
	}
	dt, order, err := parseDescr(descr)
	if err != nil {
		return nil, err
	}
	count, err := numElems(shape)
	if err != nil {
		return nil, err
	}
	if count > math.MaxInt/dt.size {
		return nil, fmt.Errorf("shape %v is too large", shape)
	}
	size := int64(count * dt.size)
	// Grow the buffer as data arrives, so that a bogus shape in a tiny file
	// cannot force a huge allocation.
	var buf bytes.Buffer
	buf.Grow(int(min(size, 16<<20)))
	if got, err := io.CopyN(&buf, r, size); err == io.EOF {
		return nil, fmt.Errorf("expected %d bytes of data, got %d", size, got)
	} else if err != nil {
		return nil, fmt.Errorf("reading data: %w", err)
	}
	raw := buf.Bytes()
	if fortran {
		raw = fortranToC(raw, shape, dt.size)
	}
	data := reflect.MakeSlice(dt.typ, count, count).Interface()
	if _, err := binary.Decode(raw, order, data); err != nil {
		return nil, err
	}
	return &Array{Name: name, Shape: shape, Data: data}, nil
}

// fortranToC reorders the size-byte elements of a column-major array of the
// given shape into row-major order.
func fortranToC(src []byte, shape []int, size int) []byte {
	if len(shape) < 2 || len(src) == 0 {
		return src
	}
	stride := make([]int, len(shape)) // column-major strides, in elements
	s := 1
	for i, d := range shape {
		stride[i] = s
		s *= d
	}
	dst := make([]byte, len(src))
	idx := make([]int, len(shape))
	off := 0 // column-major offset of idx
	for c := 0; c < len(src); c += size {
		copy(dst[c:c+size], src[off*size:])
		for d := len(shape) - 1; d >= 0; d-- { // advance idx in row-major order
			idx[d]++
			off += stride[d]
			if idx[d] < shape[d] {
				break
			}
			off -= idx[d] * stride[d]
			idx[d] = 0
		}
	}
	return dst
}
