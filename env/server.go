package env

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/eval"
	"github.com/robotd/robotd/launch"
	"github.com/robotd/robotd/policy/steer"
	"github.com/robotd/robotd/sim/task"
	"github.com/robotd/robotd/system"
)

// DefaultLaunch is the launch file served when Config.Launch is empty: the reference
// diffusion policy on the pick-and-place scene, in lockstep.
const DefaultLaunch = "launch/pickplace_diffusion.yaml"

// Modes: what a step's client decides (docs/env.md).
const (
	// ModePolicy executes the base policy's chunk (or action) as it is.
	ModePolicy = "policy"
	// ModeChunk replaces the chunk by the client's actions (dataset units).
	ModeChunk = "chunk"
	// ModeNoise hands the sampler the client's initial noise (N x horizon x A, normalized).
	ModeNoise = "noise"
	// ModeResidual adds the client's correction (normalized action units) to the executed
	// actions, bounded as a residual model's: per chunk (rate chunk) or per action (rate
	// action).
	ModeResidual = "residual"
)

// Config is what a Server serves.
type Config struct {
	// Launch is the launch file (default DefaultLaunch): a lockstep pick-and-place scene
	// on the embedded simulator with a policy section. A policy.steering section is kept
	// (the client's decisions then act on the steered chunk); without one the server adds
	// a neutral one (one sample, no scorers), which is the policy bit for bit.
	Launch string
	// Log receives the system's and the server's log (nil: discarded).
	Log *slog.Logger
}

// Info describes what the server serves: the reply to an info request.
type Info struct {
	Launch string `json:"launch"`
	Bundle string `json:"bundle"`
	// ActionDim is A; Horizon the policy's predicted actions per sample (noise is N x
	// Horizon x A); ChunkRows the actions of an executed chunk (Horizon - Start, the
	// shape of base.chunk and of a chunk-mode step's actions); Start the predicted past
	// actions that are not executed (n_obs_steps - 1); NActionSteps the actions executed
	// before the next chunk; Samples is N.
	ActionDim    int `json:"action_dim"`
	Horizon      int `json:"horizon"`
	ChunkRows    int `json:"chunk_rows"`
	Start        int `json:"start"`
	NActionSteps int `json:"n_action_steps"`
	Samples      int `json:"samples"`
	// PolicyDt is the policy's period (s): one observation and, at rate action, one step.
	PolicyDt float64 `json:"policy_dt"`
	// LatencyMS is the modelled inference latency (ms); CameraNoise the cameras' noise
	// (8-bit levels), of the episodes served now.
	LatencyMS   float64 `json:"latency_ms"`
	CameraNoise float64 `json:"camera_noise"`
	// ResidualScale and ResidualBound bound a residual step's correction (normalized
	// units, as steering.residual); NoiseBound clips a noise step's values.
	ResidualScale float64 `json:"residual_scale"`
	ResidualBound float64 `json:"residual_bound"`
	NoiseBound    float64 `json:"noise_bound"`
	// Observations are the policy's features an observation carries (images on request),
	// Privileged the task's privileged arrays (on request).
	Observations []Array `json:"observations"`
	Privileged   []Array `json:"privileged"`
	// Action is the policy's action space (launch policy.action, e.g. ee_pose_6d); Modes
	// are the modes a reset may name.
	Action string   `json:"action"`
	Modes  []string `json:"modes"`
}

// Outcome is a finished episode's result, as robotd eval reports it (eval.Episode).
type Outcome struct {
	Seed          int64   `json:"seed"`
	Success       bool    `json:"success"`
	Duration      float64 `json:"duration"`
	TimeToSuccess float64 `json:"time_to_success"`
	MaxLift       float64 `json:"max_lift"`
	PlaceError    float64 `json:"place_error"`
}

// Server serves the lockstep pick-and-place task through the exact deploy path
// (system.New, the daemon, the steering stage with the client as its Agent) to one client
// at a time over a stream socket. New builds the system; Serve accepts connections; Close
// releases the system. Episodes follow resets: each runs the daemon (d.Run) on its own
// goroutine, which the policy goroutine pauses at every decision point until the client
// answers; simulated time stands still meanwhile.
type Server struct {
	cfg   Config
	log   *slog.Logger
	agent *agent
	ctx   context.Context

	mu sync.Mutex // one connection at a time
	w  *world

	// The episode under way (owned by the connection being served).
	ep      *episode
	cancel  context.CancelFunc
	cur     *point // the decision awaiting the client's step (nil: none)
	epCount int
	step    int
	seed    int64
	t0      time.Duration
	images  bool
	lastObs *point
	ended   bool // the last episode ended (done) and no reset came since
}

