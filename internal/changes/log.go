// Package changes is the per-tenant changes stream that SDK caches follow
// (GET /v1/changes): a capped Redis Stream per tenant, appended to
// synchronously by every write that can make a cached session wrong (Log),
// and read once per tenant per instance by a Hub that fans it out to the
// instance's subscribers.
//
// The stream key is <prefix>:changes:{<tenant_id>}: its own hash slot on
// Redis Cluster, never part of a session script. Entry ids are Redis Stream
// ids, so they survive a sessiond restart and are shared by every instance.
//
// No token is ever written to the stream: only session ids, user ids, the
// policy and (internally) an API key id.
package changes

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
)

// MaxLen is how many entries a tenant's stream keeps (XADD MAXLEN ~, so
// Redis may keep somewhat more). A subscriber that falls further behind is
// told to reset.
const MaxLen = 10000

// Event names of change frames, as on the wire.
const (
	KindSessions = "sessions"
	KindUser     = "user"
	KindTenant   = "tenant"
)

// Reasons of a sessions frame.
const (
	Revoked     = "revoked"
	Evicted     = "evicted"
	Regenerated = "regenerated"
	Changed     = "changed"
)

// Reasons of a tenant frame.
const (
	PolicyChanged = "policy"
	KeyRetired    = "key_retired"
	KeyRotated    = "key_rotated"
	Suspended     = "suspended"
	Deleted       = "deleted"
	APIKeyRevoked = "api_key_revoked"
)

// Stream entry fields: the frame's event name, its data (the exact JSON
// sent), and for api_key_revoked the key's id (not sent; the hub ends that
// key's streams).
const (
	fieldKind   = "k"
	fieldData   = "d"
	fieldAPIKey = "ak"
)

// appendTimeout bounds one synchronous append of a session change; it runs
// detached from the request: a caller that hangs up after the write must not
// skip it. A tenant change, whose call succeeds whether Redis answers or not
// (tenants.Service), waits at most tenantAppendTimeout before leaving the
// append to the background retry.
const (
	appendTimeout       = time.Second
	tenantAppendTimeout = 300 * time.Millisecond
)

// retryEvery is the pace of the background retry of failed appends.
const retryEvery = 500 * time.Millisecond

// maxPending bounds the failed appends kept for retry; past it the oldest
// are replaced by one reset marker per tenant (see pendingReset).
const maxPending = 10000

// Log appends change records. It is safe for concurrent use; the zero value
// is not: use NewLog.
//
// An append that fails (Redis unreachable, timeout) makes the write's caller
// answer fault.Unavailable although the write itself succeeded: an answered
// change is always in the stream. The record is then kept and retried in the
// background until Redis takes it, and until then this instance refuses and
// ends the tenant's streams (Pending), so that none of its subscribers serves
// from a cache that misses it. Subscribers of other instances may stay
// connected until then only if their own Redis reads still work, which an
// append failure on the same key almost never leaves standing; that window is
// the documented limit.
type Log struct {
	rdb    redis.UniversalClient
	prefix string
	log    *slog.Logger

	mu      sync.Mutex
	pending []entry        // failed appends, oldest first
	tenants map[string]int // pending count per tenant
	wake    chan struct{}
	onLost  func(tenantID string)
}

// entry is one record to append.
type entry struct {
	tenantID string
	kind     string
	data     []byte
	apiKeyID string
}

// NewLog returns a Log writing under prefix. Run must be running for failed
// appends to be retried.
func NewLog(rdb redis.UniversalClient, prefix string, log *slog.Logger) *Log {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Log{rdb: rdb, prefix: prefix, log: log, tenants: map[string]int{}, wake: make(chan struct{}, 1)}
}

// Key is the stream key of a tenant.
func (l *Log) Key(tenantID string) string { return StreamKey(l.prefix, tenantID) }

// StreamKey is the stream key of a tenant under prefix.
func StreamKey(prefix, tenantID string) string {
	return prefix + ":changes:{" + tenantID + "}"
}

// SessionsEnded appends a sessions frame: ids must be dropped from caches
// for reason (Revoked, Evicted, Regenerated, Changed). No ids: nothing.
func (l *Log) SessionsEnded(ctx context.Context, tenantID string, ids []string, reason string) error {
	if len(ids) == 0 {
		return nil
	}
	data, _ := json.Marshal(struct {
		IDs    []string `json:"ids"`
		Reason string   `json:"reason"`
	}{ids, reason})
	return l.add(ctx, entry{tenantID: tenantID, kind: KindSessions, data: data}, appendTimeout)
}

// UserEnded appends a user frame: every session of userID but except
// ("" for none) must be dropped.
func (l *Log) UserEnded(ctx context.Context, tenantID, userID, except string) error {
	var exc *string
	if except != "" {
		exc = &except
	}
	data, _ := json.Marshal(struct {
		UserID string  `json:"user_id"`
		Except *string `json:"except"`
	}{userID, exc})
	return l.add(ctx, entry{tenantID: tenantID, kind: KindUser, data: data}, appendTimeout)
}

