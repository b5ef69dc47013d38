package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestCounterGaugeHistogramValues(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("c_total", "a counter")
	c.Inc()
	c.Add(41)
	if got := c.Value(); got != 42 {
		t.Errorf("counter = %d, want 42", got)
	}
	g := r.Gauge("g", "a gauge")
	g.Set(1.5)
	g.Add(-4)
	if got := g.Value(); got != -2.5 {
		t.Errorf("gauge = %g, want -2.5", got)
	}
	h := r.Histogram("h_seconds", "a histogram", []float64{1, 2, 5})
	for _, v := range []float64{0.5, 1, 1.0000001, 2, 3, 5, 7, -1} {
		h.Observe(v)
	}
	// le is inclusive: 1 goes into le=1, 5 into le=5.
	want := []uint64{3, 2, 2, 1} // (0.5, 1, -1) (1.0000001, 2) (3, 5) (7)
	for i := range want {
		if got := h.counts[i].Load(); got != want[i] {
			t.Errorf("bucket %d = %d, want %d", i, got, want[i])
		}
	}
	if h.Count() != 8 || math.Abs(h.Sum()-18.5000001) > 1e-12 {
		t.Errorf("count, sum = %d, %.9g, want 8, 18.5000001", h.Count(), h.Sum())
	}
	h.Observe(math.NaN())
	if h.counts[3].Load() != 2 || !math.IsNaN(h.Sum()) {
		t.Errorf("NaN: +Inf bucket %d (want 2), sum %g (want NaN)", h.counts[3].Load(), h.Sum())
	}
}

func TestRegisterSameReturnsSame(t *testing.T) {
	r := NewRegistry()
	a := r.Counter("drops_total", "drops", Label{"camera", "wrist"}, Label{"kind", "late"})
	b := r.Counter("drops_total", "drops", Label{"kind", "late"}, Label{"camera", "wrist"}) // order does not matter
	other := r.Counter("drops_total", "drops", Label{"camera", "top"}, Label{"kind", "late"})
	if a != b {
		t.Error("the same name and labels gave two counters")
	}
	if a == other {
		t.Error("different label values gave the same counter")
	}
	h1 := r.Histogram("lat_seconds", "latency", []float64{1, 2})
	h2 := r.Histogram("lat_seconds", "latency", []float64{1, 2, math.Inf(1)})
	if h1 != h2 {
		t.Error("buckets with and without a trailing +Inf gave two histograms")
	}
	if g1, g2 := r.Gauge("g", ""), r.Gauge("g", ""); g1 != g2 {
		t.Error("the same gauge twice gave two gauges")
	}
}

