package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
	"github.com/robotd/robotd/perception"
	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/chunk"
	"github.com/robotd/robotd/policy/steer"
)

// Preprocessor turns one camera frame into a policy image tensor (float CHW); perception/cv's
// Pipeline is one.
type Preprocessor interface {
	Run(f *perception.Frame, dst []float32) error
}

// PolicyPorts are the policy, its cameras and how its values map onto the arm.
type PolicyPorts struct {
	Policy *policy.Policy
	// Executor configures chunk execution; Horizon, Dim and Dt are filled from the policy,
	// NActionSteps defaults to the bundle's n_action_steps, Strategy to inpaint for
	// diffusion/flow policies and ensemble for chunked ones.
	Executor chunk.Config
	// Action and State say what the action and observation.state values mean.
	Action, State Space
	// Cameras feed the image features observation.images.<camera name>; Preprocess[i]
	// turns Cameras[i]'s frames into that feature's tensor.
	Cameras    []*perception.Latest
	Preprocess []Preprocessor
	// MaxSkew is the largest |frame time - observation time| accepted. Default 50 ms.
	MaxSkew time.Duration
	// LockstepLatency is the modelled inference time in lockstep. Default 20 ms.
	LockstepLatency time.Duration
	// MaxFailures consecutive failed policy steps (an error from the policy, or a chunk
	// the executor refuses: non-finite, malformed) end the run with the policy fault.
	// Stale cameras do not count: they pause the policy (camera_stale watchdog).
	// Default 3.
	MaxFailures int
	// ChunkTimeout: no valid chunk for this long while running (control clock; counted
	// from the start of Running and from each valid chunk, pauses for stale cameras
	// included) ends the run with the policy fault. Default 5 s.
	ChunkTimeout time.Duration
	// Steering, when set, computes every chunk (candidates, scorers, selection, residual;
	// docs/steering.md) on the policy goroutine; its Policy must be Policy. The daemon
	// does not close it. A step whose candidates are all invalid counts as a failed step.
	Steering *steer.Stage
}

// obsRequest is one observation the control loop hands to the policy goroutine; infer asks
// for a chunk from it. Buffers are preallocated and recycled through the free channel.
type obsRequest struct {
	t       time.Duration
	q       []float64
	gripper float64
	infer   bool
	prefix  []float32 // the actions that run while the chunk is computed (inpaint)
	// Steering: the running plan from t (coherence), the plan's action at t (the residual
	// per action corrects it) and what was commanded at t (the past scorer's history).
	plan     []float64
	planN    int
	base     []float64
	executed []float64
	hasBase  bool
}

// result is a chunk computed from the observation at t (or an error).
type result struct {
	t         time.Duration
	chunk     chunk.Chunk
	latency   time.Duration // inference time on Config.Clock
	err       error
	deliverAt time.Duration // lockstep: control-clock time the chunk reaches the executor
	// Steering: the step's record (steered), and the per-action residual's correction of
	// the action due at t (hasOffset).
	steered   bool
	info      steer.StepInfo
	offset    []float64
	hasOffset bool
	resStep   steer.ResidualStep
}

type policyLoop struct {
	d    *Daemon
	pp   PolicyPorts
	pol  *policy.Policy
	exec *chunk.Executor
	dt   time.Duration // policy period

	dof        int
	actGripper bool
	stGripper  bool
	stateIdx   int // index of observation.state in the bundle's observations (-1: none)
	imageIdx   []int
	nPrefix    int // actions of prefix to inpaint (0: none)
	stage      *steer.Stage
	sm         *steerMetrics
	planLen    int  // actions of the running plan a steered request carries (coherence)
	perAction  bool // the residual corrects each action as it becomes due

	done     chan struct{} // closed when the policy goroutine returns
	reqs     chan *obsRequest
	freeReqs chan *obsRequest
	results  chan *result
	freeRes  chan *result

	// Owned by the control loop.
	nextObs              time.Duration
	inflight             bool
	pending              *result
	paused               bool // camera stale: holding, waiting for fresh frames
	sp                   []float64
	plan                 []float64
	starved, starvedSeen uint64
	jtgt                 []float64
	failures             int           // consecutive failed steps
	lastValid            time.Duration // when the last valid chunk arrived (or Running began)
	lastFailure          error         // the newest failure, for the fault's message
	offset               []float64     // per-action residual added to the setpoint
	path                 []mgl64.Vec3  // a chunk's tool path for Ports.Observer
	pathKin              *control.Kinematics

	// Owned by the policy goroutine.
	obs    policy.Observation
	frames []perception.Frame
	kin    *control.Kinematics
	latEMA time.Duration
}

