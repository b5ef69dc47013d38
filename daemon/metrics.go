package daemon

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robotd/robotd/telemetry"
)

// Watchdog kinds (the kind label of robotd_watchdog_trips_total).
const (
	wdState   = iota // joint state stale: safe stop
	wdCamera         // camera stale or frames too far apart: policy paused, pose held
	wdStarved        // no fresh chunk before the plan ran out: holding its last action
	numWatchdogs
)

var watchdogNames = [numWatchdogs]string{"state_stale", "camera_stale", "chunk_starved"}

// metrics are the daemon's Prometheus series and the exit summary's recorders. The control
// loop updates them without allocating.
type metrics struct {
	ctlPeriod time.Duration
	ticks     *telemetry.Counter
	misses    *telemetry.Counter // ticks that ended after the next period began
	over2ms   *telemetry.Counter // wake-to-wake periods longer than 2 ms
	lateH     *telemetry.Histogram
	periodH   *telemetry.Histogram
	workH     *telemetry.Histogram
	state     *telemetry.Gauge

	inferH         *telemetry.Histogram
	inferences     *telemetry.Counter
	overruns       *telemetry.Counter
	policyErrors   *telemetry.Counter
	obsDropped     *telemetry.Counter
	chunksRejected *telemetry.Counter
	ageH           *telemetry.Histogram
	jumpH          *telemetry.Histogram
	armReadErrors  *telemetry.Counter
	armWriteErrors *telemetry.Counter
	recordDropped  *telemetry.Counter
	watchdogs      [numWatchdogs]*telemetry.Counter

	late, per, work, infer telemetry.Quantiles
	maxJump                float64
	peakSpeed              float64 // max |joint velocity| over every new state read (rad/s)
}

func newMetrics(r *telemetry.Registry, period time.Duration) *metrics {
	us := telemetry.ExponentialBuckets(1e-6, 2, 16) // 1 us .. 33 ms
	m := &metrics{
		ctlPeriod: period,
		ticks:     r.Counter("robotd_control_ticks_total", "Control loop ticks."),
		misses:    r.Counter("robotd_control_deadline_misses_total", "Ticks whose work ended after the next period had begun."),
		over2ms:   r.Counter("robotd_control_periods_over_2ms_total", "Wake-to-wake control periods longer than 2 ms (realtime mode)."),
		lateH:     r.Histogram("robotd_control_wake_lateness_seconds", "How late the control loop woke after its deadline (realtime mode).", us),
		periodH:   r.Histogram("robotd_control_period_seconds", "Wake-to-wake control period (realtime mode).", telemetry.LinearBuckets(0.0005, 0.0001, 21)),
		workH:     r.Histogram("robotd_control_work_seconds", "Work per control tick (read, executor, controller, safety, write, sim step).", us),
		state:     r.Gauge("robotd_state", "State machine: 0 idle, 1 homing, 2 running, 3 stopping, 4 faulted."),

		inferH:         r.Histogram("robotd_policy_inference_seconds", "Policy inference wall time per chunk.", telemetry.ExponentialBuckets(0.001, 1.5, 16)),
		inferences:     r.Counter("robotd_policy_inferences_total", "Chunks computed."),
		overruns:       r.Counter("robotd_policy_overruns_total", "Inferences slower than the executed horizon (n_action_steps x policy period)."),
		policyErrors:   r.Counter("robotd_policy_errors_total", "Policy steps that failed (other than stale cameras)."),
		obsDropped:     r.Counter("robotd_policy_observations_dropped_total", "Observations not handed over because the policy goroutine was behind."),
		chunksRejected: r.Counter("robotd_executor_chunks_rejected_total", "Chunks the executor refused (non-finite, malformed)."),
		ageH:           r.Histogram("robotd_chunk_age_seconds", "Age of a chunk (now - observation time) when it reached the executor.", telemetry.ExponentialBuckets(0.001, 1.5, 16)),
		jumpH:          r.Histogram("robotd_executor_jump_meters", "Setpoint position jump when a new chunk takes over.", telemetry.ExponentialBuckets(1e-5, 2, 16)),
		armReadErrors:  r.Counter("robotd_arm_errors_total", "Arm reads or commands that failed, by direction (a read fails while the newest state is older than the driver's stale limit).", telemetry.Label{Name: "op", Value: "read"}),
		armWriteErrors: r.Counter("robotd_arm_errors_total", "Arm reads or commands that failed, by direction (a read fails while the newest state is older than the driver's stale limit).", telemetry.Label{Name: "op", Value: "write"}),
		recordDropped:  r.Counter("robotd_record_dropped_total", "Recording samples the recorder could not take (realtime)."),
	}
	for k, name := range watchdogNames {
		m.watchdogs[k] = r.Counter("robotd_watchdog_trips_total", "Watchdog trips by kind.", telemetry.Label{Name: "kind", Value: name})
	}
	return m
}