// TestRegisterErrors checks that every programming error panics with a message naming the
// metric and what was wrong, and that valid edge cases do not panic.
func TestRegisterErrors(t *testing.T) {
	setup := func(r *Registry) {
		r.Counter("c_total", "help c", Label{"a", "1"})
		r.Histogram("h", "help h", []float64{1, 2})
	}
	tests := []struct {
		name string
		reg  func(r *Registry)
		want string // substring of the panic; "" means no panic
	}{
		{"ok colon name", func(r *Registry) { r.Gauge("robotd:rate_5m", "") }, ""},
		{"ok underscore label", func(r *Registry) { r.Gauge("x", "", Label{"_a1", "v"}) }, ""},
		{"ok le on a gauge", func(r *Registry) { r.Gauge("x", "", Label{"le", "v"}) }, ""},
		{"ok empty buckets", func(r *Registry) { r.Histogram("x", "", nil) }, ""},
		{"ok odd label value", func(r *Registry) { r.Gauge("x", "", Label{"a", "\"\\\n}{,="}) }, ""},
		{"empty name", func(r *Registry) { r.Counter("", "") }, "invalid metric name"},
		{"digit first", func(r *Registry) { r.Counter("1x", "") }, `"1x": invalid metric name`},
		{"dash", func(r *Registry) { r.Gauge("a-b", "") }, "invalid metric name"},
		{"unicode name", func(r *Registry) { r.Gauge("ä", "") }, "invalid metric name"},
		{"bad label name", func(r *Registry) { r.Gauge("x", "", Label{"a:b", "1"}) }, `invalid label name "a:b"`},
		{"empty label name", func(r *Registry) { r.Gauge("x", "", Label{"", "1"}) }, `invalid label name ""`},
		{"reserved label", func(r *Registry) { r.Gauge("x", "", Label{"__name__", "1"}) }, "reserved"},
		{"le on histogram", func(r *Registry) { r.Histogram("x", "", nil, Label{"le", "1"}) }, `"le" is reserved`},
		{"label twice", func(r *Registry) { r.Gauge("x", "", Label{"a", "1"}, Label{"a", "2"}) }, `label "a" given twice`},
		{"bad utf8 value", func(r *Registry) { r.Gauge("x", "", Label{"a", "\xff"}) }, "not valid UTF-8"},
		{"bad utf8 help", func(r *Registry) { r.Gauge("x", "\xff") }, "not valid UTF-8"},
		{"other type", func(r *Registry) { r.Gauge("c_total", "help c", Label{"a", "1"}) }, `gauge "c_total": already registered as a counter`},
		{"other help", func(r *Registry) { r.Counter("c_total", "help C", Label{"a", "1"}) }, `already registered with help "help c", now "help C"`},
		{"other labels", func(r *Registry) { r.Counter("c_total", "help c", Label{"b", "1"}) }, "already registered with labels [a], now [b]"},
		{"no labels", func(r *Registry) { r.Counter("c_total", "help c") }, "already registered with labels [a], now []"},
		{"other buckets", func(r *Registry) { r.Histogram("h", "help h", []float64{1, 3}) }, "already registered with buckets [1 2], now [1 3]"},
		{"unsorted buckets", func(r *Registry) { r.Histogram("x", "", []float64{1, 3, 2}) }, "buckets 3, 2: want strictly increasing"},
		{"equal buckets", func(r *Registry) { r.Histogram("x", "", []float64{1, 1}) }, "strictly increasing"},
		{"NaN bucket", func(r *Registry) { r.Histogram("x", "", []float64{1, math.NaN()}) }, "bucket 1 is NaN"},
		{"-Inf bucket", func(r *Registry) { r.Histogram("x", "", []float64{math.Inf(-1), 1}) }, "bucket 0 is -Inf"},
		{"+Inf in the middle", func(r *Registry) { r.Histogram("x", "", []float64{math.Inf(1), 1}) }, "bucket 0 is +Inf"},
		{"histogram series name", func(r *Registry) { r.Gauge("h_count", "") }, `gauge "h_count": collides with the _count series of histogram "h"`},
		{"histogram over existing", func(r *Registry) { r.Gauge("x_sum", ""); r.Histogram("x", "", nil) }, `histogram "x": collides with gauge "x_sum"`},
		{"histogram over bucket", func(r *Registry) { r.Counter("h_bucket", "") }, "collides with the _bucket series"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			setup(r)
			got := func() (msg string) {
				defer func() {
					if p := recover(); p != nil {
						msg = fmt.Sprint(p)
					}
				}()
				tt.reg(r)
				return ""
			}()
			switch {
			case tt.want == "" && got != "":
				t.Errorf("panicked: %s", got)
			case tt.want != "" && got == "":
				t.Errorf("did not panic, want a panic with %q", tt.want)
			case !strings.Contains(got, tt.want):
				t.Errorf("panic %q, want it to contain %q", got, tt.want)
			case got != "" && !strings.HasPrefix(got, "telemetry: "):
				t.Errorf("panic %q does not start with telemetry:", got)
			}
		})
	}
}

func TestBucketHelpers(t *testing.T) {
	if got, want := LinearBuckets(1, 0.5, 4), []float64{1, 1.5, 2, 2.5}; !slices.Equal(got, want) {
		t.Errorf("LinearBuckets = %v, want %v", got, want)
	}
	if got, want := ExponentialBuckets(1e-5, 2, 4), []float64{1e-5, 2e-5, 4e-5, 8e-5}; !slices.Equal(got, want) {
		t.Errorf("ExponentialBuckets = %v, want %v", got, want)
	}
	for _, f := range []func(){
		func() { LinearBuckets(0, 0, 3) },
		func() { LinearBuckets(0, 1, 0) },
		func() { ExponentialBuckets(0, 2, 3) },
		func() { ExponentialBuckets(1, 1, 3) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("bad bucket arguments did not panic")
				}
			}()
			f()
		}()
	}
}

