package system

import (
	"context"
	"fmt"
	"sync"
)

// group runs the system's actors (camera readers, the sim's render goroutine, the ROS
// metrics copier): each works until its context ends and returns nil, or returns an
// error when it fails. The first failure cancels the others' context; Wait returns it,
// named by the actor.
type group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu  sync.Mutex
	err error
}

func newGroup(ctx context.Context) *group {
	g := &group{}
	g.ctx, g.cancel = context.WithCancel(ctx)
	return g
}

// Go starts fn as the actor name.
func (g *group) Go(name string, fn func(context.Context) error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := fn(g.ctx); err != nil && g.ctx.Err() == nil {
			g.mu.Lock()
			if g.err == nil {
				g.err = fmt.Errorf("%s: %w", name, err)
			}
			g.mu.Unlock()
			g.cancel()
		}
	}()
}

// Stop cancels every actor and waits for them; it returns the first failure.
func (g *group) Stop() error {
	g.cancel()
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// Done is closed when an actor failed or Stop was called.
func (g *group) Done() <-chan struct{} { return g.ctx.Done() }

// Err is the first failure so far (nil while every actor works).
func (g *group) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}
