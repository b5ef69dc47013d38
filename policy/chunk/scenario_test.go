package chunk

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// The scenario: a smooth reference trajectory (one sine per dimension), a policy at 10 Hz
// that returns H = 16 actions 60-120 ms after its observation, each chunk being the
// reference from the observation time plus a per-chunk random offset (the model's
// variance), and a 1 kHz control loop that pushes chunks as they arrive and commands one
// setpoint per tick, for 10 s of session time.
const (
	scTick     = time.Millisecond
	scDt       = 100 * time.Millisecond
	scHorizon  = 16
	scSteps    = 8 // n_action_steps
	scDuration = 10 * time.Second
	scWarmup   = 2 * time.Second // metrics start here, past the start-up transient
	scLatMin   = 60 * time.Millisecond
	scLatMax   = 120 * time.Millisecond
	scSigma    = 0.02 // rad, standard deviation of the per-chunk offset
	scPrefix   = 3    // inpaint: frozen actions, enough to cover scLatMax (switch at action <= 2)
)

var (
	refAmp   = []float64{0.5, 0.3, 0.4}   // rad
	refFreq  = []float64{0.25, 0.4, 0.15} // Hz
	refPhase = []float64{0, 1, 2}         // rad
)

func reference(t time.Duration, out []float64) {
	s := t.Seconds()
	for d := range out {
		out[d] = refAmp[d] * math.Sin(2*math.Pi*refFreq[d]*s+refPhase[d])
	}
}

// refSlope and refCurvature are the largest |r'| and |r”| over the dimensions.
func refSlope() (slope, curvature float64) {
	for d := range refAmp {
		w := 2 * math.Pi * refFreq[d]
		slope = max(slope, refAmp[d]*w)
		curvature = max(curvature, refAmp[d]*w*w)
	}
	return slope, curvature
}

type scenarioResult struct {
	jump       float64 // largest change of any dimension of the setpoint between two ticks
	rms        float64 // RMS of setpoint - reference over ticks and dimensions
	offsetStep float64 // largest change of any dimension of the offset between two chunks
	stats      Stats
}

// runScenario plays the scenario against e. With prefix > 0 the policy freezes the first
// prefix actions of each chunk to the executor's Plan at the observation time.
func runScenario(t *testing.T, e *Executor, prefix int, seed uint64) scenarioResult {
	t.Helper()
	const dim = 3
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var (
		res      scenarioResult
		c        = &Chunk{Dt: scDt, Dim: dim, Actions: make([]float64, scHorizon*dim)}
		plan     = make([]float64, scHorizon*dim)
		offset   = make([]float64, dim)
		prevOff  = make([]float64, dim)
		sp, prev = make([]float64, dim), make([]float64, dim)
		ref      = make([]float64, dim)

		pending, havePrev, haveOff bool
		deliver                    time.Duration
		sq                         float64
		count                      int
	)
	for now := time.Duration(0); now <= scDuration; now += scTick {
		if pending && now >= deliver {
			if err := e.Push(now, c); err != nil {
				t.Fatalf("at %v: %v", now, err)
			}
			pending = false
		}
		if !pending && e.Want(now) {
			// The policy observes now and answers after its latency.
			c.T0 = now
			for d := range offset {
				offset[d] = scSigma * rng.NormFloat64()
				if haveOff {
					res.offsetStep = max(res.offsetStep, math.Abs(offset[d]-prevOff[d]))
				}
			}
			copy(prevOff, offset)
			haveOff = true
			for i := 0; i < scHorizon; i++ {
				a := c.At(i)
				reference(c.Due(i), a)
				for d := range a {
					a[d] += offset[d]
				}
			}
			if prefix > 0 {
				n := e.Plan(now, prefix, plan)
				copy(c.Actions, plan[:n*dim])
			}
			deliver = now + scLatMin + time.Duration(rng.Int64N(int64((scLatMax-scLatMin)/scTick)+1))*scTick
			pending = true
		}
		if !e.Setpoint(now, sp) {
			continue
		}
		if now >= scWarmup {
			reference(now, ref)
			for d := range sp {
				if havePrev {
					res.jump = max(res.jump, math.Abs(sp[d]-prev[d]))
				}
				sq += (sp[d] - ref[d]) * (sp[d] - ref[d])
				count++
			}
		}
		copy(prev, sp)
		havePrev = true
	}
	res.rms = math.Sqrt(sq / float64(count))
	res.stats = e.Stats()
	return res
}