// exposition builds a registry that exercises the format's corners: escaping in help text
// and label values, counters with and without _total, special float values, histograms with
// and without labels, and registration out of order.
func exposition() *Registry {
	r := NewRegistry()
	r.Gauge("robotd_state", "State machine state (0 idle, 1 homing, 2 running).").Set(2)
	ticks := r.Counter("robotd_ticks_total", "Control ticks.")
	ticks.Add(123456789012)
	weird := "we\"ird\\name\nline2 } {,a=\"b\""
	r.Counter("robotd_camera_drops_total", "Dropped frames per camera.", Label{"camera", "wrist"}).Add(3)
	r.Counter("robotd_camera_drops_total", "Dropped frames per camera.", Label{"camera", weird}).Add(7)
	r.Counter("robotd_camera_drops_total", "Dropped frames per camera.", Label{"camera", "kamera-ü"}).Inc()
	r.Counter("robotd_faults", "A counter without _total,\nwith a \\ backslash and \"quotes\" in help.").Add(2)
	for _, s := range []struct {
		name string
		v    float64
	}{{"nan", math.NaN()}, {"pinf", math.Inf(1)}, {"ninf", math.Inf(-1)}, {"neg", -0.25}, {"tiny", 5e-324}, {"big", 1.7976931348623157e308}, {"third", 1.0 / 3}} {
		r.Gauge("robotd_special", "Special values.", Label{"v", s.name}).Set(s.v)
	}
	per := r.Histogram("robotd_loop_period_seconds", "Control period.", []float64{0.0009, 0.001, 0.0011, 0.002}, Label{"mode", "realtime"}, Label{"arm", "sim"})
	for _, v := range []float64{0.0005, 0.0009, 0.00095, 0.001, 0.001, 0.00105, 0.0015, 0.003, 0.01} {
		per.Observe(v)
	}
	r.Histogram("robotd_empty_seconds", "A histogram with no observations and no buckets.", nil)
	inf := r.Histogram("robotd_inference_seconds", "Inference latency.", ExponentialBuckets(0.001, 4, 3))
	inf.Observe(0.002)
	inf.Observe(0.02)
	return r
}

func TestWriteTextGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := exposition().WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	golden := "testdata/exposition.golden"
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("WriteText differs from %s (run go test -update after checking):\n%s", golden, buf.Bytes())
	}
	// Stable: a second scrape of an idle registry is byte-identical.
	var again bytes.Buffer
	exposition().WriteText(&again)
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two scrapes of the same registry differ")
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteTextError(t *testing.T) {
	if err := exposition().WriteText(&failWriter{n: 100}); err == nil || err.Error() != "disk full" {
		t.Errorf("WriteText to a failing writer = %v, want disk full", err)
	}
}

// pyFamily is one metric family as the Python client's parser sees it.
type pyFamily struct {
	Name    string  `json:"name"`
	Type    string  `json:"type"`
	Help    string  `json:"help"`
	Samples [][]any `json:"samples"` // name, labels, repr(value)
}

type pySample struct {
	name   string
	labels map[string]string
	value  float64
}

// parsePython parses an exposition with prometheus_client's parser (Debian's
// python3-prometheus-client, installed by scripts/setup.sh).
func parsePython(t *testing.T, text []byte) []pyFamily {
	t.Helper()
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skip("/usr/bin/python3 not found (scripts/setup.sh installs it)")
	}
	if out, err := exec.Command(python, "-c", "import prometheus_client").CombinedOutput(); err != nil {
		t.Skipf("python3-prometheus-client not installed (run scripts/setup.sh): %v %s", err, out)
	}
	cmd := exec.Command(python, "testdata/parse.py")
	cmd.Stdin = bytes.NewReader(text)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("prometheus_client parser: %v\n%s\ninput:\n%s", err, stderr.Bytes(), text)
	}
	var fams []pyFamily
	if err := json.Unmarshal(out, &fams); err != nil {
		t.Fatalf("decoding the parser's output: %v\n%s", err, out)
	}
	return fams
}

