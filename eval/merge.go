package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/robotd/robotd/daemon"
)

// combine joins the reports of consecutive slices of one evaluation, in order: the header
// is the first's, the episodes are concatenated and the success figures recomputed from
// them exactly. The run-time figures are combined as far as their summaries allow: counts
// and counters add up, maxima are the largest, the inference p50 is the count-weighted mean
// of the parts' and its p99 the largest part's (an upper bound), and the wall time is the
// sum (the time one machine would have spent). The ros section is dropped (sharding runs
// in lockstep); the steering section is combined by combineSteering.
func combine(parts []*Report) *Report {
	r := *parts[0]
	r.PerEpisode, r.Successes, r.ROS, r.Interrupted = nil, 0, nil, false
	r.Clamps, r.PeakSpeed, r.Faulted, r.PolicyFaults, r.Wall = 0, 0, 0, 0, 0 // fill resets the others
	for _, p := range parts {
		for _, e := range p.PerEpisode {
			r.add(e)
		}
	}
	r.fill(&daemon.Summary{}) // the episodes' figures; the run-time ones follow
	var p50 float64
	for _, p := range parts {
		r.Inference.Count += p.Inference.Count
		p50 += p.Inference.P50 * float64(p.Inference.Count)
		r.Inference.P99 = max(r.Inference.P99, p.Inference.P99)
		r.Inference.Max = max(r.Inference.Max, p.Inference.Max)
		r.MaxJump = max(r.MaxJump, p.MaxJump)
		r.PeakSpeed = max(r.PeakSpeed, p.PeakSpeed)
		r.Starved += p.Starved
		r.Overruns += p.Overruns
		r.Rejected += p.Rejected
		r.Clamps += p.Clamps
		r.SafeStops += p.SafeStops
		r.Faulted += p.Faulted
		r.PolicyFaults += p.PolicyFaults
		r.PolicyErrors += p.PolicyErrors
		r.Wall += p.Wall
		r.Interrupted = r.Interrupted || p.Interrupted
	}
	if r.Inference.Count > 0 {
		r.Inference.P50 = p50 / float64(r.Inference.Count)
	}
	r.Steering = combineSteering(parts)
	return &r
}

// combineSteering combines the parts' steering sections as combine does the rest: the
// configuration is the first's; counts (steps, rejected and chosen candidates, residual
// and noise counters) add up, means are weighted by their counts (the score spread by
// steps, the residual magnitude by corrected actions), maxima take the largest, and each
// timed part's latency is combined like the inference latency. nil without steering.
func combineSteering(parts []*Report) *Steering {
	if parts[0].Steering == nil {
		return nil
	}
	st := *parts[0].Steering
	s := &st.SteerSummary
	s.Steps, s.Rejected, s.Chosen, s.SpreadMean, s.SpreadMax = 0, 0, nil, 0, 0
	s.ResidualActions, s.ResidualClipped, s.ResidualNonFinite, s.ResidualMagMean, s.ResidualMagMax = 0, 0, 0, 0, 0
	s.NoiseClipped, s.NoiseNonFinite = 0, 0
	st.Time = map[string]Latency{}
	p50 := map[string]float64{}
	for _, p := range parts {
		q := p.Steering
		if q == nil {
			continue
		}
		s.SpreadMean += q.SpreadMean * float64(q.Steps)
		s.ResidualMagMean += q.ResidualMagMean * float64(q.ResidualActions)
		s.Steps += q.Steps
		s.Rejected += q.Rejected
		for len(s.Chosen) < len(q.Chosen) {
			s.Chosen = append(s.Chosen, 0)
		}
		for i, n := range q.Chosen {
			s.Chosen[i] += n
		}
		s.SpreadMax = max(s.SpreadMax, q.SpreadMax)
		s.ResidualActions += q.ResidualActions
		s.ResidualClipped += q.ResidualClipped
		s.ResidualNonFinite += q.ResidualNonFinite
		s.ResidualMagMax = max(s.ResidualMagMax, q.ResidualMagMax)
		s.NoiseClipped += q.NoiseClipped
		s.NoiseNonFinite += q.NoiseNonFinite
		for name, l := range q.Time {
			t := st.Time[name]
			t.Count += l.Count
			t.P99, t.Max = max(t.P99, l.P99), max(t.Max, l.Max)
			st.Time[name] = t
			p50[name] += l.P50 * float64(l.Count)
		}
	}
	if s.Steps > 0 {
		s.SpreadMean /= float64(s.Steps)
	}
	if s.ResidualActions > 0 {
		s.ResidualMagMean /= float64(s.ResidualActions)
	}
	for name, t := range st.Time {
		if t.Count > 0 {
			t.P50 = p50[name] / float64(t.Count)
			st.Time[name] = t
		}
	}
	return &st
}

