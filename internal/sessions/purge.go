package sessions

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// purgeBatch is how many bucket scripts one purge pipeline carries.
const purgeBatch = 64

// PurgeTenant deletes every session of a tenant, with their user zsets and
// bucket indexes, walking the tenant's 1024 bucket indexes a pipelined batch
// at a time; it touches no other tenant's keys and never uses KEYS or SCAN.
// It is meant to run in the background after the tenant is deleted (it
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
	_ = purgeScript.Load(ctx, m.rdb).Err() // best effort; EVAL is the fallback
	for b := 0; b < numBuckets; b += purgeBatch {
		n := min(purgeBatch, numBuckets-b)
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			if err = m.purgeBuckets(ctx, tenantID, b, n); err == nil || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
			}
		}
		if ctx.Err() != nil {
			m.log.Warn("session purge: stopped", slog.String("tenant_id", tenantID), slog.Int("next_bucket", b))
			return
		}
		if err != nil {
			m.log.Warn("session purge: buckets failed", slog.String("tenant_id", tenantID),
				slog.Int("first_bucket", b), slog.Int("buckets", n), slog.String("error", err.Error()))
		}
	}
}

// purgeBuckets runs the purge script on buckets [first, first+n).
func (m *Manager) purgeBuckets(ctx context.Context, tenantID string, first, n int) error {
	pipe := m.rdb.Pipeline()
	cmds := make([]*redis.Cmd, n)
	for i := range n {
		cmds[i] = purgeScript.EvalSha(ctx, pipe, []string{m.keys(tenantID, first+i).index()})
	}
	_, _ = pipe.Exec(ctx)
	for i, cmd := range cmds {
		err := cmd.Err()
		if err == nil {
			continue
		}
		if !redis.HasErrorPrefix(err, "NOSCRIPT") {
			return err
		}
		if err := purgeScript.Run(ctx, m.rdb, []string{m.keys(tenantID, first+i).index()}).Err(); err != nil {
			return err
		}
	}
	return nil
}
