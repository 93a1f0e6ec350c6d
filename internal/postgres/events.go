package postgres

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/webhooks"
)

var _ events.Store = (*Store)(nil)

// Bounds of an events listing, as for every listing.
const (
	defaultEventsLimit = 50
	maxEventsLimit     = 200
)

var eventColumns = []string{"tenant_id", "type", "time", "user_id", "session_id", "ip", "user_agent", "actor", "detail",
	"device_ip", "device_user_agent", "device_label"}

// insertEvents inserts the rows of parallel arrays in array order (an
// empty optional text is NULL), skipping any whose eid is already stored, and, in the same statement, puts each
// event it inserted in the webhook outbox: one delivery per endpoint of
// the event's tenant that takes its type, due at the event's time. It
// answers how many deliveries it queued and the tenants of the batch that
// have an endpoint, as the statement saw them. A delivery whose payload is NULL (an event written without
// one) is a not-null violation, which fails the whole statement.
const insertEvents = `WITH u AS (
	SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
		$11::text[], $12::text[], $13::text[], $14::text[], $15::bytea[])
		WITH ORDINALITY AS u(eid, tenant_id, type, time, user_id, session_id, ip, user_agent, actor, detail,
			device_ip, device_user_agent, device_label, msg_id, payload, n)
), ins AS (
	INSERT INTO events (eid, tenant_id, type, time, user_id, session_id, ip, user_agent, actor, detail,
		device_ip, device_user_agent, device_label)
	SELECT eid, tenant_id, type, time, nullif(user_id, ''), nullif(session_id, ''), nullif(ip, ''), nullif(user_agent, ''), nullif(actor, ''),
		nullif(detail, '')::jsonb, nullif(device_ip, ''), nullif(device_user_agent, ''), nullif(device_label, '')
	FROM u ORDER BY n
	ON CONFLICT (eid) DO NOTHING
	RETURNING eid
), outbox AS (
	INSERT INTO webhook_deliveries (endpoint_id, tenant_id, msg_id, event_type, payload, created_at, next_attempt_at)
	SELECT w.id, u.tenant_id, u.msg_id, u.type, u.payload, u.time, u.time
	FROM ins JOIN u ON u.eid = ins.eid
	JOIN webhook_endpoints w ON w.tenant_id = u.tenant_id AND (cardinality(w.event_types) = 0 OR u.type = ANY (w.event_types))
	ORDER BY u.n, w.seq
	ON CONFLICT (endpoint_id, msg_id) DO NOTHING
	RETURNING 1
)
SELECT (SELECT count(*) FROM outbox), array(SELECT DISTINCT tenant_id FROM webhook_endpoints WHERE tenant_id = ANY ($2::text[]))`

// WriteEvents stores batch and its webhook deliveries (see insertEvents) in
// one statement, in order, all or nothing: one
// event PostgreSQL refuses (text that is not valid UTF-8 or holds NUL, see
// events.Event.Sanitized; a time out of timestamptz's range) fails the whole
// batch. It is idempotent: an event whose ID is already stored is skipped,
// so a retried batch is stored exactly once. An event without a valid ID
// (see events.NewID) gets a new one. Empty optional fields are stored as
// NULL; a zero Time is stored as the current time. Connection failures and
// timeouts are fault.Unavailable.
//
// Webhook payloads are built only for the events of tenants that may have
// an endpoint (hookGuess): when a tenant gained one since this Store last
// looked, the statement fails on the missing payload, having stored
// nothing, and the batch is written again with every payload. A write that
// queued deliveries calls the store's OnQueued.
func (s *Store) WriteEvents(ctx context.Context, batch []events.Event) error {
	if len(batch) == 0 {
		return nil
	}
	now := time.Now().UTC()
	n := len(batch)
	// Columns as pgx encodes them without reflection or a fallback format:
	// optional texts are "" for NULL (see insertEvents).
	var (
		eids                                                  = make([][16]byte, n)
		tenantIDs, types                                      = make([]string, n), make([]string, n)
		times                                                 = make([]time.Time, n)
		userIDs, sessionIDs, ips, userAgents, actors, details = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		devIPs, devUAs, devLabels                             = make([]string, n), make([]string, n), make([]string, n)
		msgIDs, payloads                                      = make([]string, n), make([][]byte, n)
	)
	need := s.hooked.need(batch)
	for i, e := range batch {
		msgIDs[i] = e.ID // ParseID takes only FormatID's form
		id, ok := events.ParseID(e.ID)
		if !ok {
			msgIDs[i] = events.NewID()
			id, _ = events.ParseID(msgIDs[i])
		}
		eids[i] = id
		tenantIDs[i], types[i], times[i] = e.TenantID, string(e.Type), e.Time
		if e.Time.IsZero() {
			times[i] = now
		}
		var err error
		if payloads[i], err = payloadOf(e, msgIDs[i], times[i], need[i]); err != nil {
			return fmt.Errorf("postgres: write events: event %d: %w", i, err)
		}
		userIDs[i], sessionIDs[i], ips[i], userAgents[i], actors[i] = e.UserID, e.SessionID, e.IP, e.UserAgent, e.Actor
		if d := e.Device; d != nil {
			devIPs[i], devUAs[i], devLabels[i] = d.IP, d.UserAgent, d.Label
		}
		if len(e.Detail) > 0 {
			b, err := json.Marshal(e.Detail)
			if err != nil {
				return fmt.Errorf("encode detail of event %d: %w", i, err)
			}
			details[i] = string(b)
		}
	}
	var queued int
	var hooked []string
	insert := func() error {
		return s.pool.QueryRow(ctx, insertEvents, eids, tenantIDs, types, times, userIDs, sessionIDs, ips, userAgents, actors, details,
			devIPs, devUAs, devLabels, msgIDs, payloads).Scan(&queued, &hooked)
	}
	err := insert()
	if missingPayload(err) {
		// A tenant gained an endpoint since this Store last looked; the
		// statement stored nothing. Again, with every payload.
		for i, e := range batch {
			if payloads[i] == nil {
				if payloads[i], err = payloadOf(e, msgIDs[i], times[i], true); err != nil {
					return fmt.Errorf("postgres: write events: event %d: %w", i, err)
				}
			}
		}
		err = insert()
	}
	if err != nil {
		return mapErr(err, fmt.Sprintf("write %d events", len(batch)), "event")
	}
	s.hooked.learn(tenantIDs, hooked)
	if queued > 0 && s.onQueued != nil {
		s.onQueued()
	}
	return nil
}

