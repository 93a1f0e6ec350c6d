package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/webhooks"
)

// Webhook endpoints and their outbox (migration 0008): the PostgreSQL side
// of webhooks.Store. Due times and leases are the application's clock (the
// now arguments), like purge jobs.

var _ webhooks.Store = (*Store)(nil)

const endpointColumns = `id, tenant_id, url, description, event_types, status, failing_since,
	CASE WHEN sealed_previous IS NULL THEN NULL ELSE previous_until END, created_at, updated_at`

func scanEndpoint(row pgx.Row) (webhooks.Endpoint, error) {
	var ep webhooks.Endpoint
	err := row.Scan(&ep.ID, &ep.TenantID, &ep.URL, &ep.Description, &ep.EventTypes, &ep.Status, &ep.FailingSince,
		&ep.PreviousSecretUntil, &ep.CreatedAt, &ep.UpdatedAt)
	if err != nil {
		return webhooks.Endpoint{}, mapErr(err, "read webhook endpoint", "webhook endpoint")
	}
	ep.CreatedAt, ep.UpdatedAt = ep.CreatedAt.UTC(), ep.UpdatedAt.UTC()
	for _, t := range []**time.Time{&ep.FailingSince, &ep.PreviousSecretUntil} {
		if *t != nil {
			u := (*t).UTC()
			*t = &u
		}
	}
	if ep.EventTypes == nil {
		ep.EventTypes = []string{}
	}
	return ep, nil
}

// CreateEndpoint implements webhooks.Store: the tenant's row is locked
// while its endpoints are counted, so two creates cannot both pass the cap.
func (s *Store) CreateEndpoint(ctx context.Context, ep webhooks.Endpoint, sealed []byte, max int) error {
	err := s.tx(ctx, "create webhook endpoint", "webhook endpoint", func(tx pgx.Tx) error {
		var n int
		err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM webhook_endpoints WHERE tenant_id = t.id)
			FROM tenants t WHERE t.id = $1 FOR UPDATE`, ep.TenantID).Scan(&n)
		if err != nil {
			return err
		}
		if n >= max {
			return fault.New(fault.Conflict, "the tenant has %d webhook endpoints, its ceiling (webhook_endpoints); delete one first", n)
		}
		_, err = tx.Exec(ctx, `INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, sealed_secret, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, ep.ID, ep.TenantID, ep.URL, ep.Description, ep.EventTypes, sealed, ep.CreatedAt)
		return err
	})
	if err == nil {
		s.hooked.gained(ep.TenantID) // its next events need their payloads
	}
	return err
}

// tx runs fn in a transaction, mapping its error.
func (s *Store) tx(ctx context.Context, op, thing string, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return mapErr(err, op, thing)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return mapErr(err, op, thing)
	}
	return mapErr(tx.Commit(ctx), op, thing)
}

// ListEndpoints implements webhooks.Store.
func (s *Store) ListEndpoints(ctx context.Context, tenantID string) ([]webhooks.Endpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY seq`, tenantID)
	if err != nil {
		return nil, mapErr(err, "list webhook endpoints", "webhook endpoint")
	}
	defer rows.Close()
	out := []webhooks.Endpoint{}
	for rows.Next() {
		ep, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ep)
	}
	return out, mapErr(rows.Err(), "list webhook endpoints", "webhook endpoint")
}

// Endpoint implements webhooks.Store.
func (s *Store) Endpoint(ctx context.Context, tenantID, id string) (webhooks.Endpoint, error) {
	return scanEndpoint(s.pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2`, tenantID, id))
}

// UpdateEndpoint implements webhooks.Store.
func (s *Store) UpdateEndpoint(ctx context.Context, tenantID, id string, p webhooks.EndpointPatch, now time.Time) (webhooks.Endpoint, error) {
	var types []string
	if p.EventTypes != nil {
		types = *p.EventTypes
	}
	return scanEndpoint(s.pool.QueryRow(ctx, `UPDATE webhook_endpoints SET
		url = coalesce($3, url), description = coalesce($4, description),
		event_types = CASE WHEN $5 THEN $6::text[] ELSE event_types END, updated_at = $7
		WHERE tenant_id = $1 AND id = $2 RETURNING `+endpointColumns,
		tenantID, id, p.URL, p.Description, p.EventTypes != nil, types, now))
}

