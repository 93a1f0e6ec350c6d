package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
)

// Store is the PostgreSQL implementation of tenants.Store and events.Store.
// Every query that names a tenant is scoped by its id: a tenant's id never
// reads or changes another tenant's keys or API keys. Times come back in UTC,
// at PostgreSQL's microsecond precision. Errors follow the package rules:
// fault.NotFound, fault.Conflict, fault.InvalidRequest (cursors),
// fault.Unavailable, or internal.
type Store struct {
	pool *pgxpool.Pool
	// hooked guesses which tenants have webhook endpoints (WriteEvents).
	hooked   hookGuess
	onQueued func()
}

// StoreOption configures a Store.
type StoreOption func(*Store)

// OnQueued makes WriteEvents call f, which must not block, after each
// write that queued webhook deliveries (a dispatcher sends them then
// rather than at its next poll).
func OnQueued(f func()) StoreOption { return func(s *Store) { s.onQueued = f } }

// NewStore returns a Store on pool. The schema must be migrated (Migrate).
func NewStore(pool *pgxpool.Pool, opts ...StoreOption) *Store {
	s := &Store{pool: pool}
	for _, o := range opts {
		o(s)
	}
	return s
}

var _ tenants.Store = (*Store)(nil)

const (
	tenantColumns = `id, name, status, created_at, updated_at, limits`
	keyColumns    = `tenant_id, kid, state, sealed_secret, created_at, retires_at, retired_at`
	apiKeyColumns = `id, tenant_id, name, scopes, prefix, secret_hash, created_at, revoked_at`
)

// CreateTenant stores t with policy p, k as its active signing key and ak as
// its first API key, in one transaction: all or nothing. k and ak are stored
// under t.ID whatever their TenantID says. A tenant, key or API key id that
// already exists is fault.Conflict.
func (s *Store) CreateTenant(ctx context.Context, t tenants.Tenant, p tenants.Policy, k tenants.Key, ak tenants.APIKey) error {
	policy, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("postgres: create tenant: encode policy: %w", err)
	}
	limits, err := json.Marshal(t.Limits)
	if err != nil {
		return fmt.Errorf("postgres: create tenant: encode limits: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx,
			`INSERT INTO tenants (id, name, status, policy, limits, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			t.ID, t.Name, string(t.Status), policy, limits, t.CreatedAt, t.UpdatedAt); err != nil {
			return mapErr(err, "create tenant", "tenant")
		}
		if _, err := tx.Exec(ctx,
			`INSERT INTO signing_keys (tenant_id, kid, state, sealed_secret, created_at) VALUES ($1, $2, $3, $4, $5)`,
			t.ID, k.ID, string(tenants.KeyActive), k.SealedSecret, k.CreatedAt); err != nil {
			return mapErr(err, "create tenant: insert signing key", "signing key")
		}
		ak.TenantID = t.ID
		return insertAPIKey(ctx, tx, ak)
	})
	return mapErr(err, "create tenant", "tenant")
}

// GetTenant returns the tenant with id, or fault.NotFound.
func (s *Store) GetTenant(ctx context.Context, id string) (tenants.Tenant, error) {
	t, err := scanTenant(s.pool.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1`, id))
	if err != nil {
		return tenants.Tenant{}, mapErr(err, "get tenant", "tenant")
	}
	return t, nil
}