// world is the system a set of episodes runs on (rebuilt when a reset changes the
// cameras' noise or the latency, or asks for a fresh one).
type world struct {
	over  eval.Overrides
	sys   *system.System
	te    *system.TaskEpisodes
	d     *daemon.Daemon
	done  func() error
	stage *steer.Stage
	info  Info
	state []int // indices of the non-image features
	image []int // indices of the image features
}

// New builds the system cfg.Launch describes (checked before anything runs); ctx bounds
// every episode the server will run.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Launch == "" {
		cfg.Launch = DefaultLaunch
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, log: log, ctx: ctx}
	s.agent = &agent{}
	w, err := s.newWorld(eval.Overrides{})
	if err != nil {
		return nil, err
	}
	s.w = w
	return s, nil
}

// Info describes the episodes served now (the zero Info when the last rebuild failed).
func (s *Server) Info() Info {
	if s.w == nil {
		return Info{}
	}
	return s.w.info
}

func (s *Server) newWorld(over eval.Overrides) (_ *world, err error) {
	f, err := eval.Load(s.cfg.Launch, over)
	if err != nil {
		return nil, fmt.Errorf("env: %w", err)
	}
	if f.Arm.Driver != launch.DriverSim || f.Mode != launch.ModeLockstep {
		return nil, fmt.Errorf("env: %s: robotd env serves the embedded simulator in lockstep (arm.driver sim, mode lockstep), got driver %s, mode %s", f.Path(), f.Arm.Driver, f.Mode)
	}
	if f.Policy.Steering == nil {
		f.Policy.Steering = &steer.Config{}
	}
	w := &world{over: over}
	if w.sys, err = system.New(s.ctx, f, s.log); err != nil {
		return nil, fmt.Errorf("env: %w", err)
	}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	if w.te, err = w.sys.NewTaskEpisodes(false, 0, nil); err != nil {
		return nil, fmt.Errorf("env: %w", err)
	}
	pp := w.sys.Ports.Policy
	w.stage = pp.Steering
	if err := w.stage.SetAgent(s.agent); err != nil {
		return nil, fmt.Errorf("env: %w", err)
	}
	tk := w.te.Task()
	s.agent.pri = func(p *privileged) {
		pr := tk.Privileged()
		task.EnvValues(p.cube[:], pr.Cube)
		task.EnvValues(p.tool[:], pr.Tool)
		p.gripper = float32(pr.Gripper)
	}
	if w.d, w.done, err = w.sys.Serve(s.ctx, nil); err != nil {
		return nil, fmt.Errorf("env: %w", err)
	}
	pol := pp.Policy
	b, c := pol.Bundle, &pol.Bundle.Config
	cfg := w.stage.Config()
	rc, nc := cfg.Residual, cfg.Noise
	rc.SetDefaults()
	nc.SetDefaults()
	lat := f.Policy.LockstepLatency
	if lat == 0 {
		lat = daemon.DefaultLockstepLatency
	}
	w.info = Info{Launch: f.Path(), Bundle: f.Policy.Bundle, ActionDim: b.ActionDim(), Horizon: c.Horizon,
		ChunkRows: c.Horizon - pol.Start(), Start: pol.Start(), NActionSteps: c.NActionSteps, Samples: cfg.Samples,
		PolicyDt: pol.Dt().Seconds(), LatencyMS: float64(lat) / float64(time.Millisecond), CameraNoise: over.CameraNoise,
		ResidualScale: rc.Scale, ResidualBound: rc.Bound, NoiseBound: nc.Bound, Action: f.Policy.Action,
		Modes: []string{ModePolicy, ModeChunk, ModeNoise, ModeResidual},
		Privileged: []Array{{Name: "privileged.cube", Shape: []int{7}, DType: "float32"},
			{Name: "privileged.tool", Shape: []int{7}, DType: "float32"},
			{Name: "privileged.gripper", Shape: []int{1}, DType: "float32"}}}
	if pp.Executor.NActionSteps > 0 {
		w.info.NActionSteps = pp.Executor.NActionSteps
	}
	for i, ft := range b.Observations {
		w.info.Observations = append(w.info.Observations, Array{Name: ft.Name, Shape: ft.Shape, DType: "float32"})
		if ft.IsImage() {
			w.image = append(w.image, i)
		} else {
			w.state = append(w.state, i)
		}
	}
	return w, nil
}