// DeleteEndpoint implements webhooks.Store; its deliveries go with it.
func (s *Store) DeleteEndpoint(ctx context.Context, tenantID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2`, tenantID, id)
	if err != nil {
		return mapErr(err, "delete webhook endpoint", "webhook endpoint")
	}
	if tag.RowsAffected() == 0 {
		return fault.New(fault.NotFound, "webhook endpoint not found")
	}
	return nil
}

// RotateSecret implements webhooks.Store.
func (s *Store) RotateSecret(ctx context.Context, tenantID, id string, sealed []byte, previousUntil, now time.Time) (webhooks.Endpoint, error) {
	return scanEndpoint(s.pool.QueryRow(ctx, `UPDATE webhook_endpoints SET
		sealed_previous = sealed_secret, previous_until = $4, sealed_secret = $3, updated_at = $5
		WHERE tenant_id = $1 AND id = $2 RETURNING `+endpointColumns, tenantID, id, sealed, previousUntil, now))
}

// claimDeliveries leases up to $4 due deliveries, at most $5 per endpoint
// and none of the endpoints in $6: the endpoints with due work in random
// order (so no tenant or endpoint goes first every time), and each
// endpoint's oldest due deliveries, locked with SKIP LOCKED so that two
// instances claiming at once get different ones. The claim moves
// next_attempt_at to the lease's end: if the instance dies, the delivery
// is due again then.
const claimDeliveries = `WITH picked AS (
	SELECT d.id FROM (
		SELECT e.id FROM webhook_endpoints e
		WHERE e.id <> ALL ($6::text[]) AND EXISTS (
			SELECT 1 FROM webhook_deliveries x WHERE x.endpoint_id = e.id AND x.state = 'pending' AND x.next_attempt_at <= $2)
		ORDER BY random() LIMIT $4
	) e
	CROSS JOIN LATERAL (
		SELECT x.id FROM webhook_deliveries x
		WHERE x.endpoint_id = e.id AND x.state = 'pending' AND x.next_attempt_at <= $2
		ORDER BY x.next_attempt_at, x.id LIMIT $5
		FOR UPDATE SKIP LOCKED
	) d
	LIMIT $4
)
UPDATE webhook_deliveries d SET claim = $1, next_attempt_at = $3
FROM picked, webhook_endpoints e
WHERE d.id = picked.id AND e.id = d.endpoint_id
RETURNING d.id, d.endpoint_id, d.tenant_id, d.msg_id, d.event_type, d.payload, d.state, d.attempts, d.created_at,
	e.url, e.sealed_secret, e.sealed_previous, coalesce(e.previous_until, 'epoch'::timestamptz), e.status`

// Claim implements webhooks.Store.
func (s *Store) Claim(ctx context.Context, claim string, now time.Time, lease time.Duration, n, perEndpoint int, skip []string) ([]webhooks.Claimed, error) {
	if skip == nil {
		skip = []string{}
	}
	rows, err := s.pool.Query(ctx, claimDeliveries, claim, now, now.Add(lease), n, perEndpoint, skip)
	if err != nil {
		return nil, mapErr(err, "claim webhook deliveries", "webhook delivery")
	}
	defer rows.Close()
	var out []webhooks.Claimed
	for rows.Next() {
		var c webhooks.Claimed
		if err := rows.Scan(&c.ID, &c.EndpointID, &c.TenantID, &c.MsgID, &c.EventType, &c.Payload, &c.State, &c.Attempts, &c.CreatedAt,
			&c.URL, &c.Sealed.Current, &c.Sealed.Previous, &c.Sealed.PreviousUntil, &c.EndpointStatus); err != nil {
			return nil, mapErr(err, "claim webhook deliveries", "webhook delivery")
		}
		out = append(out, c)
	}
	return out, mapErr(rows.Err(), "claim webhook deliveries", "webhook delivery")
}

// Finish implements webhooks.Store.
func (s *Store) Finish(ctx context.Context, id int64, claim string, a webhooks.Attempt, ok bool, retryAt *time.Time) error {
	state, next := webhooks.StateFailed, a.At
	switch {
	case ok:
		state = webhooks.StateDelivered
	case retryAt != nil:
		state, next = webhooks.StatePending, *retryAt
	}
	var status *int
	if a.Status != 0 {
		status = &a.Status
	}
	var delivered *time.Time
	if ok {
		delivered = &a.At
	}
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_deliveries SET state = $3, attempts = attempts + 1, next_attempt_at = $4,
		claim = NULL, last_status = $5, last_error = $6, last_latency_ms = $7, delivered_at = $8
		WHERE id = $1 AND claim = $2 AND state = 'pending'`,
		id, claim, state, next, status, optional(a.Error), a.Latency.Milliseconds(), delivered)
	if err != nil {
		return mapErr(err, "record webhook attempt", "webhook delivery")
	}
	if tag.RowsAffected() == 0 {
		return fault.New(fault.Conflict, "the delivery is no longer held by this claim")
	}
	return nil
}

