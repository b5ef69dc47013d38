package calib

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file holds the strict YAML reading shared by the calibration file formats: every
// error names the file, the line and the field (dotted path), unknown and duplicate keys
// are errors, and numbers must be finite.

// yamlDoc parses data as a YAML document whose root is a mapping.
func yamlDoc(file string, data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("calib: %s: %w", file, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fmt.Errorf("calib: %s: empty document", file)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("calib: %s: line %d: want a mapping of fields at the top level", file, root.Line)
	}
	return root, nil
}

// fieldErr is an error about one field of a file.
func fieldErr(file string, n *yaml.Node, path, format string, args ...any) error {
	return fmt.Errorf("calib: %s: line %d: %s: %s", file, n.Line, path, fmt.Sprintf(format, args...))
}

// fields checks that mapping node m (at path, "" for the root) has exactly the required
// keys plus any of the optional ones, and returns the value nodes by key.
func fields(file string, m *yaml.Node, path string, required, optional []string) (map[string]*yaml.Node, error) {
	where := path
	if where == "" {
		where = "top level"
	}
	if m.Kind != yaml.MappingNode {
		return nil, fieldErr(file, m, where, "want a mapping")
	}
	allowed := map[string]bool{}
	for _, k := range required {
		allowed[k] = true
	}
	for _, k := range optional {
		allowed[k] = true
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if !allowed[k.Value] {
			want := append(append([]string(nil), required...), optional...)
			return nil, fieldErr(file, k, join(path, k.Value), "unknown field (want %s)", strings.Join(want, ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, fieldErr(file, k, join(path, k.Value), "duplicate field")
		}
		out[k.Value] = v
	}
	for _, k := range required {
		if _, ok := out[k]; !ok {
			return nil, fieldErr(file, m, where, "missing field %q", k)
		}
	}
	return out, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func scalar(file string, n *yaml.Node, path string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", fieldErr(file, n, path, "want a single value")
	}
	return n.Value, nil
}

func yamlString(file string, n *yaml.Node, path string) (string, error) {
	s, err := scalar(file, n, path)
	if err != nil {
		return "", err
	}
	if n.ShortTag() == "!!null" {
		return "", nil
	}
	return s, nil
}

func yamlInt(file string, n *yaml.Node, path string) (int, error) {
	s, err := scalar(file, n, path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(s)
	if err != nil || n.ShortTag() != "!!int" {
		return 0, fieldErr(file, n, path, "%q is not an integer", s)
	}
	return v, nil
}

func yamlFloat(file string, n *yaml.Node, path string) (float64, error) {
	s, err := scalar(file, n, path)
	if err != nil {
		return 0, err
	}
	if n.ShortTag() != "!!int" && n.ShortTag() != "!!float" {
		return 0, fieldErr(file, n, path, "%q is not a number", s)
	}
	var v float64
	if err := n.Decode(&v); err != nil {
		return 0, fieldErr(file, n, path, "%q is not a number", s)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fieldErr(file, n, path, "%q is not finite", s)
	}
	return v, nil
}

// yamlFloats reads a sequence of exactly want numbers (any length if want < 0).
func yamlFloats(file string, n *yaml.Node, path string, want int) ([]float64, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, fieldErr(file, n, path, "want a list of numbers")
	}
	if want >= 0 && len(n.Content) != want {
		return nil, fieldErr(file, n, path, "%d values, want %d", len(n.Content), want)
	}
	out := make([]float64, len(n.Content))
	for i, e := range n.Content {
		v, err := yamlFloat(file, e, fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// formatFloat writes the shortest decimal that reads back as exactly v, always with a
// decimal point before an exponent ("1.0e-05", not "1e-05"): YAML 1.1 readers such as
// PyYAML (used by ROS's Python tools) take "1e-05" for a string.
func formatFloat(v float64) string {
	if v == 0 {
		return "0" // also for -0
	}
	s := strconv.FormatFloat(v, 'g', -1, 64)
	if i := strings.IndexByte(s, 'e'); i >= 0 && !strings.Contains(s[:i], ".") {
		s = s[:i] + ".0" + s[i:]
	}
	return s
}

func flowList(vs []float64) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = formatFloat(v)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// yamlQuote writes s as a YAML scalar, plain when that reads back as the same string.
func yamlQuote(s string) string {
	var n yaml.Node
	n.SetString(s)
	out, err := yaml.Marshal(&n)
	if err != nil {
		return strconv.Quote(s)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// writeFileAtomic writes data to a temporary file next to path and renames it over path,
// so a reader never sees a partial file.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("calib: write %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("calib: write %s: %w", path, werr)
	}
	return nil
}

// linesOf is a tiny builder for the hand-written YAML files.
type linesOf struct{ b bytes.Buffer }

func (l *linesOf) f(format string, args ...any) {
	fmt.Fprintf(&l.b, format, args...)
	l.b.WriteByte('\n')
}