// tick records one control tick: how late it woke and how long its work took.
func (m *metrics) tick(late, work time.Duration, lockstep bool) {
	m.ticks.Inc()
	m.workH.Observe(work.Seconds())
	m.work.Record(work)
	if lockstep {
		return
	}
	m.lateH.Observe(late.Seconds())
	m.late.Record(late)
	if late+work > m.ctlPeriod {
		m.misses.Inc()
	}
}

// period records a wake-to-wake interval.
func (m *metrics) period(p time.Duration) {
	m.periodH.Observe(p.Seconds())
	j := p - m.ctlPeriod
	if j < 0 {
		j = -j
	}
	m.per.Record(j)
	if p > 2*time.Millisecond {
		m.over2ms.Inc()
	}
}

func (m *metrics) inference(d time.Duration) {
	m.inferences.Inc()
	m.inferH.Observe(d.Seconds())
	m.infer.Record(d)
}

func (m *metrics) chunkAge(d time.Duration) { m.ageH.Observe(d.Seconds()) }

func (m *metrics) jump(dist float64) {
	m.jumpH.Observe(dist)
	m.maxJump = max(m.maxJump, dist)
}

func (m *metrics) watchdog(kind int) { m.watchdogs[kind].Inc() }

// speed records a new state's joint velocities for the peak joint speed.
func (m *metrics) speed(dq []float64) {
	for _, v := range dq {
		if a := math.Abs(v); a > m.peakSpeed {
			m.peakSpeed = a
		}
	}
}

// Summary is what a run did, for the one-screen report at exit.
type Summary struct {
	Ticks     uint64
	SimTime   time.Duration // control-clock time the run covered
	Wall      time.Duration
	Lockstep  bool
	Late      telemetry.Snapshot // realtime only: wake-up time minus deadline
	Jitter    telemetry.Snapshot // realtime only: |wake-to-wake period - control period|
	Work      telemetry.Snapshot
	Misses    uint64
	Over2ms   uint64
	Inference telemetry.Snapshot
	Overruns  uint64
	Rejected  uint64
	Dropped   uint64
	MaxJump   float64
	Watchdogs map[string]uint64
	Safety    map[string]uint64
	SafeStops int
	// PolicyErrors counts policy steps that failed (other than for stale cameras).
	PolicyErrors uint64
	// ArmReadErrors counts reads that returned an error: for the ROS arm, every tick while
	// the newest joint state is older than its stale limit (the watchdog's own limit
	// decides the fault). ArmWriteErrors counts commands the driver refused (wrong size
	// or kind, a gripper command that failed).
	ArmReadErrors, ArmWriteErrors uint64
	Final                         State
	Fault                         *FaultReport // why the last run ended in a fault; nil when it did not
	FinalSpeed                    float64      // max |joint velocity| (rad/s) of the last state read: ~0 when the arm is held
	// PeakSpeed is the largest |joint velocity| (rad/s) of any new state read, over every
	// run of the daemon.
	PeakSpeed float64
	// PeakTorqueStep is, per joint, the largest change of torque command between two
	// consecutive ticks (Nm, gravity excluded), walls, brakes, safe stops and the
	// release included: at most the torque-rate limit times the period.
	PeakTorqueStep []float64
	// Unconfirmed: the arm's driver did not confirm the last command (a release fault).
	Unconfirmed bool
	RT          rtReport
	Heap        uint64 // bytes in use at exit
	GCPauses    telemetry.Snapshot
	Mallocs     uint64 // Go heap allocations during the run, every goroutine of the process
	// Steering is what the steering stage did (nil without one).
	Steering *SteerSummary
}

// FaultReport is a fault as the summary reports it: Fault.Kind and its message.
type FaultReport struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	// At is when the safe stop began (seconds of control time after the run's start; 0
	// for faults before the arm was taken over).
	At float64 `json:"at_s"`
}

