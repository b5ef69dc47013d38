package episode

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// quantiles are LeRobot's DEFAULT_QUANTILES (compute_stats.py) and their keys.
var (
	quantiles    = []float64{0.01, 0.10, 0.50, 0.90, 0.99}
	quantileKeys = []string{"q01", "q10", "q50", "q90", "q99"}
	// statKeys is the order LeRobot writes a feature's stats in.
	statKeys = []string{"min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"}
)

const quantileBins = 5000 // RunningQuantileStats' num_quantile_bins

// FeatureStats are one feature's statistics, per dimension (per channel for images,
// in 0..1), as in stats.json and the episodes' stats/<feature>/<stat> columns.
type FeatureStats struct {
	Min, Max, Mean, Std []float64
	Count               int64
	Q                   [5][]float64 // q01 q10 q50 q90 q99
	Image               bool         // written with LeRobot's (C, 1, 1) image shape
}

func (s *FeatureStats) stat(key string) []float64 {
	switch key {
	case "min":
		return s.Min
	case "max":
		return s.Max
	case "mean":
		return s.Mean
	case "std":
		return s.Std
	}
	for i, k := range quantileKeys {
		if k == key {
			return s.Q[i]
		}
	}
	return nil
}

// vectorStats computes a feature's stats over an episode the way LeRobot's
// get_feature_stats does for one batch: exact min, max, mean, population std, and
// quantiles from a 5000-bin histogram between min and max, interpolated within a bin.
// cols[d] holds dimension d's values, one per frame.
func vectorStats(cols [][]float64) *FeatureStats {
	s := &FeatureStats{}
	n := 0
	if len(cols) > 0 {
		n = len(cols[0])
	}
	s.Count = int64(n)
	for i := range s.Q {
		s.Q[i] = make([]float64, len(cols))
	}
	for _, c := range cols {
		mn, mx := math.Inf(1), math.Inf(-1)
		var sum, sq float64
		for _, v := range c {
			mn, mx = math.Min(mn, v), math.Max(mx, v)
			sum += v
			sq += v * v
		}
		mean := sum / float64(n)
		std := math.Sqrt(math.Max(0, sq/float64(n)-mean*mean))
		s.Min, s.Max, s.Mean = append(s.Min, mn), append(s.Max, mx), append(s.Mean, mean)
		if n < 2 {
			s.Std = append(s.Std, 0)
			for i := range quantiles {
				s.Q[i][len(s.Std)-1] = mean
			}
			continue
		}
		s.Std = append(s.Std, std)
		lo, hi := mn-1e-10, mx+1e-10
		hist := make([]float64, quantileBins)
		width := (hi - lo) / quantileBins
		for _, v := range c {
			b := int((v - lo) / width)
			hist[min(max(b, 0), quantileBins-1)]++
		}
		d := len(s.Std) - 1
		for i, q := range quantiles {
			s.Q[i][d] = histQuantile(hist, lo, hi, q*float64(n))
		}
	}
	return s
}

// histQuantile is RunningQuantileStats._compute_single_quantile on equal-width bins.
func histQuantile(hist []float64, lo, hi, target float64) float64 {
	edge := func(i int) float64 { return lo + (hi-lo)*float64(i)/float64(len(hist)) }
	var cum float64
	for i, c := range hist {
		before := cum
		cum += c
		if cum >= target {
			if i == 0 {
				return edge(0)
			}
			if c == 0 {
				return edge(i)
			}
			return edge(i) + (target-before)/c*(edge(i+1)-edge(i))
		}
	}
	return edge(len(hist))
}