// ListTenants returns up to page.Limit tenants (default 50, at most 200) in
// creation order, after page.Cursor, without the system tenant, and the
// cursor of the next page or "" when there is none. A cursor this method did
// not return is fault.InvalidRequest naming "cursor".
func (s *Store) ListTenants(ctx context.Context, page tenants.Page) ([]tenants.Tenant, string, error) {
	page = page.Normalize()
	after, err := decodeCursor(cursorTenants, page.Cursor)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.pool.Query(ctx,
		`SELECT seq, `+tenantColumns+` FROM tenants WHERE id <> $1 AND seq > $2 ORDER BY seq LIMIT $3`,
		tenants.SystemTenantID, after, page.Limit+1)
	if err != nil {
		return nil, "", mapErr(err, "list tenants", "tenant")
	}
	defer rows.Close()
	out := make([]tenants.Tenant, 0, page.Limit)
	var lastSeq int64
	for rows.Next() {
		if len(out) == page.Limit {
			return out, encodeCursor(cursorTenants, lastSeq), nil
		}
		var (
			seq    int64
			t      tenants.Tenant
			limits []byte
		)
		if err := rows.Scan(append([]any{&seq}, tenantDest(&t, &limits)...)...); err != nil {
			return nil, "", mapErr(err, "list tenants", "tenant")
		}
		lastSeq = seq
		if t, err = finishTenant(t, limits); err != nil {
			return nil, "", err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, "", mapErr(err, "list tenants", "tenant")
	}
	return out, "", nil
}

// UpdateTenant applies the non-nil fields of patch to tenant id, sets its
// updated_at to now, and returns the tenant as stored, in one transaction
// that holds the tenant's row. patch.Limits sets its numbers and removes its
// nulls from the tenant's overrides in the same statement (concurrent patches
// of different ceilings both apply); it is not validated here. Suspending also
// stores a pending purge job (tenant_purges), restarting any earlier one;
// resuming while the tenant's purge job is not done is fault.Conflict and
// changes nothing. A missing tenant is fault.NotFound.
func (s *Store) UpdateTenant(ctx context.Context, id string, patch tenants.TenantPatch, now time.Time) (tenants.Tenant, error) {
	var status *string
	if patch.Status != nil {
		st := string(*patch.Status)
		status = &st
	}
	set, unset := map[string]int{}, []string{}
	for name, v := range patch.Limits {
		if v == nil {
			unset = append(unset, name)
		} else {
			set[name] = *v
		}
	}
	setJSON, err := json.Marshal(set)
	if err != nil {
		return tenants.Tenant{}, fmt.Errorf("postgres: update tenant: encode limits: %w", err)
	}
	var t tenants.Tenant
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The row lock orders this change after any concurrent one, so the
		// purge check below sees a suspension committed meanwhile.
		if _, err := scanTenant(tx.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1 FOR UPDATE`, id)); err != nil {
			return err
		}
		if patch.Status != nil && *patch.Status == tenants.Active {
			if err := refuseWhilePurging(ctx, tx, id); err != nil {
				return err
			}
		}
		t, err = scanTenant(tx.QueryRow(ctx,
			`UPDATE tenants SET name = coalesce($2, name), status = coalesce($3, status), updated_at = $4,
			        limits = (limits || $5::jsonb) - $6::text[]
			 WHERE id = $1 RETURNING `+tenantColumns,
			id, patch.Name, status, now, setJSON, unset))
		if err != nil {
			return err
		}
		if patch.Status != nil && *patch.Status == tenants.Suspended {
			return enqueuePurge(ctx, tx, id, tenants.PurgeSuspend, now)
		}
		return nil
	})
	if err != nil {
		return tenants.Tenant{}, mapErr(err, "update tenant", "tenant")
	}
	return t, nil
}

// DeleteTenant deletes tenant id with its keys, API keys and admins, at
// once, and stores a pending purge job for its sessions, in one
// transaction. Its security events and the purge job are kept. A missing
// tenant is fault.NotFound.
func (s *Store) DeleteTenant(ctx context.Context, id string, now time.Time) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM tenants WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fault.New(fault.NotFound, "tenant not found")
		}
		return enqueuePurge(ctx, tx, id, tenants.PurgeDelete, now)
	})
	return mapErr(err, "delete tenant", "tenant")
}

// LoadState returns tenant id with its policy, its signing keys newest first
// (secrets sealed, TenantID set) and all its API keys newest first,
// including revoked ones (RevokedAt set), as one consistent snapshot. A
// missing tenant is fault.NotFound.
func (s *Store) LoadState(ctx context.Context, id string) (tenants.State, error) {
	var st tenants.State
	err := readSnapshot(ctx, s.pool, func(tx pgx.Tx) error {
		var policy, limits []byte
		row := tx.QueryRow(ctx, `SELECT `+tenantColumns+`, policy FROM tenants WHERE id = $1`, id)
		if err := row.Scan(append(tenantDest(&st.Tenant, &limits), &policy)...); err != nil {
			return mapErr(err, "load tenant state", "tenant")
		}
		var err error
		if st.Tenant, err = finishTenant(st.Tenant, limits); err != nil {
			return err
		}
		if err := json.Unmarshal(policy, &st.Policy); err != nil {
			return fmt.Errorf("postgres: load tenant state: decode policy of %s: %w", id, err)
		}
		keys, err := queryKeys(ctx, tx, `SELECT `+keyColumns+` FROM signing_keys WHERE tenant_id = $1 ORDER BY created_at DESC, seq DESC`, id)
		if err != nil {
			return err
		}
		st.Keys = keys
		apiKeys, err := queryAPIKeys(ctx, tx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = $1 ORDER BY created_at DESC, seq DESC`, id)
		if err != nil {
			return err
		}
		st.APIKeys = apiKeys
		return nil
	})
	if err != nil {
		return tenants.State{}, mapErr(err, "load tenant state", "tenant")
	}
	return st, nil
}

