package tenants

import (
	"context"
	"sync"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
)

// coalescer runs reads keyed by a string so that concurrent callers for one
// key share one read, and a successful read is reused by later callers
// for a while after it started (fresh, on the monotonic clock). A failed
// read is never reused once it has finished. Its memory is bounded by the
// keys asked for within fresh (older entries are swept).
type coalescer[T any] struct {
	fresh time.Duration
	mu    sync.Mutex
	calls map[string]*call[T]
}

type call[T any] struct {
	started time.Time
	done    chan struct{}
	val     T
	err     error
}

// sweepAbove is the number of remembered reads above which old ones are
// dropped.
const sweepAbove = 1024

func newCoalescer[T any](fresh time.Duration) *coalescer[T] {
	return &coalescer[T]{fresh: fresh, calls: map[string]*call[T]{}}
}

// do returns the result of read for key, run at most readTimeout, or of a
// read of key already under way or finished successfully less than fresh
// ago.
func (g *coalescer[T]) do(key string, read func(context.Context) (T, error)) (T, error) {
	now := time.Now()
	g.mu.Lock()
	c := g.calls[key]
	if c == nil || now.Sub(c.started) >= g.fresh || c.failed() {
		c = &call[T]{started: now, done: make(chan struct{})}
		if len(g.calls) >= sweepAbove {
			g.sweepLocked(now)
		}
		g.calls[key] = c
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
			defer cancel()
			c.val, c.err = read(ctx)
			close(c.done)
		}()
	}
	g.mu.Unlock()
	<-c.done
	return c.val, c.err
}

// forget makes the next call for key read anew.
func (g *coalescer[T]) forget(key string) {
	g.mu.Lock()
	delete(g.calls, key)
	g.mu.Unlock()
}

// failed reports whether c finished with an error other than NotFound.
func (c *call[T]) failed() bool {
	select {
	case <-c.done:
		return c.err != nil && !fault.Is(c.err, fault.NotFound)
	default:
		return false
	}
}

func (g *coalescer[T]) sweepLocked(now time.Time) {
	for k, c := range g.calls {
		select {
		case <-c.done:
			if now.Sub(c.started) >= g.fresh {
				delete(g.calls, k)
			}
		default:
		}
	}
}
