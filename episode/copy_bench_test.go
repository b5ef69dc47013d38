package episode

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkAppendRewrite: the cost of appending one episode's rows to a data file of n
// rows by rewriting it (what roomIn's rewrite bound limits).
func BenchmarkAppendRewrite(b *testing.B) {
	s := benchSpec().withDefaults()
	in := newInfo(s)
	schema, err := dataSchema(in.Features)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1000, 10000, 50000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dir := b.TempDir()
			rows := &dataRows{n: n, state: make([]float32, 8*n), action: make([]float32, 8*n), timestamp: make([]float32, n), done: make([]bool, n), success: make([]bool, n), reward: make([]float32, n)}
			for k := range rows.state {
				rows.state[k] = float32(k) * 1e-3
			}
			prev := filepath.Join(dir, "prev.parquet")
			if err := writeParquet(prev, schema, false, "", rows.maps(&s)); err != nil {
				b.Fatal(err)
			}
			add := &dataRows{n: 300, state: make([]float32, 8*300), action: make([]float32, 8*300), timestamp: make([]float32, 300), done: make([]bool, 300), success: make([]bool, 300), reward: make([]float32, 300)}
			b.ResetTimer()
			t0 := time.Now()
			for i := 0; i < b.N; i++ {
				out := filepath.Join(dir, fmt.Sprintf("out%d.parquet", i))
				if err := writeParquet(out, schema, true, prev, add.maps(&s)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(t0).Microseconds())/1e3/float64(b.N), "ms/append")
		})
	}
}