func (f pyFamily) samples(t *testing.T) []pySample {
	t.Helper()
	var ss []pySample
	for _, s := range f.Samples {
		labels := map[string]string{}
		for k, v := range s[1].(map[string]any) {
			labels[k] = v.(string)
		}
		v, err := strconv.ParseFloat(s[2].(string), 64)
		if err != nil {
			t.Fatalf("%s: value %q: %v", f.Name, s[2], err)
		}
		ss = append(ss, pySample{s[0].(string), labels, v})
	}
	return ss
}

// TestWriteTextPrometheusParser parses the exposition with the Python Prometheus client's
// parser and checks every family's name, type and help and every sample's name, labels and
// value against what was registered.
func TestWriteTextPrometheusParser(t *testing.T) {
	var buf bytes.Buffer
	if err := exposition().WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	fams := parsePython(t, buf.Bytes())

	type fam struct {
		name, typ, help string
		samples         []pySample
	}
	l := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	weird := "we\"ird\\name\nline2 } {,a=\"b\""
	per := func(le string, n float64) pySample {
		return pySample{"robotd_loop_period_seconds_bucket", l("arm", "sim", "mode", "realtime", "le", le), n}
	}
	// The Python parser names counter families without _total and their samples with it
	// (its OpenMetrics view); families come in name order.
	want := []fam{
		{"robotd_camera_drops", "counter", "Dropped frames per camera.", []pySample{
			{"robotd_camera_drops_total", l("camera", "kamera-ü"), 1},
			{"robotd_camera_drops_total", l("camera", weird), 7},
			{"robotd_camera_drops_total", l("camera", "wrist"), 3},
		}},
		{"robotd_empty_seconds", "histogram", "A histogram with no observations and no buckets.", []pySample{
			{"robotd_empty_seconds_bucket", l("le", "+Inf"), 0},
			{"robotd_empty_seconds_sum", l(), 0},
			{"robotd_empty_seconds_count", l(), 0},
		}},
		{"robotd_faults", "counter", "A counter without _total,\nwith a \\ backslash and \"quotes\" in help.", []pySample{
			{"robotd_faults_total", l(), 2},
		}},
		{"robotd_inference_seconds", "histogram", "Inference latency.", []pySample{
			{"robotd_inference_seconds_bucket", l("le", "0.001"), 0},
			{"robotd_inference_seconds_bucket", l("le", "0.004"), 1},
			{"robotd_inference_seconds_bucket", l("le", "0.016"), 1},
			{"robotd_inference_seconds_bucket", l("le", "+Inf"), 2},
			{"robotd_inference_seconds_sum", l(), 0.022},
			{"robotd_inference_seconds_count", l(), 2},
		}},
		{"robotd_loop_period_seconds", "histogram", "Control period.", []pySample{
			per("0.0009", 2), per("0.001", 5), per("0.0011", 6), per("0.002", 7), per("+Inf", 9),
			{"robotd_loop_period_seconds_sum", l("arm", "sim", "mode", "realtime"), 0.0199},
			{"robotd_loop_period_seconds_count", l("arm", "sim", "mode", "realtime"), 9},
		}},
		{"robotd_special", "gauge", "Special values.", []pySample{
			{"robotd_special", l("v", "big"), 1.7976931348623157e308},
			{"robotd_special", l("v", "nan"), math.NaN()},
			{"robotd_special", l("v", "neg"), -0.25},
			{"robotd_special", l("v", "ninf"), math.Inf(-1)},
			{"robotd_special", l("v", "pinf"), math.Inf(1)},
			{"robotd_special", l("v", "third"), 1.0 / 3},
			{"robotd_special", l("v", "tiny"), 5e-324},
		}},
		{"robotd_state", "gauge", "State machine state (0 idle, 1 homing, 2 running).", []pySample{
			{"robotd_state", l(), 2},
		}},
		{"robotd_ticks", "counter", "Control ticks.", []pySample{
			{"robotd_ticks_total", l(), 123456789012},
		}},
	}
	if len(fams) != len(want) {
		var names []string
		for _, f := range fams {
			names = append(names, f.Type+" "+f.Name)
		}
		t.Fatalf("parser found %d families %v, want %d", len(fams), names, len(want))
	}
	for i, w := range want {
		f := fams[i]
		if f.Name != w.name || f.Type != w.typ || f.Help != w.help {
			t.Errorf("family %d = %s %s %q, want %s %s %q", i, f.Type, f.Name, f.Help, w.typ, w.name, w.help)
			continue
		}
		got := f.samples(t)
		if len(got) != len(w.samples) {
			t.Errorf("%s: %d samples %v, want %d %v", w.name, len(got), got, len(w.samples), w.samples)
			continue
		}
		for j, ws := range w.samples {
			g := got[j]
			sameValue := g.value == ws.value || math.IsNaN(g.value) && math.IsNaN(ws.value) ||
				strings.HasSuffix(ws.name, "_sum") && math.Abs(g.value-ws.value) <= 1e-12
			if g.name != ws.name || !reflect.DeepEqual(g.labels, ws.labels) || !sameValue {
				t.Errorf("%s sample %d = %s %q %v, want %s %q %v", w.name, j, g.name, g.labels, g.value, ws.name, ws.labels, ws.value)
			}
		}
	}
}