func newPolicyLoop(d *Daemon, pp PolicyPorts) (*policyLoop, error) {
	p := pp.Policy
	if p == nil {
		return nil, errors.New("daemon: policy ports without a policy")
	}
	b := p.Bundle
	c := &b.Config
	if pp.MaxSkew == 0 {
		pp.MaxSkew = DefaultMaxSkew
	}
	if pp.LockstepLatency == 0 {
		pp.LockstepLatency = DefaultLockstepLatency
	}
	if pp.MaxFailures == 0 {
		pp.MaxFailures = DefaultMaxFailures
	}
	if pp.ChunkTimeout == 0 {
		pp.ChunkTimeout = DefaultChunkTimeout
	}
	if pp.MaxFailures < 0 || pp.ChunkTimeout < 0 {
		return nil, fmt.Errorf("daemon: policy max failures %d and chunk timeout %v must be positive", pp.MaxFailures, pp.ChunkTimeout)
	}
	if len(pp.Preprocess) != len(pp.Cameras) {
		return nil, fmt.Errorf("daemon: %d cameras but %d preprocessors", len(pp.Cameras), len(pp.Preprocess))
	}
	dof := d.ports.Robot.DoF()
	l := &policyLoop{d: d, pp: pp, pol: p, dt: p.Dt(), dof: dof, stateIdx: -1,
		kin: d.ports.Robot.NewKinematics()}
	var err error
	if l.actGripper, err = pp.Action.checkWidth("action", b.ActionDim(), dof); err != nil {
		return nil, fmt.Errorf("daemon: policy %s: %w", b.Dir, err)
	}
	// Map every observation feature to its source.
	l.imageIdx = make([]int, len(b.Observations))
	cams := map[string]int{}
	for i, c := range pp.Cameras {
		cams[c.Name()] = i
	}
	used := map[string]bool{}
	for i, f := range b.Observations {
		l.imageIdx[i] = -1
		switch {
		case f.Name == "observation.state":
			l.stateIdx = i
			if l.stGripper, err = pp.State.checkWidth(f.Name, f.Size, dof); err != nil {
				return nil, fmt.Errorf("daemon: policy %s: %w", b.Dir, err)
			}
		case f.IsImage():
			name := strings.TrimPrefix(f.Name, "observation.images.")
			ci, ok := cams[name]
			if !ok {
				return nil, fmt.Errorf("daemon: policy %s needs camera %q (feature %s); the launch file has %s", b.Dir, name, f.Name, cameraNames(pp.Cameras))
			}
			l.imageIdx[i] = ci
			used[name] = true
		default:
			return nil, fmt.Errorf("daemon: policy %s: observation feature %s has no source in robotd (observation.state and observation.images.* do)", b.Dir, f.Name)
		}
	}
	for name := range cams {
		if !used[name] {
			d.log.Warn("camera is not used by the policy", "camera", name)
		}
	}
	if l.stGripper && d.gripper == nil {
		return nil, fmt.Errorf("daemon: policy %s observes a gripper opening but the arm has no gripper", b.Dir)
	}
	if l.actGripper && d.gripper == nil {
		d.log.Warn("the arm has no gripper: the policy's gripper action is ignored", "policy", b.Dir)
		l.actGripper = false
	}

	ec := pp.Executor
	ec.Horizon, ec.Dim, ec.Dt = c.Horizon-p.Start(), b.ActionDim(), l.dt
	if ec.Strategy == "" {
		ec.Strategy = chunk.Inpaint
		if c.Kind == policy.KindChunked {
			ec.Strategy = chunk.Ensemble
		}
	}
	if ec.NActionSteps == 0 && ec.Strategy != chunk.Ensemble {
		ec.NActionSteps = min(c.NActionSteps, ec.Horizon)
	}
	if ec.Strategy == chunk.Inpaint && c.Kind == policy.KindChunked {
		return nil, fmt.Errorf("daemon: policy %s is chunked (no sampler): executor strategy inpaint needs a diffusion or flow policy", b.Dir)
	}
	if l.exec, err = chunk.New(ec); err != nil {
		return nil, fmt.Errorf("daemon: executor: %w", err)
	}
	if ec.Strategy == chunk.Inpaint {
		// The actions executing while the next chunk is computed, plus one.
		lat := pp.LockstepLatency
		l.nPrefix = min(int(math.Ceil(float64(lat)/float64(l.dt)))+1, ec.Horizon-1)
	}

	if st := pp.Steering; st != nil {
		if st.Policy != p {
			return nil, errors.New("daemon: the steering stage steers another policy than the one given")
		}
		l.stage, l.sm = st, newSteerMetrics(d.cfg.Metrics, st.Config())
		if st.Config().Coherence.Weight > 0 {
			l.planLen = ec.Horizon
		}
		l.perAction = st.RatePerAction()
	}

	l.done = make(chan struct{})
	const nReq, nRes = 4, 3
	l.reqs, l.freeReqs = make(chan *obsRequest, nReq), make(chan *obsRequest, nReq)
	for range nReq {
		l.freeReqs <- &obsRequest{q: make([]float64, dof), prefix: make([]float32, 0, (l.nPrefix+1)*ec.Dim),
			plan: make([]float64, l.planLen*ec.Dim), base: make([]float64, ec.Dim), executed: make([]float64, ec.Dim)}
	}
	l.results, l.freeRes = make(chan *result, nRes), make(chan *result, nRes)
	for range nRes {
		l.freeRes <- &result{chunk: chunk.Chunk{Actions: make([]float64, ec.Horizon*ec.Dim)}, offset: make([]float64, ec.Dim)}
	}
	l.offset = make([]float64, ec.Dim)
	l.sp, l.plan = make([]float64, ec.Dim), make([]float64, max(l.nPrefix, l.planLen, 1)*ec.Dim)
	l.jtgt = make([]float64, dof)
	if d.ports.Observer != nil {
		l.path, l.pathKin = make([]mgl64.Vec3, 0, ec.Horizon), d.ports.Robot.NewKinematics()
	}
	l.obs.Values = make([][]float32, len(b.Observations))
	for i, f := range b.Observations {
		l.obs.Values[i] = make([]float32, f.Size)
	}
	l.frames = make([]perception.Frame, len(pp.Cameras))
	return l, nil
}

