package sessions

import (
	"context"
	"log/slog"
	"time"
)

// purgeBatch is how many buckets one store call purges (on Redis: one
// pipeline of scripts).
const purgeBatch = 64

// PurgeTenant deletes every session of a tenant, with their indexes, a batch
// of buckets at a time (on Redis: the 1024 bucket indexes, a pipeline of
// scripts at a time); it touches no other tenant's keys and never uses KEYS
// or SCAN. It is meant to run in the background after the tenant is deleted (it
// satisfies tenants.SessionPurger): failures are retried a few times, then
// logged, and it stops when ctx ends.
//
// A user zset all of whose sessions already expired is not reachable from
// the index; it holds only dead ids and expires with its last session.
func (m *Manager) PurgeTenant(ctx context.Context, tenantID string) {
	if !validTenantID(tenantID) {
		m.log.Warn("session purge: refusing a malformed tenant id")
		return
	}
	for b := Bucket(0); b < NumBuckets; b += purgeBatch {
		n := min(purgeBatch, NumBuckets-int(b))
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			if err = m.store.PurgeBuckets(ctx, tenantID, b, n); err == nil || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
			}
		}
		if ctx.Err() != nil {
			m.log.Warn("session purge: stopped", slog.String("tenant_id", tenantID), slog.Int("next_bucket", int(b)))
			return
		}
		if err != nil {
			m.log.Warn("session purge: buckets failed", slog.String("tenant_id", tenantID),
				slog.Int("first_bucket", int(b)), slog.Int("buckets", n), slog.String("error", err.Error()))
		}
	}
}