// payloadOf returns the webhook payload of e stored under msgID at t, or
// nil when it is not needed, and webhooks.PayloadOf's error either way
// (its only one: a time JSON cannot hold, a year past 9999).
func payloadOf(e events.Event, msgID string, t time.Time, needed bool) ([]byte, error) {
	e.ID, e.Time = msgID, t
	if needed {
		return webhooks.PayloadOf(e)
	}
	var stamp [64]byte
	_, err := t.UTC().AppendText(stamp[:0])
	return nil, err
}

// missingPayload reports whether err is the statement of insertEvents
// failing on a delivery without its payload.
func missingPayload(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeNotNullViolation &&
		pgErr.TableName == "webhook_deliveries" && pgErr.ColumnName == "payload"
}

// maxHookless bounds the tenants a hookGuess remembers as having no
// webhook endpoint; past it, it forgets them all (and builds their
// payloads until the next batch of each tells again).
const maxHookless = 100_000

// hookGuess is what a Store last saw of which tenants have no webhook
// endpoint. It saves building payloads that no delivery takes; it is never
// trusted for a delivery, which needs its payload (see WriteEvents).
type hookGuess struct {
	mu       sync.Mutex
	hookless map[string]bool
}

// need reports, per event of batch, whether its payload must be built:
// whether its tenant is not known to have no endpoint.
func (g *hookGuess) need(batch []events.Event) []bool {
	need := make([]bool, len(batch))
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, e := range batch {
		need[i] = !g.hookless[e.TenantID]
	}
	return need
}

// learn records what a statement saw: of tenantIDs, those in hooked have
// an endpoint, the others none.
func (g *hookGuess) learn(tenantIDs, hooked []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.hookless == nil || len(g.hookless) >= maxHookless {
		g.hookless = map[string]bool{}
	}
	for _, id := range tenantIDs {
		if slices.Contains(hooked, id) {
			delete(g.hookless, id)
		} else {
			g.hookless[id] = true
		}
	}
}

// gained records that tenantID has an endpoint.
func (g *hookGuess) gained(tenantID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.hookless, tenantID)
}

