package policy

import (
	"fmt"
	"math"
)

// CondMask is the name of a denoiser's optional fourth input, the guidance mask: float32,
// [batch] or [batch, 1], 1 where the row is conditioned on global_cond and 0 where it is
// unconditional (the network was trained with condition dropout, replacing the condition
// by a learned null embedding where the mask is 0).
const CondMask = "cond_mask"

// condMaskExpect is what a cond_mask input must be: one float32 per batch row.
var condMaskExpect = Expect{"float32", "one mask value per sample (1 conditioned, 0 unconditional)",
	[][]Span{{}, {{1, "one mask value"}}}}

// SetGuidance sets the classifier-free guidance weight w (Ho & Salimans 2022; BESO, Reuss
// et al. 2023) for the following steps. Every denoiser evaluation of a step with N samples
// then runs one batched call of 2N rows, the N samples conditioned (cond_mask 1) and the
// same N unconditional (cond_mask 0, global_cond repeated), and the sampler gets
//
//	out = out_u + w * (out_c - out_u)
//
// in float32: linear in the network's output, so it holds for every prediction type
// (noise, sample, v, velocity). w = 1 is the plain conditional model, one pass of N rows
// with the mask all 1 (the default, also for a denoiser with a cond_mask that
// SetGuidance never saw); w = 0 is the unconditional model, one pass of N rows with the
// mask all 0; w > 1 pushes samples further toward the condition. The denoiser must take
// a cond_mask input, and w must be finite and >= 0; the error names the denoiser.
func (p *Policy) SetGuidance(w float64) error {
	if p.denoiser == nil {
		return fmt.Errorf("policy %s: guidance: kind %s has no denoiser", p.Bundle.Dir, p.Bundle.Config.Kind)
	}
	if !p.condMask {
		return fmt.Errorf("policy: guidance: the denoiser %s has no %s input (inputs %s); guidance needs a denoiser trained with condition dropout",
			p.denoiser.Path(), CondMask, tensorNames(p.denoiser.Inputs()))
	}
	if math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
		return fmt.Errorf("policy: guidance weight %v, want a finite value >= 0", w)
	}
	p.guidance = w
	return nil
}

// Guidance returns the guidance weight in use (1 unless SetGuidance changed it) and
// whether the denoiser takes a cond_mask input, that is whether SetGuidance can be used.
func (p *Policy) Guidance() (w float64, supported bool) { return p.guidance, p.condMask }

// guide prepares d for a step of n samples with weight w: guided, the batch holds 2n rows
// (n conditioned, n unconditional); otherwise n rows, all conditioned unless w is 0. A
// denoiser without a cond_mask input is never guided.
func (d *netDenoiser) guide(n int, w float64, guided bool) {
	d.guided, d.w = guided, float32(w)
	if d.mask == nil {
		return
	}
	on := float32(1)
	if w == 0 {
		on = 0
	}
	for i := range d.mask {
		d.mask[i] = on
		if guided && i >= n {
			d.mask[i] = 0
		}
	}
}

// combine writes the guided output u + w*(c - u) into out, in float32.
func combine(out, c, u []float32, w float32) {
	for i := range out {
		diff := c[i] - u[i]
		out[i] = u[i] + float32(w*diff)
	}
}