// TestConcurrentUpdatesAndScrapes runs writers, scrapers and late registrations at once
// (meant for -race). Every scrape must be internally consistent (cumulative buckets never
// decrease, +Inf equals _count) and never go backwards; at the end every update is counted.
// The last scrape of each scraper also goes through the Python parser.
func TestConcurrentUpdatesAndScrapes(t *testing.T) {
	r := NewRegistry()
	const writers, perWriter, scrapers = 4, 20000, 3
	c := r.Counter("ticks_total", "ticks")
	g := r.Gauge("level", "level")
	h := r.Histogram("period_seconds", "period", LinearBuckets(0.0005, 0.0005, 6))

	var wg sync.WaitGroup
	var writing atomic.Int32
	writing.Store(writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer writing.Add(-1)
			mine := r.Counter("per_writer_total", "per writer", Label{"w", strconv.Itoa(w)})
			for i := range perWriter {
				c.Inc()
				mine.Inc()
				g.Add(1)
				h.Observe(float64(i%8) * 0.0005)
			}
		}()
	}
	lasts := make([][]byte, scrapers)
	errs := make(chan error, scrapers)
	for s := range scrapers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prevTicks float64
			for n := 0; ; n++ {
				done := writing.Load() == 0
				var buf bytes.Buffer
				if err := r.WriteText(&buf); err != nil {
					errs <- err
					return
				}
				ticks, err := checkScrape(buf.String(), "period_seconds")
				if err != nil {
					errs <- fmt.Errorf("scrape %d: %v\n%s", n, err, buf.Bytes())
					return
				}
				if ticks < prevTicks {
					errs <- fmt.Errorf("scrape %d: ticks_total went back from %g to %g", n, prevTicks, ticks)
					return
				}
				prevTicks = ticks
				lasts[s] = buf.Bytes()
				if done {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	const total = writers * perWriter
	if c.Value() != total || g.Value() != total || h.Count() != total {
		t.Errorf("counter %d, gauge %g, histogram count %d, want %d each", c.Value(), g.Value(), h.Count(), total)
	}
	// Sum of i%8 * 0.0005 over perWriter values per writer, added in any order.
	wantSum := float64(writers*perWriter/8*28) * 0.0005
	if math.Abs(h.Sum()-wantSum) > 1e-9*wantSum {
		t.Errorf("histogram sum %.12g, want %.12g", h.Sum(), wantSum)
	}
	for s, last := range lasts {
		fams := parsePython(t, last)
		if len(fams) != 4 {
			t.Errorf("scraper %d: python found %d families, want 4", s, len(fams))
		}
		for _, f := range fams {
			if f.Name == "ticks" {
				if got := f.samples(t)[0].value; got != total {
					t.Errorf("scraper %d: final ticks_total %g, want %d", s, got, total)
				}
			}
		}
	}
}

// checkScrape checks the histogram called hist in an exposition: cumulative bucket counts
// never decrease and the +Inf bucket equals _count. It returns the ticks_total value.
func checkScrape(text, hist string) (ticks float64, err error) {
	var prev float64
	inf := -1.0
	for line := range strings.Lines(text) {
		line = strings.TrimSuffix(line, "\n")
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return 0, fmt.Errorf("line %q: no value", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("line %q: %v", line, err)
		}
		name := line[:i]
		switch {
		case name == "ticks_total":
			ticks = v
		case strings.HasPrefix(name, hist+"_bucket"):
			if v < prev {
				return 0, fmt.Errorf("%s: cumulative count fell from %g to %g", name, prev, v)
			}
			prev = v
			if strings.Contains(name, `le="+Inf"`) {
				inf = v
			}
		case name == hist+"_count":
			if v != inf {
				return 0, fmt.Errorf("%s_count %g, +Inf bucket %g", hist, v, inf)
			}
		}
	}
	return ticks, nil
}

// TestUpdatesAllocateNothing proves the control loop's calls allocate nothing.
func TestUpdatesAllocateNothing(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("c_total", "")
	g := r.Gauge("g", "")
	h := r.Histogram("h", "", ExponentialBuckets(1e-6, 2, 20))
	var q Quantiles
	v := 0.0
	for _, tt := range []struct {
		name string
		f    func()
	}{
		{"Counter.Inc", c.Inc},
		{"Counter.Add", func() { c.Add(3) }},
		{"Gauge.Set", func() { v += 0.25; g.Set(v) }},
		{"Gauge.Add", func() { g.Add(0.5) }},
		{"Histogram.Observe", func() { v += 1e-5; h.Observe(v) }},
		{"Quantiles.Record", func() { q.Record(time.Duration(v * 1e9)) }},
	} {
		if a := testing.AllocsPerRun(1000, tt.f); a != 0 {
			t.Errorf("%s allocates %v times per call, want 0", tt.name, a)
		}
	}
}

func BenchmarkCounterInc(b *testing.B) {
	c := NewRegistry().Counter("c_total", "")
	b.ReportAllocs()
	for b.Loop() {
		c.Inc()
	}
}

func BenchmarkGaugeSet(b *testing.B) {
	g := NewRegistry().Gauge("g", "")
	b.ReportAllocs()
	v := 0.0
	for b.Loop() {
		v++
		g.Set(v)
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	h := NewRegistry().Histogram("h", "", ExponentialBuckets(1e-6, 1.5, 30))
	b.ReportAllocs()
	v := 0.0
	for b.Loop() {
		v += 1e-7
		if v > 0.2 {
			v = 0
		}
		h.Observe(v)
	}
}

// BenchmarkHistogramObserveParallel: contended Observe (the loop alone writes most
// histograms; this bounds what sharing one costs).
func BenchmarkHistogramObserveParallel(b *testing.B) {
	h := NewRegistry().Histogram("h", "", ExponentialBuckets(1e-6, 1.5, 30))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		v := 0.0
		for pb.Next() {
			v += 1e-7
			h.Observe(v)
		}
	})
}

// BenchmarkWriteText scrapes a registry shaped like the daemon's: 40 series, 4 histograms.
func BenchmarkWriteText(b *testing.B) {
	r := NewRegistry()
	for i := range 30 {
		r.Counter("robotd_events_total", "events", Label{"kind", strconv.Itoa(i)}).Add(uint64(i * 1000))
	}
	for i := range 6 {
		r.Gauge("robotd_gauge", "gauges", Label{"i", strconv.Itoa(i)}).Set(float64(i) / 7)
	}
	for i := range 4 {
		h := r.Histogram("robotd_seconds", "latencies", ExponentialBuckets(1e-6, 2, 20), Label{"what", strconv.Itoa(i)})
		for j := range 1000 {
			h.Observe(float64(j) * 1e-6)
		}
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := r.WriteText(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}