// APIKeyTenant returns the tenant of API key id, revoked or not; a missing
// key is fault.NotFound.
func (s *Store) APIKeyTenant(ctx context.Context, id string) (string, error) {
	var tenantID string
	err := s.pool.QueryRow(ctx, `SELECT tenant_id FROM api_keys WHERE id = $1`, id).Scan(&tenantID)
	return tenantID, mapErr(err, "find the tenant of an API key", "API key")
}

// LoadAllStates returns the state of every tenant, the system tenant
// included, in creation order, as LoadState would and from one consistent
// snapshot.
func (s *Store) LoadAllStates(ctx context.Context) ([]tenants.State, error) {
	var out []tenants.State
	err := readSnapshot(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+tenantColumns+`, policy FROM tenants ORDER BY seq`)
		if err != nil {
			return mapErr(err, "load all tenant states", "tenant")
		}
		index := map[string]int{}
		for rows.Next() {
			var (
				st             tenants.State
				policy, limits []byte
				err            error
			)
			if err := rows.Scan(append(tenantDest(&st.Tenant, &limits), &policy)...); err != nil {
				rows.Close()
				return mapErr(err, "load all tenant states", "tenant")
			}
			if st.Tenant, err = finishTenant(st.Tenant, limits); err != nil {
				rows.Close()
				return err
			}
			if err := json.Unmarshal(policy, &st.Policy); err != nil {
				rows.Close()
				return fmt.Errorf("postgres: load all tenant states: decode policy of %s: %w", st.Tenant.ID, err)
			}
			index[st.Tenant.ID] = len(out)
			out = append(out, st)
		}
		if err := rows.Err(); err != nil {
			return mapErr(err, "load all tenant states", "tenant")
		}
		keys, err := queryKeys(ctx, tx, `SELECT `+keyColumns+` FROM signing_keys ORDER BY tenant_id, created_at DESC, seq DESC`)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if i, ok := index[k.TenantID]; ok {
				out[i].Keys = append(out[i].Keys, k)
			}
		}
		apiKeys, err := queryAPIKeys(ctx, tx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY tenant_id, created_at DESC, seq DESC`)
		if err != nil {
			return err
		}
		for _, k := range apiKeys {
			if i, ok := index[k.TenantID]; ok {
				out[i].APIKeys = append(out[i].APIKeys, k)
			}
		}
		return nil
	})
	if err != nil {
		return nil, mapErr(err, "load all tenant states", "tenant")
	}
	return out, nil
}

// PutPolicy replaces the policy of tenant tenantID and sets its updated_at to
// now. A missing tenant is fault.NotFound. It does not validate p.
func (s *Store) PutPolicy(ctx context.Context, tenantID string, p tenants.Policy, now time.Time) error {
	policy, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("postgres: put policy: encode: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE tenants SET policy = $2, updated_at = $3 WHERE id = $1`, tenantID, policy, now)
	if err != nil {
		return mapErr(err, "put policy", "tenant")
	}
	if tag.RowsAffected() == 0 {
		return fault.New(fault.NotFound, "tenant not found")
	}
	return nil
}

