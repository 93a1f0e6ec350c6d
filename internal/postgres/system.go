package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/tenants"
)

var _ tenants.SystemStore = (*Store)(nil)

// EnsureSystemTenant inserts tenant t with policy p, or replaces the policy
// of the existing row, and inserts k as its active key when it has none, in
// one transaction. It never touches API keys. Two instances starting at once
// serialise on the tenant row; one inserting a key the other just inserted
// is fault.Conflict, which the caller may ignore.
func (s *Store) EnsureSystemTenant(ctx context.Context, t tenants.Tenant, p tenants.Policy, k tenants.Key) error {
	policy, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("postgres: ensure system tenant: encode policy: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx,
			`INSERT INTO tenants (id, name, status, policy, created_at, updated_at) VALUES ($1, $2, 'active', $3, $4, $4)
			 ON CONFLICT (id) DO UPDATE SET policy = EXCLUDED.policy, status = 'active'`,
			t.ID, t.Name, policy, t.CreatedAt); err != nil {
			return mapErr(err, "ensure system tenant", "tenant")
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE`, t.ID); err != nil {
			return mapErr(err, "ensure system tenant: lock", "tenant")
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO signing_keys (tenant_id, kid, state, sealed_secret, created_at)
			 SELECT $1, $2, 'active', $3, $4
			 WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE tenant_id = $1 AND state = 'active')`,
			t.ID, k.ID, k.SealedSecret, k.CreatedAt)
		return mapErr(err, "ensure system tenant: signing key", "signing key")
	})
	return mapErr(err, "ensure system tenant", "tenant")
}
