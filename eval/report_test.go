package eval

import (
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/robotd/robotd/daemon"
)

func TestWilson(t *testing.T) {
	for _, c := range []struct {
		k, n   int
		lo, hi float64
	}{ // reference values: statsmodels' proportion_confint(method="wilson")
		{0, 10, 0, 0.2775}, {8, 10, 0.4902, 0.9433}, {50, 100, 0.4038, 0.5962}, {100, 100, 0.9630, 1}, {80, 100, 0.7112, 0.8666},
	} {
		lo, hi := Wilson(c.k, c.n)
		if math.Abs(lo-c.lo) > 5e-4 || math.Abs(hi-c.hi) > 5e-4 {
			t.Errorf("Wilson(%d, %d) = %.4f .. %.4f, want %.4f .. %.4f", c.k, c.n, lo, hi, c.lo, c.hi)
		}
	}
}

// eval.json's keys are read by other tools: they change only on purpose.
func TestReportJSONKeys(t *testing.T) {
	r := Report{ROS: &ROSReport{}, PerEpisode: []Episode{{Seed: 3, Success: true, TimeToSuccess: 1, Video: "v.mp4", Fault: "policy"}}, Interrupted: true}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]json.RawMessage) []string {
		var k []string
		for s := range m {
			k = append(k, s)
		}
		slices.Sort(k)
		return k
	}
	want := []string{"bundle", "camera_noise", "chunks_rejected", "episodes", "episodes_faulted", "episodes_policy_fault",
		"executor", "executor_max_jump", "executor_starved", "inference", "inference_overruns", "launch", "lockstep_latency",
		"peak_joint_speed_rad_s", "per_episode", "policy_errors", "ros", "safe_stops", "safety_clamps", "seed", "success_rate",
		"successes", "time_to_success_mean_s", "time_to_success_median_s", "wall_s", "wilson95"}
	if got := keys(m); !slices.Equal(got, want) {
		t.Errorf("eval.json keys\n got %q\nwant %q", got, want)
	}
	var eps []map[string]json.RawMessage
	if err := json.Unmarshal(m["per_episode"], &eps); err != nil {
		t.Fatal(err)
	}
	wantEp := []string{"duration_s", "fault", "max_lift_m", "place_error_m", "seed", "success", "time_to_success_s", "video"}
	if got := keys(eps[0]); !slices.Equal(got, wantEp) {
		t.Errorf("per_episode keys\n got %q\nwant %q", got, wantEp)
	}
	var ros map[string]json.RawMessage
	if err := json.Unmarshal(m["ros"], &ros); err != nil {
		t.Fatal(err)
	}
	wantROS := []string{"camera_stale_trips", "command_round_trip", "control_deadline_misses", "control_period_jitter",
		"control_periods_over_2ms", "control_ticks", "control_wake_lateness", "first_frames_after_reset", "state_age_at_read",
		"state_stale_trips", "task_reset"}
	if got := keys(ros); !slices.Equal(got, wantROS) {
		t.Errorf("ros keys\n got %q\nwant %q", got, wantROS)
	}
}

// The aggregates: rate, interval, time to success over the successes only (median of an
// even count the mean of the middle two), the daemon's counters; and the JSON round trip.
func TestReportFill(t *testing.T) {
	var r Report
	for _, e := range []Episode{{Seed: 0, Success: true, TimeToSuccess: 9}, {Seed: 1, Success: true, TimeToSuccess: 8},
		{Seed: 2, Duration: 30}, {Seed: 3, Fault: "policy"}, {Seed: 4, Success: true, TimeToSuccess: 12}, {Seed: 5, Success: true, TimeToSuccess: 10}} {
		r.add(e)
	}
	r.fill(&daemon.Summary{MaxJump: 0.5, Safety: map[string]uint64{"a": 2, "b": 3}, Watchdogs: map[string]uint64{"chunk_starved": 4}})
	lo, hi := Wilson(4, 6)
	if r.Episodes != 6 || r.Successes != 4 || r.SuccessRate != 4.0/6 || r.Wilson95 != [2]float64{lo, hi} {
		t.Errorf("episodes %d, successes %d, rate %v, interval %v", r.Episodes, r.Successes, r.SuccessRate, r.Wilson95)
	}
	if r.TTSMean != 9.75 || r.TTSMedian != 9.5 {
		t.Errorf("time to success mean %v median %v, want 9.75 and 9.5", r.TTSMean, r.TTSMedian)
	}
	if r.Clamps != 5 || r.Starved != 4 || r.MaxJump != 0.5 {
		t.Errorf("clamps %d, starved %d, max jump %v", r.Clamps, r.Starved, r.MaxJump)
	}
	path := filepath.Join(t.TempDir(), "eval.json")
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Successes != 4 || len(back.PerEpisode) != 6 || back.PerEpisode[3].Fault != "policy" || back.TTSMedian != 9.5 {
		t.Errorf("read back %+v", back)
	}
}