// TenantChanged appends a tenant frame: every cache of the tenant must be
// dropped; policy, when not nil, is the tenant's policy from now on. For
// APIKeyRevoked, apiKeyID names the key, whose streams then end.
func (l *Log) TenantChanged(ctx context.Context, tenantID, reason string, policy *tenants.Policy, apiKeyID string) error {
	data, _ := json.Marshal(struct {
		Reason string          `json:"reason"`
		Policy *tenants.Policy `json:"policy"`
	}{reason, policy})
	return l.add(ctx, entry{tenantID: tenantID, kind: KindTenant, data: data, apiKeyID: apiKeyID}, tenantAppendTimeout)
}

// add appends e now, or keeps it for retry and answers fault.Unavailable.
// The admin UI's own sessions (the system tenant) have no stream.
func (l *Log) add(ctx context.Context, e entry, timeout time.Duration) error {
	if e.tenantID == tenants.SystemTenantID || e.tenantID == "" {
		return nil
	}
	if l.Pending(e.tenantID) {
		// Keep the order: behind the records still waiting.
		l.keep(e)
		return errNotPublished()
	}
	if err := l.xaddWithin(ctx, e, timeout); err != nil {
		l.log.Warn("changes stream: append failed; retrying in the background, the tenant's streams on this instance end until it succeeds",
			slog.String("tenant_id", e.tenantID), slog.String("kind", e.kind), slog.String("error", err.Error()))
		l.keep(e)
		return errNotPublished()
	}
	return nil
}

// xaddWithin appends e, giving up after timeout even when the client does
// not (go-redis may wait out its dial timeout on a frozen server). The
// append keeps going detached from ctx: one that lands after all is only
// repeated by the retry, and a repeated drop is harmless.
func (l *Log) xaddWithin(ctx context.Context, e entry, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	done := make(chan error, 1)
	go func() {
		defer cancel()
		done <- l.xadd(ctx, e)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return context.DeadlineExceeded
	}
}

func errNotPublished() error {
	return fault.New(fault.Unavailable, "the change was made but could not be published to the changes stream yet; it will be, shortly")
}

// xadd appends one entry, trimming the stream to about MaxLen.
func (l *Log) xadd(ctx context.Context, e entry) error {
	values := []any{fieldKind, e.kind, fieldData, e.data}
	if e.apiKeyID != "" {
		values = append(values, fieldAPIKey, e.apiKeyID)
	}
	return l.rdb.XAdd(ctx, &redis.XAddArgs{Stream: l.Key(e.tenantID), MaxLen: MaxLen, Approx: true, Values: values}).Err()
}

// keep queues e for the background retry and tells the hub (OnLost).
func (l *Log) keep(e entry) {
	l.mu.Lock()
	if len(l.pending) >= maxPending {
		// Drop the oldest; its tenant's caches are then told to start over
		// (a tenant frame drops everything, which covers what was dropped).
		old := l.pending[0]
		l.pending = l.pending[1:]
		l.tenants[old.tenantID]--
		data, _ := json.Marshal(map[string]any{"reason": PolicyChanged, "policy": nil})
		l.pending = append(l.pending, entry{tenantID: old.tenantID, kind: KindTenant, data: data})
		l.tenants[old.tenantID]++
	}
	l.pending = append(l.pending, e)
	l.tenants[e.tenantID]++
	onLost := l.onLost
	l.mu.Unlock()
	if onLost != nil {
		onLost(e.tenantID)
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Pending reports whether a change of the tenant is still waiting to be
// appended: until it is, this instance serves none of the tenant's streams.
func (l *Log) Pending(tenantID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tenants[tenantID] > 0
}

// Run retries failed appends, in order, until ctx ends.
func (l *Log) Run(ctx context.Context) {
	t := time.NewTicker(retryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		case <-t.C:
		}
		l.flush(ctx)
	}
}

// flush appends the pending records, oldest first, until one fails.
func (l *Log) flush(ctx context.Context) {
	for {
		l.mu.Lock()
		if len(l.pending) == 0 {
			l.mu.Unlock()
			return
		}
		e := l.pending[0]
		l.mu.Unlock()
		actx, cancel := context.WithTimeout(ctx, appendTimeout)
		err := l.xadd(actx, e)
		cancel()
		if err != nil {
			return
		}
		l.mu.Lock()
		l.pending = l.pending[1:]
		if l.tenants[e.tenantID]--; l.tenants[e.tenantID] <= 0 {
			delete(l.tenants, e.tenantID)
		}
		l.mu.Unlock()
		l.log.Info("changes stream: a delayed change was appended", slog.String("tenant_id", e.tenantID), slog.String("kind", e.kind))
	}
}