// RotateKey, in one transaction that locks the tenant's keyring, moves the
// tenant's active key (if any) to retiring until retiresAt and stores next as
// the active key (its State is ignored). Concurrent rotations serialise; the
// keyring never has two active keys. Retiring keys whose grace ended by now
// are marked retired (as Key.At reports them). With maxRetiring > 0, a keyring that
// already holds maxRetiring keys still retiring at now is left unchanged
// and the answer is tenants.ErrTooManyRetiring (fault.Conflict), checked
// under the same lock, so concurrent rotations cannot pass the ceiling. A
// missing tenant is fault.NotFound; a next.ID already in the keyring is
// fault.Conflict.
func (s *Store) RotateKey(ctx context.Context, tenantID string, next tenants.Key, retiresAt, now time.Time, maxRetiring int) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE`, tenantID).Scan(&one); err != nil {
			return mapErr(err, "rotate key: lock tenant", "tenant")
		}
		if _, err := tx.Exec(ctx, `SELECT kid FROM signing_keys WHERE tenant_id = $1 FOR UPDATE`, tenantID); err != nil {
			return mapErr(err, "rotate key: lock keyring", "signing key")
		}
		// Keys whose grace period ended are retired for good (one row per
		// earlier rotation at most), so reloads stop decrypting them.
		if _, err := tx.Exec(ctx,
			`UPDATE signing_keys SET state = 'retired', retired_at = retires_at
			 WHERE tenant_id = $1 AND state = 'retiring' AND retires_at <= $2`, tenantID, now); err != nil {
			return mapErr(err, "rotate key: retire ended keys", "signing key")
		}
		if maxRetiring > 0 {
			var retiring int
			if err := tx.QueryRow(ctx,
				`SELECT count(*) FROM signing_keys WHERE tenant_id = $1 AND state = 'retiring' AND retires_at > $2`,
				tenantID, now).Scan(&retiring); err != nil {
				return mapErr(err, "rotate key: count retiring keys", "signing key")
			}
			if retiring >= maxRetiring {
				return tenants.ErrTooManyRetiring(maxRetiring)
			}
		}
		if _, err := tx.Exec(ctx,
			`UPDATE signing_keys SET state = 'retiring', retires_at = $2 WHERE tenant_id = $1 AND state = 'active'`,
			tenantID, retiresAt); err != nil {
			return mapErr(err, "rotate key: retire active key", "signing key")
		}
		if _, err := tx.Exec(ctx,
			`INSERT INTO signing_keys (tenant_id, kid, state, sealed_secret, created_at) VALUES ($1, $2, 'active', $3, $4)`,
			tenantID, next.ID, next.SealedSecret, next.CreatedAt); err != nil {
			return mapErr(err, "rotate key: insert new key", "signing key")
		}
		return nil
	})
	return mapErr(err, "rotate key", "tenant")
}

// RetireKey retires the retiring key kid of tenant tenantID and returns it.
// Its RetiredAt is now, or the end of its grace period if that came first
// (the moment it stopped verifying, as tenants.Key.At reports it). A key
// that is already retired is returned unchanged. The active key is
// fault.Conflict (rotate first); a kid not in the tenant's keyring is
// fault.NotFound.
func (s *Store) RetireKey(ctx context.Context, tenantID, kid string, now time.Time) (tenants.Key, error) {
	var k tenants.Key
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		k, err = scanKey(tx.QueryRow(ctx,
			`SELECT `+keyColumns+` FROM signing_keys WHERE tenant_id = $1 AND kid = $2 FOR UPDATE`, tenantID, kid))
		if err != nil {
			return mapErr(err, "retire key", "signing key")
		}
		switch k.State {
		case tenants.KeyActive:
			return fault.New(fault.Conflict, "the active key cannot be retired; rotate first")
		case tenants.KeyRetired:
			return nil
		}
		k, err = scanKey(tx.QueryRow(ctx,
			`UPDATE signing_keys SET state = 'retired', retired_at = least($3, retires_at)
			 WHERE tenant_id = $1 AND kid = $2 RETURNING `+keyColumns, tenantID, kid, now))
		return mapErr(err, "retire key", "signing key")
	})
	if err != nil {
		return tenants.Key{}, mapErr(err, "retire key", "signing key")
	}
	return k, nil
}

// CreateAPIKey stores k under k.TenantID. A missing tenant is
// fault.NotFound; an id that exists is fault.Conflict.
func (s *Store) CreateAPIKey(ctx context.Context, k tenants.APIKey) error {
	return insertAPIKey(ctx, s.pool, k)
}

// RevokeAPIKey sets the revoked_at of API key id of tenant tenantID to now.
// An id that is not a live (unrevoked) key of that tenant is fault.NotFound.
func (s *Store) RevokeAPIKey(ctx context.Context, tenantID, id string, now time.Time) error {
	tag, err := s.pool.Exec(ctx,
		`UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL`,
		tenantID, id, now)
	if err != nil {
		return mapErr(err, "revoke API key", "API key")
	}
	if tag.RowsAffected() == 0 {
		return fault.New(fault.NotFound, "API key not found")
	}
	return nil
}

// querier is what *pgxpool.Pool and pgx.Tx share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func insertAPIKey(ctx context.Context, db querier, k tenants.APIKey) error {
	scopes := make([]string, len(k.Scopes))
	for i, sc := range k.Scopes {
		scopes[i] = string(sc)
	}
	_, err := db.Exec(ctx,
		`INSERT INTO api_keys (id, tenant_id, name, scopes, prefix, secret_hash, created_at, revoked_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.TenantID, k.Name, scopes, k.Prefix, k.SecretHash, k.CreatedAt, k.RevokedAt)
	return mapErr(err, "create API key", "API key")
}

