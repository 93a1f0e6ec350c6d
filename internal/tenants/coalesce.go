package tenants

import (
	"context"
	"sync"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
)

// coalescer runs reads keyed by a string so that concurrent callers for one
// key share one read, and a successful read is reused by later callers
// for a while after it started (fresh, both on the monotonic clock and on
// clock, the one the staleness bound is measured on: the cache's injected
// clock). A failed read is never reused once it has finished. Its memory is
// bounded by the keys asked for within fresh (older entries are swept).
type coalescer[T any] struct {
	fresh time.Duration
	clock func() time.Time
	mu    sync.Mutex
	calls map[string]*call[T]
}

type call[T any] struct {
	started time.Time
	clockAt time.Time // started, on the coalescer's clock
	done    chan struct{}
	val     T
	err     error
}

// sweepAbove is the number of remembered reads above which old ones are
// dropped.
const sweepAbove = 1024

func newCoalescer[T any](fresh time.Duration, clock func() time.Time) *coalescer[T] {
	return &coalescer[T]{fresh: fresh, clock: clock, calls: map[string]*call[T]{}}
}

// do returns the result of read for key, run at most readTimeout, or of a
// read of key already under way or finished successfully less than fresh
// ago.
func (g *coalescer[T]) do(key string, read func(context.Context) (T, error)) (T, error) {
	now := time.Now()
	g.mu.Lock()
	c := g.calls[key]
	if c == nil || now.Sub(c.started) >= g.fresh || g.clock().Sub(c.clockAt) >= g.fresh || c.failed() {
		c = g.startLocked(key, now, read)
	}
	g.mu.Unlock()
	<-c.done
	return c.val, c.err
}

// after returns the result of a read of key that started no earlier than
// the call: concurrent callers share one, but a read that started before
// the caller arrived is never reused. At most one read of a key runs at a
// time, and a new one starts no sooner than gap after the previous one
// started; every caller that arrived in between shares it. So however
// often it is called, after reads key at most once per gap.
func (g *coalescer[T]) after(key string, gap time.Duration, read func(context.Context) (T, error)) (T, error) {
	arrived := time.Now()
	for {
		g.mu.Lock()
		c := g.calls[key]
		switch {
		case c != nil && !c.started.Before(arrived) && !c.failed():
		case c != nil && !c.finished():
			g.mu.Unlock()
			<-c.done
			continue
		case c != nil && time.Since(c.started) < gap:
			g.mu.Unlock()
			time.Sleep(gap - time.Since(c.started))
			continue
		default:
			c = g.startLocked(key, time.Now(), read)
		}
		g.mu.Unlock()
		<-c.done
		return c.val, c.err
	}
}

// startLocked starts a read of key, run at most readTimeout, and
// remembers it as key's latest.
func (g *coalescer[T]) startLocked(key string, now time.Time, read func(context.Context) (T, error)) *call[T] {
	c := &call[T]{started: now, clockAt: g.clock(), done: make(chan struct{})}
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
	return c
}

// forget makes the next call for key read anew.
func (g *coalescer[T]) forget(key string) {
	g.mu.Lock()
	delete(g.calls, key)
	g.mu.Unlock()
}

// failed reports whether c finished with an error other than NotFound.
func (c *call[T]) failed() bool {
	return c.finished() && c.err != nil && !fault.Is(c.err, fault.NotFound)
}

func (c *call[T]) finished() bool {
	select {
	case <-c.done:
		return true
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
