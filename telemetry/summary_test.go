package telemetry

import (
	"bytes"
	"testing"
)

func TestFormatSummary(t *testing.T) {
	var buf bytes.Buffer
	err := FormatSummary(&buf, []SummaryRow{
		{"ticks", "60000"},
		{"deadline misses", "0"},
		{},
		{"jitter", "n=60000 p50=3µs\nmax=41µs"},
		{"µ", "unicode name"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "ticks            60000\n" +
		"deadline misses  0\n" +
		"\n" +
		"jitter           n=60000 p50=3µs\n" +
		"                 max=41µs\n" +
		"µ                unicode name\n"
	if buf.String() != want {
		t.Errorf("FormatSummary =\n%s\nwant\n%s", buf.String(), want)
	}
	if err := FormatSummary(&failWriter{n: 3}, []SummaryRow{{"a", "b"}}); err == nil {
		t.Error("FormatSummary to a failing writer returned nil")
	}
}