// readSnapshot runs fn in a read-only, repeatable-read transaction, so that
// its queries see one state of the database.
func readSnapshot(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

func scanTenant(row pgx.Row) (tenants.Tenant, error) {
	var (
		t      tenants.Tenant
		limits []byte
	)
	if err := row.Scan(tenantDest(&t, &limits)...); err != nil {
		return tenants.Tenant{}, err
	}
	return finishTenant(t, limits)
}

// tenantDest is where a row of tenantColumns scans to: t's fields, and the
// limits column's JSON into limits (finishTenant decodes it).
func tenantDest(t *tenants.Tenant, limits *[]byte) []any {
	return []any{&t.ID, &t.Name, &t.Status, &t.CreatedAt, &t.UpdatedAt, limits}
}

// finishTenant decodes the limits column into t and puts its times in UTC.
func finishTenant(t tenants.Tenant, limits []byte) (tenants.Tenant, error) {
	if err := json.Unmarshal(limits, &t.Limits); err != nil {
		return tenants.Tenant{}, fmt.Errorf("postgres: decode limits of tenant %s: %w", t.ID, err)
	}
	return utcTenant(t), nil
}

func utcTenant(t tenants.Tenant) tenants.Tenant {
	t.CreatedAt = t.CreatedAt.UTC()
	t.UpdatedAt = t.UpdatedAt.UTC()
	return t
}

func scanKey(row pgx.Row) (tenants.Key, error) {
	var k tenants.Key
	if err := row.Scan(&k.TenantID, &k.ID, &k.State, &k.SealedSecret, &k.CreatedAt, &k.RetiresAt, &k.RetiredAt); err != nil {
		return tenants.Key{}, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.RetiresAt = utcPtr(k.RetiresAt)
	k.RetiredAt = utcPtr(k.RetiredAt)
	return k, nil
}

func scanAPIKey(row pgx.Row) (tenants.APIKey, error) {
	var (
		k      tenants.APIKey
		scopes []string
	)
	if err := row.Scan(&k.ID, &k.TenantID, &k.Name, &scopes, &k.Prefix, &k.SecretHash, &k.CreatedAt, &k.RevokedAt); err != nil {
		return tenants.APIKey{}, err
	}
	k.Scopes = make([]tenants.Scope, len(scopes))
	for i, sc := range scopes {
		k.Scopes[i] = tenants.Scope(sc)
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.RevokedAt = utcPtr(k.RevokedAt)
	return k, nil
}

func queryKeys(ctx context.Context, db querier, sql string, args ...any) ([]tenants.Key, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, mapErr(err, "read signing keys", "signing key")
	}
	defer rows.Close()
	var out []tenants.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, mapErr(err, "read signing keys", "signing key")
		}
		out = append(out, k)
	}
	return out, mapErr(rows.Err(), "read signing keys", "signing key")
}

func queryAPIKeys(ctx context.Context, db querier, sql string, args ...any) ([]tenants.APIKey, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, mapErr(err, "read API keys", "API key")
	}
	defer rows.Close()
	var out []tenants.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, mapErr(err, "read API keys", "API key")
		}
		out = append(out, k)
	}
	return out, mapErr(rows.Err(), "read API keys", "API key")
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
