package episode

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
)

// The writer's private area inside a dataset. LeRobot ignores it (it reads meta/,
// data/ and videos/ only).
const (
	privDir     = ".robotd"
	stagingDir  = ".robotd/staging"
	journalPath = ".robotd/journal.json"
	lockPath    = ".robotd/lock"
	// lastEpisodePath holds robotd's record of the last episode (lastEpisode), replaced
	// by every commit.
	lastEpisodePath = ".robotd/last_episode.json"
)

// journal lists the renames that commit one episode. Written atomically after every
// staged file is durable, it is the commit point; applying it is idempotent.
type journal struct {
	Episode int         `json:"episode_index"`
	Moves   [][2]string `json:"moves"` // [staged, final], relative to the dataset root
	Stage   string      `json:"stage"` // the episode's staging directory, removed once applied
}

func writeJournal(dir string, j *journal) error {
	b, err := json.MarshalIndent(j, "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, journalPath), b)
}

// applyJournal performs the journal's renames (skipping those already done), syncs
// the directories, then removes the journal. afterMove, when not nil, runs after each
// rename (Writer.afterMove).
func applyJournal(dir string, j *journal, afterMove func(i int)) error {
	dirs := map[string]bool{}
	for i, m := range j.Moves {
		from, to := filepath.Join(dir, m[0]), filepath.Join(dir, m[1])
		if _, err := os.Stat(from); errors.Is(err, os.ErrNotExist) {
			if _, err := os.Stat(to); err == nil {
				continue // moved before a crash
			}
			return fmt.Errorf("episode: journal: %s: staged file and final file both missing", m[1])
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return fmt.Errorf("episode: %w", err)
		}
		if err := os.Rename(from, to); err != nil {
			return fmt.Errorf("episode: commit %s: %w", m[1], err)
		}
		dirs[filepath.Dir(to)] = true
		dirs[filepath.Dir(filepath.Dir(to))] = true
		if afterMove != nil {
			afterMove(i)
		}
	}
	for _, d := range sortedKeys(dirs) {
		if err := syncDir(d); err != nil {
			return fmt.Errorf("episode: sync %s: %w", d, err)
		}
	}
	if j.Stage != "" {
		if err := os.RemoveAll(filepath.Join(dir, j.Stage)); err != nil {
			return fmt.Errorf("episode: %w", err)
		}
	}
	if err := os.Remove(filepath.Join(dir, journalPath)); err != nil {
		return fmt.Errorf("episode: %w", err)
	}
	return syncDir(filepath.Join(dir, privDir))
}

// recover finishes a committed but unapplied episode and discards staged, uncommitted
// ones. It returns what it did, one sentence each.
func recoverDataset(dir string) ([]string, error) {
	var did []string
	b, err := os.ReadFile(filepath.Join(dir, journalPath))
	switch {
	case err == nil:
		var j journal
		if err := json.Unmarshal(b, &j); err != nil {
			// The journal is written by rename: a torn one cannot exist.
			return nil, fmt.Errorf("episode: %s: corrupt journal: %w", filepath.Join(dir, journalPath), err)
		}
		if err := applyJournal(dir, &j, nil); err != nil {
			return nil, err
		}
		did = append(did, fmt.Sprintf("completed the commit of episode %d (interrupted after its commit point)", j.Episode))
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("episode: %w", err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, stagingDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("episode: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, name := range names {
		p := filepath.Join(dir, stagingDir, name)
		frames := ""
		if b, err := os.ReadFile(filepath.Join(p, "episode.json")); err == nil {
			var m struct {
				Episode int    `json:"episode_index"`
				Task    string `json:"task"`
			}
			if json.Unmarshal(b, &m) == nil {
				frames = fmt.Sprintf(" (episode %d, task %q)", m.Episode, m.Task)
			}
		}
		if err := os.RemoveAll(p); err != nil {
			return nil, fmt.Errorf("episode: discard %s: %w", p, err)
		}
		did = append(did, fmt.Sprintf("discarded a partial episode%s staged in %s: it was never committed", frames, filepath.Join(stagingDir, name)))
	}
	return did, nil
}

// lockDataset takes the dataset's writer lock (one writer at a time).
func lockDataset(dir string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Join(dir, privDir), 0o755); err != nil {
		return nil, fmt.Errorf("episode: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockPath), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("episode: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("episode: %s: another process is writing this dataset (%v)", dir, err)
	}
	return f, nil
}

// writeFileAtomic writes b to path through a synced temporary file and a rename.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// writeFileSynced writes a new file and fsyncs it.
func writeFileSynced(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
