package npy

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var allDTypes = []string{"float32", "float64", "int64", "int32", "int16", "int8", "uint8", "uint16", "uint32", "uint64", "bool"}

// expect returns n values of the named dtype computed by the formula that
// testdata/gen.py uses: float i*0.25-1, signed i-3, unsigned i, bool i%3==0.
func expect(dtype string, n int) any {
	switch dtype {
	case "float32":
		return fill(n, func(i int) float32 { return float32(i)*0.25 - 1 })
	case "float64":
		return fill(n, func(i int) float64 { return float64(i)*0.25 - 1 })
	case "int64":
		return fill(n, func(i int) int64 { return int64(i - 3) })
	case "int32":
		return fill(n, func(i int) int32 { return int32(i - 3) })
	case "int16":
		return fill(n, func(i int) int16 { return int16(i - 3) })
	case "int8":
		return fill(n, func(i int) int8 { return int8(i - 3) })
	case "uint8":
		return fill(n, func(i int) uint8 { return uint8(i) })
	case "uint16":
		return fill(n, func(i int) uint16 { return uint16(i) })
	case "uint32":
		return fill(n, func(i int) uint32 { return uint32(i) })
	case "uint64":
		return fill(n, func(i int) uint64 { return uint64(i) })
	case "bool":
		return fill(n, func(i int) bool { return i%3 == 0 })
	}
	panic("unknown dtype " + dtype)
}

func fill[T any](n int, f func(int) T) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = f(i)
	}
	return s
}

func makeArray(name, dtype string, shape ...int) *Array {
	a := &Array{Name: name, Shape: shape}
	a.Data = expect(dtype, a.Len())
	return a
}

