package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/events"
)

var _ events.Store = (*Store)(nil)

// Bounds of an events listing, as for every listing.
const (
	defaultEventsLimit = 50
	maxEventsLimit     = 200
)

var eventColumns = []string{"tenant_id", "type", "time", "user_id", "session_id", "ip", "user_agent", "actor", "detail"}

// WriteEvents stores batch in one round trip (COPY), all or nothing: one
// event PostgreSQL refuses (text that is not valid UTF-8 or holds NUL, see
// events.Event.Sanitized; a time out of timestamptz's range) fails the whole
// batch. Empty optional fields are stored as NULL; a zero Time is stored as
// the current time. The events' IDs are assigned by the database and ignored
// here.
func (s *Store) WriteEvents(ctx context.Context, batch []events.Event) error {
	if len(batch) == 0 {
		return nil
	}
	now := time.Now().UTC()
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"events"}, eventColumns,
		pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
			e := batch[i]
			at := e.Time
			if at.IsZero() {
				at = now
			}
			var detail any
			if len(e.Detail) > 0 {
				b, err := json.Marshal(e.Detail)
				if err != nil {
					return nil, fmt.Errorf("encode detail of event %d: %w", i, err)
				}
				detail = b
			}
			return []any{e.TenantID, string(e.Type), at, nullable(e.UserID), nullable(e.SessionID),
				nullable(e.IP), nullable(e.UserAgent), nullable(e.Actor), detail}, nil
		}))
	return mapErr(err, fmt.Sprintf("write %d events", len(batch)), "event")
}

// ListEvents returns the events of f.TenantID, always and only that tenant,
// newest first, optionally only those of type f.Type and of user f.UserID,
// after f.Cursor; at most f.Limit (default 50, at most 200). The second
// result is the cursor of the next page, or "" when there is none. A cursor
// this method did not return is fault.InvalidRequest naming "cursor".
func (s *Store) ListEvents(ctx context.Context, f events.Filter) ([]events.Event, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultEventsLimit
	}
	if limit > maxEventsLimit {
		limit = maxEventsLimit
	}
	before, err := decodeCursor(cursorEvents, f.Cursor)
	if err != nil {
		return nil, "", err
	}

	// The query is built from the filters actually given, so that each shape
	// gets its own plan and uses its index.
	where := []string{"tenant_id = $1"}
	args := []any{f.TenantID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Type != "" {
		add("type = ?", string(f.Type))
	}
	if f.UserID != "" {
		add("user_id = ?", f.UserID)
	}
	if before > 0 {
		add("id < ?", before)
	}
	args = append(args, limit+1)
	sql := `SELECT id, ` + strings.Join(eventColumns, ", ") + ` FROM events WHERE ` +
		strings.Join(where, " AND ") + ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(args))

	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, "", mapErr(err, "list events", "event")
	}
	defer rows.Close()
	out := make([]events.Event, 0, limit)
	for rows.Next() {
		if len(out) == limit {
			return out, encodeCursor(cursorEvents, out[len(out)-1].ID), nil
		}
		var (
			e                                       events.Event
			userID, sessionID, ip, userAgent, actor *string
			detail                                  []byte
		)
		if err := rows.Scan(&e.ID, &e.TenantID, &e.Type, &e.Time, &userID, &sessionID, &ip, &userAgent, &actor, &detail); err != nil {
			return nil, "", mapErr(err, "list events", "event")
		}
		e.Time = e.Time.UTC()
		e.UserID, e.SessionID, e.IP, e.UserAgent, e.Actor = deref(userID), deref(sessionID), deref(ip), deref(userAgent), deref(actor)
		if detail != nil {
			if err := json.Unmarshal(detail, &e.Detail); err != nil {
				return nil, "", fmt.Errorf("postgres: list events: decode detail of event %d: %w", e.ID, err)
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", mapErr(err, "list events", "event")
	}
	return out, "", nil
}

// nullable maps "" to SQL NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
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
// that no statement holds locks for long, and returns how many it deleted.
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
			return total, nil
		}
	}
}
