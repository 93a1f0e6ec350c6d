package httpapi

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
)

// liveCountEvery is how often a tenant's live sessions are counted again
// in Redis, at most, for its live_sessions ceiling.
const liveCountEvery = 5 * time.Second

// liveCounts keeps, per tenant, an approximate count of its live sessions
// for the live_sessions ceiling, so that a create never waits on a count:
// the last count from Redis (sessions.Manager.Count, refreshed in the
// background when a create finds it older than liveCountEvery) plus the
// creates this instance made since that count began. Sessions that ended
// or that other instances created since are seen at the next count, so the
// ceiling holds to within one interval's creates.
type liveCounts struct {
	count func(ctx context.Context, tenantID string) (int64, error)
	now   func() time.Time
	log   *slog.Logger
	m     sync.Map // tenant id → *liveCount
}

type liveCount struct {
	n       atomic.Int64 // the estimate
	added   atomic.Int64 // creates since the process started
	counted atomic.Int64 // Unix ns when the last count began; 0 never
	busy    atomic.Bool  // a count is running
}

// full reports whether tenantID is at or over limit live sessions, and
// starts a background count when the last one is older than
// liveCountEvery.
func (l *liveCounts) full(tenantID string, limit int) bool {
	c := l.entry(tenantID)
	now := l.now().UnixNano()
	// A clock that stepped back (age < 0) counts as due, too.
	if age := now - c.counted.Load(); (age >= int64(liveCountEvery) || age < 0) && c.busy.CompareAndSwap(false, true) {
		c.counted.Store(now)
		go l.refresh(tenantID, c)
	}
	return c.n.Load() >= int64(limit)
}

// created counts a session created on this instance, which ended evicted
// others of its user.
func (l *liveCounts) created(tenantID string, evicted int) {
	c := l.entry(tenantID)
	d := int64(1 - evicted)
	c.added.Add(d)
	c.n.Add(d)
}

func (l *liveCounts) entry(tenantID string) *liveCount {
	v, ok := l.m.Load(tenantID)
	if !ok {
		v, _ = l.m.LoadOrStore(tenantID, new(liveCount))
	}
	return v.(*liveCount)
}

// refresh counts the tenant's sessions in Redis. Creates made while it
// runs are added on top, so it may count one twice (never miss it).
func (l *liveCounts) refresh(tenantID string, c *liveCount) {
	defer c.busy.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := c.added.Load()
	n, err := l.count(ctx, tenantID)
	if err != nil {
		if !fault.Is(err, fault.Forbidden) {
			l.log.Warn("live sessions count failed; keeping the last one", slog.String("tenant_id", tenantID), slog.String("error", err.Error()))
		}
		return
	}
	c.n.Store(n + c.added.Load() - before)
}

// errLiveSessionsCeiling refuses a create at the tenant's live_sessions
// ceiling.
func errLiveSessionsCeiling(limit int) error {
	return fault.New(fault.SessionLimitReached,
		"the tenant has %d live sessions, the operator's ceiling (live_sessions); no more can be created until some end", limit)
}
