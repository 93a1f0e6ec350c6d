package events_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/testkit"
)

// gatedStore passes batches to the real PostgreSQL store, but only once the
// gate is open, to simulate a slow or stalled database.
type gatedStore struct {
	*postgres.Store
	gate    chan struct{}
	batches atomic.Int64
}

func (g *gatedStore) WriteEvents(ctx context.Context, batch []events.Event) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.batches.Add(1)
	return g.Store.WriteEvents(ctx, batch)
}

func TestWriterBatchesAndNeverBlocksWhenFull(t *testing.T) {
	store := &gatedStore{Store: postgres.NewStore(pgtest.New(t)), gate: make(chan struct{})}
	logs := &testkit.Buffer{}
	w := events.NewWriter(store, slog.New(slog.NewJSONHandler(logs, nil)), events.WriterOptions{QueueSize: 50, BatchSize: 20, Interval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	go w.Run(ctx)

	// The database is stalled: 500 events must not block the caller.
	start := time.Now()
	for i := range 500 {
		w.Record(events.Event{TenantID: "tn_aaaaaaaaaaaaaaaa", Type: events.SessionCreated, SessionID: "s" + string(rune('a'+i%26))})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Record blocked for %v with the database stalled", d)
	}
	if w.Dropped() < 400 {
		t.Fatalf("dropped %d of 500 with a queue of 50", w.Dropped())
	}
	if !strings.Contains(logs.String(), "dropped") || strings.Count(logs.String(), `"msg":"security event"`) != 500 {
		t.Fatalf("every event must still be logged, and the drops said: %d event lines", strings.Count(logs.String(), `"msg":"security event"`))
	}

	close(store.gate) // the database is back
	flush, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	w.Flush(flush)
	stored, _, err := store.ListEvents(flush, events.Filter{TenantID: "tn_aaaaaaaaaaaaaaaa", Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	if want := int(500 - w.Dropped()); len(stored) != min(want, 200) || want < 50 {
		t.Fatalf("stored %d events, want the %d that were queued", len(stored), want)
	}
	if store.batches.Load() >= int64(500-w.Dropped()) {
		t.Fatalf("%d writes for %d events: not batched", store.batches.Load(), 500-w.Dropped())
	}
	cancel()
	<-w.Done()
}

func TestWriterStoresWhatIsQueuedWhenStopped(t *testing.T) {
	store := postgres.NewStore(pgtest.New(t))
	w := events.NewWriter(store, slog.New(slog.NewJSONHandler(&testkit.Buffer{}, nil)), events.WriterOptions{Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	go w.Run(ctx)
	for range 30 {
		w.Record(events.Event{TenantID: "tn_bbbbbbbbbbbbbbbb", Type: events.SessionRevoked})
	}
	cancel() // shutdown: what is queued is written before Run returns
	<-w.Done()
	got, _, err := store.ListEvents(context.Background(), events.Filter{TenantID: "tn_bbbbbbbbbbbbbbbb"})
	if err != nil || len(got) != 30 {
		t.Fatalf("stored %d of 30 at shutdown: %v", len(got), err)
	}
}
