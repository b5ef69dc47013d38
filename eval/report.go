package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"time"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/telemetry"
)

// Episode is one episode's outcome, an element of eval.json's per_episode.
type Episode struct {
	Seed          int64   `json:"seed"`
	Success       bool    `json:"success"`
	TimeToSuccess float64 `json:"time_to_success_s,omitempty"`
	Duration      float64 `json:"duration_s"`
	MaxLift       float64 `json:"max_lift_m"`
	PlaceError    float64 `json:"place_error_m"`
	Video         string  `json:"video,omitempty"`
	// Fault is the daemon fault that ended the episode (the policy fault, or over ROS
	// state_stale), which counts as a failure; evaluation goes on with the next episode.
	Fault string `json:"fault,omitempty"`
}

// Report is eval.json. Its field names and values are read by other tools (and by
// robotd's own merging of sharded evaluations): change them only with those.
type Report struct {
	Launch      string     `json:"launch"`
	Bundle      string     `json:"bundle"`
	Executor    string     `json:"executor"`
	Latency     string     `json:"lockstep_latency"`
	CameraNoise float64    `json:"camera_noise"`
	Seed        int64      `json:"seed"`
	Episodes    int        `json:"episodes"`
	Successes   int        `json:"successes"`
	SuccessRate float64    `json:"success_rate"`
	Wilson95    [2]float64 `json:"wilson95"`
	TTSMean     float64    `json:"time_to_success_mean_s"`
	TTSMedian   float64    `json:"time_to_success_median_s"`
	Inference   Latency    `json:"inference"`
	MaxJump     float64    `json:"executor_max_jump"`
	Starved     uint64     `json:"executor_starved"`
	Overruns    uint64     `json:"inference_overruns"`
	Rejected    uint64     `json:"chunks_rejected"`
	Clamps      uint64     `json:"safety_clamps"`
	SafeStops   int        `json:"safe_stops"`
	// Faulted counts the episodes ended by a fault that fails the episode and lets the
	// evaluation go on: the policy fault (the policy's steps failed, or it gave no valid
	// chunk for watchdog.chunk_timeout), and over ROS state_stale (the machine late with
	// the joint states). PolicyFaults is how many were the policy's: robotd eval then
	// exits 3.
	Faulted      int    `json:"episodes_faulted"`
	PolicyFaults int    `json:"episodes_policy_fault"`
	PolicyErrors uint64 `json:"policy_errors"` // failed policy steps over every episode
	// PeakSpeed is the largest |joint velocity| (rad/s) at any running tick of any episode.
	PeakSpeed  float64    `json:"peak_joint_speed_rad_s"`
	Wall       float64    `json:"wall_s"`
	ROS        *ROSReport `json:"ros,omitempty"` // evaluations over ROS only
	Steering   *Steering  `json:"steering,omitempty"`
	PerEpisode []Episode  `json:"per_episode"`

	// Interrupted is set when a stop request (SIGINT) ended the evaluation before its
	// last episode: the report covers the episodes before it. Not in eval.json.
	Interrupted bool `json:"-"`
}

// Latency is a distribution of durations in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func latencyOf(s telemetry.Snapshot) Latency {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return Latency{Count: s.Count, P50: ms(s.Quantile(0.5)), P99: ms(s.Quantile(0.99)), Max: ms(s.Max)}
}

// ROSReport is eval.json's "ros" section: the real-time figures of an evaluation over ROS.
type ROSReport struct {
	// StateAge is, at every running tick, the control clock minus the stamp of the joint
	// state the tick acts on: publishing, the ROS hop, the driver's mailbox and the wait
	// for the tick.
	StateAge Latency `json:"state_age_at_read"`
	// CommandRoundTrip is not measured: an effort command (Float64MultiArray) carries no
	// stamp or sequence number for the robot to echo.
	CommandRoundTrip *Latency `json:"command_round_trip"`
	StaleTrips       uint64   `json:"state_stale_trips"`
	CameraStale      uint64   `json:"camera_stale_trips"`
	// PeriodJitter is |wake-to-wake period - control period| of the 1 kHz loop; Late its
	// wake-up lateness; LatePeriods the wake-to-wake periods over 2 ms; Misses the ticks
	// whose work ended after the next period began.
	PeriodJitter Latency `json:"control_period_jitter"`
	Late         Latency `json:"control_wake_lateness"`
	LatePeriods  uint64  `json:"control_periods_over_2ms"`
	Misses       uint64  `json:"control_deadline_misses"`
	Ticks        uint64  `json:"control_ticks"`
	// Reset is the time from the reset request to its acknowledgement; Frames from the
	// acknowledgement to a frame of the new scene from every camera.
	Reset  Latency `json:"task_reset"`
	Frames Latency `json:"first_frames_after_reset"`
}

