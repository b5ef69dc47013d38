package steer

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/chunk"
)

// Stage is the steering stage of the policy loop, between the policy and the chunk
// executor: per policy step it draws N candidate chunks in one batched call (from a
// learned initial noise when a noise policy is configured), scores them with the
// configured scorers (a weak policy's samples for contrast, a value model's scores),
// selects one, and applies the bounded residual to its executed actions. It owns the
// models it opened (the weak policy, the value, noise and residual models), not the
// policy. A Stage is used by one goroutine (the daemon's policy goroutine); after the
// first Step, Observe, Step and Correct allocate nothing.
type Stage struct {
	Policy *policy.Policy

	cfg      Config
	now      func() time.Duration
	weak     *policy.Policy
	value    *Value
	noise    *Noise
	residual *Residual
	steer    *Steer

	cands, weakCands *Candidates
	hist             *History
	obs              policy.Observation // the latest observation (the caller's buffers)
	vals             []float64
	noiseBuf, eps    []float32
	epsRand          *policy.SeededNoise
	epsSeed          uint64
	resBuf           []float32
	info             StepInfo
	agent            *agentState // nil without an Agent (SetAgent)
}

// StageOptions are what a Stage needs besides its configuration.
type StageOptions struct {
	// Open opens the steering models and the weak policy (policy/onnx's Opener).
	Open policy.Open
	// Bounds are the executor's: a candidate outside them is never chosen.
	Bounds chunk.Bounds
	// Now reads a monotonic clock for the step's timings; nil times nothing.
	Now func() time.Duration
	// Seed seeds the weak policy's noise and the standard normals a noise policy takes.
	Seed uint64
	// Agent, when set, is consulted by every Step and Correct (SetAgent); nil: none.
	Agent Agent
}

// StepInput is what a step compares its candidates with.
type StepInput struct {
	// Prefix holds the actions that execute while the chunk is computed (inpainting, in
	// dataset units), as policy.StepOptions.Prefix; the residual leaves them as they are
	// (they were corrected when their own chunk was).
	Prefix []float32
	// Plan is the running plan from the latest observation's time on (coherence); nil
	// without one.
	Plan *chunk.Chunk
}

// StepInfo says what one step did and where its time went.
type StepInfo struct {
	// N is the number of candidates drawn, Valid how many passed validation, Chosen the
	// index selected.
	N, Valid, Chosen int
	// Spread is the highest minus the lowest finite combined score (0 with one).
	Spread float64
	// Infer is the policy's batched step; Weak the weak policy's; Noise, Value and
	// Residual the models' runs; Scorers each scorer's time (ScoreCoherence...); Total
	// the whole step.
	Infer, Weak, Noise, Value, Residual, Total time.Duration
	Scorers                                    [NumScorers]time.Duration
	// NoiseStep and ResidualStep are the bounds' records (zero without the model).
	NoiseStep    NoiseStep
	ResidualStep ResidualStep
}