func TestScenario(t *testing.T) {
	type row struct {
		name   string
		cfg    Config
		prefix int
	}
	rows := []row{
		{"receding", Config{Strategy: Receding}, 0},
		{"ensemble", Config{Strategy: Ensemble}, 0},
		{"async/latest", Config{Strategy: Async, Blend: Latest}, 0},
		{"async/average", Config{Strategy: Async, Blend: Average}, 0},
		{"async/weighted", Config{Strategy: Async, Blend: Weighted}, 0},
		{"inpaint", Config{Strategy: Inpaint}, scPrefix},
	}
	slope, curvature := refSlope()
	refTick := slope * scTick.Seconds() // the reference's own largest change per tick
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			res := map[string]scenarioResult{}
			var table strings.Builder
			fmt.Fprintf(&table, "reference change per tick %.4f, offset sigma %.3f, latency %v-%v\n",
				refTick, scSigma, scLatMin, scLatMax)
			fmt.Fprintf(&table, "%-15s %10s %10s %7s %8s %8s\n", "strategy", "max jump", "rms err", "chunks", "starved", "skipped")
			for _, r := range rows {
				cfg := r.cfg
				cfg.Horizon, cfg.Dim, cfg.Dt, cfg.NActionSteps = scHorizon, 3, scDt, scSteps
				res[r.name] = runScenario(t, mustNew(t, cfg), r.prefix, seed)
				s := res[r.name]
				fmt.Fprintf(&table, "%-15s %10.4f %10.4f %7d %8d %8d\n",
					r.name, s.jump, s.rms, s.stats.Pushed, s.stats.Starved, s.stats.Skipped)
			}
			t.Logf("\n%s", table.String())

			// Jumps: blending and ensembling remove most of the switch discontinuity.
			for _, smooth := range []string{"async/weighted", "ensemble", "inpaint"} {
				for _, rough := range []string{"receding", "async/latest"} {
					if res[smooth].jump > 0.25*res[rough].jump {
						t.Errorf("%s max jump %.4f is not much smaller than %s's %.4f",
							smooth, res[smooth].jump, rough, res[rough].jump)
					}
				}
			}
			if res["async/average"].jump >= res["async/latest"].jump {
				t.Errorf("async/average jump %.4f not below async/latest's %.4f",
					res["async/average"].jump, res["async/latest"].jump)
			}
			// Inpaint: the handover is continuous, so the setpoint moves per tick at most as
			// fast as the reference, plus the step from the frozen prefix to the free actions
			// (the offset change, spread over one Dt) and the gap between the plan's linear
			// interpolation and the reference (curvature*Dt^2/8) spread the same way.
			ip := res["inpaint"]
			eps := (ip.offsetStep + curvature*scDt.Seconds()*scDt.Seconds()/8) * float64(scTick) / float64(scDt)
			t.Logf("inpaint bound: %.4f + %.4f", refTick, eps)
			if ip.jump > refTick+eps+1e-9 {
				t.Errorf("inpaint max jump %.5f > reference per tick %.5f + %.5f", ip.jump, refTick, eps)
			}
			// Tracking: playing actions at their due times beats the synchronous baseline,
			// which starts every chunk late and stalls while the policy computes.
			for _, name := range []string{"ensemble", "async/latest", "async/average", "async/weighted", "inpaint"} {
				if res[name].rms > 0.5*res["receding"].rms {
					t.Errorf("%s rms %.4f is not under half of receding's %.4f", name, res[name].rms, res["receding"].rms)
				}
				if res[name].stats.Starved != 0 {
					t.Errorf("%s starved %d ticks", name, res[name].stats.Starved)
				}
				if res[name].stats.Skipped < res[name].stats.Pushed {
					t.Errorf("%s skipped %d actions for %d chunks, want at least one each (latency >= 60 ms)",
						name, res[name].stats.Skipped, res[name].stats.Pushed)
				}
			}
			// Ensembling averages the offsets of the ~14 chunks that cover each instant.
			if res["ensemble"].rms > 0.5*res["async/latest"].rms {
				t.Errorf("ensemble rms %.4f is not under half of async/latest's %.4f", res["ensemble"].rms, res["async/latest"].rms)
			}
			// Receding holds while the policy computes: at least the minimum latency before
			// every chunk but the first.
			if s := res["receding"].stats; s.Starved < (s.Pushed-1)*uint64(scLatMin/scTick) || s.Skipped != 0 {
				t.Errorf("receding: %d starved, %d skipped for %d chunks; want >= 60 starved per chunk, none skipped",
					s.Starved, s.Skipped, s.Pushed)
			}
		})
	}
}