func (w *world) close() {
	if w.done != nil {
		w.done()
	}
	w.sys.Close()
}

// Close abandons the episode under way and releases the system.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.abandon()
	if s.w != nil {
		s.w.close()
		s.w = nil
	}
}

// Serve accepts connections on ln and serves them one after the other until ctx ends
// (it then closes ln and the connection being served, and returns nil) or ln fails.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var mu sync.Mutex
	var conn net.Conn
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		if conn != nil {
			conn.Close()
		}
		mu.Unlock()
	})
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("env: accept: %w", err)
		}
		mu.Lock()
		conn = c
		mu.Unlock()
		s.ServeConn(c)
		mu.Lock()
		conn = nil
		mu.Unlock()
	}
}

// ServeConn serves one client until it closes the connection, sends close, or sends a
// message that cannot be read; an episode it leaves under way is abandoned (its run
// stopped) so that the server is ready for the next client. It closes c.
func (s *Server) ServeConn(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer c.Close()
	defer s.abandon()
	for {
		m, err := ReadMessage(c)
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			s.log.Warn("env: unreadable message: closing the connection", "err", err)
			WriteMessage(c, errorMessage(err))
			return
		}
		reply, closeConn := s.handle(m)
		if err := WriteMessage(c, reply); err != nil {
			s.log.Warn("env: reply not sent: closing the connection", "err", err)
			return
		}
		if closeConn {
			return
		}
	}
}

func errorMessage(err error) *Message {
	return &Message{Header: Header{Type: "error", Error: err.Error()}}
}

// handle answers one request; closeConn ends the connection after the reply.
func (s *Server) handle(m *Message) (reply *Message, closeConn bool) {
	var err error
	switch m.Type {
	case "info":
		if s.w == nil {
			return errorMessage(errors.New("env: no system: its last rebuild failed (a reset builds it again)")), false
		}
		info := s.w.info
		return &Message{Header: Header{Type: "info", Info: &info}}, false
	case "reset":
		reply, err = s.reset(m)
	case "step":
		reply, err = s.stepEpisode(m)
	case "close":
		s.abandon()
		return &Message{Header: Header{Type: "closed"}}, true
	case "":
		err = errors.New(`env: the header has no "type" (info, reset, step or close)`)
	default:
		err = fmt.Errorf("env: unknown message type %q (info, reset, step or close)", m.Type)
	}
	if err != nil {
		return errorMessage(err), false
	}
	return reply, false
}

