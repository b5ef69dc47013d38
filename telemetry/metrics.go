package telemetry

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Label is one name="value" pair attached to a metric series.
type Label struct {
	Name, Value string
}

// metricType is a family's Prometheus type, as written on its TYPE line.
type metricType uint8

const (
	typeCounter metricType = iota + 1
	typeGauge
	typeHistogram
)

func (t metricType) String() string {
	switch t {
	case typeCounter:
		return "counter"
	case typeGauge:
		return "gauge"
	case typeHistogram:
		return "histogram"
	}
	return "untyped"
}

// Counter is a monotonically increasing count. The zero value is not registered; get one
// from [Registry.Counter]. Its methods are safe for concurrent use and allocate nothing.
type Counter struct {
	v atomic.Uint64
}

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Value returns the current count.
func (c *Counter) Value() uint64 { return c.v.Load() }

// Gauge is a value that goes up and down. Get one from [Registry.Gauge]. Its methods are
// safe for concurrent use, lock-free and allocate nothing.
type Gauge struct {
	bits atomic.Uint64 // math.Float64bits of the value
}

// Set sets the gauge to v.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Add adds d (which may be negative) with a compare-and-swap loop.
func (g *Gauge) Add(d float64) { addFloat(&g.bits, d) }

// Value returns the current value.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