// NewStage opens what cfg names for pol: the weak policy (contrast.bundle), the value,
// noise and residual bundles, and sets the policy's guidance. Every bundle is checked
// against the policy before anything runs, and the error names the key and the mismatch.
func NewStage(cfg Config, pol *policy.Policy, o StageOptions) (_ *Stage, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	pb, pc := pol.Bundle, &pol.Bundle.Config
	if pc.Kind == policy.KindChunked {
		switch {
		case cfg.Samples > 1:
			return nil, fmt.Errorf("steer: samples %d: policy %s is chunked (deterministic): it draws one sample per step", cfg.Samples, pb.Dir)
		case cfg.Noise.Bundle != "":
			return nil, fmt.Errorf("steer: noise: policy %s is chunked: it has no initial noise", pb.Dir)
		}
	}
	s := &Stage{Policy: pol, cfg: cfg, now: o.Now}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	sh := Shape{MaxN: cfg.Samples, Horizon: pc.Horizon, Start: pol.Start(), Dim: pb.ActionDim()}
	s.cands = NewCandidates(sh, o.Bounds)
	if s.steer, err = New(cfg, max(cfg.Samples, cfg.Contrast.Samples)); err != nil {
		return nil, err
	}
	s.steer.Now = o.Now
	if cfg.Past.Weight > 0 {
		s.hist = NewHistory(4*pc.Horizon, sh.Dim)
	}
	if cfg.Contrast.Bundle != "" {
		if s.weak, err = policy.Load(cfg.Contrast.Bundle, o.Open, policy.Options{Seed: o.Seed ^ 0x5eed}); err != nil {
			return nil, fmt.Errorf("steer: contrast.bundle: %w", err)
		}
		if err := fitWeak(s.weak, pol, cfg.Contrast.Samples); err != nil {
			return nil, fmt.Errorf("steer: contrast.bundle %s: %w", cfg.Contrast.Bundle, err)
		}
		ws := sh
		ws.MaxN = cfg.Contrast.Samples
		s.weakCands = NewCandidates(ws, chunk.Bounds{})
	}
	if cfg.Value.Bundle != "" {
		b, err := LoadBundle(cfg.Value.Bundle)
		if err != nil {
			return nil, fmt.Errorf("steer: value.bundle: %w", err)
		}
		if s.value, err = NewValue(b, pb, o.Open, cfg.Samples); err != nil {
			return nil, fmt.Errorf("steer: value.bundle: %w", err)
		}
		s.vals = make([]float64, cfg.Samples)
	}
	if cfg.Noise.Bundle != "" {
		b, err := LoadBundle(cfg.Noise.Bundle)
		if err != nil {
			return nil, fmt.Errorf("steer: noise.bundle: %w", err)
		}
		if s.noise, err = NewNoise(b, pb, o.Open, cfg.Samples, cfg.Noise); err != nil {
			return nil, fmt.Errorf("steer: noise.bundle: %w", err)
		}
		size := cfg.Samples * pc.Horizon * sh.Dim
		s.noiseBuf, s.eps = make([]float32, size), make([]float32, size)
		s.epsSeed = o.Seed ^ 0xd5c1
		s.epsRand = policy.NewSeededNoise(s.epsSeed)
	}
	if cfg.Residual.Bundle != "" {
		b, err := LoadBundle(cfg.Residual.Bundle)
		if err != nil {
			return nil, fmt.Errorf("steer: residual.bundle: %w", err)
		}
		rows := pc.Horizon - pol.Start()
		if cfg.Residual.Rate == RateAction {
			rows = 1
		}
		if s.residual, err = NewResidual(b, pb, o.Open, rows, cfg.Residual); err != nil {
			return nil, fmt.Errorf("steer: residual.bundle: %w", err)
		}
		s.resBuf = make([]float32, rows*sh.Dim)
	}
	if o.Agent != nil {
		if err := s.SetAgent(o.Agent); err != nil {
			return nil, err
		}
	}
	if w := cfg.Guidance.Weight; w != 0 && w != 1 {
		if err := pol.SetGuidance(w); err != nil {
			return nil, fmt.Errorf("steer: guidance.weight %v: %w", w, err)
		}
	}
	return s, nil
}

// fitWeak checks that the weak policy takes the same observations and yields candidates
// of the same layout and timing as the policy.
func fitWeak(w, p *policy.Policy, samples int) error {
	wc, pc := &w.Bundle.Config, &p.Bundle.Config
	switch {
	case wc.Horizon != pc.Horizon:
		return fmt.Errorf("horizon %d, the policy's is %d", wc.Horizon, pc.Horizon)
	case wc.NObsSteps != pc.NObsSteps:
		return fmt.Errorf("n_obs_steps %d, the policy's is %d", wc.NObsSteps, pc.NObsSteps)
	case w.Dt() != p.Dt():
		return fmt.Errorf("control_rate_hz %v, the policy's is %v", wc.ControlRateHz, pc.ControlRateHz)
	case w.Bundle.ActionDim() != p.Bundle.ActionDim():
		return fmt.Errorf("action has %d values, the policy's %d", w.Bundle.ActionDim(), p.Bundle.ActionDim())
	case wc.Kind == policy.KindChunked && samples > 1:
		return fmt.Errorf("it is chunked (deterministic): contrast.samples must be 1, got %d", samples)
	}
	wo, po := w.Bundle.Observations, p.Bundle.Observations
	if len(wo) != len(po) {
		return fmt.Errorf("observation features %s, the policy's are %s", names(wo), names(po))
	}
	for i := range po {
		if wo[i].Name != po[i].Name || !slices.Equal(wo[i].Shape, po[i].Shape) {
			return fmt.Errorf("observation feature %s %v, the policy's is %s %v", wo[i].Name, wo[i].Shape, po[i].Name, po[i].Shape)
		}
	}
	return nil
}

func names(fs []policy.Feature) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

// Config returns the configuration in use, defaults filled.
func (s *Stage) Config() Config { return s.cfg }