// imageStats computes per-channel stats, normalized to 0..1, from 256-bin histograms
// of uint8 pixels (one per channel) summed over the sampled frames; count is the number
// of sampled frames, as LeRobot's compute_episode_stats writes it.
func imageStats(hist [][256]uint64, frames int) *FeatureStats {
	s := &FeatureStats{Image: true, Count: int64(frames)}
	for i := range s.Q {
		s.Q[i] = make([]float64, len(hist))
	}
	for c, h := range hist {
		var n, sum, sq float64
		mn, mx := -1, -1
		for v, k := range h {
			if k == 0 {
				continue
			}
			if mn < 0 {
				mn = v
			}
			mx = v
			n += float64(k)
			sum += float64(k) * float64(v)
			sq += float64(k) * float64(v) * float64(v)
		}
		if n == 0 {
			mn, mx = 0, 0
			n = 1
		}
		mean := sum / n
		s.Min = append(s.Min, float64(mn)/255)
		s.Max = append(s.Max, float64(mx)/255)
		s.Mean = append(s.Mean, mean/255)
		s.Std = append(s.Std, math.Sqrt(math.Max(0, sq/n-mean*mean))/255)
		// The same 5000-bin histogram LeRobot fills, from the exact 256-value one.
		lo, hi := float64(mn)-1e-10, float64(mx)+1e-10
		bins := make([]float64, quantileBins)
		width := (hi - lo) / quantileBins
		for v, k := range h {
			if k > 0 {
				bins[min(max(int((float64(v)-lo)/width), 0), quantileBins-1)] += float64(k)
			}
		}
		for i, q := range quantiles {
			s.Q[i][c] = histQuantile(bins, lo, hi, q*n) / 255
		}
	}
	return s
}

// sampleIndices are the frames LeRobot samples for image stats (sample_indices).
func sampleIndices(n int) []int {
	num := int(math.Pow(float64(n), 0.75))
	num = max(min(100, n), min(num, 10000))
	idx := make([]int, num)
	for i := range idx {
		x := 0.0
		if num > 1 {
			x = float64(i) * float64(n-1) / float64(num-1)
		}
		idx[i] = int(math.RoundToEven(x))
	}
	return idx
}

// downsampleStride is LeRobot's auto_downsample_height_width step for a frame size.
func downsampleStride(w, h int) int {
	if max(w, h) < 300 {
		return 1
	}
	if w > h {
		return max(1, w/150)
	}
	return max(1, h/150)
}

// aggregate merges stats as LeRobot's aggregate_feature_stats: count-weighted mean
// and variance, min of mins, max of maxes, lower quantiles (<= q50) by min and upper
// ones by max.
func aggregate(list []*FeatureStats) *FeatureStats {
	if len(list) == 0 {
		return nil
	}
	d := len(list[0].Mean)
	out := &FeatureStats{Image: list[0].Image}
	var total float64
	for _, s := range list {
		out.Count += s.Count
		total += float64(s.Count)
	}
	out.Min, out.Max, out.Mean, out.Std = make([]float64, d), make([]float64, d), make([]float64, d), make([]float64, d)
	for i := range out.Q {
		out.Q[i] = make([]float64, d)
	}
	for j := 0; j < d; j++ {
		out.Min[j], out.Max[j] = math.Inf(1), math.Inf(-1)
		for i := range quantiles {
			if quantiles[i] <= 0.5 {
				out.Q[i][j] = math.Inf(1)
			} else {
				out.Q[i][j] = math.Inf(-1)
			}
		}
		var m float64
		for _, s := range list {
			m += s.Mean[j] * float64(s.Count)
		}
		m /= total
		var v float64
		for _, s := range list {
			dm := s.Mean[j] - m
			v += (s.Std[j]*s.Std[j] + dm*dm) * float64(s.Count)
			out.Min[j] = math.Min(out.Min[j], s.Min[j])
			out.Max[j] = math.Max(out.Max[j], s.Max[j])
			for i := range quantiles {
				if s.Q[i] == nil {
					continue
				}
				if quantiles[i] <= 0.5 {
					out.Q[i][j] = math.Min(out.Q[i][j], s.Q[i][j])
				} else {
					out.Q[i][j] = math.Max(out.Q[i][j], s.Q[i][j])
				}
			}
		}
		out.Mean[j] = m
		out.Std[j] = math.Sqrt(v / total)
	}
	for i := range out.Q {
		for _, s := range list {
			if s.Q[i] == nil {
				out.Q[i] = nil // LeRobot keeps a quantile only when every part has it
				break
			}
		}
	}
	return out
}