// finishSummary fills the summary at the end of the control loop.
func (d *Daemon) finishSummary() {
	m, s := d.m, &d.summary
	s.Ticks = m.ticks.Value()
	s.SimTime = d.ports.Clock() - d.start
	s.Lockstep = d.cfg.Lockstep
	s.Late, s.Jitter, s.Work = m.late.Snapshot(), m.per.Snapshot(), m.work.Snapshot()
	s.Misses, s.Over2ms = m.misses.Value(), m.over2ms.Value()
	s.Inference, s.Overruns = m.infer.Snapshot(), m.overruns.Value()
	s.Rejected, s.Dropped = m.chunksRejected.Value(), m.obsDropped.Value()
	s.MaxJump = m.maxJump
	s.Watchdogs = map[string]uint64{}
	for k, name := range watchdogNames {
		s.Watchdogs[name] = m.watchdogs[k].Value()
	}
	c := d.servo.Safety().Counters
	s.Safety = map[string]uint64{
		"targets_rejected": c.TargetsRejected, "targets_clamped": c.TargetsClamped, "non_finite": c.NonFinite,
		"position_wall": c.PositionWall, "velocity_brake": c.VelocityBrake, "torque_clamped": c.TorqueClamped,
		"torque_rate_limited": c.RateLimited,
	}
	s.PolicyErrors = m.policyErrors.Value()
	s.ArmReadErrors, s.ArmWriteErrors = m.armReadErrors.Value(), m.armWriteErrors.Value()
	s.PeakSpeed = m.peakSpeed
	s.PeakTorqueStep = slices.Clone(d.servo.Safety().PeakTorqueStep())
	if d.pol != nil && d.pol.sm != nil {
		s.Steering = d.pol.sm.summary()
	}
	s.Final = d.State()
	s.FinalSpeed = 0
	for _, v := range d.servo.State().DQ {
		s.FinalSpeed = max(s.FinalSpeed, math.Abs(v))
	}
}

// Summary is the run's summary; valid once Run has returned.
func (d *Daemon) Summary() *Summary { return &d.summary }

// Write prints the one-screen summary.
func (s *Summary) Write(w io.Writer) error {
	rows := []telemetry.SummaryRow{
		{Name: "final state", Value: fmt.Sprintf("%s, joint speed at the end %.4f rad/s (peak %.3f rad/s)", s.Final, s.FinalSpeed, s.PeakSpeed)},
	}
	if s.Unconfirmed {
		rows = append(rows, telemetry.SummaryRow{Name: "LAST COMMAND", Value: "NOT CONFIRMED by the arm's driver: the arm may still apply an older command"})
	}
	if s.Fault != nil {
		msg, _, _ := strings.Cut(s.Fault.Message, "\n") // a panic's stack is in the log
		rows = append(rows, telemetry.SummaryRow{Name: "fault", Value: s.Fault.Kind + ": " + msg})
	}
	rows = append(rows, telemetry.SummaryRow{Name: "ticks", Value: fmt.Sprintf("%d over %v of control time", s.Ticks, s.SimTime.Round(time.Millisecond))})
	if s.Lockstep {
		rows = append(rows, telemetry.SummaryRow{Name: "tick work (wall)", Value: s.Work.String()})
	} else {
		rows = append(rows,
			telemetry.SummaryRow{Name: "wake lateness", Value: s.Late.String()},
			telemetry.SummaryRow{Name: "period jitter", Value: s.Jitter.String()},
			telemetry.SummaryRow{Name: "tick work", Value: s.Work.String()},
			telemetry.SummaryRow{Name: "deadline misses", Value: strconv.FormatUint(s.Misses, 10)},
			telemetry.SummaryRow{Name: "periods over 2 ms", Value: strconv.FormatUint(s.Over2ms, 10)},
			telemetry.SummaryRow{Name: "realtime", Value: rtString(s.RT)},
		)
	}
	rows = append(rows,
		telemetry.SummaryRow{Name: "inferences", Value: s.Inference.String()},
		telemetry.SummaryRow{Name: "inference overruns", Value: strconv.FormatUint(s.Overruns, 10)},
	)
	rows = append(rows, s.Steering.rows()...)
	rows = append(rows,
		telemetry.SummaryRow{Name: "policy errors", Value: strconv.FormatUint(s.PolicyErrors, 10)},
		telemetry.SummaryRow{Name: "chunks rejected", Value: strconv.FormatUint(s.Rejected, 10)},
		telemetry.SummaryRow{Name: "observations dropped", Value: strconv.FormatUint(s.Dropped, 10)},
		telemetry.SummaryRow{Name: "max chunk-switch jump", Value: fmt.Sprintf("%.2f mm", s.MaxJump*1000)},
		telemetry.SummaryRow{Name: "watchdog trips", Value: countsString(s.Watchdogs)},
		telemetry.SummaryRow{Name: "safety interventions", Value: countsString(s.Safety)},
		telemetry.SummaryRow{Name: "safe stops", Value: strconv.Itoa(s.SafeStops)},
		telemetry.SummaryRow{Name: "peak torque step", Value: torqueSteps(s.PeakTorqueStep)},
		telemetry.SummaryRow{Name: "arm errors", Value: fmt.Sprintf("%d reads (stale states), %d commands refused", s.ArmReadErrors, s.ArmWriteErrors)},
	)
	if s.Heap > 0 {
		rows = append(rows, telemetry.SummaryRow{Name: "Go heap / GC", Value: fmt.Sprintf("%.1f MiB in use; %d allocations in the run (all goroutines); GC pauses %s",
			float64(s.Heap)/(1<<20), s.Mallocs, s.GCPauses.String())})
	}
	return telemetry.FormatSummary(w, rows)
}