func addFloat(bits *atomic.Uint64, d float64) {
	for {
		old := bits.Load()
		if bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// Histogram counts observations into buckets with fixed upper bounds. Get one from
// [Registry.Histogram]. Observe is safe for concurrent use, lock-free and allocates
// nothing.
type Histogram struct {
	upper  []float64       // finite upper bounds, strictly increasing; +Inf is implicit
	counts []atomic.Uint64 // per bucket, not cumulative; len(upper)+1, the last is +Inf
	sum    atomic.Uint64   // math.Float64bits of the sum of observations
}

func newHistogram(upper []float64) *Histogram {
	return &Histogram{upper: upper, counts: make([]atomic.Uint64, len(upper)+1)}
}

// Observe adds one observation. A value equal to a bound counts in that bound's bucket
// (Prometheus' le is "less or equal"). NaN counts in the +Inf bucket and makes the sum NaN,
// as in the Prometheus client libraries.
func (h *Histogram) Observe(v float64) {
	// Binary search for the first bound >= v; NaN compares false and lands in +Inf.
	lo, hi := 0, len(h.upper)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if h.upper[m] < v || v != v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	h.counts[lo].Add(1)
	addFloat(&h.sum, v)
}

// Count returns the number of observations so far.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Sum returns the sum of the observations so far.
func (h *Histogram) Sum() float64 { return math.Float64frombits(h.sum.Load()) }

// LinearBuckets returns n upper bounds start, start+width, ... for [Registry.Histogram].
// It panics if n < 1 or width <= 0.
func LinearBuckets(start, width float64, n int) []float64 {
	if n < 1 || !(width > 0) {
		panic(fmt.Sprintf("telemetry: LinearBuckets(%g, %g, %d): want n >= 1 and width > 0", start, width, n))
	}
	b := make([]float64, n)
	for i := range b {
		b[i] = start + float64(i)*width
	}
	return b
}

// ExponentialBuckets returns n upper bounds start, start*factor, start*factor², ... for
// [Registry.Histogram]. It panics if n < 1, start <= 0 or factor <= 1.
func ExponentialBuckets(start, factor float64, n int) []float64 {
	if n < 1 || !(start > 0) || !(factor > 1) {
		panic(fmt.Sprintf("telemetry: ExponentialBuckets(%g, %g, %d): want n >= 1, start > 0, factor > 1", start, factor, n))
	}
	b := make([]float64, n)
	v := start
	for i := range b {
		b[i] = v
		v *= factor
	}
	return b
}

// Registry holds metric families. Registration and [Registry.WriteText] take its mutex;
// updating a registered metric never does. The zero value is not usable: use
// [NewRegistry].
type Registry struct {
	mu       sync.Mutex
	families map[string]*family
	sorted   []*family // by name, for WriteText
}

// family is one metric name: its type, help and series.
type family struct {
	name    string
	help    string
	typ     metricType
	labels  []string  // the label names every series carries, sorted
	buckets []float64 // histograms only
	series  []*series // sorted by label values (in the order of labels)
}

// series is one label set of a family and its metric.
type series struct {
	values []string // label values in the order of family.labels
	text   string   // `{a="x",b="y"}` escaped, or "" without labels
	lePre  string   // histograms: `{a="x",b="y",le="` or `{le="`

	counter   *Counter
	gauge     *Gauge
	histogram *Histogram
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{families: make(map[string]*family)}
}

// Counter returns the counter called name with the given labels, registering it on first
// use. Counter names conventionally end in _total. It panics on a programming error (see
// the package documentation).
func (r *Registry) Counter(name, help string, labels ...Label) *Counter {
	return r.register(typeCounter, name, help, nil, labels).counter
}

// Gauge returns the gauge called name with the given labels, registering it on first use.
// It panics on a programming error (see the package documentation).
func (r *Registry) Gauge(name, help string, labels ...Label) *Gauge {
	return r.register(typeGauge, name, help, nil, labels).gauge
}

// Histogram returns the histogram called name with the given labels and bucket upper
// bounds, registering it on first use. buckets must be strictly increasing and not NaN; a
// final +Inf may be given or left out (it is always there). Every series of a family has
// the same buckets. The label name "le" is reserved. It panics on a programming error (see
// the package documentation).
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...Label) *Histogram {
	return r.register(typeHistogram, name, help, buckets, labels).histogram
}

var histogramSuffixes = [...]string{"_bucket", "_sum", "_count"}

func (r *Registry) register(typ metricType, name, help string, buckets []float64, labels []Label) *series {
	fail := func(format string, args ...any) {
		panic(fmt.Sprintf("telemetry: %s %q: ", typ, name) + fmt.Sprintf(format, args...))
	}
	if !validMetricName(name) {
		fail("invalid metric name: want [a-zA-Z_:][a-zA-Z0-9_:]*")
	}
	if !utf8.ValidString(help) {
		fail("help text is not valid UTF-8")
	}
	if typ == typeHistogram {
		var err error
		if buckets, err = checkBuckets(buckets); err != nil {
			fail("%v", err)
		}
	}
	ls := slices.Clone(labels)
	slices.SortFunc(ls, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	names := make([]string, len(ls))
	values := make([]string, len(ls))
	for i, l := range ls {
		switch {
		case !validLabelName(l.Name):
			fail("invalid label name %q: want [a-zA-Z_][a-zA-Z0-9_]*", l.Name)
		case strings.HasPrefix(l.Name, "__"):
			fail("label name %q: names starting with __ are reserved", l.Name)
		case typ == typeHistogram && l.Name == "le":
			fail(`label name "le" is reserved for histogram buckets`)
		case i > 0 && ls[i-1].Name == l.Name:
			fail("label %q given twice", l.Name)
		case !utf8.ValidString(l.Value):
			fail("label %s: value is not valid UTF-8", l.Name)
		}
		names[i], values[i] = l.Name, l.Value
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.families[name]
	if f == nil {
		// The exposition of a histogram writes name_bucket, name_sum and name_count:
		// no other family may use those names.
		if typ == typeHistogram {
			for _, s := range histogramSuffixes {
				if g := r.families[name+s]; g != nil {
					fail("collides with %s %q", g.typ, g.name)
				}
			}
		}
		for _, s := range histogramSuffixes {
			if base, ok := strings.CutSuffix(name, s); ok {
				if g := r.families[base]; g != nil && g.typ == typeHistogram {
					fail("collides with the %s series of histogram %q", s, base)
				}
			}
		}
		f = &family{name: name, help: help, typ: typ, labels: names, buckets: buckets}
		r.families[name] = f
		i, _ := slices.BinarySearchFunc(r.sorted, name, func(f *family, n string) int { return strings.Compare(f.name, n) })
		r.sorted = slices.Insert(r.sorted, i, f)
	} else {
		switch {
		case f.typ != typ:
			fail("already registered as a %s", f.typ)
		case f.help != help:
			fail("already registered with help %q, now %q", f.help, help)
		case !slices.Equal(f.labels, names):
			fail("already registered with labels %v, now %v", f.labels, names)
		case typ == typeHistogram && !slices.Equal(f.buckets, buckets):
			fail("already registered with buckets %v, now %v", f.buckets, buckets)
		}
	}

	i, found := slices.BinarySearchFunc(f.series, values, func(s *series, v []string) int { return slices.Compare(s.values, v) })
	if found {
		return f.series[i]
	}
	s := &series{values: values}
	var b strings.Builder
	for j := range names {
		if j == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(names[j])
		b.WriteString(`="`)
		writeEscaped(&b, values[j], true)
		b.WriteByte('"')
	}
	if len(names) > 0 {
		s.lePre = b.String() + `,le="`
		b.WriteByte('}')
		s.text = b.String()
	} else {
		s.lePre = `{le="`
	}
	switch typ {
	case typeCounter:
		s.counter = new(Counter)
	case typeGauge:
		s.gauge = new(Gauge)
	case typeHistogram:
		s.histogram = newHistogram(f.buckets)
	}
	f.series = slices.Insert(f.series, i, s)
	return s
}

// checkBuckets validates histogram upper bounds and returns a private copy without a
// trailing +Inf.
func checkBuckets(b []float64) ([]float64, error) {
	if n := len(b); n > 0 && math.IsInf(b[n-1], +1) {
		b = b[:n-1]
	}
	for i, v := range b {
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			return nil, fmt.Errorf("bucket %d is %g: want finite bounds (+Inf only last)", i, v)
		case i > 0 && !(b[i-1] < v):
			return nil, fmt.Errorf("buckets %g, %g: want strictly increasing bounds", b[i-1], v)
		}
	}
	return slices.Clip(slices.Clone(b)), nil
}

// validMetricName reports whether s matches [a-zA-Z_:][a-zA-Z0-9_:]*.
func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// validLabelName reports whether s matches [a-zA-Z_][a-zA-Z0-9_]*.
func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