// perRunKeys are eval.json's keys that vary from one part of an evaluation to another
// (the episodes and what is computed from them or measured while they ran); every other
// key describes the evaluation and must be equal in every shard.
var perRunKeys = map[string]bool{
	"seed": true, "episodes": true, "successes": true, "success_rate": true, "wilson95": true,
	"time_to_success_mean_s": true, "time_to_success_median_s": true, "inference": true,
	"executor_max_jump": true, "executor_starved": true, "inference_overruns": true,
	"chunks_rejected": true, "safety_clamps": true, "safe_stops": true, "episodes_faulted": true,
	"episodes_policy_fault": true, "policy_errors": true, "peak_joint_speed_rad_s": true,
	"wall_s": true, "ros": true, "per_episode": true,
}

// header is the report's description of the evaluation as JSON values by key.
func header(r *Report) map[string]any {
	data, _ := json.Marshal(r)
	var m map[string]any
	json.Unmarshal(data, &m)
	for k := range perRunKeys {
		delete(m, k)
	}
	if st, ok := m["steering"].(map[string]any); ok {
		m["steering"] = st["config"] // the rest are counts and times of the run
	}
	return m
}

// Merge combines the shard directories of one sharded evaluation (robotd eval --shard
// I/N, each with eval.json and shard.json) into out: eval.json equal episode for episode
// to an unsharded run of the same seeds (aggregates as combine says), the videos hard-linked
// (or copied) under their evaluation-wide names, and eval.png from the shard that ran the
// evaluation's first episode. A missing, duplicated, incomplete (interrupted) or
// mismatched shard (other bundle, launch file, conditions, robotd build or evaluation) is
// an error naming its directory. It returns the report and the files written.
func Merge(out string, dirs []string) (*Report, []string, error) {
	if len(dirs) == 0 {
		return nil, nil, fmt.Errorf("eval merge: no shard directories")
	}
	type shard struct {
		dir string
		rec *ShardRecord
		rep *Report
	}
	var ref *shard
	var slots []*shard
	for _, dir := range dirs {
		rec, err := ReadShardRecord(dir)
		if err != nil {
			return nil, nil, err
		}
		rep, err := ReadJSON(filepath.Join(dir, "eval.json"))
		if err != nil {
			return nil, nil, fmt.Errorf("eval merge: shard %d/%d in %s: %w (did it finish?)", rec.Shard, rec.Shards, dir, err)
		}
		sh := &shard{dir, rec, rep}
		if ref == nil {
			ref, slots = sh, make([]*shard, rec.Shards)
		} else if err := matchShards(ref.dir, ref.rec, ref.rep, dir, rec, rep); err != nil {
			return nil, nil, err
		}
		if prev := slots[rec.Shard]; prev != nil {
			return nil, nil, fmt.Errorf("eval merge: shard %d/%d given twice: %s and %s", rec.Shard, rec.Shards, prev.dir, dir)
		}
		slots[rec.Shard] = sh
		first, n := Shard{rec.Shard, rec.Shards}.Range(rec.Episodes)
		if len(rep.PerEpisode) != n {
			return nil, nil, fmt.Errorf("eval merge: shard %d/%d in %s has %d episodes, want %d (seeds %d..%d): interrupted?",
				rec.Shard, rec.Shards, dir, len(rep.PerEpisode), n, rec.Seed+int64(first), rec.Seed+int64(first+n-1))
		}
		for k, e := range rep.PerEpisode {
			if want := rec.Seed + int64(first+k); e.Seed != want {
				return nil, nil, fmt.Errorf("eval merge: shard %d/%d in %s: episode %d has seed %d, want %d", rec.Shard, rec.Shards, dir, k, e.Seed, want)
			}
		}
	}
	var missing []string
	for i, s := range slots {
		if s == nil {
			missing = append(missing, fmt.Sprintf("%d/%d", i, len(slots)))
		}
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("eval merge: shard(s) %s missing (have %s)", strings.Join(missing, ", "), strings.Join(dirs, " "))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, nil, fmt.Errorf("eval merge: %w", err)
	}
	parts := make([]*Report, len(slots))
	var files []string
	for i, s := range slots {
		parts[i] = s.rep
		for k := range s.rep.PerEpisode {
			e := &s.rep.PerEpisode[k]
			if e.Video == "" {
				continue
			}
			dst := filepath.Join(out, filepath.Base(e.Video))
			if err := linkOrCopy(filepath.Join(s.dir, filepath.Base(e.Video)), dst); err != nil {
				return nil, nil, fmt.Errorf("eval merge: shard %d/%d in %s: video: %w", i, len(slots), s.dir, err)
			}
			e.Video = dst
			files = append(files, dst)
		}
	}
	png := filepath.Join(slots[0].dir, "eval.png")
	if _, err := os.Stat(png); err == nil {
		dst := filepath.Join(out, "eval.png")
		if err := linkOrCopy(png, dst); err != nil {
			return nil, nil, fmt.Errorf("eval merge: %w", err)
		}
		files = append(files, dst)
	}
	r := combine(parts)
	jsonPath := filepath.Join(out, "eval.json")
	if err := r.WriteJSON(jsonPath); err != nil {
		return nil, nil, err
	}
	return r, append([]string{jsonPath}, files...), nil
}

