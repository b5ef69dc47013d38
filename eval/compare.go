package eval

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// Verdict is a comparison's conclusion at its significance level.
type Verdict string

// The verdicts of Compare; robotd eval compare exits 0, 4 and 5 on them, so CI can gate.
const (
	NoChange    Verdict = "no detectable change"
	Regression  Verdict = "regression"
	Improvement Verdict = "improvement"
)

// Comparison is a paired comparison of two evaluations on the seeds both ran: an episode
// of one seed starts from the same scene in both, so the outcomes pair up.
type Comparison struct {
	Base, New string // where the reports came from
	// Seeds is how many seeds both ran; BaseOnly and NewOnly how many only one did (left out).
	Seeds, BaseOnly, NewOnly    int
	BaseSuccesses, NewSuccesses int // over the paired seeds
	// Lost counts the seeds BASE solved and NEW did not, Gained the reverse: McNemar's
	// discordant pairs.
	Lost, Gained int
	// PValue is McNemar's exact test (two-sided): under no change, each discordant pair is
	// lost or gained with probability 1/2.
	PValue float64
	Alpha  float64 // the significance level of the verdict and the interval (1 - confidence)
	// Diff is NEW's success rate minus BASE's on the paired seeds, with its 1-Alpha
	// confidence interval (Newcombe's hybrid score interval for paired proportions).
	Diff float64
	CI   [2]float64
	// BothSucceeded is how many seeds both solved; TTSDiffMean and TTSDiffMedian are the
	// mean and median over them of NEW's time to success minus BASE's, in seconds.
	BothSucceeded              int
	TTSDiffMean, TTSDiffMedian float64
	Verdict                    Verdict
}

// ReadReport reads an eval.json, or the eval.json in a directory.
func ReadReport(path string) (*Report, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "eval.json")
	}
	return ReadJSON(path)
}

// Compare pairs base's and new's episodes by seed and compares them at significance level
// alpha (0 < alpha < 1, e.g. 0.05). A seed listed twice in one report, or no seed in
// common, is an error. An episode ended by a fault counts as failed.
func Compare(base, new *Report, baseName, newName string, alpha float64) (*Comparison, error) {
	if !(alpha > 0 && alpha < 1) {
		return nil, fmt.Errorf("eval compare: significance %v: want 0 < alpha < 1", alpha)
	}
	bySeed := func(r *Report, name string) (map[int64]Episode, error) {
		m := make(map[int64]Episode, len(r.PerEpisode))
		for _, e := range r.PerEpisode {
			if _, dup := m[e.Seed]; dup {
				return nil, fmt.Errorf("eval compare: %s lists seed %d twice", name, e.Seed)
			}
			m[e.Seed] = e
		}
		return m, nil
	}
	bm, err := bySeed(base, baseName)
	if err != nil {
		return nil, err
	}
	nm, err := bySeed(new, newName)
	if err != nil {
		return nil, err
	}
	c := &Comparison{Base: baseName, New: newName, Alpha: alpha}
	var tts []float64
	for s, b := range bm {
		n, ok := nm[s]
		if !ok {
			c.BaseOnly++
			continue
		}
		c.Seeds++
		bs, ns := b.Success && b.Fault == "", n.Success && n.Fault == ""
		switch {
		case bs && ns:
			c.BaseSuccesses++
			c.NewSuccesses++
			tts = append(tts, n.TimeToSuccess-b.TimeToSuccess)
		case bs:
			c.BaseSuccesses++
			c.Lost++
		case ns:
			c.NewSuccesses++
			c.Gained++
		}
	}
	c.NewOnly = len(nm) - c.Seeds
	if c.Seeds == 0 {
		return nil, fmt.Errorf("eval compare: %s and %s have no seed in common", baseName, newName)
	}
	c.PValue = McNemarExact(c.Lost, c.Gained)
	both11 := c.BaseSuccesses - c.Lost // both succeeded
	c.Diff = float64(c.Gained-c.Lost) / float64(c.Seeds)
	c.CI[0], c.CI[1] = PairedDiffCI(both11, c.Gained, c.Lost, c.Seeds-both11-c.Lost-c.Gained, alpha)
	c.BothSucceeded = len(tts)
	if len(tts) > 0 {
		var sum float64
		for _, d := range tts {
			sum += d
		}
		c.TTSDiffMean = sum / float64(len(tts))
		sort.Float64s(tts)
		c.TTSDiffMedian = tts[len(tts)/2]
		if len(tts)%2 == 0 {
			c.TTSDiffMedian = (tts[len(tts)/2-1] + tts[len(tts)/2]) / 2
		}
	}
	switch {
	case c.PValue >= alpha:
		c.Verdict = NoChange
	case c.Lost > c.Gained:
		c.Verdict = Regression
	default:
		c.Verdict = Improvement
	}
	return c, nil
}