// jsonValue shapes a stat the way LeRobot serializes it: a list per dimension, or
// [[[c0]], [[c1]], [[c2]]] for images.
func (s *FeatureStats) jsonValue(v []float64) any {
	if !s.Image {
		return v
	}
	out := make([][][]float64, len(v))
	for i, x := range v {
		out[i] = [][]float64{{x}}
	}
	return out
}

func (s *FeatureStats) toObject() object {
	var o object
	for _, k := range statKeys {
		if k == "count" {
			o.set(k, []int64{s.Count})
			continue
		}
		if v := s.stat(k); v != nil {
			o.set(k, s.jsonValue(v))
		}
	}
	return o
}

// Stats maps a feature key to its stats; order lists the keys as written.
type Stats struct {
	order []string
	m     map[string]*FeatureStats
}

// Get returns a feature's stats, or nil.
func (s *Stats) Get(key string) *FeatureStats {
	if s == nil {
		return nil
	}
	return s.m[key]
}

// Keys lists the features that have stats.
func (s *Stats) Keys() []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s.order...)
}

func (s *Stats) put(key string, fs *FeatureStats) {
	if s.m == nil {
		s.m = map[string]*FeatureStats{}
	}
	if _, ok := s.m[key]; !ok {
		s.order = append(s.order, key)
	}
	s.m[key] = fs
}

func (s *Stats) MarshalJSON() ([]byte, error) {
	var o object
	for _, k := range s.order {
		o.set(k, s.m[k].toObject())
	}
	return json.MarshalIndent(o, "", "    ")
}

// aggregateStats merges episode stats into running dataset stats (either may be nil).
func aggregateStats(a, b *Stats) *Stats {
	if a == nil {
		return b
	}
	out := &Stats{}
	for _, k := range a.order {
		if bs := b.Get(k); bs != nil {
			out.put(k, aggregate([]*FeatureStats{a.m[k], bs}))
		} else {
			out.put(k, a.m[k])
		}
	}
	for _, k := range b.Keys() {
		if a.Get(k) == nil {
			out.put(k, b.m[k])
		}
	}
	return out
}

// parseStats reads stats.json; nested image shapes are flattened.
func parseStats(b []byte, in *Info) (*Stats, error) {
	var o object
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, err
	}
	out := &Stats{}
	for _, key := range o.keys {
		var fo object
		if err := json.Unmarshal(o.vals[key], &fo); err != nil {
			return nil, fmt.Errorf("stats of %q: %w", key, err)
		}
		fs := &FeatureStats{}
		if f, ok := in.Feature(key); ok && (f.IsVideo() || f.Dtype == "image") {
			fs.Image = true
		}
		for _, sk := range fo.keys {
			var raw any
			if err := json.Unmarshal(fo.vals[sk], &raw); err != nil {
				return nil, fmt.Errorf("stats of %q: %s: %w", key, sk, err)
			}
			v := flattenNumbers(raw, nil)
			switch sk {
			case "count":
				if len(v) > 0 {
					fs.Count = int64(v[0])
				}
			case "min":
				fs.Min = v
			case "max":
				fs.Max = v
			case "mean":
				fs.Mean = v
			case "std":
				fs.Std = v
			default:
				for i, qk := range quantileKeys {
					if qk == sk {
						fs.Q[i] = v
					}
				}
			}
		}
		if fs.Mean == nil || fs.Std == nil || fs.Min == nil || fs.Max == nil {
			return nil, fmt.Errorf("stats of %q: want min, max, mean, std, count", key)
		}
		out.put(key, fs)
	}
	return out, nil
}

func flattenNumbers(v any, dst []float64) []float64 {
	switch x := v.(type) {
	case float64:
		return append(dst, x)
	case bool:
		if x {
			return append(dst, 1)
		}
		return append(dst, 0)
	case []any:
		for _, e := range x {
			dst = flattenNumbers(e, dst)
		}
	}
	return dst
}

// sortedKeys is a helper for deterministic iteration of small maps.
func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
