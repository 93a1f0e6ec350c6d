package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
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
	w := events.NewWriter(store, slog.New(slog.NewJSONHandler(logs, nil)), events.WriterOptions{QueueSize: 50, TenantQueueSize: 50, BatchSize: 20, Interval: 10 * time.Millisecond})
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

// startWriter runs a Writer on store that writes only when flushed, and
// stops it when the test ends.
func startWriter(t *testing.T, store events.Store, logs *testkit.Buffer) *events.Writer {
	t.Helper()
	w := events.NewWriter(store, slog.New(slog.NewJSONHandler(logs, nil)), events.WriterOptions{Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	go w.Run(ctx)
	t.Cleanup(func() { cancel(); <-w.Done() })
	return w
}

func flush(t *testing.T, w *events.Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w.Flush(ctx)
}

func TestWriterStoresEventsWithInvalidTextSanitisedWithoutLosingOthers(t *testing.T) {
	store := postgres.NewStore(pgtest.New(t))
	logs := &testkit.Buffer{}
	w := startWriter(t, store, logs)

	// Invalid UTF-8 and NUL in every text field; PostgreSQL refuses both.
	bad := events.Event{
		TenantID: "tn_bad\xff\x00", Type: "admin.login_failed\xfe", UserID: "al\xffice\x00",
		SessionID: "sab_\x00x", IP: "203.0.113.7\xff", UserAgent: "Mozilla/5.0 \xff\xfe (\x00)",
		Actor: "admin:\xc3", Detail: map[string]string{"reason\xff": "bad\x00password", "\x00": "\xff"},
	}
	want := events.Event{
		TenantID: "tn_bad\uFFFD\uFFFD", Type: "admin.login_failed\uFFFD", UserID: "al\uFFFDice\uFFFD",
		SessionID: "sab_\uFFFDx", IP: "203.0.113.7\uFFFD", UserAgent: "Mozilla/5.0 \uFFFD (\uFFFD)",
		Actor: "admin:\uFFFD", Detail: map[string]string{"reason\uFFFD": "bad\uFFFDpassword", "\uFFFD": "\uFFFD"},
	}
	for i := range 5 {
		w.Record(events.Event{TenantID: "tn_one", Type: events.SessionCreated, UserID: fmt.Sprint("u", i)})
	}
	w.Record(bad)
	w.Record(events.Event{TenantID: "tn_two", Type: events.AdminLoginFailed, UserAgent: "x" + strings.Repeat("é", 300)})
	flush(t, w)

	got, _, err := store.ListEvents(context.Background(), events.Filter{TenantID: want.TenantID})
	if err != nil || len(got) != 1 {
		t.Fatalf("the event with invalid text: stored %d, %v", len(got), err)
	}
	want.ID, want.Time = got[0].ID, got[0].Time
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("stored %+v,\nwant %+v", got[0], want)
	}
	if one, _, err := store.ListEvents(context.Background(), events.Filter{TenantID: "tn_one"}); err != nil || len(one) != 5 {
		t.Errorf("another tenant's events of the same batch: stored %d of 5, %v", len(one), err)
	}
	two, _, err := store.ListEvents(context.Background(), events.Filter{TenantID: "tn_two"})
	if err != nil || len(two) != 1 {
		t.Fatalf("the event with a long user agent: stored %d, %v", len(two), err)
	}
	if ua := two[0].UserAgent; ua != "x"+strings.Repeat("é", 255) {
		t.Errorf("a 601-byte user agent is stored as %d bytes, want 511 (cut before a split rune)", len(ua))
	}
	if w.Dropped() != 0 || w.WriteFailures() != 0 {
		t.Errorf("dropped %d, write failures %d; want none", w.Dropped(), w.WriteFailures())
	}

	var logged struct {
		UserAgent string            `json:"user_agent"`
		Detail    map[string]string `json:"detail"`
	}
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, `"tenant_id":"tn_bad`) {
			if err := json.Unmarshal([]byte(line), &logged); err != nil {
				t.Fatal(err)
			}
		}
	}
	if logged.UserAgent != want.UserAgent || !reflect.DeepEqual(logged.Detail, want.Detail) {
		t.Errorf("the log line has user agent %q, detail %q; want them sanitised", logged.UserAgent, logged.Detail)
	}
}

// outOfRange is a time Go can hold but PostgreSQL's timestamptz cannot
// (before 4713 BC), so PostgreSQL refuses an event at that time.
var outOfRange = time.Date(-5000, 1, 1, 0, 0, 0, 0, time.UTC)

func TestWriterStoresARefusedBatchOneByOneAndCountsOnlyTheLost(t *testing.T) {
	for _, tc := range []struct {
		name         string
		events       int
		refused      []int // indexes of the events PostgreSQL refuses
		wantFailures int64
	}{
		{"one refused event costs only itself", 10, []int{4}, 2},
		{"refused events first and last cost only themselves", 10, []int{0, 9}, 3},
		{"a batch of one refused event is counted once", 1, []int{0}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := postgres.NewStore(pgtest.New(t))
			w := startWriter(t, store, &testkit.Buffer{})
			n := tc.events
			for i := range n {
				e := events.Event{TenantID: "tn_a", Type: events.SessionCreated, SessionID: fmt.Sprint("s", i)}
				if slices.Contains(tc.refused, i) {
					e.Time = outOfRange
				}
				w.Record(e)
			}
			flush(t, w)

			got, _, err := store.ListEvents(context.Background(), events.Filter{TenantID: "tn_a"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n-len(tc.refused) {
				t.Errorf("stored %d events, want the %d PostgreSQL accepts", len(got), n-len(tc.refused))
			}
			for _, e := range got {
				var i int
				if _, err := fmt.Sscanf(e.SessionID, "s%d", &i); err != nil || slices.Contains(tc.refused, i) {
					t.Errorf("stored %q, which PostgreSQL refuses", e.SessionID)
				}
			}
			if w.Dropped() != int64(len(tc.refused)) || w.WriteFailures() != tc.wantFailures {
				t.Errorf("dropped %d, write failures %d; want %d and %d", w.Dropped(), w.WriteFailures(), len(tc.refused), tc.wantFailures)
			}
		})
	}
}

func TestWriterKeepsEventsInMemoryWhileTheDatabaseIsGoneAndCountsOnlyWhatDoesNotFit(t *testing.T) {
	pool := pgtest.New(t)
	store := postgres.NewStore(pool)
	pool.Close() // no database, and no spool
	w := events.NewWriter(store, slog.New(slog.NewJSONHandler(&testkit.Buffer{}, nil)),
		events.WriterOptions{QueueSize: 20, TenantQueueSize: 20, BatchSize: 5, Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	go w.Run(ctx)
	t.Cleanup(func() { cancel(); <-w.Done() })
	for range 10 {
		w.Record(events.Event{TenantID: "tn_a", Type: events.SessionCreated})
	}
	flush(t, w)
	if w.Dropped() != 0 {
		t.Fatalf("dropped %d of 10 events that fit in memory", w.Dropped())
	}
	// One batch (5) is held for a retry, 5 wait: room for 15 more.
	for range 30 {
		w.Record(events.Event{TenantID: "tn_a", Type: events.SessionCreated})
	}
	want := []events.TenantCount{{TenantID: "tn_a", Reason: events.DropStorageUnavailable, Count: 15}}
	if got := w.Drops(); !reflect.DeepEqual(got, want) {
		t.Errorf("drops %+v, want %+v", got, want)
	}
}