func checkArray(t *testing.T, where string, got, want *Array) {
	t.Helper()
	if got.Name != want.Name || got.DType() != want.DType() || !slices.Equal(got.Shape, want.Shape) ||
		len(got.Shape) != len(want.Shape) || !reflect.DeepEqual(got.Data, want.Data) {
		t.Errorf("%s: got %s %s %v %v, want %s %s %v %v", where,
			got.Name, got.DType(), got.Shape, got.Data, want.Name, want.DType(), want.Shape, want.Data)
	}
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

var testShapes = [][]int{{}, {0}, {1}, {5}, {2, 3}, {2, 0, 4}, {2, 3, 4}}

func TestRoundTripNPY(t *testing.T) {
	for _, dt := range allDTypes {
		for _, shape := range testShapes {
			want := makeArray("", dt, shape...)
			var buf bytes.Buffer
			if err := WriteNPY(&buf, want); err != nil {
				t.Fatal(err)
			}
			b := buf.Bytes()
			hlen := int(binary.LittleEndian.Uint16(b[8:]))
			if b[6] != 1 || b[7] != 0 || (10+hlen)%64 != 0 || b[10+hlen-1] != '\n' {
				t.Errorf("%s %v: bad version %d.%d or unaligned header length %d", dt, shape, b[6], b[7], hlen)
			}
			got, err := ReadNPY(&buf)
			if err != nil {
				t.Fatalf("%s %v: %v", dt, shape, err)
			}
			checkArray(t, fmt.Sprint(dt, shape), got, want)
		}
	}
}

func TestRoundTripNPZ(t *testing.T) {
	var arrays []*Array
	for i, dt := range allDTypes {
		shape := testShapes[i%len(testShapes)]
		arrays = append(arrays, makeArray(dt, dt, shape...))
	}
	for _, tc := range []struct {
		write  func(string, []*Array) error
		method uint16
	}{{WriteNPZ, zip.Store}, {WriteNPZCompressed, zip.Deflate}} {
		dir := t.TempDir()
		path := filepath.Join(dir, "out.npz")
		if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := tc.write(path, arrays); err != nil {
			t.Fatal(err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Errorf("temp file left behind: %v", ents)
		}
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("stat: %v %v", st.Mode(), err)
		}
		zr, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range zr.File {
			if f.Name != arrays[i].Name+".npy" || f.Method != tc.method {
				t.Errorf("member %d: %q method %d, want %q method %d", i, f.Name, f.Method, arrays[i].Name+".npy", tc.method)
			}
		}
		zr.Close()
		for _, read := range []func(string) ([]*Array, error){ReadNPZ, ReadFile} {
			got, err := read(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(arrays) {
				t.Fatalf("got %d arrays, want %d", len(got), len(arrays))
			}
			for i := range got {
				checkArray(t, path, got[i], arrays[i])
			}
		}
	}
}

// TestHeaderV2 writes a header too long for version 1.0's 16-bit length.
func TestHeaderV2(t *testing.T) {
	shape := make([]int, 30000)
	for i := range shape {
		shape[i] = 1
	}
	shape[0] = 2
	want := makeArray("", "int16", shape...)
	var buf bytes.Buffer
	if err := WriteNPY(&buf, want); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if b[6] != 2 || (12+binary.LittleEndian.Uint32(b[8:]))%64 != 0 {
		t.Fatalf("want aligned version 2.0 header, got version %d.%d", b[6], b[7])
	}
	got, err := ReadNPY(&buf)
	if err != nil {
		t.Fatal(err)
	}
	checkArray(t, "v2", got, want)
}

type fixture struct {
	File      string
	Identical bool
	Error     string
	Arrays    []struct {
		Name, DType string
		Shape       []int
	}
}

// TestNumpyFixtures reads files written by testdata/gen.py with real NumPy.
func TestNumpyFixtures(t *testing.T) {
	raw, err := os.ReadFile("testdata/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixtures []fixture
	if err := json.Unmarshal(raw, &fixtures); err != nil {
		t.Fatal(err)
	}
	for _, fx := range fixtures {
		path := filepath.Join("testdata", fx.File)
		got, err := ReadFile(path)
		if fx.Error != "" {
			wantErr(t, err, path, fx.Error)
			continue
		}
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(got) != len(fx.Arrays) {
			t.Errorf("%s: got %d arrays, want %d", path, len(got), len(fx.Arrays))
			continue
		}
		for i, w := range fx.Arrays {
			checkArray(t, path, got[i], makeArray(w.Name, w.DType, w.Shape...))
		}
		if fx.Identical {
			var buf bytes.Buffer
			if err := WriteNPY(&buf, got[0]); err != nil {
				t.Fatal(err)
			}
			if file, _ := os.ReadFile(path); !bytes.Equal(buf.Bytes(), file) {
				t.Errorf("%s: WriteNPY output differs from NumPy's:\n got %q\nwant %q", path, buf.Bytes(), file)
			}
		}
	}
}

// TestNumpyReadsGo checks that NumPy loads what this package writes.
func TestNumpyReadsGo(t *testing.T) {
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skip("skipping: /usr/bin/python3 not found")
	}
	if out, err := exec.Command(python, "-c", "import numpy").CombinedOutput(); err != nil {
		t.Skipf("skipping: python3 has no numpy: %v %s", err, out)
	}
	dir := t.TempDir()
	var arrays []*Array
	expected := map[string][]map[string]any{}
	for i, dt := range allDTypes {
		a := makeArray(dt, dt, testShapes[i%len(testShapes)]...)
		arrays = append(arrays, a)
		for _, f := range []string{"stored.npz", "deflated.npz"} {
			expected[filepath.Join(dir, f)] = append(expected[filepath.Join(dir, f)],
				map[string]any{"name": a.Name, "dtype": dt, "shape": a.Shape})
		}
	}
	if err := WriteNPZ(filepath.Join(dir, "stored.npz"), arrays); err != nil {
		t.Fatal(err)
	}
	if err := WriteNPZCompressed(filepath.Join(dir, "deflated.npz"), arrays); err != nil {
		t.Fatal(err)
	}
	a := makeArray("cube", "float32", 2, 3, 4)
	var buf bytes.Buffer
	if err := WriteNPY(&buf, a); err != nil {
		t.Fatal(err)
	}
	npyPath := filepath.Join(dir, "cube.npy")
	if err := os.WriteFile(npyPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	expected[npyPath] = []map[string]any{{"name": "cube", "dtype": "float32", "shape": a.Shape}}
	arg, _ := json.Marshal(expected)
	const script = `
import json, sys, numpy as np
for path, arrays in json.loads(sys.argv[1]).items():
    z = np.load(path)
    if isinstance(z, np.ndarray):
        z = {arrays[0]['name']: z}
    assert list(z) == [a['name'] for a in arrays], (path, list(z))
    for a in arrays:
        v = z[a['name']]
        assert (v.dtype.name, list(v.shape)) == (a['dtype'], a['shape']), (path, a, v.dtype, v.shape)
        i = np.arange(v.size)
        want = {'f': i*0.25 - 1, 'i': i - 3, 'u': i, 'b': i % 3 == 0}[v.dtype.kind]
        assert np.array_equal(v, want.astype(v.dtype).reshape(v.shape)), (path, a['name'], v)
print('ok')
`
	out, err := exec.Command(python, "-c", script, string(arg)).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("numpy rejected Go output: %v\n%s", err, out)
	}
}

func TestFloatConversion(t *testing.T) {
	a := makeArray("x", "int64", 4)
	f32, err := a.Float32()
	if err != nil || !slices.Equal(f32, []float32{-3, -2, -1, 0}) {
		t.Errorf("Float32 = %v, %v", f32, err)
	}
	f64, err := makeArray("u", "uint8", 3).Float64()
	if err != nil || !slices.Equal(f64, []float64{0, 1, 2}) {
		t.Errorf("Float64 = %v, %v", f64, err)
	}
	same := makeArray("f", "float32", 3)
	if got, _ := same.Float32(); &got[0] != &same.Data.([]float32)[0] {
		t.Error("Float32 copied a []float32")
	}
	_, err = makeArray("mask", "bool", 2).Float32()
	wantErr(t, err, `"mask"`, "bool", "float32")
	_, err = (&Array{Name: "c", Data: []complex64{1}}).Float64()
	wantErr(t, err, `"c"`, "[]complex64")
}

func TestFind(t *testing.T) {
	arrays := []*Array{makeArray("a", "int8", 1), makeArray("b", "int8", 2)}
	if Find(arrays, "b") != arrays[1] || Find(arrays, "c") != nil {
		t.Error("Find returned the wrong array")
	}
}

// npyWith builds a version 1.0 .npy file from a raw header and data.
func npyWith(header string, data []byte) []byte {
	b := []byte(magic + "\x01\x00\x00\x00")
	binary.LittleEndian.PutUint16(b[8:], uint16(len(header)))
	return append(append(b, header...), data...)
}

func TestHeaderParsing(t *testing.T) {
	data := make([]byte, 6*4)
	for _, h := range []string{
		"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }   \n",
		`{"shape":(2,3),"descr":"<f4","fortran_order":False}`,
		"{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L)}", // Python 2
		"{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], 'extra': None}",
		"{'descr': 'f4', 'fortran_order': False, 'shape': (6,)}",
	} {
		a, err := ReadNPY(bytes.NewReader(npyWith(h, data)))
		if err != nil || a.Len() != 6 || a.DType() != "float32" {
			t.Errorf("header %q: %v", h, err)
		}
	}
	for _, tc := range []struct{ header, want string }{
		{"", "unexpected end of header"},
		{"{'descr': '<f4', 'fortran_order': False}", "missing key 'shape'"},
		{"{'descr': '<f4', 'shape': (6,)}", "missing key 'fortran_order'"},
		{"{'descr': '<f4', 'fortran_order': 0, 'shape': (6,)}", "fortran_order is 0, want True or False"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (6)}", "shape is (6), want a tuple"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}", "shape (2, -3) has a bad dimension"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 'x')}", "bad dimension"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (6,) 'x'}", "expected ',' or '}'"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} x", `unexpected 'x' after the dict`},
		{"{'descr': '<f4' 'fortran_order': False, 'shape': (6,)}", "expected ',' or '}'"},
		{"{'descr: '<f4', 'fortran_order': False, 'shape': (6,)}", "expected ':'"},
		{"{1: 2}", "dict key 1 is not a string"},
		{"[1, 2]", "not a dict"},
		{strings.Repeat("(", 1000), "nested too deeply"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "bad integer"},
		{"{'descr': '<f2', 'fortran_order': False, 'shape': (6,)}", `unsupported dtype "<f2" (float)`},
		{"{'descr': '|O', 'fortran_order': False, 'shape': (6,)}", `unsupported dtype "|O" (Python object)`},
		{"{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (6,)}", `unsupported dtype "<M8[ns]" (datetime)`},
	} {
		_, err := ReadNPY(bytes.NewReader(npyWith(tc.header, data)))
		wantErr(t, err, tc.want)
	}
}