// Reseed restarts every generator a step draws from (the policy's and the weak policy's
// noise, the noise policy's standard normals, the softmax selector) from their seeds and
// episode: an episode's steps then depend on the two alone.
func (s *Stage) Reseed(episode uint64) {
	s.Policy.Reseed(episode)
	if s.weak != nil {
		s.weak.Reseed(episode)
	}
	if s.epsRand != nil {
		s.epsRand = policy.NewSeededNoise(s.epsSeed ^ (episode * 0x94d049bb133111eb))
	}
	s.steer.sel.Reseed(episode)
}

// Weak returns the weak policy (nil without contrast.bundle).
func (s *Stage) Weak() *policy.Policy { return s.weak }

// Reset forgets the observation histories and the executed actions (a new episode).
func (s *Stage) Reset() {
	s.Policy.Reset()
	if s.weak != nil {
		s.weak.Reset()
	}
	if s.hist != nil {
		s.hist.Reset()
	}
	s.obs = policy.Observation{}
}

// Observe adds an observation to the policy's history (and the weak policy's) and keeps
// it, without copying, as the latest features the steering models read: o's buffers must
// stay unchanged until the next Step or Correct.
func (s *Stage) Observe(o policy.Observation) error {
	if err := s.Policy.Observe(o); err != nil {
		return err
	}
	if s.weak != nil {
		if err := s.weak.Observe(o); err != nil {
			return fmt.Errorf("weak policy: %w", err)
		}
	}
	s.obs = o
	return nil
}

// Executed records that action (dataset units) was commanded at t: the history the past
// scorer compares predicted past actions with. Without the past scorer it does nothing.
func (s *Stage) Executed(t time.Duration, action []float64) {
	if s.hist != nil {
		s.hist.Add(t, action)
	}
}

// RatePerAction reports whether the residual is applied per action with Correct (rate
// action) rather than to each chunk by Step; with an Agent, always.
func (s *Stage) RatePerAction() bool {
	return s.agent != nil || s.residual != nil && s.cfg.Residual.Rate == RateAction
}

func (s *Stage) clock() time.Duration {
	if s.now == nil {
		return 0
	}
	return s.now()
}

// Step computes one chunk from the latest observation into dst: N candidates, scored and
// selected, the residual applied (rate chunk). An error leaves dst unchanged: the policy's
// or a model's failure, or ErrNoCandidate (wrapped with the first candidate's reason)
// when no candidate is valid. Info says what the step did.
func (s *Stage) Step(in StepInput, dst *chunk.Chunk) (StepInfo, error) {
	t0 := s.clock()
	info := StepInfo{N: s.cfg.Samples, Chosen: -1}
	pol, n := s.Policy, s.cfg.Samples
	opt := policy.StepOptions{Samples: n, Prefix: in.Prefix, Normalized: true}
	if s.agent != nil {
		size := n * pol.Bundle.Config.Horizon * pol.Bundle.ActionDim()
		ok, err := s.agent.a.Noise(s.obs, s.agent.noise[:size])
		if err != nil {
			return info, fmt.Errorf("steer: agent: %w", err)
		}
		if ok {
			info.NoiseStep = s.agent.boundNoise(s.agent.noise[:size])
			opt.Noise = s.agent.noise[:size]
		}
	}
	if s.noise != nil && opt.Noise == nil {
		t := s.clock()
		size := n * pol.Bundle.Config.Horizon * pol.Bundle.ActionDim()
		s.epsRand.Normal(s.eps[:size])
		ns, err := s.noise.Sample(s.noise.Observation(s.obs), n, s.eps[:size], s.noiseBuf[:size])
		info.Noise, info.NoiseStep = s.clock()-t, ns
		if err != nil {
			return info, fmt.Errorf("steer: noise policy: %w", err)
		}
		opt.Noise = s.noiseBuf[:size]
	}
	t := s.clock()
	if _, err := pol.Step(opt); err != nil {
		return info, err
	}
	info.Infer = s.clock() - t
	s.cands.Unnormalize(pol.Raw(), n, &pol.Bundle.Action.Norm, pol.ObservedAt(), pol.Dt())
	info.Valid = s.cands.NumValid()

	var inputs Inputs
	inputs.Plan = in.Plan
	if s.weak != nil {
		t := s.clock()
		m := s.cfg.Contrast.Samples
		if _, err := s.weak.Step(policy.StepOptions{Samples: m, Prefix: in.Prefix, Normalized: true}); err != nil {
			return info, fmt.Errorf("weak policy: %w", err)
		}
		s.weakCands.Unnormalize(s.weak.Raw(), m, &s.weak.Bundle.Action.Norm, s.weak.ObservedAt(), s.weak.Dt())
		inputs.Weak = s.weakCands
		info.Weak = s.clock() - t
	}
	if s.value != nil {
		t := s.clock()
		if err := s.value.Score(s.vals, s.cands, s.value.Observation(s.obs)); err != nil {
			return info, err
		}
		inputs.Values = s.vals[:n]
		info.Value = s.clock() - t
	}
	inputs.History = s.hist
	i, err := s.steer.Step(s.cands, inputs)
	info.Scorers = s.steer.Times()
	if err != nil {
		return info, fmt.Errorf("%w: candidate 0: %v", err, s.cands.Err(0))
	}
	info.Chosen = i
	info.Spread = spread(s.steer.total[:n])
	s.cands.ToChunk(dst, i)
	decided := false
	if s.agent != nil {
		if decided, err = s.agentChunk(dst, len(in.Prefix)/dst.Dim, &info); err != nil {
			return info, err
		}
	}
	if s.residual != nil && s.cfg.Residual.Rate == RateChunk && !decided {
		t := s.clock()
		rs, err := s.correctChunk(dst, len(in.Prefix)/dst.Dim)
		info.Residual, info.ResidualStep = s.clock()-t, rs
		if err != nil {
			return info, err
		}
	}
	info.Total = s.clock() - t0
	s.info = info
	return info, nil
}

