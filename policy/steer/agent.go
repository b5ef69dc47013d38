package steer

import (
	"fmt"

	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/chunk"
)

// Agent is an external decision maker the Stage consults in place of its noise policy,
// its residual, or the policy's chunk: a learner driving the deploy path through robotd
// env (docs/env.md), whose decisions take effect exactly where a steering model's would.
// Each method is called on the daemon's policy goroutine and may block (in lockstep the
// simulation waits for it). An Agent that declines every decision leaves the stage doing
// what it does without one, bit for bit.
type Agent interface {
	// Noise is called before the policy samples a step's candidates, with the latest
	// observation (the caller's buffers, dataset units). It either writes the initial
	// noise of every candidate into noise (N x horizon x A values, the normalized action
	// space of the sampler, bounded like a noise policy's output: NaN -> 0, clipped to
	// steering.noise.bound) and returns true, or returns false: the noise policy (or the
	// policy's own generator) draws it.
	Noise(obs policy.Observation, noise []float32) (bool, error)
	// Chunk is called with the chosen chunk c (dataset units; its first prefix actions
	// are the running plan's, inpainted, which no residual touches), before the residual
	// model. It returns AgentKeep, AgentReplace after overwriting c.Actions (the executor
	// still validates them), or AgentCorrect after writing into corr one correction per
	// action from prefix on ((len(c.Actions)/c.Dim - prefix) x A values, the normalized
	// action space), which the stage bounds exactly as a residual model's output
	// (scale, clip to the bound, NaN or Inf -> 0) and applies in place of the residual model.
	Chunk(obs policy.Observation, c *chunk.Chunk, prefix int, corr []float32) (AgentDecision, error)
	// Action is called for each executed action when it becomes due (Stage.Correct),
	// with base, the base plan's action then (dataset units). It writes a correction of
	// A values (normalized, bounded as in Chunk) into corr and returns true, or returns
	// false: the residual model at rate action (if any) corrects it, else nothing does.
	Action(obs policy.Observation, base []float64, corr []float32) (bool, error)
}

// AgentDecision is what Agent.Chunk decided.
type AgentDecision int

// Agent.Chunk's decisions.
const (
	// AgentKeep leaves the chosen chunk to the residual model, as without an agent.
	AgentKeep AgentDecision = iota
	// AgentReplace: the agent overwrote the chunk's actions.
	AgentReplace
	// AgentCorrect: the agent wrote a correction of the executed actions into corr.
	AgentCorrect
)

// agentState is what a Stage keeps for its agent.
type agentState struct {
	a        Agent
	res      ResidualConfig // scale and bound of the agent's corrections
	noiseMax float64        // bound of the agent's noise
	noise    []float32      // N x horizon x A
	corr     []float32      // rows x A
	norm     []float32      // one action, normalized
	moved    []float32      // one action, corrected, then unnormalized
	applied  []float64      // one action's bounded correction
	f32      []float32      // one action in float32
}

// SetAgent makes a consulted by every following Step and Correct (nil: none). Its
// corrections are bounded with the steering section's residual scale and bound (their
// defaults when unset), its noise with the noise bound. Every decision point the stage
// offers the agent is then used: RatePerAction reports true, so that the daemon calls
// Correct for each action (a declined correction adds exact zeros).
func (s *Stage) SetAgent(a Agent) error {
	if a == nil {
		s.agent = nil
		return nil
	}
	rc := s.cfg.Residual
	rc.SetDefaults()
	if err := rc.Validate(); err != nil {
		return err
	}
	nc := s.cfg.Noise
	nc.SetDefaults()
	if err := nc.Validate(); err != nil {
		return err
	}
	c := &s.Policy.Bundle.Config
	dim := s.Policy.Bundle.ActionDim()
	s.agent = &agentState{a: a, res: rc, noiseMax: nc.Bound,
		noise: make([]float32, s.cfg.Samples*c.Horizon*dim), corr: make([]float32, c.Horizon*dim),
		norm: make([]float32, dim), moved: make([]float32, dim), applied: make([]float64, dim), f32: make([]float32, dim)}
	return nil
}

