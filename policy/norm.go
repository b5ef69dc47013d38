package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
)

// normEps is LeRobot's epsilon in the normalization denominators.
const normEps = 1e-8

// Normalizer maps a feature between its dataset units and the network's normalized space,
// normalized = (x - shift) / scale, element by element (per-channel image statistics are
// broadcast at load):
//
//	mean_std: scale = std + 1e-8,            shift = mean
//	min_max:  scale = (max - min + 1e-8) / 2, shift = min + scale   ((x-min)/(max-min+1e-8)*2 - 1)
//	identity: no change
type Normalizer struct {
	Mode  string
	scale []float64 // per element; nil for identity
	shift []float64 // per element
}

// Normalize writes the normalized x into dst (both the feature's size).
func (n *Normalizer) Normalize(dst, x []float32) {
	if n.scale == nil {
		copy(dst, x)
		return
	}
	for i, v := range x {
		dst[i] = float32((float64(v) - n.shift[i]) / n.scale[i])
	}
}

// Unnormalize writes the dataset-unit value of normalized y into dst.
func (n *Normalizer) Unnormalize(dst, y []float32) {
	if n.scale == nil {
		copy(dst, y)
		return
	}
	for i, v := range y {
		dst[i] = float32(float64(v)*n.scale[i] + n.shift[i])
	}
}

// newNormalizer builds the per-element affine map of mode from LeRobot statistics. The
// min_max map (x-min)/(max-min+eps)*2-1 is the affine map with scale (max-min+eps)/2 and
// shift min + scale.
func newNormalizer(mode string, shape []int, size int, st featureStats) (Normalizer, error) {
	n := Normalizer{Mode: mode}
	if mode == NormIdentity {
		return n, nil
	}
	get := func(key string) ([]float64, error) {
		v, ok := st[key]
		if !ok {
			return nil, fmt.Errorf("stats.json has no %q for normalization %s", key, mode)
		}
		return broadcast(key, v, shape, size)
	}
	n.scale = make([]float64, size)
	n.shift = make([]float64, size)
	switch mode {
	case NormMeanStd:
		mean, err := get("mean")
		if err != nil {
			return n, err
		}
		std, err := get("std")
		if err != nil {
			return n, err
		}
		for i := range size {
			if std[i] < 0 {
				return n, fmt.Errorf("stats std[%d] = %v is negative", i, std[i])
			}
			n.scale[i] = std[i] + normEps
			n.shift[i] = mean[i]
		}
	case NormMinMax:
		lo, err := get("min")
		if err != nil {
			return n, err
		}
		hi, err := get("max")
		if err != nil {
			return n, err
		}
		for i := range size {
			if hi[i] < lo[i] {
				return n, fmt.Errorf("stats max[%d] = %v is below min[%d] = %v", i, hi[i], i, lo[i])
			}
			n.scale[i] = (hi[i] - lo[i] + normEps) / 2
			n.shift[i] = lo[i] + n.scale[i]
		}
	default:
		return n, fmt.Errorf("normalization: unknown %q (mean_std, min_max or identity)", mode)
	}
	return n, nil
}

// broadcast expands a statistic to one value per element: it may have the feature's
// element count, or (images, as LeRobot stores them) one value per channel, shape [C,1,1].
func broadcast(key string, st stat, shape []int, size int) ([]float64, error) {
	out := make([]float64, size)
	for _, v := range st.values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("stats %s holds %v", key, v)
		}
	}
	switch {
	case len(st.values) == size:
		copy(out, st.values)
	case len(shape) > 1 && len(st.values) == shape[0]:
		per := size / shape[0]
		for c, v := range st.values {
			for i := range per {
				out[c*per+i] = v
			}
		}
	default:
		return nil, fmt.Errorf("stats %s has %d values (shape %v), the feature has shape %v (%d values)",
			key, len(st.values), st.shape, shape, size)
	}
	return out, nil
}

// NewFeature validates the feature name as fc configures it (a shape of positive
// dimensions, [channels, height, width] for an image; a normalization mode) and builds its
// Normalizer from stats' entry for name, which an identity feature does not need. A
// statistic may hold one value per element or, for an image, one per channel. Load uses
// it for a policy bundle's features; a steering bundle with its own stats.json too.
func NewFeature(name string, fc FeatureConfig, stats Stats) (Feature, error) {
	st := stats[name]
	f := Feature{Name: name, Shape: fc.Shape, Size: 1}
	if len(fc.Shape) == 0 {
		return f, errors.New("shape: missing")
	}
	for _, d := range fc.Shape {
		if d < 1 {
			return f, fmt.Errorf("shape: %v has a dimension < 1", fc.Shape)
		}
		f.Size *= d
	}
	if f.IsImage() && len(fc.Shape) != 3 {
		return f, fmt.Errorf("shape: an image is [channels, height, width], got %v", fc.Shape)
	}
	mode := fc.Normalization
	if mode == "" {
		return f, errors.New("normalization: missing (mean_std, min_max or identity)")
	}
	if st == nil && mode != NormIdentity {
		return f, fmt.Errorf("normalization %s: stats.json has no entry %q", mode, name)
	}
	n, err := newNormalizer(mode, fc.Shape, f.Size, st)
	if err != nil {
		return f, err
	}
	f.Norm = n
	return f, nil
}

