package eval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robotd/robotd/system"
)

// Shard is the Index-th (0-based) of Count deterministic slices of an evaluation's
// episodes: robotd eval --shard Index/Count. Slurm array task IDs are 0-based too.
type Shard struct {
	Index, Count int
}

// ParseShard reads "I/N" (0 <= I < N).
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	a, err1 := strconv.Atoi(i)
	b, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || b < 1 || a < 0 || a >= b {
		return Shard{}, fmt.Errorf("eval: --shard %q: want I/N with 0 <= I < N (e.g. 0/4 .. 3/4)", s)
	}
	return Shard{Index: a, Count: b}, nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Range is the shard's slice of an evaluation of episodes episodes: the first (0-based
// index into the evaluation) and how many. The slices are contiguous, in order, and
// differ in size by at most one; each episode belongs to exactly one shard.
func (s Shard) Range(episodes int) (first, n int) {
	first = s.Index * episodes / s.Count
	return first, (s.Index+1)*episodes/s.Count - first
}

// ShardFile is the name of the shard record written beside a shard's eval.json.
const ShardFile = "shard.json"

// ShardRecord is shard.json: what a shard of an evaluation was, so that robotd eval merge
// can tell a missing, duplicated or mismatched shard (another bundle, launch file,
// condition or robotd build) from the one it expects.
type ShardRecord struct {
	Shard  int `json:"shard"`
	Shards int `json:"shards"`
	// Seed, Episodes and Videos describe the whole evaluation (not this shard's slice).
	Seed     int64 `json:"seed"`
	Episodes int   `json:"episodes"`
	Videos   int   `json:"videos"`
	// Version identifies the robotd build (Go module version, VCS revision and whether
	// the tree was modified; "(devel)" in test binaries).
	Version string `json:"robotd_version"`
	// LaunchSHA256 and BundleSHA256 are digests of the launch file's bytes and of the
	// policy bundle's files (names and contents): the same paths on two machines may hold
	// different files.
	LaunchSHA256 string `json:"launch_sha256"`
	BundleSHA256 string `json:"bundle_sha256"`
	// Flags are the evaluation's other flags as name=value, sorted (conditions such as
	// --camera-noise, --latency, --executor, --steer): shards must agree on them.
	Flags []string `json:"flags"`
}

// NewShardRecord describes shard s of an evaluation of the launch file at launchPath
// with the policy bundle in bundleDir.
func NewShardRecord(s Shard, o Options, launchPath, bundleDir string, flags []string) (*ShardRecord, error) {
	l, err := digestFile(launchPath)
	if err != nil {
		return nil, err
	}
	b, err := digestDir(bundleDir)
	if err != nil {
		return nil, err
	}
	fl := append([]string(nil), flags...)
	sort.Strings(fl)
	return &ShardRecord{Shard: s.Index, Shards: s.Count, Seed: o.Seed, Episodes: o.Episodes, Videos: o.Videos,
		Version: Version(), LaunchSHA256: l, BundleSHA256: b, Flags: fl}, nil
}

// Write writes the record as dir/shard.json.
func (r *ShardRecord) Write(dir string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ShardFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	return nil
}

// ReadShardRecord reads dir/shard.json.
func ReadShardRecord(dir string) (*ShardRecord, error) {
	path := filepath.Join(dir, ShardFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("eval: %s: no %s (not the output of robotd eval --shard)", dir, ShardFile)
	} else if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	var r ShardRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("eval: %s: %w", path, err)
	}
	if r.Shards < 1 || r.Shard < 0 || r.Shard >= r.Shards || r.Episodes < r.Shards {
		return nil, fmt.Errorf("eval: %s: shard %d/%d of %d episodes: want 0 <= shard < shards <= episodes", path, r.Shard, r.Shards, r.Episodes)
	}
	return &r, nil
}

// Version identifies the running robotd build: module version, VCS revision (with
// "+modified" for a dirty tree) as the Go toolchain stamped them.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+modified"
			}
		}
	}
	if rev != "" {
		v += " " + rev + dirty
	}
	return v
}

func digestFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("eval: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("eval: %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// digestDir hashes the regular files under dir: each one's path relative to dir and its
// content, in lexical order.
func digestDir(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		sum, err := digestFile(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%s\n", filepath.ToSlash(rel), sum)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("eval: bundle %s: %w", dir, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Isolated is how RunIsolated makes the fresh system each episode runs on.
type Isolated struct {
	// NewSystem builds a fresh system from the evaluation's launch file.
	NewSystem func(ctx context.Context) (*system.System, error)
	// NewVideo makes an episode's video of the scene on that episode's system (nil: no
	// videos).
	NewVideo func(s *system.System, path string) (Video, error)
}

// RunIsolated runs o.Episodes episodes from seed o.Seed, each on a fresh system, and
// returns their report (as Run's, aggregates combined as Merge does) with its files
// written into o.Dir: eval.json, the videos and, when the evaluation's episode 0 is
// among them, eval.png.
//
// An episode on a fresh system depends on its seed only, where Run's episodes also depend
// on the episodes the system ran before them (the simulation clock, the camera frames'
// phase and the policy's noise carry over): this is what makes a sharded evaluation equal
// episode for episode to an unsharded one. Building the system in-process costs no
// measurable CPU next to an episode's (BENCHMARKS.md, "Evaluation at scale").
// first is the index of the episode of seed o.Seed in the whole evaluation: the episodes
// whose index is below o.Videos get a video named after that index (episode_007.mp4).
func RunIsolated(ctx context.Context, iso Isolated, o Options, first int) (*Report, []string, error) {
	if o.Episodes < 1 {
		return nil, nil, fmt.Errorf("eval: %d episodes: want at least 1", o.Episodes)
	}
	start := time.Now()
	var parts []*Report
	var files []string
	successes := 0
	for k := 0; k < o.Episodes; k++ {
		g := first + k
		tmp, err := os.MkdirTemp(o.Dir, ".episode-")
		if err != nil {
			return nil, nil, fmt.Errorf("eval: %w", err)
		}
		rep, png, err := isolatedEpisode(ctx, iso, o, g, o.Seed+int64(k), tmp)
		if err == nil && rep.PerEpisode[0].Video != "" {
			dst := filepath.Join(o.Dir, fmt.Sprintf("episode_%03d.mp4", g))
			if err = os.Rename(rep.PerEpisode[0].Video, dst); err == nil {
				rep.PerEpisode[0].Video = dst
				files = append(files, dst)
			}
		}
		if err == nil && png != "" {
			dst := filepath.Join(o.Dir, "eval.png")
			if err = os.Rename(png, dst); err == nil {
				files = append(files, dst)
			}
		}
		os.RemoveAll(tmp)
		if errors.Is(err, ErrInterrupted) && len(parts) > 0 {
			parts[len(parts)-1].Interrupted = true
			break
		} else if err != nil {
			return nil, nil, err
		}
		parts = append(parts, rep)
		ep := rep.PerEpisode[0]
		if ep.Success && ep.Fault == "" {
			successes++
		}
		if o.OnEpisode != nil {
			var fault error
			if ep.Fault != "" {
				fault = fmt.Errorf("eval: episode %d (seed %d) ended by the %s fault", g, ep.Seed, ep.Fault)
			}
			o.OnEpisode(Progress{Index: k, Episode: ep, Fault: fault, Successes: successes, Done: k + 1, Elapsed: time.Since(start)})
		}
		if rep.Interrupted {
			break
		}
	}
	r := combine(parts)
	r.Wall = time.Since(start).Seconds()
	jsonPath := filepath.Join(o.Dir, "eval.json")
	if err := r.WriteJSON(jsonPath); err != nil {
		return nil, nil, err
	}
	return r, append([]string{jsonPath}, files...), nil
}

// isolatedEpisode runs the episode of index g (seed seed) on a fresh system, its files in
// dir; png is the plot when g is 0.
func isolatedEpisode(ctx context.Context, iso Isolated, o Options, g int, seed int64, dir string) (_ *Report, png string, err error) {
	s, err := iso.NewSystem(ctx)
	if err != nil {
		return nil, "", err
	}
	defer s.Close()
	eo := Options{Episodes: 1, Seed: seed, Dir: dir, CameraNoise: o.CameraNoise}
	if g < o.Videos && iso.NewVideo != nil {
		eo.Videos = 1
		eo.NewVideo = func(path string) (Video, error) { return iso.NewVideo(s, path) }
	}
	ev, err := New(ctx, s, eo)
	if err != nil {
		return nil, "", err
	}
	defer func() {
		if cerr := ev.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	rep, err := ev.Run(ctx)
	if err != nil {
		return nil, "", err
	}
	if g == 0 {
		files, err := ev.WriteFiles(dir, rep)
		if err != nil {
			return nil, "", err
		}
		if last := files[len(files)-1]; filepath.Base(last) == "eval.png" {
			png = last
		}
	}
	return rep, png, nil
}
