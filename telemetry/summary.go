package telemetry

import (
	"bufio"
	"io"
	"strings"
	"unicode/utf8"
)

// SummaryRow is one line of the exit summary: a name and its value, already formatted
// (for durations, [Snapshot.String] gives count, mean, p50, p99, p99.9 and max).
type SummaryRow struct {
	Name, Value string
}

// FormatSummary writes rows as two aligned columns, one row per line; a row with an empty
// Name and Value writes a blank line. Newlines inside a value are indented under its
// first line. It returns the first write error.
func FormatSummary(w io.Writer, rows []SummaryRow) error {
	width := 0
	for _, r := range rows {
		width = max(width, utf8.RuneCountInString(r.Name))
	}
	bw := bufio.NewWriter(w)
	pad := strings.Repeat(" ", width+2)
	for _, r := range rows {
		if r.Name == "" && r.Value == "" {
			bw.WriteByte('\n')
			continue
		}
		bw.WriteString(r.Name)
		bw.WriteString(pad[:width+2-utf8.RuneCountInString(r.Name)])
		bw.WriteString(strings.ReplaceAll(r.Value, "\n", "\n"+pad))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