// newROSReport gathers the ros section from the daemon's summary (every episode's), the
// probe and the episode source.
func newROSReport(s *daemon.Summary, p *probe, e *rosEpisodes) *ROSReport {
	return &ROSReport{
		StateAge: latencyOf(p.age.Snapshot()), StaleTrips: s.Watchdogs["state_stale"], CameraStale: s.Watchdogs["camera_stale"],
		PeriodJitter: latencyOf(s.Jitter), Late: latencyOf(s.Late), LatePeriods: s.Over2ms, Misses: s.Misses, Ticks: s.Ticks,
		Reset: latencyOf(e.resets.Snapshot()), Frames: latencyOf(e.frames.Snapshot()),
	}
}

// Wilson is the 95 % Wilson score interval of k successes in n trials ([0, 1] for n = 0).
func Wilson(k, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	const z = 1.959963984540054
	p, fn := float64(k)/float64(n), float64(n)
	den := 1 + z*z/fn
	c := (p + z*z/(2*fn)) / den
	h := z / den * math.Sqrt(p*(1-p)/fn+z*z/(4*fn*fn))
	return max(0, c-h), min(1, c+h)
}

// add appends an episode's outcome and counts it.
func (r *Report) add(e Episode) {
	if e.Fault == "" && e.Success {
		r.Successes++
	}
	r.PerEpisode = append(r.PerEpisode, e)
}

// fill computes the aggregates from the episodes and the daemon's summary (cumulative
// over every episode of the process).
func (r *Report) fill(s *daemon.Summary) {
	r.Episodes = len(r.PerEpisode)
	r.SuccessRate = float64(r.Successes) / float64(r.Episodes)
	r.Wilson95[0], r.Wilson95[1] = Wilson(r.Successes, r.Episodes)
	var tts []float64
	for _, e := range r.PerEpisode {
		if e.Success {
			tts = append(tts, e.TimeToSuccess)
		}
	}
	if len(tts) > 0 {
		sort.Float64s(tts)
		var sum float64
		for _, t := range tts {
			sum += t
		}
		r.TTSMean = sum / float64(len(tts))
		r.TTSMedian = tts[len(tts)/2]
		if len(tts)%2 == 0 {
			r.TTSMedian = (tts[len(tts)/2-1] + tts[len(tts)/2]) / 2
		}
	}
	r.Inference = latencyOf(s.Inference)
	r.MaxJump, r.Overruns, r.Rejected, r.SafeStops = s.MaxJump, s.Overruns, s.Rejected, s.SafeStops
	r.PolicyErrors = s.PolicyErrors
	r.Starved = s.Watchdogs["chunk_starved"]
	for _, n := range s.Safety {
		r.Clamps += n
	}
}

// WriteJSON writes the report as indented JSON (eval.json) to path.
func (r *Report) WriteJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	return nil
}

// ReadJSON reads an eval.json.
func ReadJSON(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("eval: %s: %w", path, err)
	}
	return &r, nil
}

// Write prints the one-screen report: success rate and interval, time to success,
// inference latency, executor and safety counters, and over ROS the real-time figures.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "\nsuccess      %d / %d = %.1f %% (95 %% Wilson interval %.1f .. %.1f %%)\n",
		r.Successes, r.Episodes, 100*r.SuccessRate, 100*r.Wilson95[0], 100*r.Wilson95[1])
	if r.Successes > 0 {
		fmt.Fprintf(w, "time to success  mean %.2f s, median %.2f s\n", r.TTSMean, r.TTSMedian)
	}
	fmt.Fprintf(w, "inference    %d chunks, p50 %.1f ms, p99 %.1f ms, max %.1f ms (wall clock; lockstep models %s)\n",
		r.Inference.Count, r.Inference.P50, r.Inference.P99, r.Inference.Max, r.Latency)
	fmt.Fprintf(w, "executor     %s: max setpoint jump %.4g, starved %d, overruns %d, chunks rejected %d\n",
		r.Executor, r.MaxJump, r.Starved, r.Overruns, r.Rejected)
	r.Steering.write(w)
	fmt.Fprintf(w, "safety       %d clamps, %d safe stops, peak joint speed %.2f rad/s; wall time %.0f s\n", r.Clamps, r.SafeStops, r.PeakSpeed, r.Wall)
	if x := r.ROS; x != nil {
		fmt.Fprintf(w, "over ROS     state age at read p50 %.2f ms, p99 %.2f ms, max %.1f ms; %d state_stale, %d camera_stale trips\n",
			x.StateAge.P50, x.StateAge.P99, x.StateAge.Max, x.StaleTrips, x.CameraStale)
		fmt.Fprintf(w, "control loop period jitter p50 %.3f ms, p99 %.3f ms, max %.1f ms; %d periods over 2 ms, %d deadline misses of %d ticks\n",
			x.PeriodJitter.P50, x.PeriodJitter.P99, x.PeriodJitter.Max, x.LatePeriods, x.Misses, x.Ticks)
		fmt.Fprintf(w, "task resets  %d, acknowledged p50 %.0f ms (max %.0f ms), new frames p50 %.0f ms later\n",
			x.Reset.Count, x.Reset.P50, x.Reset.Max, x.Frames.P50)
	}
}
