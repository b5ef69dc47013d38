package steer

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/robotd/robotd/policy/chunk"
)

// Every scorer writes one score per candidate into dst[:c.Len()], higher is better: a
// distance d is written as -d. Invalid candidates get 0 and take no part in another
// candidate's score. Distances are Euclidean norms over an action's Dim values in dataset
// units, as BID computes them on the policy's unnormalized action_pred: dimensions with
// larger ranges weigh more.

// Coherence is Bidirectional Decoding's backward criterion (Liu, Liu, Mu, Fei-Fei, Finn
// 2024, "Bidirectional Decoding: Improving Action Chunking via Closed-Loop Resampling",
// arXiv:2408.17355): prefer the candidate that continues the plan already running, so
// that consecutive chunks stay consistent. With the running plan's not-yet-executed
// actions p (action j due at plan.T0 + j*Dt) and the candidate's actions a aligned by due
// time over the L actions both cover from the candidate's Start on,
//
//	coherence = -sum_{i<L} w_i * ||a_i - p_i||,  w_i = beta^i / sum_{k<L} beta^k,
//
// i = 0 at the first overlapping action. This is BID's coherence_sampler (reference code:
// YuejiangLIU/bid_diffusion, diffusion_policy/sampler/single.py): its prior is the
// previous action_pred shifted by n_action_steps and the overlap runs from n_obs_steps-1,
// the current step, which is what aligning by due time gives. robotd's plan is whatever
// the executor will command (chunk.Executor.Plan), so a blended or ensembled plan is what
// the candidate is compared with, not the previous raw sample. No plan (the first step)
// scores every candidate 0: BID then samples without steering.
type Coherence struct {
	// Beta is the per-step decay of the weights, in (0, 1]; 1 weighs the overlap equally.
	Beta float64
}

// Score writes each candidate's coherence with plan into dst. A nil or empty plan scores
// 0. It panics when plan's Dim or Dt differs from the candidates': the daemon passes the
// executor's plan at the policy's own rate.
func (s *Coherence) Score(dst []float64, c *Candidates, plan *chunk.Chunk) {
	dst = dst[:c.Len()]
	clear(dst)
	if plan == nil || plan.Dim == 0 || plan.Len() == 0 {
		return
	}
	sh := c.shape
	if plan.Dim != sh.Dim || plan.Dt != c.Dt {
		panic(fmt.Sprintf("steer: coherence: plan of dim %d at dt %v, candidates of dim %d at dt %v",
			plan.Dim, plan.Dt, sh.Dim, c.Dt))
	}
	// Candidate action Start+k is due at c.T0 + k*Dt, plan action off+k at the same time.
	off := roundDiv(c.T0-plan.T0, c.Dt)
	k0 := max(0, -off)
	k1 := min(sh.Horizon-sh.Start, plan.Len()-off)
	if k1 <= k0 {
		return
	}
	var norm float64
	for i, w := 0, 1.0; i < k1-k0; i, w = i+1, w*s.Beta {
		norm += w
	}
	for n := range dst {
		if !c.valid[n] {
			continue
		}
		var sum float64
		for k, w := k0, 1/norm; k < k1; k, w = k+1, w*s.Beta {
			sum += w * dist64(c.At(n, sh.Start+k), plan.At(off+k))
		}
		dst[n] = 0 - sum // +0, not -0, for an exact match
	}
}

// roundDiv returns a/b rounded to the nearest integer (b > 0).
func roundDiv(a, b time.Duration) int {
	if a >= 0 {
		return int((a + b/2) / b)
	}
	return -int((-a + b/2) / b)
}

// Contrast is Bidirectional Decoding's forward criterion (Liu et al. 2024, as for
// Coherence): prefer a candidate close to the other samples of the strong policy (the
// mode they agree on) and far from the samples of a weaker policy (an earlier
// checkpoint), whose mistakes a strong sample near them probably shares. With d(x, y)
// the mean over the whole horizon (past steps included, as BID uses action_pred) of the
// per-action distance,
//
//	contrast(a) = mean of the K smallest d(a, w) over the weak samples w
//	            - mean of the K smallest d(a, s) over the other strong candidates s.
//
// BID's contrastive_sampler minimises the negation of this with K = N/3 (num_mode 3).
// Deliberate differences: K is at least 1 and shrinks to the samples available (valid
// ones only); BID's negative term indexes the distance matrix [weak, strong] and averages
// each weak sample's K nearest strong candidates, then pairs it with the strong candidate
// of the same index, which mixes unrelated samples, so robotd averages each candidate's
// own K nearest weak samples, the formula the paper states; and BID's bidirectional
// sampler first keeps the N/3 most coherent candidates and contrasts only those, where
// robotd adds weighted scores over all candidates (Steer). No weak samples leave only the
// positive term (BID's "positive" variant).
type Contrast struct {
	// K is the number of nearest samples averaged on each side; 0 means max(1, N/3).
	K int

	row []float64 // distances from one candidate, MaxN (grown if a step holds more)
}