// SetEndpointStatus implements webhooks.Store.
func (s *Store) SetEndpointStatus(ctx context.Context, endpointID, status string, now time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_endpoints SET status = $2::text,
		failing_since = CASE WHEN $2::text = 'failing' THEN $3::timestamptz ELSE NULL END
		WHERE id = $1 AND status <> $2::text`, endpointID, status, now)
	if err != nil {
		return false, mapErr(err, "set webhook endpoint status", "webhook endpoint")
	}
	return tag.RowsAffected() > 0, nil
}

// Deliveries implements webhooks.Store.
func (s *Store) Deliveries(ctx context.Context, tenantID, endpointID string, limit int) ([]webhooks.Delivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, endpoint_id, tenant_id, msg_id, event_type, state, attempts, created_at, next_attempt_at,
		coalesce(last_status, 0), coalesce(last_error, ''), coalesce(last_latency_ms, 0), delivered_at
		FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2 ORDER BY id DESC LIMIT $3`, tenantID, endpointID, limit)
	if err != nil {
		return nil, mapErr(err, "list webhook deliveries", "webhook delivery")
	}
	defer rows.Close()
	var out []webhooks.Delivery
	for rows.Next() {
		var d webhooks.Delivery
		var ms int64
		if err := rows.Scan(&d.ID, &d.EndpointID, &d.TenantID, &d.MsgID, &d.EventType, &d.State, &d.Attempts, &d.CreatedAt, &d.NextAttempt,
			&d.LastStatus, &d.LastError, &ms, &d.DeliveredAt); err != nil {
			return nil, mapErr(err, "list webhook deliveries", "webhook delivery")
		}
		d.LastLatency = time.Duration(ms) * time.Millisecond
		out = append(out, d)
	}
	return out, mapErr(rows.Err(), "list webhook deliveries", "webhook delivery")
}

// Redeliver implements webhooks.Store: the delivery is pending again, due
// now, with a fresh retry window; its webhook-id is unchanged.
func (s *Store) Redeliver(ctx context.Context, tenantID, endpointID string, id int64, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = $4, created_at = $4,
		claim = NULL, delivered_at = NULL WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3`, tenantID, endpointID, id, now)
	if err != nil {
		return mapErr(err, "redeliver webhook", "webhook delivery")
	}
	if tag.RowsAffected() == 0 {
		return fault.New(fault.NotFound, "webhook delivery not found")
	}
	return nil
}

// Enqueue implements webhooks.Store.
func (s *Store) Enqueue(ctx context.Context, tenantID, endpointID, msgID, eventType string, payload []byte, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO webhook_deliveries (endpoint_id, tenant_id, msg_id, event_type, payload, created_at, next_attempt_at)
		SELECT id, tenant_id, $3, $4, $5, $6, $6 FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2`,
		tenantID, endpointID, msgID, eventType, payload, now)
	if err != nil {
		return mapErr(err, "enqueue webhook", "webhook delivery")
	}
	if tag.RowsAffected() == 0 {
		return fault.New(fault.NotFound, "webhook endpoint not found")
	}
	return nil
}
