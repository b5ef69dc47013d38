package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/robotd/robotd/viz"
	"github.com/robotd/robotd/viz/mcaplog"
)

// episodeLogs is robotd eval --mcap DIR: one MCAP file per episode (episode_000.mcap, ...),
// switched between episodes while the daemon is not running.
type episodeLogs struct {
	hub   *viz.Hub
	dir   string
	w     *mcaplog.Writer
	files []string
}

// open starts episode i's file.
func (l *episodeLogs) open(i int) error {
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return fmt.Errorf("--mcap: %w", err)
	}
	w, err := mcaplog.Create(filepath.Join(l.dir, fmt.Sprintf("episode_%03d.mcap", i)), 0)
	if err != nil {
		return fmt.Errorf("--mcap: %w", err)
	}
	l.w = w
	l.hub.SetLog(w)
	return nil
}

// close waits for the hub to write what the episode queued, then closes its file.
func (l *episodeLogs) close() error {
	if l.w == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := l.hub.Sync(ctx)
	l.hub.SetLog(nil)
	if lerr := l.hub.LogErr(); err == nil {
		err = lerr
	}
	if cerr := l.w.Close(); err == nil {
		err = cerr
	}
	l.files = append(l.files, l.w.Path())
	l.w = nil
	if err != nil {
		return fmt.Errorf("--mcap: %w", err)
	}
	return nil
}