// McNemarExact is the two-sided p-value of McNemar's exact test for b and c discordant
// pairs: twice the smaller binomial(b+c, 1/2) tail, at most 1 (1 when b+c is 0). The
// binomial terms are computed in logs (math.Lgamma), so thousands of pairs do not
// underflow.
func McNemarExact(b, c int) float64 {
	n, k := b+c, min(b, c)
	if n == 0 {
		return 1
	}
	lf := func(x int) float64 { v, _ := math.Lgamma(float64(x) + 1); return v }
	var tail float64
	for i := 0; i <= k; i++ {
		tail += math.Exp(lf(n) - lf(i) - lf(n-i) - float64(n)*math.Ln2)
	}
	return min(1, 2*tail)
}

// PairedDiffCI is the 1-alpha confidence interval for p_new - p_base from a paired 2x2
// table: a seeds both solved, g only NEW solved (gained), l only BASE solved (lost), d
// neither. It is Newcombe's hybrid score interval for paired data (method 10 of
// Newcombe, "Improved confidence intervals for the difference between binomial
// proportions based on paired data", Statistics in Medicine 17:2635-2650, 1998): Wilson
// intervals of both rates joined with the correlation phi of the table.
func PairedDiffCI(a, g, l, d int, alpha float64) (lo, hi float64) {
	n := a + g + l + d
	if n == 0 {
		return -1, 1
	}
	z := math.Sqrt2 * math.Erfinv(1-alpha)
	fn := float64(n)
	pNew, pBase := float64(a+g)/fn, float64(a+l)/fn
	l1, u1 := wilsonZ(a+g, n, z)
	l2, u2 := wilsonZ(a+l, n, z)
	// phi of the table with rows NEW (solved, not) and columns BASE (solved, not); 0 when
	// a margin is empty.
	var phi float64
	if den := float64(a+g) * float64(l+d) * float64(a+l) * float64(g+d); den > 0 {
		phi = (float64(a)*float64(d) - float64(g)*float64(l)) / math.Sqrt(den)
	}
	diff := pNew - pBase
	dl := math.Sqrt(max(0, sq(pNew-l1)-2*phi*(pNew-l1)*(u2-pBase)+sq(u2-pBase)))
	du := math.Sqrt(max(0, sq(u1-pNew)-2*phi*(u1-pNew)*(pBase-l2)+sq(pBase-l2)))
	return max(-1, diff-dl), min(1, diff+du)
}

func sq(x float64) float64 { return x * x }

// wilsonZ is the Wilson score interval of k successes in n trials at normal quantile z.
func wilsonZ(k, n int, z float64) (lo, hi float64) {
	p, fn := float64(k)/float64(n), float64(n)
	den := 1 + z*z/fn
	c := (p + z*z/(2*fn)) / den
	h := z / den * math.Sqrt(p*(1-p)/fn+z*z/(4*fn*fn))
	return max(0, c-h), min(1, c+h)
}

// Write prints the comparison: the paired table, the test, the interval, the times and
// the verdict.
func (c *Comparison) Write(w io.Writer) {
	fmt.Fprintf(w, "paired seeds   %d (left out: %d only in BASE, %d only in NEW)\n", c.Seeds, c.BaseOnly, c.NewOnly)
	fmt.Fprintf(w, "success        BASE %d/%d = %.1f %%, NEW %d/%d = %.1f %%\n", c.BaseSuccesses, c.Seeds,
		100*float64(c.BaseSuccesses)/float64(c.Seeds), c.NewSuccesses, c.Seeds, 100*float64(c.NewSuccesses)/float64(c.Seeds))
	fmt.Fprintf(w, "discordant     %d lost (BASE solved, NEW not), %d gained; McNemar exact p = %.4g\n", c.Lost, c.Gained, c.PValue)
	fmt.Fprintf(w, "difference     NEW - BASE = %+.1f %% (%.0f %% interval %+.1f .. %+.1f %%)\n", 100*c.Diff, 100*(1-c.Alpha), 100*c.CI[0], 100*c.CI[1])
	if c.BothSucceeded > 0 {
		fmt.Fprintf(w, "time to success NEW - BASE on the %d seeds both solved: mean %+.2f s, median %+.2f s\n", c.BothSucceeded, c.TTSDiffMean, c.TTSDiffMedian)
	}
	fmt.Fprintf(w, "verdict        %s (significance %g)\n", c.Verdict, c.Alpha)
}
