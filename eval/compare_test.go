package eval

import (
	"math"
	"math/big"
	"testing"
)

// mcnemarRat is McNemar's exact two-sided p-value by another route than McNemarExact's
// log-gamma terms: exact rational sums of binomial coefficients from Pascal's triangle.
func mcnemarRat(b, c int) float64 {
	n, k := b+c, min(b, c)
	if n == 0 {
		return 1
	}
	row := []*big.Int{big.NewInt(1)}
	for i := 0; i < n; i++ {
		next := make([]*big.Int, len(row)+1)
		next[0], next[len(row)] = big.NewInt(1), big.NewInt(1)
		for j := 1; j < len(row); j++ {
			next[j] = new(big.Int).Add(row[j-1], row[j])
		}
		row = next
	}
	sum := new(big.Int)
	for i := 0; i <= k; i++ {
		sum.Add(sum, row[i])
	}
	p := new(big.Rat).SetFrac(new(big.Int).Lsh(sum, 1), new(big.Int).Lsh(big.NewInt(1), uint(n)))
	if p.Cmp(big.NewRat(1, 1)) > 0 {
		return 1
	}
	f, _ := p.Float64()
	return f
}

// McNemar's exact test against exact sums: hand-computed values (b=0, c=6: 2/2^6; b=2,
// c=10: 2*(1+12+66)/2^12; b=c: 1) and Pascal's-triangle sums for every table up to 60
// discordant pairs and a few large ones, to a relative 1e-9.
func TestMcNemarExact(t *testing.T) {
	for _, c := range []struct {
		b, c int
		want float64
	}{
		{0, 0, 1}, {0, 6, 2.0 / 64}, {6, 0, 2.0 / 64}, {2, 10, 158.0 / 4096}, {5, 5, 1}, {1, 1, 1}, {0, 1, 1},
	} {
		if got := McNemarExact(c.b, c.c); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("McNemarExact(%d, %d) = %v, want %v", c.b, c.c, got, c.want)
		}
	}
	check := func(b, c int) {
		got, want := McNemarExact(b, c), mcnemarRat(b, c)
		if math.Abs(got-want) > 1e-9*want && math.Abs(got-want) > 1e-300 {
			t.Errorf("McNemarExact(%d, %d) = %.15g, exact sum %.15g", b, c, got, want)
		}
	}
	for n := 0; n <= 60; n++ {
		for b := 0; b <= n; b++ {
			check(b, n-b)
		}
	}
	check(450, 550)
	check(30, 1200)
}

// The paired interval reproduces Newcombe (1998), "Improved confidence intervals for the
// difference between binomial proportions based on paired data", Statistics in Medicine
// 17:2635-2650, Table II, example (a): a=36, b=12, c=2, d=0, method 10 (hybrid score,
// no continuity correction): 0.0569 to 0.3404. Swapping the roles negates it; with no
// discordant pair the interval still contains 0; it narrows as n grows.
func TestPairedDiffCI(t *testing.T) {
	lo, hi := PairedDiffCI(36, 12, 2, 0, 0.05)
	if math.Abs(lo-0.0569) > 5e-5 || math.Abs(hi-0.3404) > 5e-5 {
		t.Errorf("Newcombe's example (a): %.4f .. %.4f, want 0.0569 .. 0.3404", lo, hi)
	}
	if l2, h2 := PairedDiffCI(36, 2, 12, 0, 0.05); math.Abs(l2+hi) > 1e-12 || math.Abs(h2+lo) > 1e-12 {
		t.Errorf("swapped: %v .. %v, want %v .. %v", l2, h2, -hi, -lo)
	}
	if l, h := PairedDiffCI(15, 0, 0, 5, 0.05); !(l < 0 && h > 0) {
		t.Errorf("no discordant pair: %v .. %v, want an interval around 0", l, h)
	}
	_, h10 := PairedDiffCI(8, 1, 1, 0, 0.05)
	_, h100 := PairedDiffCI(80, 10, 10, 0, 0.05)
	if !(h100 < h10) {
		t.Errorf("upper bound %v at n=100 not below %v at n=10", h100, h10)
	}
	if l99, h99 := PairedDiffCI(36, 12, 2, 0, 0.01); !(l99 < lo && h99 > hi) {
		t.Errorf("99 %% interval %v .. %v does not contain the 95 %% one %v .. %v", l99, h99, lo, hi)
	}
}

// reportOf is a report of the given outcomes for seeds from seed0 (true: solved in
// 10 s + seed/100).
func reportOf(seed0 int64, ok ...bool) *Report {
	r := &Report{}
	for i, s := range ok {
		e := Episode{Seed: seed0 + int64(i), Success: s, Duration: 30}
		if s {
			e.TimeToSuccess = 10 + float64(e.Seed)/100
		}
		r.add(e)
	}
	return r
}

// Compare pairs by seed (the seeds only one ran are left out), counts the discordant
// pairs, and its verdict follows the test: 12 lost of 14 discordant is a regression at
// 0.05, the reverse an improvement, 2 of 3 nothing detectable.
func TestCompare(t *testing.T) {
	var base, worse []bool
	for i := 0; i < 50; i++ {
		b, w := true, true
		switch {
		case i < 12: // lost
			w = false
		case i < 14: // gained
			b = false
		}
		base, worse = append(base, b), append(worse, w)
	}
	rb, rw := reportOf(0, base...), reportOf(0, worse...)
	rw.PerEpisode = append(rw.PerEpisode, Episode{Seed: 99, Success: true}) // only in NEW
	c, err := Compare(rb, rw, "base", "new", 0.05)
	if err != nil {
		t.Fatal(err)
	}
	if c.Seeds != 50 || c.NewOnly != 1 || c.Lost != 12 || c.Gained != 2 || c.Verdict != Regression ||
		math.Abs(c.PValue-mcnemarRat(12, 2)) > 1e-12 || math.Abs(c.Diff+0.2) > 1e-12 || !(c.CI[1] < 0) {
		t.Errorf("regression: %+v", c)
	}
	if c.BothSucceeded != 36 || math.Abs(c.TTSDiffMean) > 1e-12 {
		t.Errorf("time to success over %d seeds both solved: %v, want 36 and 0", c.BothSucceeded, c.TTSDiffMean)
	}
	if c, _ := Compare(rw, rb, "new", "base", 0.05); c.Verdict != Improvement || c.Lost != 2 || c.Gained != 12 {
		t.Errorf("improvement: %+v", c)
	}
	if c, _ := Compare(reportOf(0, true, true, false), reportOf(0, false, true, true), "a", "b", 0.05); c.Verdict != NoChange || c.PValue != 1 {
		t.Errorf("1 lost, 1 gained: %+v", c)
	}
	// A fault fails the episode whatever its success field says.
	rf := reportOf(0, true)
	rf.PerEpisode[0].Fault = "policy"
	if c, _ := Compare(reportOf(0, true), rf, "a", "b", 0.05); c.Lost != 1 {
		t.Errorf("faulted episode: %+v", c)
	}
	if _, err := Compare(reportOf(0, true), reportOf(5, true), "a", "b", 0.05); err == nil {
		t.Error("no seed in common: no error")
	}
	dup := reportOf(0, true, true)
	dup.PerEpisode[1].Seed = 0
	if _, err := Compare(dup, reportOf(0, true), "dup", "b", 0.05); err == nil {
		t.Error("a seed listed twice: no error")
	}
}
