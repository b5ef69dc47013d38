package telemetry

import (
	"bufio"
	"io"
	"math"
	"strconv"
	"strings"
)

// ContentType is the Content-Type of [Registry.WriteText]'s output: the Prometheus text
// exposition format, version 0.0.4.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WriteText writes every registered metric to w in the Prometheus text exposition format
// 0.0.4: per family a HELP and a TYPE line, then its series; histograms as cumulative
// _bucket series (with le="+Inf"), _sum and _count. Families come sorted by name and series
// by label values. It returns the first write error.
//
// Values are read with atomic loads while writers go on, so a scrape never blocks the
// control loop. A histogram's _count is the sum of the bucket counts read, so it always
// equals its +Inf bucket; its _sum may include an observation still in flight.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	bw := bufio.NewWriterSize(w, 16<<10)
	var num []byte // scratch for number formatting
	for _, f := range r.sorted {
		bw.WriteString("# HELP ")
		bw.WriteString(f.name)
		bw.WriteByte(' ')
		writeEscaped(bw, f.help, false)
		bw.WriteString("\n# TYPE ")
		bw.WriteString(f.name)
		bw.WriteByte(' ')
		bw.WriteString(f.typ.String())
		bw.WriteByte('\n')
		for _, s := range f.series {
			switch f.typ {
			case typeCounter:
				num = strconv.AppendUint(num[:0], s.counter.Value(), 10)
				writeSample(bw, f.name, "", s.text, num)
			case typeGauge:
				num = appendFloat(num[:0], s.gauge.Value())
				writeSample(bw, f.name, "", s.text, num)
			case typeHistogram:
				h := s.histogram
				// Read the sum first: every observation it includes has already been
				// counted in its bucket (Observe adds to the bucket first).
				sum := h.Sum()
				var cum uint64
				for i := range h.counts {
					cum += h.counts[i].Load()
					bw.WriteString(f.name)
					bw.WriteString("_bucket")
					bw.WriteString(s.lePre)
					if i < len(h.upper) {
						num = appendFloat(num[:0], h.upper[i])
						bw.Write(num)
					} else {
						bw.WriteString("+Inf")
					}
					bw.WriteString(`"} `)
					num = strconv.AppendUint(num[:0], cum, 10)
					bw.Write(num)
					bw.WriteByte('\n')
				}
				num = appendFloat(num[:0], sum)
				writeSample(bw, f.name, "_sum", s.text, num)
				num = strconv.AppendUint(num[:0], cum, 10)
				writeSample(bw, f.name, "_count", s.text, num)
			}
		}
	}
	return bw.Flush()
}

func writeSample(bw *bufio.Writer, name, suffix, labels string, value []byte) {
	bw.WriteString(name)
	bw.WriteString(suffix)
	bw.WriteString(labels)
	bw.WriteByte(' ')
	bw.Write(value)
	bw.WriteByte('\n')
}

// appendFloat formats v as Prometheus expects: +Inf, -Inf, NaN or the shortest decimal
// that parses back to v.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// writeEscaped writes s with backslash and newline escaped, and with quote also the double
// quote (label values; HELP text leaves quotes alone).
func writeEscaped(w interface {
	io.ByteWriter
	io.StringWriter
}, s string, quote bool) {
	for {
		i := strings.IndexFunc(s, func(r rune) bool { return r == '\\' || r == '\n' || quote && r == '"' })
		if i < 0 {
			w.WriteString(s)
			return
		}
		w.WriteString(s[:i])
		w.WriteByte('\\')
		switch s[i] {
		case '\n':
			w.WriteByte('n')
		default:
			w.WriteByte(s[i])
		}
		s = s[i+1:]
	}
}