// reset abandons the episode under way, rebuilds the system when the cameras' noise or
// the latency change (or fresh asks), and starts the episode of m.Seed; the reply is the
// first decision's observation.
func (s *Server) reset(m *Message) (*Message, error) {
	mode, rate := m.Mode, m.Rate
	if mode == "" {
		mode = ModePolicy
	}
	if rate == "" {
		rate = steer.RateChunk
	}
	kind := pointChunk
	switch {
	case mode != ModePolicy && mode != ModeChunk && mode != ModeNoise && mode != ModeResidual:
		return nil, fmt.Errorf("env: reset: mode %q, want policy, chunk, noise or residual", mode)
	case rate != steer.RateChunk && rate != steer.RateAction:
		return nil, fmt.Errorf("env: reset: rate %q, want chunk or action", rate)
	case rate == steer.RateAction && mode != ModePolicy && mode != ModeResidual:
		return nil, fmt.Errorf("env: reset: rate action decides each action: modes policy and residual only, got %s", mode)
	case rate == steer.RateAction:
		kind = pointAction
	case mode == ModeNoise:
		kind = pointNoise
	}
	if !(m.CameraNoise >= 0) || math.IsInf(m.CameraNoise, 0) || m.CameraNoise > 255 {
		return nil, fmt.Errorf("env: reset: camera_noise %v, want 0 to 255 (8-bit levels)", m.CameraNoise)
	}
	if !(m.LatencyMS >= 0) || m.LatencyMS > 10000 {
		return nil, fmt.Errorf("env: reset: latency_ms %v, want 0 (the launch file's) to 10000", m.LatencyMS)
	}
	if mode == ModeNoise && s.w != nil {
		if err := steer.CheckDeterministic(&s.w.stage.Policy.Bundle.Config); err != nil {
			return nil, fmt.Errorf("env: reset: mode noise: %w", err)
		}
	}
	s.abandon()
	over := eval.Overrides{CameraNoise: m.CameraNoise, Latency: time.Duration(m.LatencyMS * float64(time.Millisecond))}
	if s.w == nil || m.Fresh || over != s.w.over {
		if s.w != nil {
			s.w.close()
			s.w = nil
		}
		w, err := s.newWorld(over)
		if err != nil {
			return nil, err // s.w stays nil: the next reset tries again
		}
		s.w = w
	}
	w := s.w
	if err := w.te.Reset(int(m.Seed)); err != nil {
		return nil, fmt.Errorf("env: reset: %w", err)
	}
	ep := &episode{kind: kind, mode: mode, privileged: m.Privileged, points: make(chan *point),
		answers: make(chan answer), abort: make(chan struct{}), ended: make(chan error, 1)}
	s.agent.ep.Store(ep)
	s.ep, s.cur, s.lastObs, s.ended = ep, nil, nil, false
	s.epCount++
	s.step, s.seed, s.images = 0, m.Seed, m.Images
	s.t0 = w.sys.SimArm.Now()
	ctx, cancel := context.WithCancel(s.ctx)
	s.cancel = cancel
	d := w.d
	go func() { ep.ended <- d.Run(ctx) }()
	return s.next()
}

// abandon stops the episode under way (declining every decision until its run returns)
// and waits for its run.
func (s *Server) abandon() {
	if s.ep == nil {
		return
	}
	close(s.ep.abort)
	s.cancel()
	if s.ep.ended != nil {
		<-s.ep.ended
	}
	s.agent.ep.Store(nil)
	s.ep, s.cur, s.cancel = nil, nil, nil
}

// next waits for the episode's next decision point, or its end.
func (s *Server) next() (*Message, error) {
	ep := s.ep
	select {
	case p := <-ep.points:
		s.cur, s.lastObs = p, p
		return s.observation(p), nil
	case err := <-ep.ended:
		ep.ended = nil // consumed
		return s.finish(err)
	}
}

// stepEpisode applies the client's decision at the pending point and runs to the next.
func (s *Server) stepEpisode(m *Message) (*Message, error) {
	switch {
	case s.ep == nil && s.ended:
		return nil, errors.New("env: step after the episode ended (done): reset")
	case s.ep == nil:
		return nil, errors.New("env: step before reset (no episode under way)")
	case s.cur == nil:
		return nil, errors.New("env: step after the episode ended (done): reset")
	}
	mode := m.Mode
	if mode == "" {
		mode = s.ep.mode
	}
	if mode != ModePolicy && mode != s.ep.mode {
		return nil, fmt.Errorf("env: step: mode %q in an episode reset with mode %s (each step is that mode or policy)", mode, s.ep.mode)
	}
	act := mode != ModePolicy
	if !act && len(m.Arrays) > 0 {
		return nil, fmt.Errorf("env: step: mode policy takes no arrays, got %s", arrayNames(m.Arrays))
	}
	if act {
		if err := s.take(m, mode); err != nil {
			return nil, err
		}
	}
	s.step++
	s.ep.answers <- answer{act: act}
	s.cur = nil
	return s.next()
}

// take checks the step's array against the pending point and writes it where the stage
// reads it.
func (s *Server) take(m *Message, mode string) error {
	p, info := s.cur, &s.w.info
	var name string
	var shape []int
	switch mode {
	case ModeNoise:
		name, shape = "noise", []int{info.Samples, info.Horizon, info.ActionDim}
	case ModeChunk:
		name, shape = "actions", []int{len(p.chunk.Actions) / p.chunk.Dim, p.chunk.Dim}
	case ModeResidual:
		name, shape = "correction", []int{len(p.corr) / info.ActionDim, info.ActionDim}
		if p.kind == pointAction {
			shape = []int{info.ActionDim}
		}
	}
	if len(m.Arrays) != 1 || m.Arrays[0].Name != name {
		return fmt.Errorf("env: step: mode %s takes one array %q of shape %v, got [%s]", mode, name, shape, arrayNames(m.Arrays))
	}
	if got := m.Arrays[0].Shape; !equalInts(got, shape) {
		return fmt.Errorf("env: step: array %q has shape %v, want %v", name, got, shape)
	}
	v := m.Values[0]
	switch mode {
	case ModeNoise:
		copy(p.noise, v)
	case ModeChunk:
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("env: step: actions[%d][%d] is %v: a chunk must be finite", i/p.chunk.Dim, i%p.chunk.Dim, x)
			}
		}
		for i, x := range v {
			p.chunk.Actions[i] = float64(x)
		}
	case ModeResidual:
		copy(p.corr, v)
	}
	return nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// observation is the reply at a decision point.