// matchShards says how shard b (in dir b) differs from shard a, or nil when both are
// shards of the same evaluation.
func matchShards(da string, a *ShardRecord, ra *Report, db string, b *ShardRecord, rb *Report) error {
	bad := func(what string, x, y any) error {
		return fmt.Errorf("eval merge: shard %d/%d in %s does not belong with shard %d/%d in %s: %s %v, not %v",
			b.Shard, b.Shards, db, a.Shard, a.Shards, da, what, y, x)
	}
	switch {
	case a.Shards != b.Shards:
		return bad("shard count", a.Shards, b.Shards)
	case a.Seed != b.Seed || a.Episodes != b.Episodes:
		return bad("evaluation (first seed, episodes)", fmt.Sprint(a.Seed, ", ", a.Episodes), fmt.Sprint(b.Seed, ", ", b.Episodes))
	case a.Videos != b.Videos:
		return bad("videos", a.Videos, b.Videos)
	case a.Version != b.Version:
		return bad("robotd version", a.Version, b.Version)
	case a.LaunchSHA256 != b.LaunchSHA256:
		return bad("launch file (sha256)", a.LaunchSHA256, b.LaunchSHA256)
	case a.BundleSHA256 != b.BundleSHA256:
		return bad("policy bundle (sha256)", a.BundleSHA256, b.BundleSHA256)
	case !reflect.DeepEqual(a.Flags, b.Flags):
		return bad("flags", a.Flags, b.Flags)
	}
	ha, hb := header(ra), header(rb)
	keys := make([]string, 0, len(ha)+len(hb))
	for k := range ha {
		keys = append(keys, k)
	}
	for k := range hb {
		if _, ok := ha[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !reflect.DeepEqual(ha[k], hb[k]) {
			return bad("eval.json "+k, ha[k], hb[k])
		}
	}
	return nil
}

// linkOrCopy hard-links src as dst (replacing dst), or copies it across file systems.
func linkOrCopy(src, dst string) error {
	os.Remove(dst)
	if os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
