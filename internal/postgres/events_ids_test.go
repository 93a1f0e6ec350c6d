package postgres_test

import (
	"context"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/migrations"
)

func TestEventsStoredBeforeMigration0004StillListWithIDs(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	// Back to the schema of version 3, with rows written as sessiond wrote
	// them then (the database numbers them).
	// Every later migration is undone, newest first.
	downs, err := fs.Glob(migrations.FS, "*.down.sql")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(downs)
	slices.Reverse(downs)
	for _, name := range downs {
		if name < "0004" {
			break
		}
		down, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, string(down)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := pool.Exec(ctx, `UPDATE schema_migrations SET version = 3`); err != nil {
		t.Fatal(err)
	}
	base := testNow().Add(-time.Hour)
	for i := range 30 {
		actor, ip, ua := "api_key:ak_x", "192.0.2.1", "app/1"
		if i == 7 {
			actor, ip, ua = "operator", "198.51.100.9", "curl/8 (the operator)"
		}
		if _, err := pool.Exec(ctx, `INSERT INTO events (tenant_id, type, time, session_id, actor, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			"tn_old", "session.created", base.Add(time.Duration(i)*time.Second), fmt.Sprintf("s%02d", i), actor, ip, ua); err != nil {
			t.Fatal(err)
		}
	}

	if err := postgres.Migrate(ctx, pool, postgres.Up); err != nil {
		t.Fatal(err)
	}
	s := postgres.NewStore(pool)
	got := listAll(t, s, events.Filter{TenantID: "tn_old", Limit: 7}, 7)
	if len(got) != 30 {
		t.Fatalf("listed %d of the 30 older events", len(got))
	}
	ids := map[string]bool{}
	for i, e := range got {
		if _, ok := events.ParseID(e.ID); !ok || ids[e.ID] {
			t.Fatalf("event %d has id %q: want a unique ev_ id", i, e.ID)
		}
		ids[e.ID] = true
		if want := fmt.Sprintf("s%02d", 29-i); e.SessionID != want {
			t.Fatalf("event %d is %s, want %s (newest first)", i, e.SessionID, want)
		}
		if e.Actor == "operator" && (e.IP != "" || e.UserAgent != "") {
			t.Errorf("an older operator event still shows the operator's IP %q and user agent %q", e.IP, e.UserAgent)
		}
	}
	// A new event of the same tenant lists with them.
	if err := s.WriteEvents(ctx, []events.Event{{ID: events.NewID(), TenantID: "tn_old", Type: events.SessionRevoked, Time: testNow()}}); err != nil {
		t.Fatal(err)
	}
	if page, _, err := s.ListEvents(ctx, events.Filter{TenantID: "tn_old", Limit: 1}); err != nil || len(page) != 1 || page[0].Type != events.SessionRevoked {
		t.Fatalf("newest after the migration: %+v, %v", page, err)
	}
}

func TestEventIDsAndCursorsSayNothingOfOtherTenants(t *testing.T) {
	ctx := context.Background()
	base := testNow()
	var mine []events.Event // tenant B's events, the same in both deployments
	for i := range 12 {
		mine = append(mine, events.Event{ID: events.NewID(), TenantID: "tn_b", Type: events.SessionCreated, Time: base.Add(time.Duration(i) * time.Millisecond)})
	}
	// pages lists tenant B two events a page, with each page's cursor, in a
	// deployment where tenant A writes others events between each of B's.
	pages := func(others int) ([]events.Event, []string) {
		s := mustStore(t)
		for i, e := range mine {
			var batch []events.Event
			for j := range others {
				batch = append(batch, events.Event{TenantID: "tn_a", Type: events.VerifyRejected, Time: base.Add(time.Duration(i*others+j) * time.Microsecond)})
			}
			if err := s.WriteEvents(ctx, append(batch, e)); err != nil {
				t.Fatal(err)
			}
		}
		var list []events.Event
		var cursors []string
		f := events.Filter{TenantID: "tn_b", Limit: 2}
		for {
			page, next, err := s.ListEvents(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			list = append(list, page...)
			if next == "" {
				return list, cursors
			}
			cursors = append(cursors, next)
			f.Cursor = next
		}
	}
	alone, alonePages := pages(0)
	busy, busyPages := pages(25)
	if len(alone) != len(mine) || !reflect.DeepEqual(alone, busy) || !reflect.DeepEqual(alonePages, busyPages) {
		t.Fatalf("tenant B's ids or cursors depend on tenant A's volume:\nalone %v %q\nbusy  %v %q", ids(alone), alonePages, ids(busy), busyPages)
	}
	for i, e := range alone {
		if want := mine[len(mine)-1-i].ID; e.ID != want {
			t.Fatalf("event %d has id %s, want the id it was recorded with, %s", i, e.ID, want)
		}
	}
}

func ids(list []events.Event) []string {
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = e.ID
	}
	return out
}

func TestWritingAnEventTwiceStoresItOnce(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t)
	batch := []events.Event{
		{ID: events.NewID(), TenantID: "tn_a", Type: events.SessionCreated, Time: testNow()},
		{ID: events.NewID(), TenantID: "tn_a", Type: events.SessionRevoked, Time: testNow()},
	}
	for range 2 {
		if err := s.WriteEvents(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	more := append([]events.Event{{ID: events.NewID(), TenantID: "tn_a", Type: events.KeyRotated, Time: testNow()}}, batch...)
	if err := s.WriteEvents(ctx, more); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.ListEvents(ctx, events.Filter{TenantID: "tn_a"}); err != nil || len(got) != 3 {
		t.Fatalf("stored %d events, %v; want 3, each once", len(got), err)
	}
}

func TestEventsOfTheSameTimeListInTheOrderStoredAcrossPages(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t)
	at := testNow()
	var batch []events.Event
	for i := range 10 {
		batch = append(batch, events.Event{ID: events.NewID(), TenantID: "tn_a", Type: events.SessionCreated, Time: at, SessionID: fmt.Sprintf("s%d", i)})
	}
	batch = append(batch, events.Event{ID: events.NewID(), TenantID: "tn_a", Type: events.SessionCreated, Time: at.Add(-time.Second), SessionID: "older"})
	if err := s.WriteEvents(ctx, batch); err != nil {
		t.Fatal(err)
	}
	got := listAll(t, s, events.Filter{TenantID: "tn_a", Limit: 3}, 3)
	var order []string
	for _, e := range got {
		order = append(order, e.SessionID)
	}
	want := []string{"s9", "s8", "s7", "s6", "s5", "s4", "s3", "s2", "s1", "s0", "older"}
	if !reflect.DeepEqual(order, want) {
		t.Fatalf("listed %q, want %q", order, want)
	}
}