// uuidText is b in PostgreSQL's uuid text form.
func uuidText(b [16]byte) string {
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ListEvents returns the events of f.TenantID, always and only that tenant,
// newest first (by time, then the order stored), optionally only those of type f.Type and
// of user f.UserID, after f.Cursor; at most f.Limit (default 50, at most
// 200). The second result is the cursor of the next page, or "" when there
// is none: it holds only the time and id of the page's last event, so it
// says nothing of other tenants. A cursor this method did not return is
// fault.InvalidRequest naming "cursor".
func (s *Store) ListEvents(ctx context.Context, f events.Filter) ([]events.Event, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultEventsLimit
	}
	if limit > maxEventsLimit {
		limit = maxEventsLimit
	}
	before, err := decodeEventCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}

	// The query is built from the filters actually given, so that each shape
	// gets its own plan and uses its index.
	where := []string{"tenant_id = $1"}
	args := []any{f.TenantID}
	add := func(cond string, v ...any) {
		for _, a := range v {
			args = append(args, a)
			cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(args)), 1)
		}
		where = append(where, cond)
	}
	if f.Type != "" {
		add("type = ?", string(f.Type))
	}
	if f.UserID != "" {
		add("user_id = ?", f.UserID)
	}
	if before != nil {
		// Ties in time keep the order stored; the cursor names its event by
		// eid, so the internal insert number never leaves the database.
		add("(time, id) < (?, coalesce((SELECT id FROM events WHERE tenant_id = $1 AND eid = ? AND time = ?), 0))",
			before.time, uuidText(before.id), before.time)
	}
	args = append(args, limit+1)
	sql := `SELECT eid, ` + strings.Join(eventColumns, ", ") + ` FROM events WHERE ` +
		strings.Join(where, " AND ") + ` ORDER BY time DESC, id DESC LIMIT $` + strconv.Itoa(len(args))

	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, "", mapErr(err, "list events", "event")
	}
	defer rows.Close()
	out := make([]events.Event, 0, limit)
	var last [16]byte
	for rows.Next() {
		if len(out) == limit {
			return out, encodeEventCursor(out[len(out)-1].Time, last), nil
		}
		var (
			e                                       events.Event
			eid                                     [16]byte
			userID, sessionID, ip, userAgent, actor *string
			devIP, devUA, devLabel                  *string
			detail                                  []byte
		)
		if err := rows.Scan(&eid, &e.TenantID, &e.Type, &e.Time, &userID, &sessionID, &ip, &userAgent, &actor, &detail,
			&devIP, &devUA, &devLabel); err != nil {
			return nil, "", mapErr(err, "list events", "event")
		}
		e.ID, last = events.FormatID(eid), eid
		e.Time = e.Time.UTC()
		e.UserID, e.SessionID, e.IP, e.UserAgent, e.Actor = deref(userID), deref(sessionID), deref(ip), deref(userAgent), deref(actor)
		e.Device = events.NewDevice(deref(devIP), deref(devUA), deref(devLabel))
		if detail != nil {
			if err := json.Unmarshal(detail, &e.Detail); err != nil {
				return nil, "", fmt.Errorf("postgres: list events: decode detail of event %s: %w", e.ID, err)
			}
		}
		out = append(out, e.ForTenant())
	}
	if err := rows.Err(); err != nil {
		return nil, "", mapErr(err, "list events", "event")
	}
	return out, "", nil
}

// eventPosition is where a page of events ends: its last event's time and
// id.
type eventPosition struct {
	time time.Time
	id   [16]byte
}

// encodeEventCursor returns the opaque cursor after the event at t with id:
// base64url of the events kind letter, t in Unix microseconds, "." and the
// id's hex.
func encodeEventCursor(t time.Time, id [16]byte) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorEvents + strconv.FormatInt(t.UnixMicro(), 10) + "." + hex.EncodeToString(id[:])))
}

// decodeEventCursor returns the position in cursor, nil for "", and a
// fault.InvalidRequest error naming "cursor" when it is not one of ours.
func decodeEventCursor(cursor string) (*eventPosition, error) {
	if cursor == "" {
		return nil, nil
	}
	bad := fault.Invalid("cursor", "is not a cursor returned by this listing")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, bad
	}
	rest, ok := strings.CutPrefix(string(raw), cursorEvents)
	if !ok {
		return nil, bad
	}
	micros, idHex, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, bad
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	if err != nil || strconv.FormatInt(us, 10) != micros {
		return nil, bad
	}
	id, err := hex.DecodeString(idHex)
	if err != nil || len(id) != 16 || hex.EncodeToString(id) != idHex {
		return nil, bad
	}
	return &eventPosition{time: time.UnixMicro(us).UTC(), id: [16]byte(id)}, nil
}

// optional maps "" to nil (SQL NULL in an array).
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// pruneLock is the advisory lock that lets one instance at a time prune.
const pruneLock = "sessiond.prune_events"

// PruneEvents deletes events older than before, batch rows per statement so
// that no statement holds locks for long, and returns how many it deleted;
// finished webhook deliveries older than before go too (not counted).
// Only one instance prunes at a time: if another holds the lock, it returns
// (0, nil) at once.
func (s *Store) PruneEvents(ctx context.Context, before time.Time, batch int) (int64, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, mapErr(err, "prune events", "event")
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext($1))`, pruneLock).Scan(&locked); err != nil {
		return 0, mapErr(err, "prune events", "event")
	}
	if !locked {
		return 0, nil
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext($1))`, pruneLock)
	}()
	var total int64
	for {
		tag, err := conn.Exec(ctx, `DELETE FROM events WHERE id IN (
			SELECT id FROM events WHERE time < $1 ORDER BY time LIMIT $2)`, before, batch)
		if err != nil {
			return total, mapErr(err, "prune events", "event")
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(batch) {
			break
		}
	}
	// The webhook outbox keeps a finished delivery (delivered, or given up)
	// as long as the event it carried; a pending one stays until it ends.
	for {
		tag, err := conn.Exec(ctx, `DELETE FROM webhook_deliveries WHERE id IN (
			SELECT id FROM webhook_deliveries WHERE state <> 'pending' AND created_at < $1 ORDER BY created_at LIMIT $2)`, before, batch)
		if err != nil {
			return total, mapErr(err, "prune webhook deliveries", "webhook delivery")
		}
		if tag.RowsAffected() < int64(batch) {
			return total, nil
		}
	}
}
