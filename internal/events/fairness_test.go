package events_test

import (
	"context"
	"log/slog"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/testkit"
)

// listAll returns every stored event of tenantID (and of typ, if set),
// newest first.
func listAll(t *testing.T, store events.Store, tenantID string, typ events.Type) []events.Event {
	t.Helper()
	var out []events.Event
	f := events.Filter{TenantID: tenantID, Type: typ, Limit: 200}
	for {
		page, next, err := store.ListEvents(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		f.Cursor = next
	}
}

func TestOneTenantsBurstNeverDropsAnotherTenantsEvents(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		queue, tenantQueue   int
		wantFloodReason      events.DropReason
		wantFloodStoredAtMin int
	}{
		{"the flooding tenant is held to its own share", 1000, 300, events.DropTenantQueueFull, 300},
		{"with shares adding up to more than the queue, the tenant holding the most loses", 1000, 1000, events.DropQueueFull, 800},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &gatedStore{Store: postgres.NewStore(pgtest.New(t)), gate: make(chan struct{})}
			w := events.NewWriter(store, slog.New(slog.NewJSONHandler(&testkit.Buffer{}, nil)), events.WriterOptions{
				QueueSize: tc.queue, TenantQueueSize: tc.tenantQueue, BatchSize: 100, Interval: time.Hour,
			})
			ctx, cancel := context.WithCancel(context.Background())
			go w.Run(ctx)
			t.Cleanup(func() { cancel(); <-w.Done() })

			// The database is stalled while tenant A logs out 20,000 sessions
			// and tenant B creates 150, in the same moments.
			const flood, n = 20000, 150
			for i := range flood {
				w.Record(events.Event{TenantID: "tn_a", Type: events.SessionRevoked, SessionID: "a" + strconv.Itoa(i)})
				if i%(flood/n) == 0 && i/(flood/n) < n {
					w.Record(events.Event{TenantID: "tn_b", Type: events.SessionCreated, SessionID: "b" + strconv.Itoa(i)})
				}
			}
			close(store.gate)
			flush(t, w)

			if got := listAll(t, store, "tn_b", ""); len(got) != n {
				t.Errorf("stored %d of tenant B's %d events", len(got), n)
			}
			a := listAll(t, store, "tn_a", "")
			var dropped int64
			reasons := map[events.DropReason]bool{}
			for _, d := range w.Drops() {
				if d.TenantID != "tn_a" {
					t.Errorf("tenant %s lost %d events (%s)", d.TenantID, d.Count, d.Reason)
				}
				dropped += d.Count
				reasons[d.Reason] = true
			}
			if !reasons[tc.wantFloodReason] {
				t.Errorf("tenant A's drops %+v have no %s", w.Drops(), tc.wantFloodReason)
			}
			if len(a)+int(dropped) != flood || len(a) < tc.wantFloodStoredAtMin {
				t.Errorf("tenant A: stored %d, dropped %d of %d", len(a), dropped, flood)
			}
		})
	}
}

func TestATenantOverItsCeilingIsSummarisedOncePerMinute(t *testing.T) {
	store := postgres.NewStore(pgtest.New(t))
	start := testkit.NewClock().Now().Truncate(time.Minute)
	clock := testkit.NewClockAt(start)
	w := events.NewWriter(store, slog.New(slog.NewJSONHandler(&testkit.Buffer{}, nil)), events.WriterOptions{
		Interval: time.Hour, Now: clock.Now,
		EventsPerMinute: func(tenantID string) int {
			if tenantID == "tn_a" {
				return 10
			}
			return 0 // unlimited
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	go w.Run(ctx)
	t.Cleanup(func() { cancel(); <-w.Done() })

	// Minute 1: A records 4 creations, then 100 forged verifies and 6
	// more creations; B records 200 events.
	record := func(tenant string, typ events.Type, n int) {
		for range n {
			w.Record(events.Event{TenantID: tenant, Type: typ})
		}
	}
	record("tn_a", events.SessionCreated, 4)
	record("tn_a", events.VerifyRejected, 100)
	record("tn_b", events.VerifyRejected, 200)
	clock.Advance(30 * time.Second)
	record("tn_a", events.SessionCreated, 6)
	flush(t, w)
	if got := listAll(t, store, "tn_a", events.EventsSuppressed); len(got) != 0 {
		t.Fatalf("a summary before the minute ended: %+v", got)
	}

	// Minute 2: A records 12 more, 2 over the ceiling.
	clock.Advance(time.Minute)
	record("tn_a", events.SessionRevoked, 12)
	clock.Advance(time.Minute)
	flush(t, w)

	summaries := listAll(t, store, "tn_a", events.EventsSuppressed)
	if len(summaries) != 2 {
		t.Fatalf("stored %d events.suppressed, want one per minute over the ceiling: %+v", len(summaries), summaries)
	}
	for i, want := range []struct {
		at     time.Time
		detail map[string]string
	}{
		{start.Add(2 * time.Minute), map[string]string{"session.revoked": "2"}},
		{start.Add(time.Minute), map[string]string{"verify.rejected": "94", "session.created": "6"}},
	} {
		if got := summaries[i]; !got.Time.Equal(want.at) || !reflect.DeepEqual(got.Detail, want.detail) {
			t.Errorf("summary %d: at %v with %v, want at %v (the minute's end) with %v", i, got.Time, got.Detail, want.at, want.detail)
		}
	}
	if got := listAll(t, store, "tn_a", ""); len(got) != 10+10+2 {
		t.Errorf("tenant A: stored %d events, want 10 a minute and the 2 summaries", len(got))
	}
	if got := listAll(t, store, "tn_b", ""); len(got) != 200 {
		t.Errorf("tenant B (no ceiling): stored %d of 200", len(got))
	}
	if got, want := w.Suppressed(), []events.TenantCount{{TenantID: "tn_a", Count: 102}}; !reflect.DeepEqual(got, want) {
		t.Errorf("suppressed %+v, want %+v", got, want)
	}
	if w.Dropped() != 0 {
		t.Errorf("dropped %d; suppressed events are counted, not dropped", w.Dropped())
	}
}