func (s *Server) observation(p *point) *Message {
	m := &Message{Header: Header{Type: "observation", Episode: s.epCount, Step: s.step, Seed: s.seed, Mode: s.ep.mode,
		Time: (p.obs.Time - s.t0).Seconds()}}
	s.addFeatures(m, p)
	switch p.kind {
	case pointChunk:
		c := p.chunk
		base := make([]float32, len(c.Actions))
		for i, v := range c.Actions {
			base[i] = float32(v) // exact: the chunk's values are the sampler's float32
		}
		m.Add("base.chunk", base, len(base)/c.Dim, c.Dim)
		m.Prefix = p.prefix
		m.Decision = "chunk"
	case pointAction:
		base := make([]float32, len(p.base))
		for i, v := range p.base {
			base[i] = float32(v)
		}
		m.Add("base.action", base, len(base))
		m.Decision = "action"
	case pointNoise:
		m.Decision = "noise"
	}
	if s.ep.privileged {
		pr := p.priv
		m.Add("privileged.cube", pr.cube[:], 7)
		m.Add("privileged.tool", pr.tool[:], 7)
		m.Add("privileged.gripper", []float32{pr.gripper}, 1)
	}
	return m
}

// addFeatures adds the policy's features of the point's observation (copied: the
// buffers are the policy loop's).
func (s *Server) addFeatures(m *Message, p *point) {
	w := s.w
	add := func(i int) {
		f := w.info.Observations[i]
		m.Add(f.Name, append([]float32(nil), p.obs.Values[i]...), f.Shape...)
	}
	for _, i := range w.state {
		add(i)
	}
	if s.images {
		for _, i := range w.image {
			add(i)
		}
	}
}

// finish is the reply when the episode's run ended: the terminal observation (the last
// one the policy took, at most one policy period before the end), reward 1 on success,
// and the outcome as robotd eval reports it.
func (s *Server) finish(runErr error) (*Message, error) {
	ep, w := s.ep, s.w
	s.agent.ep.Store(nil)
	s.ep, s.cur, s.ended = nil, nil, true
	s.cancel()
	var f *daemon.Fault
	m := &Message{Header: Header{Type: "observation", Episode: s.epCount, Step: s.step, Seed: s.seed, Mode: ep.mode,
		Time: (w.sys.SimArm.Now() - s.t0).Seconds(), Done: true, Decision: "done"}}
	switch {
	case runErr != nil && errors.As(runErr, &f):
		m.Fault, m.FaultMessage = f.Kind, f.Error()
		s.log.Warn("env: episode ended by a fault", "episode", s.epCount, "seed", s.seed, "err", runErr)
	case runErr != nil:
		return nil, fmt.Errorf("env: episode %d (seed %d): %w", s.epCount, s.seed, runErr)
	default:
		e := w.te.Episode()
		if e == nil || !e.Done {
			return nil, fmt.Errorf("env: episode %d (seed %d) ended before the task's done", s.epCount, s.seed)
		}
		m.Success, m.Timeout = e.Success, !e.Success
		if e.Success {
			m.Reward = 1
		}
	}
	if p := s.lastObs; p != nil {
		s.addFeatures(m, p)
	}
	out := Outcome{Seed: s.seed, Success: m.Success}
	if e := w.te.Episode(); e != nil && m.Fault == "" {
		out.Duration, out.MaxLift, out.PlaceError = e.Duration.Seconds(), e.MaxLift, e.PlaceError
		if e.Success {
			out.TimeToSuccess = e.TimeToSuccess.Seconds()
		}
	}
	m.Outcome = &out
	return m, nil
}
