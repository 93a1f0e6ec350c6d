package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/webhooks"
)

// listedAfter reports whether a may come after b in a listing: not newer.
// (Events of the same time keep the order stored.)
func listedAfter(a, b events.Event) bool { return !a.Time.After(b.Time) }

func asFault(err error, target **fault.Error) bool { return errors.As(err, target) }

// encodeEventsCursorLike returns a real events cursor, which other listings
// must refuse.
func encodeEventsCursorLike(tb testing.TB, s *postgres.Store) string {
	tb.Helper()
	ctx := context.Background()
	batch := []events.Event{
		{TenantID: "tn_cursor", Type: events.SessionCreated, Time: testNow()},
		{TenantID: "tn_cursor", Type: events.SessionCreated, Time: testNow()},
	}
	if err := s.WriteEvents(ctx, batch); err != nil {
		tb.Fatal(err)
	}
	_, next, err := s.ListEvents(ctx, events.Filter{TenantID: "tn_cursor", Limit: 1})
	if err != nil || next == "" {
		tb.Fatalf("ListEvents: next %q, err %v", next, err)
	}
	return next
}

// listAll pages through a listing and returns every event, checking that each
// page is full but the last.
func listAll(tb testing.TB, s *postgres.Store, f events.Filter, pageSize int) []events.Event {
	tb.Helper()
	var out []events.Event
	for {
		page, next, err := s.ListEvents(context.Background(), f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		if len(page) != pageSize {
			tb.Fatalf("a page before the last has %d events, want %d", len(page), pageSize)
		}
		f.Cursor = next
	}
}

func TestEventsBatchWriteAndPagingNewestFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustStore(t)
	base := testNow()
	types := []events.Type{events.SessionCreated, events.SessionRevoked, events.VerifyRejected, events.KeyRotated}
	users := []string{"alice", "bob", "carol", "dave", "erin"}

	const n = 1000
	batch := make([]events.Event, 0, n+50)
	for i := range n {
		e := events.Event{
			TenantID: "tn_a", Type: types[i%len(types)], Time: base.Add(time.Duration(i) * time.Millisecond),
			UserID: users[i%len(users)], SessionID: fmt.Sprintf("sab_%d", i), IP: "203.0.113.7", UserAgent: "curl/8",
			Actor: "api_key:ak_x", Detail: map[string]string{"n": fmt.Sprint(i)},
		}
		if i%10 == 0 { // some events carry only what is required
			e.UserID, e.SessionID, e.IP, e.UserAgent, e.Actor, e.Detail = "", "", "", "", "", nil
		}
		batch = append(batch, e)
	}
	for i := range 50 { // another tenant's events, interleaved by id
		batch = append(batch, events.Event{TenantID: "tn_b", Type: events.SessionCreated, Time: base, UserID: "alice", Detail: map[string]string{"b": fmt.Sprint(i)}})
	}
	if err := s.WriteEvents(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteEvents(ctx, nil); err != nil {
		t.Fatalf("an empty batch: %v", err)
	}

	t.Run("paging through all of a tenant's events returns each once, newest first", func(t *testing.T) {
		got := listAll(t, s, events.Filter{TenantID: "tn_a", Limit: 200}, 200)
		if len(got) != n {
			t.Fatalf("listed %d events, want %d", len(got), n)
		}
		for i, e := range got {
			src := batch[n-1-i] // written in order, so ids follow the batch
			if i > 0 && !listedAfter(e, got[i-1]) {
				t.Fatalf("event %d (%v, %s) is not older than the one before (%v, %s)", i, e.Time, e.ID, got[i-1].Time, got[i-1].ID)
			}
			src.ID = e.ID
			if !reflect.DeepEqual(e, src) {
				t.Fatalf("event %d = %+v, want %+v", i, e, src)
			}
		}
	})
	t.Run("the default page size is 50", func(t *testing.T) {
		page, next, err := s.ListEvents(ctx, events.Filter{TenantID: "tn_a"})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != 50 || next == "" {
			t.Fatalf("got %d events, next %q", len(page), next)
		}
	})
	t.Run("a page size over 200 is cut to 200", func(t *testing.T) {
		page, _, err := s.ListEvents(ctx, events.Filter{TenantID: "tn_a", Limit: 5000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != 200 {
			t.Fatalf("got %d events, want 200", len(page))
		}
	})

	count := func(keep func(e events.Event) bool) int {
		c := 0
		for _, e := range batch[:n] {
			if keep(e) {
				c++
			}
		}
		return c
	}
	for _, tc := range []struct {
		name   string
		filter events.Filter
		keep   func(e events.Event) bool
	}{
		{"filtering by type returns only that type", events.Filter{TenantID: "tn_a", Type: events.VerifyRejected, Limit: 37},
			func(e events.Event) bool { return e.Type == events.VerifyRejected }},
		{"filtering by user returns only that user's events", events.Filter{TenantID: "tn_a", UserID: "bob", Limit: 13},
			func(e events.Event) bool { return e.UserID == "bob" }},
		{"filtering by type and user returns only events matching both", events.Filter{TenantID: "tn_a", Type: events.SessionCreated, UserID: "alice", Limit: 7},
			func(e events.Event) bool { return e.Type == events.SessionCreated && e.UserID == "alice" }},
		{"another tenant sees only its own events", events.Filter{TenantID: "tn_b", UserID: "alice", Limit: 20},
			nil},
		{"a tenant with no events lists nothing", events.Filter{TenantID: "tn_c"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := listAll(t, s, tc.filter, tc.filter.Limit)
			want := 0
			switch {
			case tc.keep != nil:
				want = count(tc.keep)
			case tc.filter.TenantID == "tn_b":
				want = 50
			}
			if len(got) != want {
				t.Fatalf("listed %d events, want %d", len(got), want)
			}
			for i, e := range got {
				if e.TenantID != tc.filter.TenantID || (tc.keep != nil && !tc.keep(e)) || (i > 0 && !listedAfter(e, got[i-1])) {
					t.Fatalf("event %d = %+v does not match the filter in order", i, e)
				}
			}
		})
	}

	t.Run("a malformed cursor is an invalid request naming the cursor", func(t *testing.T) {
		for _, c := range []string{"garbage!", "ZS0x", "ZTA", "dDE", "e1"} {
			_, _, err := s.ListEvents(ctx, events.Filter{TenantID: "tn_a", Cursor: c})
			wantCode(t, err, fault.InvalidRequest)
			var fe *fault.Error
			if !asFault(err, &fe) || len(fe.Fields) != 1 || fe.Fields[0].Field != "cursor" {
				t.Fatalf("cursor %q: error %v does not name the cursor field", c, err)
			}
		}
	})
}

func TestPruneEventsDeletesOnlyOldOnesAndOneInstanceAtATime(t *testing.T) {
	pool := pgtest.New(t)
	s := postgres.NewStore(pool)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	var batch []events.Event
	for i := range 250 {
		at := now.Add(-100 * 24 * time.Hour) // old
		if i%5 == 0 {
			at = now.Add(-time.Hour) // recent
		}
		batch = append(batch, events.Event{TenantID: "tn_aaaaaaaaaaaaaaaa", Type: events.SessionCreated, Time: at})
	}
	if err := s.WriteEvents(ctx, batch); err != nil {
		t.Fatal(err)
	}

	// Another instance is pruning: this one skips.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext('sessiond.prune_events'))`); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneEvents(ctx, now.Add(-90*24*time.Hour), 30); err != nil || n != 0 {
		t.Fatalf("prune while another instance holds the lock: %d, %v", n, err)
	}
	_, _ = conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtext('sessiond.prune_events'))`)
	conn.Release()

	n, err := s.PruneEvents(ctx, now.Add(-90*24*time.Hour), 30) // several batches
	if err != nil || n != 200 {
		t.Fatalf("pruned %d, %v; want the 200 old events", n, err)
	}
	left, _, err := s.ListEvents(ctx, events.Filter{TenantID: "tn_aaaaaaaaaaaaaaaa", Limit: 200})
	if err != nil || len(left) != 50 {
		t.Fatalf("%d events left, %v; want the 50 recent ones", len(left), err)
	}
	for _, e := range left {
		if e.Time.Before(now.Add(-2 * time.Hour)) {
			t.Fatalf("an old event survived: %v", e.Time)
		}
	}
}

// The webhook outbox does not grow for ever: pruning deletes the finished
// deliveries (delivered or given up) older than the retention, and keeps
// pending ones whatever their age and recent ones whatever their state.
func TestPruneEventsDeletesOldFinishedWebhookDeliveries(t *testing.T) {
	pool := pgtest.New(t)
	s := postgres.NewStore(pool)
	ctx := context.Background()
	now := testNow()
	f := mustCreateTenant(t, s, mustSealer(t), "Hooks", now)
	ep := webhooks.Endpoint{ID: "wh_aaaaaaaaaaaaaaaa", TenantID: f.Tenant.ID, URL: "https://hooks.example.com/in", EventTypes: []string{}, CreatedAt: now}
	if err := s.CreateEndpoint(ctx, ep, []byte("sealed"), 10); err != nil {
		t.Fatal(err)
	}
	old, recent := now.Add(-100*24*time.Hour), now.Add(-time.Hour)
	rows := []struct {
		state string
		at    time.Time
		kept  bool
	}{{"delivered", old, false}, {"failed", old, false}, {"pending", old, true}, {"delivered", recent, true}, {"failed", recent, true}}
	for i, r := range rows {
		_, err := pool.Exec(ctx, `INSERT INTO webhook_deliveries (endpoint_id, tenant_id, msg_id, event_type, payload, state, created_at, next_attempt_at)
			VALUES ($1, $2, $3, 'session.created', '{}', $4, $5, $5)`, ep.ID, f.Tenant.ID, fmt.Sprintf("ev_%d", i), r.state, r.at)
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PruneEvents(ctx, now.Add(-90*24*time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE msg_id = $1`, fmt.Sprintf("ev_%d", i)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if (n == 1) != r.kept {
			t.Errorf("%s delivery of %v: %d rows left, want kept=%v", r.state, r.at, n, r.kept)
		}
	}
}