// torqueSteps prints per-joint torque steps: "max 1.00 Nm (joint 4); 0.41 1.00 ...".
func torqueSteps(v []float64) string {
	if len(v) == 0 {
		return "none"
	}
	j := 0
	var b strings.Builder
	for i, x := range v {
		if x > v[j] {
			j = i
		}
		fmt.Fprintf(&b, " %.2f", x)
	}
	return fmt.Sprintf("max %.2f Nm per tick (joint %d); per joint:%s", v[j], j+1, b.String())
}

func rtString(r rtReport) string {
	if r.Refused == "" {
		return fmt.Sprintf("SCHED_FIFO %d, memory locked, other threads nice %d", r.FIFO, r.Nice)
	}
	return fmt.Sprintf("SCHED_FIFO %d, memory locked %v (refused: %s)", r.FIFO, r.MemLocked, r.Refused)
}

func countsString(m map[string]uint64) string {
	out := ""
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if out != "" {
			out += ", "
		}
		out += k + " " + strconv.FormatUint(m[k], 10)
	}
	return out
}

// JSON is the summary as numbers for scripts (robotd run --summary-json): durations in
// microseconds; "fault" is {"kind", "message"} when the run ended in a fault, else null.
func (s *Summary) JSON() map[string]any {
	q := func(x telemetry.Snapshot) map[string]float64 {
		us := func(d time.Duration) float64 { return float64(d) / 1e3 }
		return map[string]float64{"n": float64(x.Count), "p50": us(x.Quantile(0.5)), "p99": us(x.Quantile(0.99)),
			"p999": us(x.Quantile(0.999)), "max": us(x.Max), "mean": us(x.Mean())}
	}
	return map[string]any{
		"final": s.Final.String(), "fault": s.Fault, "ticks": s.Ticks, "control_seconds": s.SimTime.Seconds(), "wall_seconds": s.Wall.Seconds(),
		"lockstep": s.Lockstep, "wake_lateness_us": q(s.Late), "period_jitter_us": q(s.Jitter), "tick_work_us": q(s.Work),
		"deadline_misses": s.Misses, "periods_over_2ms": s.Over2ms, "inference_us": q(s.Inference),
		"inference_overruns": s.Overruns, "chunks_rejected": s.Rejected, "observations_dropped": s.Dropped,
		"max_jump_m": s.MaxJump, "watchdogs": s.Watchdogs, "safety": s.Safety, "safe_stops": s.SafeStops,
		"arm_read_errors": s.ArmReadErrors, "arm_write_errors": s.ArmWriteErrors, "policy_errors": s.PolicyErrors,
		"final_joint_speed": s.FinalSpeed, "peak_joint_speed": s.PeakSpeed, "peak_torque_step_nm": s.PeakTorqueStep,
		"last_command_unconfirmed": s.Unconfirmed, "sched_fifo": s.RT.FIFO, "memory_locked": s.RT.MemLocked, "threads_nice": s.RT.Nice,
		"heap_bytes": s.Heap, "mallocs": s.Mallocs, "gc_pause_us": q(s.GCPauses), "steering": s.steeringJSON(),
	}
}

func (s *Summary) steeringJSON() any {
	if s.Steering == nil {
		return nil
	}
	return s.Steering.JSON()
}