// boundNoise applies the noise bound to the agent's noise in place, as Noise.Sample does a
// model's.
func (g *agentState) boundNoise(noise []float32) NoiseStep {
	return boundNoise(noise, noise, g.noiseMax)
}

// correct applies corr (the agent's raw correction, normalized units) to one action in
// place (dataset units), as Residual.Apply does a model's output (boundCorrection); corr
// is overwritten with the applied correction, for the caller's record. It returns the
// counts and the correction's L2 norm.
func (g *agentState) correct(norm *policy.Normalizer, action []float64, corr []float32) (clipped, nonFinite int, l2 float64) {
	for j, v := range action {
		g.f32[j] = float32(v)
	}
	norm.Normalize(g.norm, g.f32)
	clipped, nonFinite, l2 = boundCorrection(g.res, corr, g.norm, g.applied, g.moved)
	norm.Unnormalize(g.moved, g.moved)
	for j, c := range g.applied {
		corr[j] = float32(c)
		if c != 0 {
			action[j] = float64(g.moved[j])
		}
	}
	return clipped, nonFinite, l2
}

// correctChunk applies the agent's correction to dst's actions from index skip on.
func (g *agentState) correctChunk(norm *policy.Normalizer, dst *chunk.Chunk, skip int) ResidualStep {
	dim := dst.Dim
	rows := len(dst.Actions)/dim - skip
	rs := ResidualStep{Rows: max(rows, 0)}
	total := 0.0
	for i := range rs.Rows {
		k := (skip + i) * dim
		c, nf, l2 := g.correct(norm, dst.Actions[k:k+dim], g.corr[i*dim:(i+1)*dim])
		rs.Clipped, rs.NonFinite, total = rs.Clipped+c, rs.NonFinite+nf, total+l2
	}
	if rs.Rows > 0 {
		rs.Magnitude = total / float64(rs.Rows)
	}
	return rs
}

// agentChunk consults the agent on the chosen chunk dst; it reports whether the agent
// decided (replaced or corrected), which keeps the residual model out.
func (s *Stage) agentChunk(dst *chunk.Chunk, skip int, info *StepInfo) (bool, error) {
	g := s.agent
	rows := max(len(dst.Actions)/dst.Dim-skip, 0)
	corr := g.corr[:rows*dst.Dim]
	clear(corr)
	d, err := g.a.Chunk(s.obs, dst, skip, corr)
	if err != nil {
		return false, fmt.Errorf("steer: agent: %w", err)
	}
	switch d {
	case AgentKeep:
		return false, nil
	case AgentReplace:
		return true, nil
	case AgentCorrect:
		t := s.clock()
		info.ResidualStep = g.correctChunk(&s.Policy.Bundle.Action.Norm, dst, skip)
		info.Residual = s.clock() - t
		return true, nil
	}
	return false, fmt.Errorf("steer: agent: unknown decision %d", d)
}

// agentAction consults the agent on the action due now (Correct): ok is false when it
// declined.
func (s *Stage) agentAction(base, offset []float64) (rs ResidualStep, ok bool, err error) {
	g := s.agent
	dim := len(base)
	corr := g.corr[:dim]
	clear(corr)
	ok, err = g.a.Action(s.obs, base, corr)
	if err != nil || !ok {
		clear(offset)
		if err != nil {
			err = fmt.Errorf("steer: agent: %w", err)
		}
		return rs, false, err
	}
	copy(offset, base)
	c, nf, l2 := g.correct(&s.Policy.Bundle.Action.Norm, offset, corr)
	for k, v := range base {
		offset[k] -= v
	}
	return ResidualStep{Rows: 1, Clipped: c, NonFinite: nf, Magnitude: l2}, true, nil
}
