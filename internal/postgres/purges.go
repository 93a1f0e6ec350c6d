package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
)

// Purge jobs (tenant_purges, migration 0005): the PostgreSQL side of
// tenants.PurgeStore. Leases and backoffs are compared with the
// application's clock (the now arguments), like every session deadline.

var _ tenants.PurgeStore = (*Store)(nil)

const purgeColumns = `tenant_id, reason, requested_at, next_bucket, attempts, coalesce(last_error, ''), done_at`

// enqueuePurge stores a pending purge job for tenantID within tx, from
// bucket 0: a new job, or a restart of the tenant's earlier one (whose
// claim it drops, so a worker still on it stops at its next progress).
func enqueuePurge(ctx context.Context, tx pgx.Tx, tenantID string, reason tenants.PurgeReason, now time.Time) error {
	_, err := tx.Exec(ctx,
		`INSERT INTO tenant_purges (tenant_id, reason, requested_at) VALUES ($1, $2, $3)
		 ON CONFLICT (tenant_id) DO UPDATE SET reason = excluded.reason, requested_at = excluded.requested_at,
		   next_bucket = 0, attempts = 0, last_error = NULL, claim = NULL, lease_until = NULL, done_at = NULL`,
		tenantID, string(reason), now)
	return err
}

// refuseWhilePurging returns fault.Conflict when tenantID has a purge job
// that is not done.
func refuseWhilePurging(ctx context.Context, tx pgx.Tx, tenantID string) error {
	var pending bool
	err := tx.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM tenant_purges WHERE tenant_id = $1 AND done_at IS NULL)`, tenantID).Scan(&pending)
	if err != nil {
		return err
	}
	if pending {
		return fault.New(fault.Conflict, "the tenant's sessions are still being purged; resume it once the purge has completed")
	}
	return nil
}

// ClaimPurge implements tenants.PurgeStore: the oldest pending job whose
// lease or backoff has ended, locked with SKIP LOCKED so two workers
// claiming at once get different jobs.
func (s *Store) ClaimPurge(ctx context.Context, claim string, now time.Time, lease time.Duration) (tenants.PurgeJob, bool, error) {
	j, err := scanPurge(s.pool.QueryRow(ctx,
		`UPDATE tenant_purges SET claim = $1, lease_until = $2
		 WHERE tenant_id = (
		   SELECT tenant_id FROM tenant_purges
		   WHERE done_at IS NULL AND (lease_until IS NULL OR lease_until <= $3)
		   ORDER BY requested_at, tenant_id LIMIT 1
		   FOR UPDATE SKIP LOCKED)
		 RETURNING `+purgeColumns, claim, now.Add(lease), now))
	if fault.Is(err, fault.NotFound) {
		return tenants.PurgeJob{}, false, nil
	}
	if err != nil {
		return tenants.PurgeJob{}, false, err
	}
	return j, true, nil
}

// PurgeProgress implements tenants.PurgeStore.
func (s *Store) PurgeProgress(ctx context.Context, tenantID, claim string, next int, now time.Time, lease time.Duration) error {
	return s.purgeUpdate(ctx, "record purge progress",
		`UPDATE tenant_purges SET next_bucket = $3, lease_until = $4
		 WHERE tenant_id = $1 AND claim = $2 AND done_at IS NULL`, tenantID, claim, next, now.Add(lease))
}

// PurgeDone implements tenants.PurgeStore.
func (s *Store) PurgeDone(ctx context.Context, tenantID, claim string, now time.Time) error {
	return s.purgeUpdate(ctx, "complete purge",
		`UPDATE tenant_purges SET done_at = $3, claim = NULL, lease_until = NULL, last_error = NULL
		 WHERE tenant_id = $1 AND claim = $2 AND done_at IS NULL`, tenantID, claim, now)
}

// PurgeFailed implements tenants.PurgeStore.
func (s *Store) PurgeFailed(ctx context.Context, tenantID, claim, lastError string, retryAt time.Time) error {
	return s.purgeUpdate(ctx, "record purge failure",
		`UPDATE tenant_purges SET attempts = attempts + 1, last_error = $3, claim = NULL, lease_until = $4
		 WHERE tenant_id = $1 AND claim = $2 AND done_at IS NULL`, tenantID, claim, lastError, retryAt)
}

// PurgeJob implements tenants.PurgeStore.
func (s *Store) PurgeJob(ctx context.Context, tenantID string) (tenants.PurgeJob, error) {
	return scanPurge(s.pool.QueryRow(ctx, `SELECT `+purgeColumns+` FROM tenant_purges WHERE tenant_id = $1`, tenantID))
}

// purgeUpdate runs one claim-guarded update: no row means the claim is no
// longer the job's (fault.Conflict).
func (s *Store) purgeUpdate(ctx context.Context, op, sql string, args ...any) error {
	tag, err := s.pool.Exec(ctx, sql, args...)
	if err != nil {
		return mapErr(err, op, "purge job")
	}
	if tag.RowsAffected() == 0 {
		return fault.New(fault.Conflict, "the purge job is no longer held by this claim")
	}
	return nil
}

func scanPurge(row pgx.Row) (tenants.PurgeJob, error) {
	var j tenants.PurgeJob
	var reason string
	if err := row.Scan(&j.TenantID, &reason, &j.RequestedAt, &j.NextBucket, &j.Attempts, &j.LastError, &j.DoneAt); err != nil {
		return tenants.PurgeJob{}, mapErr(err, "read purge job", "purge job")
	}
	j.Reason, j.RequestedAt = tenants.PurgeReason(reason), j.RequestedAt.UTC()
	if j.DoneAt != nil {
		at := j.DoneAt.UTC()
		j.DoneAt = &at
	}
	return j, nil
}