func cameraNames(cams []*perception.Latest) string {
	if len(cams) == 0 {
		return "no cameras"
	}
	var names []string
	for _, c := range cams {
		names = append(names, c.Name())
	}
	return "cameras " + strings.Join(names, ", ")
}

// reset readies the loop for another run: the policy goroutine of the last run has
// returned, so every buffer is back in (or is put back into) its free list.
func (l *policyLoop) reset() {
	l.done = make(chan struct{})
	for {
		select {
		case r := <-l.reqs:
			l.freeReqs <- r
			continue
		case r := <-l.results:
			l.freeRes <- r
			continue
		default:
		}
		break
	}
	if l.pending != nil {
		l.freeRes <- l.pending
		l.pending = nil
	}
	l.inflight, l.paused = false, false
	l.failures, l.lastFailure = 0, nil
	l.exec.Reset()
	clear(l.offset)
	if l.stage != nil {
		l.stage.Reset()
	} else {
		l.pol.Reset()
	}
}

// begin starts the policy at control-clock time now (entering Running).
func (l *policyLoop) begin(now time.Duration) {
	l.nextObs = now
	l.lastValid, l.failures = now, 0
	if l.pp.Action == SpaceJoints {
		l.d.servo.SetMode(ModeJoint)
	}
}

// pause stops asking for observations and drops the plan (stop requested).
func (l *policyLoop) pause() {
	l.nextObs = math.MaxInt64
	l.exec.Reset()
	clear(l.offset)
}

