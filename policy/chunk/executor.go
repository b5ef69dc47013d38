package chunk

import (
	"fmt"
	"math"
	"time"
)

// Strategy chooses how an Executor turns chunks into setpoints (see the package doc).
type Strategy string

// The strategies.
const (
	Receding Strategy = "receding"
	Ensemble Strategy = "ensemble"
	Async    Strategy = "async"
	Inpaint  Strategy = "inpaint"
)

// Blend says how an async executor hands over from the running plan to a new chunk.
type Blend string

// The blends.
const (
	Latest   Blend = "latest"   // switch to the new chunk at the push
	Average  Blend = "average"  // equal-weight mean of old and new while the old one covers t
	Weighted Blend = "weighted" // linear crossfade from old to new over BlendWindow from the push
)

// Interp is the interpolation between the due times of consecutive actions.
type Interp string

// The interpolations.
const (
	Linear Interp = "linear" // move linearly from action i to action i+1
	Hold   Interp = "hold"   // stay on action i until action i+1 is due
)

// Config configures an Executor. Zero optional fields take the documented defaults;
// fields a strategy does not use are ignored, but an invalid value is always an error.
// It is also a launch file's policy.executor section: the yaml tags are its keys, and the
// fields tagged "-" come from the policy bundle.
type Config struct {
	// Strategy is receding, ensemble, async or inpaint. Required.
	Strategy Strategy `yaml:"strategy"`
	// Horizon is the largest number of actions a chunk may have and Dim the number of
	// values in an action. New allocates all storage for them. Required.
	Horizon, Dim int `yaml:"-"`
	// Dt is the policy period: ensemble wants a chunk every Dt, Plan samples at multiples
	// of Dt and BlendWindow defaults to 2*Dt. Chunks carry their own Dt (normally this
	// one) for their due times. Required.
	Dt time.Duration `yaml:"-"`
	// NActionSteps (receding, async, inpaint) is how many actions of a chunk run before
	// the next chunk is wanted. Receding executes exactly these and then holds; async and
	// inpaint want the next chunk once NActionSteps actions, counted from the chunk's T0,
	// have come due, leaving Horizon-NActionSteps actions to cover the policy's latency.
	// Required for these strategies, in [1, Horizon].
	NActionSteps int `yaml:"n_action_steps"`
	// EnsembleK (ensemble) is k in the weight exp(-k*i) of the i-th oldest contributing
	// chunk; positive k favours older chunks (ACT), negative k newer ones. Default 0.01.
	EnsembleK float64 `yaml:"ensemble_k"`
	// Blend (async) is latest, average or weighted. Default weighted.
	Blend Blend `yaml:"blend"`
	// BlendWindow (async weighted) is the crossfade duration. Default 2*Dt.
	BlendWindow time.Duration `yaml:"blend_window"`
	// Interp is linear or hold. Default linear.
	Interp Interp `yaml:"interp"`
	// Bounds refuse chunks with a value outside them (nil slices: unbounded). New copies
	// them.
	Bounds Bounds `yaml:"-"`
}

// Stats are an executor's counters. Each only grows, across Reset too.
type Stats struct {
	Pushed   uint64 // chunks accepted
	Rejected uint64 // chunks refused by Push (the previous plan kept running)
	Starved  uint64 // Setpoint calls past the end of the plan (holding its last action)
	Skipped  uint64 // actions already due when their chunk was pushed (never commanded)
}

// Executor turns pushed chunks into one setpoint per control tick with the strategy of
// its Config. It belongs to one goroutine, and after New none of its methods allocates.
type Executor struct {
	cfg    Config
	hold   bool
	slots  []slot // ring of the most recent chunks, oldest at head
	head   int
	n      int
	tmp    []float64 // Dim scratch for blending
	jump   []float64 // Dim: the setpoint change where the newest chunk took over
	jumped bool      // jump holds a value (the newest chunk replaced a plan)
	tmp2   []float64 // Dim scratch for Push's jump
	weight []float64 // ensemble: exp(-k*i) for each ring position
	stats  Stats
	err    Error // the reason for the last refusal, returned by Push
}

// slot is a pushed chunk as the executor plays it.
type slot struct {
	t0, dt  time.Duration // due time of action 0 (receding: the push time) and spacing
	n       int           // actions played (receding: at most NActionSteps)
	end     time.Duration // t0 + n*dt: end of the last action's slot
	from    time.Duration // when the chunk takes over (push; inpaint: first action due at or after it)
	prevEnd time.Duration // end of the previous newest chunk at the push (async average)
	a       []float64     // Horizon*Dim storage, n*Dim used
}