// correctChunk applies the residual to dst's actions from index skip on, from the
// chosen candidate's float32 values (so a zero correction leaves dst bit for bit).
func (s *Stage) correctChunk(dst *chunk.Chunk, skip int) (ResidualStep, error) {
	dim := dst.Dim
	rows := len(dst.Actions)/dim - skip
	if rows <= 0 {
		return ResidualStep{}, nil
	}
	buf := s.resBuf[:rows*dim]
	for k := range buf {
		buf[k] = float32(dst.Actions[skip*dim+k])
	}
	rs, err := s.residual.Apply(s.residual.Observation(s.obs), buf, rows)
	if err != nil {
		return rs, fmt.Errorf("steer: residual: %w", err)
	}
	for k, v := range buf {
		dst.Actions[skip*dim+k] = float64(v)
	}
	return rs, nil
}

// Correct computes the residual (rate action) for base, the action due at the latest
// observation's time (dataset units), from that observation: it writes the correction
// into offset (dataset units, base's size): the executed action is base + offset. A
// zero residual writes exact zeros. With an Agent it is consulted first (Agent.Action).
func (s *Stage) Correct(base, offset []float64) (ResidualStep, error) {
	if s.agent != nil {
		rs, ok, err := s.agentAction(base, offset)
		if ok || err != nil || s.residual == nil || s.cfg.Residual.Rate != RateAction {
			return rs, err
		}
	}
	buf := s.resBuf[:len(base)]
	for k, v := range base {
		buf[k] = float32(v)
	}
	rs, err := s.residual.Apply(s.residual.Observation(s.obs), buf, 1)
	if err != nil {
		clear(offset)
		return rs, fmt.Errorf("steer: residual: %w", err)
	}
	for k, v := range base {
		offset[k] = float64(buf[k]) - float64(float32(v))
	}
	return rs, nil
}

// spread is the highest minus the lowest finite score.
func spread(scores []float64) float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range scores {
		if !math.IsInf(v, 0) && !math.IsNaN(v) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if hi < lo {
		return 0
	}
	return hi - lo
}

// Candidates returns the last step's candidates (valid until the next Step).
func (s *Stage) Candidates() *Candidates { return s.cands }

// Steer returns the scorers and the selector (their last Score's results).
func (s *Stage) Steer() *Steer { return s.steer }

// Last returns the last successful step's record.
func (s *Stage) Last() StepInfo { return s.info }

// Close releases the models the stage opened (not the policy).
func (s *Stage) Close() error {
	var errs []error
	if s.weak != nil {
		errs = append(errs, s.weak.Close())
	}
	if s.value != nil {
		errs = append(errs, s.value.Close())
	}
	if s.noise != nil {
		errs = append(errs, s.noise.Close())
	}
	if s.residual != nil {
		errs = append(errs, s.residual.Close())
	}
	return errors.Join(errs...)
}