// control runs in the control loop every Running tick: deliver chunks, ask for
// observations, command the setpoint. It allocates nothing.
func (l *policyLoop) control(now time.Duration) error {
	d := l.d
	// Chunks computed since the last tick.
	if !d.cfg.Lockstep {
		for {
			select {
			case r := <-l.results:
				l.receive(r, now)
				continue
			default:
			}
			break
		}
	}
	if r := l.pending; r != nil && now >= r.deliverAt {
		l.pending = nil
		l.push(r, now)
	}
	if now >= l.nextObs {
		l.nextObs += l.dt
		if l.nextObs <= now { // fell behind (a pause): realign
			l.nextObs = now + l.dt
		}
		l.observe(now)
	}
	if l.failures >= l.pp.MaxFailures {
		return fmt.Errorf("%d policy steps failed in a row, the last: %w", l.failures, l.lastFailure)
	}
	if now-l.lastValid > l.pp.ChunkTimeout {
		why := "no step failed"
		if l.paused {
			why = "paused: cameras stale"
		}
		if l.lastFailure != nil {
			why = "last failure: " + l.lastFailure.Error()
		}
		return fmt.Errorf("no valid chunk for %v (limit %v; %s)", now-l.lastValid, l.pp.ChunkTimeout, why)
	}
	if l.paused {
		return nil
	}
	if !l.exec.Setpoint(now, l.sp) {
		return nil // no chunk yet: holding
	}
	if l.perAction {
		for i, v := range l.offset {
			l.sp[i] += v
		}
	}
	if st := l.exec.Stats(); st.Starved > l.starved {
		if l.starved == l.starvedSeen { // a new starvation episode
			l.d.m.watchdog(wdStarved)
		}
		l.starved = st.Starved
	} else {
		l.starvedSeen = l.starved
	}
	switch l.pp.Action {
	case SpaceEEPose, SpaceEEPose6D:
		d.servo.SetCartesianTarget(l.pp.Action.Pose(l.sp))
	case SpaceJoints:
		d.servo.SetJointTarget(l.sp[:l.dof])
	}
	if l.actGripper {
		d.setGripper(l.sp[len(l.sp)-1])
	}
	return nil
}

// observe hands the current state to the policy goroutine, asking for a chunk when the
// executor wants one and none is being computed.
func (l *policyLoop) observe(now time.Duration) {
	var req *obsRequest
	select {
	case req = <-l.freeReqs:
	default:
		l.d.m.obsDropped.Inc() // the policy goroutine is behind
		return
	}
	st := l.d.servo.State()
	req.t = now
	copy(req.q, st.Q)
	if l.d.gripper != nil {
		req.gripper = l.d.gripper.GripperWidth()
	}
	req.infer = !l.inflight && l.pending == nil && (l.paused || l.exec.Want(now))
	req.prefix = req.prefix[:0]
	req.planN, req.hasBase = 0, false
	dim := l.exec.Config().Dim
	if req.infer && (l.nPrefix > 0 || l.planLen > 0) && !l.paused {
		n := l.exec.Plan(now, max(l.nPrefix, l.planLen), l.plan)
		np := min(n, l.nPrefix)
		buf := req.prefix[:l.nPrefix*dim]
		for i := 0; i < np*dim; i++ {
			buf[i] = float32(l.plan[i])
		}
		req.prefix = buf[:np*dim]
		if l.planLen > 0 {
			req.planN = copy(req.plan, l.plan[:n*dim]) / dim
		}
	}
	if l.stage != nil && !l.paused && l.exec.Plan(now, 1, req.base) == 1 {
		req.hasBase = true
		for i, v := range req.base {
			req.executed[i] = v
			if l.perAction {
				req.executed[i] += l.offset[i]
			}
		}
	}
	if req.infer {
		l.inflight = true
	}
	l.reqs <- req // never blocks: the channel holds every request buffer
	if l.d.cfg.Lockstep {
		// Simulated time waits for the policy; the chunk arrives LockstepLatency later.
		select {
		case r := <-l.results:
			l.receive(r, now)
		case <-l.done: // the policy goroutine ended (a panic: raised as a fault)
		}
	}
}