// Score writes each candidate's contrast against the other candidates and weak into dst.
// weak may be nil; otherwise its Horizon and Dim must be the candidates' (it panics if not).
func (s *Contrast) Score(dst []float64, c, weak *Candidates) {
	dst = dst[:c.Len()]
	clear(dst)
	sh := c.shape
	nw := 0
	if weak != nil {
		if weak.shape.Horizon != sh.Horizon || weak.shape.Dim != sh.Dim {
			panic(fmt.Sprintf("steer: contrast: weak samples of %d x %d, candidates of %d x %d",
				weak.shape.Horizon, weak.shape.Dim, sh.Horizon, sh.Dim))
		}
		nw = weak.Len()
	}
	k := s.K
	if k == 0 {
		k = max(1, c.Len()/3)
	}
	if need := max(c.Len(), nw); cap(s.row) < need {
		s.row = make([]float64, need)
	}
	for i := range dst {
		if !c.valid[i] {
			continue
		}
		a := c.Chunk(i)
		row := s.row[:0]
		for j := 0; j < c.Len(); j++ {
			if j != i && c.valid[j] {
				row = append(row, chunkDist(a, c.Chunk(j), sh.Dim))
			}
		}
		pos := meanSmallest(row, k)
		row = s.row[:0]
		for j := 0; j < nw; j++ {
			if weak.valid[j] {
				row = append(row, chunkDist(a, weak.Chunk(j), sh.Dim))
			}
		}
		dst[i] = meanSmallest(row, k) - pos
	}
}

// chunkDist is the mean over actions of the distance between two chunks of dim-value
// actions (BID's euclidean_distance with reduction 'mean').
func chunkDist(a, b []float32, dim int) float64 {
	var sum float64
	for k := 0; k < len(a); k += dim {
		sum += dist(a[k:k+dim], b[k:k+dim])
	}
	return sum / float64(len(a)/dim)
}

// meanSmallest returns the mean of the k smallest values of row (all of them if fewer),
// 0 for none. It reorders row.
func meanSmallest(row []float64, k int) float64 {
	k = min(k, len(row))
	if k == 0 {
		return 0
	}
	slices.Sort(row)
	var sum float64
	for _, v := range row[:k] {
		sum += v
	}
	return sum / float64(k)
}

// Past is past-token consistency (Torne, Tang, Liu, Finn 2025, "Learning Long-Context
// Robot Policies via Past-Token Prediction", arXiv:2505.09561): a policy trained to
// predict its past actions too is steered, at test time, to the candidate whose predicted
// past agrees best with the actions actually executed, which ties the choice to the
// history the policy otherwise under-uses. For the candidate's predicted past actions
// [Start-Steps, Start), each due at T0 + (h-Start)*Dt, and e_h the executed action nearest
// that time (History.Near within Dt/2),
//
//	past = -mean over the h that have an executed action of ||a_h - e_h||,
//
// 0 when none has (no history yet, or a horizon without past steps). The paper scores
// sampled candidates by this agreement; robotd's distance is the per-action Euclidean
// norm averaged uniformly, like the other scorers, not a learned or per-dimension metric.
type Past struct {
	// Steps is how many of the most recent predicted past actions are compared; 0 means
	// all Start of them.
	Steps int
}

// Score writes each candidate's past consistency with h into dst. h may be nil (scores 0);
// its dim must be the candidates' otherwise (it panics if not).
func (s *Past) Score(dst []float64, c *Candidates, h *History) {
	dst = dst[:c.Len()]
	clear(dst)
	sh := c.shape
	if h == nil || h.Len() == 0 || sh.Start == 0 {
		return
	}
	if h.dim != sh.Dim {
		panic(fmt.Sprintf("steer: past: history of dim %d, candidates of dim %d", h.dim, sh.Dim))
	}
	first := 0
	if s.Steps > 0 {
		first = max(0, sh.Start-s.Steps)
	}
	matched := 0
	for p := first; p < sh.Start; p++ {
		e, ok := h.Near(c.Due(p), c.Dt/2)
		if !ok {
			continue
		}
		matched++
		for i := range dst {
			if c.valid[i] {
				dst[i] -= dist64(c.At(i, p), e)
			}
		}
	}
	if matched > 1 {
		for i := range dst {
			dst[i] /= float64(matched)
		}
	}
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
