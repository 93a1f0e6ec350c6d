package sessions

import (
	"context"

	"github.com/sessiond/sessiond/internal/fault"
)

// purgeBatch is how many buckets one store call purges (on Redis: one
// pipeline of scripts).
const purgeBatch = 64

// PurgeTenant deletes every session of a tenant, with their indexes, in
// buckets from..NumBuckets-1, a batch of purgeBatch buckets at a time (on
// Redis: a pipeline of scripts per batch); it touches no other tenant's keys
// and never uses KEYS or SCAN. After each batch it calls progress with the
// next bucket to purge (NumBuckets after the last), so the caller can record
// how far it got and resume from there. It returns nil once every bucket is
// purged, or the first error of the store (fault.Unavailable) or of
// progress, or ctx's; it does not retry: the purge worker does
// (tenants.PurgeWorker, whose SessionPurger this is).
//
// A user zset all of whose sessions already expired is not reachable from
// the index; it holds only dead ids and expires with its last session.
func (m *Manager) PurgeTenant(ctx context.Context, tenantID string, from int, progress func(next int) error) error {
	if !validTenantID(tenantID) {
		m.log.Warn("session purge: refusing a malformed tenant id")
		return fault.New(fault.InvalidRequest, "session purge: malformed tenant id")
	}
	for b := max(from, 0); b < NumBuckets; b += purgeBatch {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(purgeBatch, NumBuckets-b)
		if err := m.store.PurgeBuckets(ctx, tenantID, Bucket(b), n); err != nil {
			return err
		}
		if err := progress(b + n); err != nil {
			return err
		}
	}
	return nil
}