// stat is one statistic: flattened values and the nesting shape it was written with.
type stat struct {
	values []float64
	shape  []int
}

type featureStats map[string]stat

// Stats are the statistics of a LeRobot stats.json by feature name, as ReadStats returns
// them for NewFeature.
type Stats map[string]featureStats

// ReadStats reads a LeRobot stats.json: {feature: {stat: nested list of numbers}}.
// Entries other than lists of numbers (LeRobot also stores counts) are ignored. A mean,
// std, min or max that is not a regular nested list of finite numbers is an error naming
// the feature, the statistic and the index; a bare NaN or Infinity (Python's json.dump
// writes them) is reported so too, rather than as a JSON syntax error.
func ReadStats(path string) (Stats, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal(quoteNonFinite(data), &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make(Stats, len(raw))
	for feat, stats := range raw {
		fs := featureStats{}
		for key, msg := range stats {
			var v any
			if err := json.Unmarshal(msg, &v); err != nil {
				return nil, fmt.Errorf("%s: %s.%s: %w", path, feat, key, err)
			}
			var s stat
			var at []int
			if err := flatten(v, &at, &s); err != nil {
				if key == "mean" || key == "std" || key == "min" || key == "max" {
					return nil, fmt.Errorf("%s: %s.%s%s: %w", path, feat, key, indexString(at), err)
				}
				continue
			}
			fs[key] = s
		}
		out[feat] = fs
	}
	return out, nil
}

// nonFinite marks, inside a JSON string, a bare NaN, Infinity or -Infinity that
// quoteNonFinite found: Python's json.dump writes them (its allow_nan default), but they
// are not JSON, and encoding/json's error for them ("invalid character 'N'") names no key.
const nonFinite = "\x00non-finite "

// quoteNonFinite returns data with every bare NaN, Infinity and -Infinity outside a
// string turned into the string nonFinite+token, so that the file decodes and flatten
// reports the feature, statistic and index that hold one. Outside strings, JSON has no
// other token starting with N, I or -I, so no valid document changes.
func quoteNonFinite(data []byte) []byte {
	var out []byte // nil until the first replacement
	inString, escaped := false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			if out != nil {
				out = append(out, c)
			}
			continue
		}
		var tok string
		for _, t := range []string{"NaN", "Infinity", "-Infinity"} {
			if bytes.HasPrefix(data[i:], []byte(t)) {
				tok = t
				break
			}
		}
		if tok == "" {
			inString = c == '"'
			if out != nil {
				out = append(out, c)
			}
			continue
		}
		if out == nil {
			out = append(make([]byte, 0, len(data)+32), data[:i]...)
		}
		out = append(append(append(out, `"\u0000non-finite `...), tok...), '"')
		i += len(tok) - 1
	}
	if out == nil {
		return data
	}
	return out
}

// indexString formats a nested-list position as [i][j]...
func indexString(at []int) string {
	var b strings.Builder
	for _, i := range at {
		fmt.Fprintf(&b, "[%d]", i)
	}
	return b.String()
}

// flatten appends the numbers of a nested list to s, recording the shape of a regular
// nest. On an error, *at is the position of the offending element.
func flatten(v any, at *[]int, s *stat) error {
	depth := len(*at)
	switch x := v.(type) {
	case float64:
		s.values = append(s.values, x)
		return nil
	case string:
		if tok, ok := strings.CutPrefix(x, nonFinite); ok {
			return fmt.Errorf("%s: want a finite number", tok)
		}
	case []any:
		if len(s.shape) == depth {
			s.shape = append(s.shape, len(x))
		} else if s.shape[depth] != len(x) {
			return errors.New("ragged nested list")
		}
		for i, e := range x {
			*at = append(*at, i)
			if err := flatten(e, at, s); err != nil {
				return err
			}
			*at = (*at)[:depth]
		}
		return nil
	}
	return fmt.Errorf("want a (nested) list of numbers, got %s", strings.TrimPrefix(fmt.Sprintf("%T", v), "[]"))
}