// New checks cfg, fills its defaults and allocates the executor's storage. Errors name
// the bad field in snake_case, as configuration files spell it.
func New(cfg Config) (*Executor, error) {
	if cfg.Strategy == "" {
		return nil, &ConfigError{Key: "strategy", Msg: `"": must be receding, ensemble, async or inpaint`}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Horizon < 1 {
		return nil, fmt.Errorf("chunk: horizon %d: must be at least 1", cfg.Horizon)
	}
	if cfg.Dim < 1 {
		return nil, fmt.Errorf("chunk: dim %d: must be at least 1", cfg.Dim)
	}
	if cfg.Dt <= 0 {
		return nil, fmt.Errorf("chunk: dt %v: must be positive", cfg.Dt)
	}
	if cfg.Strategy != Ensemble && (cfg.NActionSteps < 1 || cfg.NActionSteps > cfg.Horizon) {
		return nil, fmt.Errorf("chunk: n_action_steps %d: must be in [1, horizon %d]", cfg.NActionSteps, cfg.Horizon)
	}
	if cfg.EnsembleK == 0 {
		cfg.EnsembleK = 0.01
	}
	if cfg.Blend == "" {
		cfg.Blend = Weighted
	}
	if cfg.BlendWindow == 0 {
		cfg.BlendWindow = 2 * cfg.Dt
	}
	if cfg.Interp == "" {
		cfg.Interp = Linear
	}
	b, err := copyBounds(cfg.Bounds, cfg.Dim)
	if err != nil {
		return nil, err
	}
	cfg.Bounds = b

	// Ring size: ensemble keeps the Horizon most recent chunks (one per Dt covers any
	// instant at most Horizon times); average and weighted may have to reach back over
	// several pushes; the others only ever look at the newest chunk and the one before.
	capacity := 2
	switch {
	case cfg.Strategy == Ensemble:
		capacity = max(2, cfg.Horizon)
	case cfg.Strategy == Async && cfg.Blend != Latest:
		capacity = cfg.Horizon + 1
	}
	e := &Executor{
		cfg:   cfg,
		hold:  cfg.Interp == Hold,
		slots: make([]slot, capacity),
		tmp:   make([]float64, cfg.Dim),
		tmp2:  make([]float64, cfg.Dim),
		jump:  make([]float64, cfg.Dim),
	}
	storage := make([]float64, capacity*cfg.Horizon*cfg.Dim)
	for i := range e.slots {
		e.slots[i].a = storage[i*cfg.Horizon*cfg.Dim : (i+1)*cfg.Horizon*cfg.Dim]
	}
	if cfg.Strategy == Ensemble {
		e.weight = make([]float64, capacity)
		for i := range e.weight {
			e.weight[i] = math.Exp(-cfg.EnsembleK * float64(i))
		}
	}
	return e, nil
}

// Validate checks the fields a launch file's policy.executor section sets, before New
// fills the defaults: an empty Strategy and a zero NActionSteps are accepted (the caller
// picks them: the daemon from the policy's kind and the bundle's n_action_steps); New
// checks the rest against Horizon. A bad value is a *ConfigError naming the key.
func (c Config) Validate() error {
	switch c.Strategy {
	case "", Receding, Ensemble, Async, Inpaint:
	default:
		return &ConfigError{Key: "strategy", Msg: fmt.Sprintf("%q: must be receding, ensemble, async or inpaint", c.Strategy)}
	}
	if c.NActionSteps < 0 {
		return &ConfigError{Key: "n_action_steps", Msg: fmt.Sprintf("%d: must not be negative", c.NActionSteps)}
	}
	if math.IsNaN(c.EnsembleK) || math.IsInf(c.EnsembleK, 0) {
		return &ConfigError{Key: "ensemble_k", Msg: fmt.Sprintf("%v: must be finite", c.EnsembleK)}
	}
	switch c.Blend {
	case "", Latest, Average, Weighted:
	default:
		return &ConfigError{Key: "blend", Msg: fmt.Sprintf("%q: must be latest, average or weighted", c.Blend)}
	}
	if c.BlendWindow < 0 {
		return &ConfigError{Key: "blend_window", Msg: fmt.Sprintf("%v: must not be negative", c.BlendWindow)}
	}
	switch c.Interp {
	case "", Linear, Hold:
	default:
		return &ConfigError{Key: "interp", Msg: fmt.Sprintf("%q: must be linear or hold", c.Interp)}
	}
	return nil
}

// ConfigError is a bad configuration value: Key is the field as a launch file spells it
// (its yaml key), Msg the value, what was wrong and what was expected. launch adds the
// section and the file's line.
type ConfigError struct {
	Key, Msg string
}

func (e *ConfigError) Error() string { return "chunk: " + e.Key + " " + e.Msg }

// ConfigField returns the key and the message (the interface launch looks for).
func (e *ConfigError) ConfigField() (key, msg string) { return e.Key, e.Msg }

func copyBounds(b Bounds, dim int) (Bounds, error) {
	var out Bounds
	for _, side := range []struct {
		name string
		src  []float64
		dst  *[]float64
	}{{"lower", b.Lower, &out.Lower}, {"upper", b.Upper, &out.Upper}} {
		if side.src == nil {
			continue
		}
		if len(side.src) != dim {
			return Bounds{}, fmt.Errorf("chunk: bounds.%s: %d values, want dim %d", side.name, len(side.src), dim)
		}
		for i, v := range side.src {
			if math.IsNaN(v) {
				return Bounds{}, fmt.Errorf("chunk: bounds.%s[%d] NaN: must be a number", side.name, i)
			}
		}
		*side.dst = append([]float64(nil), side.src...)
	}
	if out.Lower != nil && out.Upper != nil {
		for i := range out.Lower {
			if out.Lower[i] > out.Upper[i] {
				return Bounds{}, fmt.Errorf("chunk: bounds[%d]: lower %v above upper %v", i, out.Lower[i], out.Upper[i])
			}
		}
	}
	return out, nil
}

// Config returns the executor's configuration with its defaults filled in.
func (e *Executor) Config() Config { return e.cfg }

// Push installs c, received at time now, as the newest plan; c is copied. A chunk that
// Validate refuses, or that has more than Horizon actions, is counted in Stats.Rejected
// and leaves the running plan untouched; the returned *Error belongs to the executor and
// is overwritten by the next refusal (copy it to keep it).
func (e *Executor) Push(now time.Duration, c *Chunk) error {
	if !e.err.check(c, e.cfg.Dim, e.cfg.Horizon, e.cfg.Bounds) {
		e.stats.Rejected++
		return &e.err
	}
	prevEnd := time.Duration(math.MinInt64)
	if e.n > 0 {
		prevEnd = e.slot(e.n - 1).end
	}
	if e.n == len(e.slots) {
		e.head = (e.head + 1) % len(e.slots)
		e.n--
	}
	s := e.slot(e.n)
	e.n++
	*s = slot{t0: c.T0, dt: c.Dt, n: c.Len(), from: now, prevEnd: prevEnd, a: s.a}
	copy(s.a, c.Actions)
	if e.cfg.Strategy == Receding {
		s.t0, s.n = now, min(s.n, e.cfg.NActionSteps)
	} else if now > s.t0 {
		// Actions due before now are never commanded at their due time.
		due := int((now - s.t0 + s.dt - 1) / s.dt) // actions due strictly before now
		e.stats.Skipped += uint64(min(due, s.n))
		if e.cfg.Strategy == Inpaint && due < s.n {
			s.from = s.t0 + time.Duration(due)*s.dt
		}
	}
	if e.cfg.Strategy == Inpaint && now < s.t0 {
		s.from = s.t0
	}
	s.end = s.t0 + time.Duration(s.n)*s.dt
	e.stats.Pushed++
	// The setpoint change where the chunk takes over: the plan without it, then with it.
	e.jumped = e.n > 1
	if e.jumped {
		e.n--
		e.eval(s.from, e.jump)
		e.n++
		after := e.tmp2
		e.eval(s.from, after)
		for i := range e.jump {
			e.jump[i] = after[i] - e.jump[i]
		}
	}
	return nil
}

// Setpoint writes the action to command at time t into out (Dim values) and reports
// whether there is one: it is false until the first chunk is pushed. Past the end of the
// plan it holds the plan's last action and counts a starved tick; call it once per tick.
func (e *Executor) Setpoint(t time.Duration, out []float64) bool {
	if e.n == 0 {
		return false
	}
	e.eval(t, out[:e.cfg.Dim])
	if t >= e.slot(e.n-1).end {
		e.stats.Starved++
	}
	return true
}

// Want reports whether a new chunk should be requested at time t: always before the first
// chunk; receding: once the NActionSteps actions of the newest chunk have run; ensemble:
// once Dt has passed since the newest chunk's T0; async and inpaint: once NActionSteps of
// the newest chunk's actions have come due (t >= T0 + NActionSteps*Dt). It does not know
// about requests in flight: the caller must not ask again while one is outstanding.
func (e *Executor) Want(t time.Duration) bool {
	if e.n == 0 {
		return true
	}
	s := e.slot(e.n - 1)
	switch e.cfg.Strategy {
	case Receding:
		return t >= s.end
	case Ensemble:
		return t >= s.t0+e.cfg.Dt
	default:
		return t >= s.t0+time.Duration(e.cfg.NActionSteps)*s.dt
	}
}

// Plan writes the actions the executor will command at t0 + i*Config.Dt, for i < n, into
// out (row-major, Dim values each), as far as the current plan reaches, and returns how
// many it wrote: none before the first chunk or past the plan's end, at most len(out)/Dim.
// A policy that inpaints freezes the prefix of its next chunk to these actions. Plan
// changes nothing, not even the counters.
func (e *Executor) Plan(t0 time.Duration, n int, out []float64) int {
	if e.n == 0 {
		return 0
	}
	dim := e.cfg.Dim
	n = min(n, len(out)/dim)
	end := e.slot(e.n - 1).end
	for i := 0; i < n; i++ {
		t := t0 + time.Duration(i)*e.cfg.Dt
		if t >= end {
			return i
		}
		e.eval(t, out[i*dim:(i+1)*dim])
	}
	return n
}

// Jump writes into out (Dim values) how much the setpoint changed where the newest chunk
// took over: its setpoint at that instant minus what the plan it replaced gave there (the
// instant is the push for every strategy but inpaint, whose chunk takes over at its first
// action not yet due). A smooth executor keeps it near zero. false when the newest chunk
// replaced nothing (the first one after New or Reset).
func (e *Executor) Jump(out []float64) bool {
	if !e.jumped {
		return false
	}
	copy(out[:e.cfg.Dim], e.jump)
	return true
}

// Stats returns the counters.
func (e *Executor) Stats() Stats { return e.stats }

// Reset drops every chunk: Setpoint is false and Want true until the next Push. The
// counters keep counting.
func (e *Executor) Reset() {
	e.head, e.n, e.jumped = 0, 0, false
}

// slot returns the i-th oldest chunk in the ring.
func (e *Executor) slot(i int) *slot {
	return &e.slots[(e.head+i)%len(e.slots)]
}

// eval computes the setpoint at t into out without touching the counters.
func (e *Executor) eval(t time.Duration, out []float64) {
	if e.cfg.Strategy == Ensemble {
		e.ensemble(t, out)
		return
	}
	// Fold the chunks from the newest one that has fully taken over at t: each later chunk
	// blends into what the earlier ones give with its takeover weight.
	start := 0
	for i := e.n - 1; i > 0; i-- {
		if e.takeover(e.slot(i), t) >= 1 {
			start = i
			break
		}
	}
	e.slot(start).at(t, out, e.hold)
	for i := start + 1; i < e.n; i++ {
		s := e.slot(i)
		w := e.takeover(s, t)
		if w <= 0 {
			continue
		}
		s.at(t, e.tmp, e.hold)
		for d, v := range e.tmp {
			out[d] += w * (v - out[d])
		}
	}
}

// takeover is the weight in [0, 1] of chunk s against the plan it replaces, at t.
func (e *Executor) takeover(s *slot, t time.Duration) float64 {
	if t < s.from {
		return 0
	}
	if e.cfg.Strategy == Async {
		switch e.cfg.Blend {
		case Average:
			if t < s.prevEnd {
				return 0.5
			}
		case Weighted:
			return min(1, float64(t-s.from)/float64(e.cfg.BlendWindow))
		}
	}
	return 1
}

// ensemble is ACT's temporal ensembling at t: the normalised exp(-k*i)-weighted mean of
// the chunks whose span covers t, i = 0 for the oldest. When none covers t (before the
// first due time, or starved) the newest chunk alone gives the setpoint.
func (e *Executor) ensemble(t time.Duration, out []float64) {
	clear(out)
	k, sum := 0, 0.0
	for i := 0; i < e.n; i++ {
		s := e.slot(i)
		if t < s.t0 || t >= s.end {
			continue
		}
		s.at(t, e.tmp, e.hold)
		w := e.weight[k]
		k++
		sum += w
		for d, v := range e.tmp {
			out[d] += w * v
		}
	}
	if k == 0 {
		e.slot(e.n-1).at(t, out, e.hold)
		return
	}
	for d := range out {
		out[d] /= sum
	}
}

// at writes the chunk's action at t into out: action 0 before t0, the last action from
// its due time on, and in between linear interpolation (or hold) between due times.
func (s *slot) at(t time.Duration, out []float64, hold bool) {
	dim := len(out)
	if t <= s.t0 {
		copy(out, s.a[:dim])
		return
	}
	i := int((t - s.t0) / s.dt)
	if i >= s.n-1 {
		copy(out, s.a[(s.n-1)*dim:s.n*dim])
		return
	}
	a := s.a[i*dim : (i+1)*dim]
	if hold {
		copy(out, a)
		return
	}
	b := s.a[(i+1)*dim : (i+2)*dim]
	f := float64(t-s.t0-time.Duration(i)*s.dt) / float64(s.dt)
	for d := range out {
		out[d] = a[d] + f*(b[d]-a[d])
	}
}