// receive takes a result from the policy goroutine.
func (l *policyLoop) receive(r *result, now time.Duration) {
	if r.hasOffset {
		copy(l.offset, r.offset)
		l.sm.residual(&r.resStep)
	}
	if r.err == nil && r.chunk.Dim == 0 { // an observation without inference
		l.freeRes <- r
		return
	}
	l.inflight = false
	d := l.d
	if r.err != nil {
		if errors.Is(r.err, perception.ErrStale) || errors.Is(r.err, perception.ErrSkew) {
			if !l.paused {
				l.paused = true
				d.m.watchdog(wdCamera)
				l.exec.Reset()
				d.servo.SetCartesianTarget(d.servo.Tool())
				d.servo.SetJointTarget(d.servo.State().Q)
				d.note(slog.LevelWarn, "policy paused: cameras stale or out of sync", "err", r.err)
			}
		} else {
			d.m.policyErrors.Inc()
			l.fail(r.err)
		}
		l.freeRes <- r
		return
	}
	d.m.inference(r.latency)
	if r.steered {
		l.sm.step(&r.info)
		if d.ports.Observer != nil {
			d.ports.Observer.Steer(now, &r.info)
		}
	}
	if exec := time.Duration(l.exec.Config().NActionSteps) * l.dt; exec > 0 && r.latency > exec {
		d.m.overruns.Inc()
	}
	if d.cfg.Lockstep {
		r.deliverAt = r.t + l.pp.LockstepLatency
		l.pending = r
		return
	}
	l.push(r, now)
}

// push installs a chunk, measuring the setpoint jump where it takes over.
func (l *policyLoop) push(r *result, now time.Duration) {
	d := l.d
	if err := l.exec.Push(now, &r.chunk); err != nil {
		d.m.chunksRejected.Inc()
		l.fail(fmt.Errorf("chunk rejected: %w", err))
	} else {
		l.failures, l.lastValid = 0, now
		d.m.chunkAge(now - r.t)
		if d.ports.Observer != nil {
			l.observePlan(now, &r.chunk)
		}
		var dv [16]float64
		if len(l.sp) <= len(dv) && l.exec.Jump(dv[:len(l.sp)]) {
			d.m.jump(math.Sqrt(dv[0]*dv[0] + dv[1]*dv[1] + dv[2]*dv[2]))
		}
		if l.paused {
			l.paused = false
			d.note(slog.LevelInfo, "policy resumed")
		}
	}
	l.freeRes <- r
}

// fail counts a failed policy step (it allocates: failures are rare, and the first of a
// row is logged).
func (l *policyLoop) fail(err error) {
	l.failures++
	l.lastFailure = err
	if l.failures == 1 {
		l.d.note(slog.LevelWarn, "policy step failed", "err", err, "max_failures", l.pp.MaxFailures)
	}
}