func TestReadErrors(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteNPY(&buf, makeArray("x", "float64", 3, 4)); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	hdrEnd := len(good) - 96

	_, err := ReadNPY(bytes.NewReader(good[:hdrEnd+40]))
	wantErr(t, err, "expected 96 bytes of data, got 40")
	_, err = ReadNPY(bytes.NewReader(good[:hdrEnd-10]))
	wantErr(t, err, "truncated header")
	_, err = ReadNPY(bytes.NewReader(good[:7]))
	wantErr(t, err, "truncated .npy file")
	_, err = ReadNPY(strings.NewReader("hello, world"))
	wantErr(t, err, "not a .npy file", `"hello,"`)
	_, err = ReadNPY(strings.NewReader(""))
	wantErr(t, err, "not a .npy file")
	bad := slices.Clone(good)
	bad[6] = 4
	_, err = ReadNPY(bytes.NewReader(bad))
	wantErr(t, err, "unsupported .npy format version 4.0")

	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write("x.npy", good[:hdrEnd+40])
	_, err = ReadFile(p)
	wantErr(t, err, p, `array "x": expected 96 bytes of data, got 40`)
	p = write("notes.npz", []byte("just text"))
	_, err = ReadFile(p)
	wantErr(t, err, p, "not a .npy or .npz file")
	_, err = ReadNPZ(write("x2.npy", good))
	wantErr(t, err, "x2.npy", "not an .npz file")
	_, err = ReadFile(filepath.Join(dir, "missing.npz"))
	wantErr(t, err, "missing.npz", "no such file")

	zipWith := func(name string, members map[string][]byte, order ...string) string {
		var zb bytes.Buffer
		zw := zip.NewWriter(&zb)
		for _, m := range order {
			w, _ := zw.Create(m)
			w.Write(members[m])
		}
		zw.Close()
		return write(name, zb.Bytes())
	}
	p = zipWith("readme.npz", map[string][]byte{"a.npy": good, "README.txt": []byte("hi")}, "a.npy", "README.txt")
	_, err = ReadNPZ(p)
	wantErr(t, err, p, `member "README.txt" is not a .npy file`)
	p = zipWith("fake.npz", map[string][]byte{"a.npy": []byte("not numpy")}, "a.npy")
	_, err = ReadFile(p)
	wantErr(t, err, p, `array "a": not a .npy file`)
	p = zipWith("short.npz", map[string][]byte{"w.npy": good[:hdrEnd+40]}, "w.npy")
	_, err = ReadNPZ(p)
	wantErr(t, err, p, `array "w": expected 96 bytes of data, got 40`)
	p = zipWith("dup.npz", map[string][]byte{"a.npy": good}, "a.npy", "a.npy")
	_, err = ReadNPZ(p)
	wantErr(t, err, p, `duplicate member "a.npy"`)
	p = zipWith("empty.npz", nil)
	if got, err := ReadFile(p); err != nil || len(got) != 0 {
		t.Errorf("empty npz: %v %v", got, err)
	}
}

func TestWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		a    *Array
		want string
	}{
		{&Array{Name: "m", Shape: []int{2, 3}, Data: make([]float32, 5)}, `array "m": shape [2 3] needs 6 elements, data has 5`},
		{&Array{Name: "s", Data: []float32{}}, `array "s": shape [] needs 1 elements, data has 0`},
		{&Array{Name: "n", Shape: []int{-1}, Data: []float32{}}, `array "n": negative dimension`},
		{&Array{Name: "c", Shape: []int{1}, Data: []complex64{1}}, `array "c": unsupported data type []complex64`},
		{&Array{Name: "nil", Shape: []int{1}}, `array "nil": unsupported data type <nil>`},
	} {
		wantErr(t, WriteNPY(&bytes.Buffer{}, tc.a), tc.want)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "out.npz")
	ok := makeArray("a", "int8", 2)
	for _, tc := range []struct {
		arrays []*Array
		want   string
	}{
		{[]*Array{ok, makeArray("a", "float32", 1)}, `duplicate array name "a"`},
		{[]*Array{ok, makeArray("", "float32", 1)}, "array 1 has no name"},
		{[]*Array{ok, nil}, "array 1 is nil"},
		{[]*Array{ok, {Name: "m", Shape: []int{4}, Data: []bool{true}}}, `array "m": shape [4] needs 4 elements, data has 1`},
	} {
		wantErr(t, WriteNPZ(path, tc.arrays), path, tc.want)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed writes left files behind: %v", ents)
	}
	wantErr(t, WriteNPZ(filepath.Join(dir, "no/such/dir/out.npz"), []*Array{ok}), "no/such/dir/out.npz")
}

// FuzzReadNPY checks that malformed input yields errors, not panics, and
// that whatever decodes also re-encodes. Seeds are the NumPy fixtures.
func FuzzReadNPY(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.npy")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ReadNPY(bytes.NewReader(b))
		if err != nil {
			return
		}
		if err := WriteNPY(io.Discard, a); err != nil {
			t.Fatalf("decoded array does not re-encode: %v", err)
		}
	})
}