// WriteEvents builds webhook payloads only for tenants that may have an
// endpoint, but no delivery is ever lost to that: a tenant that gained an
// endpoint on another instance since this Store last looked gets its
// deliveries (with their payloads) from its very next batch, stored once.
// Only a write that queued deliveries calls OnQueued.
func TestWriteEventsDeliversForEndpointsCreatedElsewhere(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	kicks := 0
	s, elsewhere := postgres.NewStore(pool, postgres.OnQueued(func() { kicks++ })), postgres.NewStore(pool)
	ctx := context.Background()
	now := testNow()
	sealer := mustSealer(t)
	hooked, quiet := mustCreateTenant(t, s, sealer, "Hooked", now), mustCreateTenant(t, s, sealer, "Quiet", now)
	event := func(tenantID string) events.Event {
		return events.Event{ID: events.NewID(), TenantID: tenantID, Type: events.SessionCreated, Time: now,
			UserID: "alice", SessionID: "sab_x", Device: events.NewDevice("203.0.113.7", "curl/8", "curl 8"), Actor: "api_key:ak_x"}
	}
	write := func(batch ...events.Event) {
		t.Helper()
		if err := s.WriteEvents(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	// deliveries returns the payloads queued for e.
	deliveries := func(e events.Event) [][]byte {
		t.Helper()
		rows, _ := pool.Query(ctx, `SELECT payload FROM webhook_deliveries WHERE msg_id = $1 ORDER BY id`, e.ID)
		out, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	stored := func(e events.Event) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE tenant_id = $1 AND session_id = 'sab_x'`, e.TenantID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	first := event(hooked.Tenant.ID)
	write(first, event(quiet.Tenant.ID)) // s now knows both have no endpoint
	if d := deliveries(first); len(d) != 0 || kicks != 0 {
		t.Fatalf("%d deliveries and %d calls of OnQueued without an endpoint", len(d), kicks)
	}

	ep := webhooks.Endpoint{ID: "wh_bbbbbbbbbbbbbbbb", TenantID: hooked.Tenant.ID, URL: "https://hooks.example.com/in", EventTypes: []string{}, CreatedAt: now}
	if err := elsewhere.CreateEndpoint(ctx, ep, []byte("sealed"), 10); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the batch that finds the endpoint, and the next
		e, other := event(hooked.Tenant.ID), event(quiet.Tenant.ID)
		write(other, e)
		want, err := webhooks.PayloadOf(e)
		if err != nil {
			t.Fatal(err)
		}
		if d := deliveries(e); len(d) != 1 || string(d[0]) != string(want) {
			t.Fatalf("batch %d: deliveries %q, want one of %s", i, d, want)
		}
		if d := deliveries(other); len(d) != 0 {
			t.Fatalf("batch %d: %d deliveries for the tenant without an endpoint", i, len(d))
		}
		if kicks != i+1 {
			t.Fatalf("batch %d: OnQueued called %d times in all", i, kicks)
		}
	}
	if n, m := stored(first), stored(event(quiet.Tenant.ID)); n != 3 || m != 3 {
		t.Fatalf("stored %d and %d events, want each once (3)", n, m)
	}
	write(event(quiet.Tenant.ID))
	if kicks != 2 {
		t.Fatalf("a batch that queued nothing called OnQueued (%d calls in all)", kicks)
	}

	if err := elsewhere.DeleteEndpoint(ctx, hooked.Tenant.ID, ep.ID); err != nil {
		t.Fatal(err)
	}
	write(event(hooked.Tenant.ID)) // learns it has none again
	ep.ID = "wh_cccccccccccccccc"
	if err := elsewhere.CreateEndpoint(ctx, ep, []byte("sealed"), 10); err != nil {
		t.Fatal(err)
	}
	e := event(hooked.Tenant.ID)
	write(e)
	if d := deliveries(e); len(d) != 1 {
		t.Fatalf("after the endpoint came back: %d deliveries, want 1", len(d))
	}
}