// run is the policy goroutine: observations in, chunks out.
func (l *policyLoop) run(ctx context.Context) {
	defer close(l.done)
	defer func() {
		if r := recover(); r != nil {
			l.d.raise(&Fault{Kind: "panic", Err: fmt.Errorf("policy loop: %v\n%s", r, debug.Stack())})
		}
	}()
	for {
		var req *obsRequest
		select {
		case req = <-l.reqs:
		case <-ctx.Done():
			return
		}
		var res *result
		select {
		case res = <-l.freeRes:
		case <-ctx.Done():
			l.freeReqs <- req
			return
		}
		res.err, res.t, res.chunk.Dim = nil, req.t, 0
		res.steered, res.hasOffset = false, false
		if err := l.fill(req); err != nil {
			res.err = err
			l.resetHistory() // no stale history across a pause
		} else if err := l.observePolicy(); err != nil {
			res.err = err
		} else {
			if l.stage != nil && req.hasBase {
				l.stage.Executed(req.t, req.executed)
			}
			if req.infer {
				t0 := l.d.cfg.Clock.Now()
				res.err = l.step(req, res)
				res.latency = l.d.cfg.Clock.Since(t0)
			}
			if res.err == nil && l.perAction && req.hasBase {
				l.correct(req, res)
			}
		}
		if !req.infer && res.err == nil {
			res.chunk.Dim = 0
		}
		l.freeReqs <- req
		l.results <- res
	}
}

// resetHistory forgets the policy's observation history (and the steering stage's).
func (l *policyLoop) resetHistory() {
	if l.stage != nil {
		l.stage.Reset()
		return
	}
	l.pol.Reset()
}

// observePolicy hands l.obs to the policy (through the steering stage when there is one).
func (l *policyLoop) observePolicy() error {
	if l.stage != nil {
		return l.stage.Observe(l.obs)
	}
	return l.pol.Observe(l.obs)
}

// step computes res's chunk from the observed history: the policy's one sample, or the
// steering stage's choice.
func (l *policyLoop) step(req *obsRequest, res *result) error {
	if l.stage == nil {
		actions, err := l.pol.Step(policy.StepOptions{Prefix: req.prefix})
		if err != nil {
			return err
		}
		l.pol.ToChunk(&res.chunk, actions, 0, l.pol.ObservedAt())
		return nil
	}
	in := steer.StepInput{Prefix: req.prefix}
	var plan chunk.Chunk
	if req.planN > 0 {
		dim := l.exec.Config().Dim
		plan = chunk.Chunk{T0: req.t, Dt: l.dt, Dim: dim, Actions: req.plan[:req.planN*dim]}
		in.Plan = &plan
	}
	info, err := l.stage.Step(in, &res.chunk)
	res.info, res.steered = info, err == nil
	return err
}

// correct computes the per-action residual for the action due at req.t.
func (l *policyLoop) correct(req *obsRequest, res *result) {
	rs, err := l.stage.Correct(req.base, res.offset)
	res.resStep, res.hasOffset = rs, true
	if err != nil {
		// The model failed: no correction (offset zeroed) and the step counts as failed.
		res.err = err
	}
}

// fill writes the observation at req.t into l.obs.
func (l *policyLoop) fill(req *obsRequest) error {
	l.obs.Time = req.t
	b := l.pol.Bundle
	if len(l.pp.Cameras) > 0 {
		if _, err := perception.Assemble(req.t, l.pp.Cameras, l.pp.MaxSkew, l.frames); err != nil {
			return err
		}
	}
	for i := range b.Observations {
		dst := l.obs.Values[i]
		if i == l.stateIdx {
			switch l.pp.State {
			case SpaceJoints:
				for j, q := range req.q {
					dst[j] = float32(q)
				}
			case SpaceEEPose, SpaceEEPose6D:
				l.d.ports.Robot.Forward(l.kin, req.q)
				l.pp.State.PutPose(dst, l.kin.Pose())
			}
			if l.stGripper {
				dst[len(dst)-1] = float32(req.gripper)
			}
			continue
		}
		if ci := l.imageIdx[i]; ci >= 0 {
			if err := l.pp.Preprocess[ci].Run(&l.frames[ci], dst); err != nil {
				return fmt.Errorf("camera %s: %w", l.pp.Cameras[ci].Name(), err)
			}
		}
	}
	return nil
}
