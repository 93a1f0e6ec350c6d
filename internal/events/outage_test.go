package events_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/events/redisspool"
	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/testkit"
)

// proxiedDB is a migrated test schema reached two ways: through a proxy the
// test can cut or freeze (for the writer), and directly (to read back).
type proxiedDB struct {
	via    *postgres.Store
	direct *pgxpool.Pool
	proxy  *testkit.Proxy
}

func newProxiedDB(t testing.TB) proxiedDB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dbURL := pgtest.NewURL(t)
	direct, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(direct.Close)
	if err := postgres.Migrate(ctx, direct, postgres.Up); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	p := testkit.NewProxy(t, u.Host)
	u.Host = p.Addr()
	viaPool, err := postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(viaPool.Close)
	return proxiedDB{via: postgres.NewStore(viaPool), direct: direct, proxy: p}
}

// stored returns the session ids of tenantID's stored events in the order
// PostgreSQL inserted them, and how many distinct event ids they have.
func (db proxiedDB) stored(t *testing.T, tenantID string) (inOrder []string, distinctIDs int) {
	t.Helper()
	ctx := context.Background()
	rows, err := db.direct.Query(ctx, `SELECT session_id FROM events WHERE tenant_id = $1 ORDER BY id`, tenantID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		inOrder = append(inOrder, s)
	}
	if err := db.direct.QueryRow(ctx, `SELECT count(DISTINCT eid) FROM events WHERE tenant_id = $1`, tenantID).Scan(&distinctIDs); err != nil {
		t.Fatal(err)
	}
	return inOrder, distinctIDs
}

func newSpool(t testing.TB) *redisspool.Spool {
	t.Helper()
	rdb := testkit.Redis(t)
	return redisspool.New(rdb, testkit.Prefix(t, rdb), 0)
}

func runWriter(t testing.TB, store events.Store, o events.WriterOptions) *events.Writer {
	t.Helper()
	w := events.NewWriter(store, slog.New(slog.NewJSONHandler(&testkit.Buffer{}, nil)), o)
	ctx, cancel := context.WithCancel(context.Background())
	go w.Run(ctx)
	t.Cleanup(func() { cancel(); <-w.Done() })
	return w
}

func sessionIDs(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("s%05d", i))
	}
	return out
}

func TestEventsRecordedWhilePostgreSQLIsAwayAreStoredOnceInOrderWhenItReturns(t *testing.T) {
	for _, outage := range []struct {
		name          string
		begin, finish func(p *testkit.Proxy)
	}{
		{"connections refused", (*testkit.Proxy).Stop, (*testkit.Proxy).Start},
		{"connections hanging", (*testkit.Proxy).Freeze, (*testkit.Proxy).Thaw},
	} {
		t.Run(outage.name, func(t *testing.T) {
			db := newProxiedDB(t)
			spool := newSpool(t)
			w := runWriter(t, db.via, events.WriterOptions{BatchSize: 50, Interval: time.Hour, WriteTimeout: 300 * time.Millisecond, Spool: spool})
			ids := sessionIDs(0, 1100)
			record := func(ids []string) {
				for _, id := range ids {
					w.Record(events.Event{TenantID: "tn_a", Type: events.SessionCreated, SessionID: id})
				}
			}
			record(ids[:100])
			flush(t, w)

			outage.begin(db.proxy)
			record(ids[100:])
			flush(t, w) // every write fails or times out: to the spool
			if depth, err := spool.Depth(context.Background()); err != nil || depth != 1000 || w.SpoolDepth() != 1000 {
				t.Fatalf("during the outage the spool holds %d (%v; the writer saw %d), want the 1000 recorded", depth, err, w.SpoolDepth())
			}
			outage.finish(db.proxy)
			flush(t, w)

			got, distinct := db.stored(t, "tn_a")
			if !slices.Equal(got, ids) || distinct != len(ids) {
				t.Fatalf("stored %d events (%d distinct ids), want each of the %d once, in the order recorded", len(got), distinct, len(ids))
			}
			if depth, _ := spool.Depth(context.Background()); depth != 0 || w.SpoolDepth() != 0 || w.Dropped() != 0 {
				t.Errorf("afterwards: spool depth %d (writer saw %d), dropped %d; want 0", depth, w.SpoolDepth(), w.Dropped())
			}
		})
	}
}

func TestTwoInstancesDrainingOneSpoolStoreEachEventOnce(t *testing.T) {
	store := postgres.NewStore(pgtest.New(t))
	spool := newSpool(t)
	ctx := context.Background()
	const n = 3000
	want := sessionIDs(0, n)
	for start := 0; start < n; start += 100 {
		batch := make([]events.Event, 0, 100)
		for _, id := range want[start : start+100] {
			batch = append(batch, events.Event{ID: events.NewID(), TenantID: "tn_a", Type: events.SessionRevoked, Time: time.Now().UTC(), SessionID: id})
		}
		if kept, _, err := spool.Push(ctx, batch); err != nil || kept != 100 {
			t.Fatalf("push: kept %d, %v", kept, err)
		}
	}

	// Two instances, each draining whenever it is asked, at the same time.
	a := runWriter(t, store, events.WriterOptions{BatchSize: 40, Interval: time.Hour, Spool: spool})
	b := runWriter(t, store, events.WriterOptions{BatchSize: 70, Interval: time.Hour, Spool: spool})
	var wg sync.WaitGroup
	for _, w := range []*events.Writer{a, b, a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); flush(t, w) }()
	}
	wg.Wait()

	got := listAll(t, store, "tn_a", "")
	seen := map[string]int{}
	for _, e := range got {
		seen[e.SessionID]++
	}
	for _, id := range want {
		if seen[id] != 1 {
			t.Fatalf("event %s stored %d times; stored %d of %d", id, seen[id], len(got), n)
		}
	}
	if len(got) != n {
		t.Fatalf("stored %d events, want %d", len(got), n)
	}
	if depth, _ := spool.Depth(ctx); depth != 0 || a.Dropped()+b.Dropped() != 0 {
		t.Errorf("spool depth %d, dropped %d; want 0", depth, a.Dropped()+b.Dropped())
	}
	if a.Written() == 0 || b.Written() == 0 {
		t.Logf("one instance drained alone: %d and %d written", a.Written(), b.Written())
	}
}

func TestSpoolKeepsAtMostItsBoundAndCountsTheRestAsSpoolFull(t *testing.T) {
	db := newProxiedDB(t)
	rdb := testkit.Redis(t)
	spool := redisspool.New(rdb, testkit.Prefix(t, rdb), 120)
	w := runWriter(t, db.via, events.WriterOptions{BatchSize: 50, Interval: time.Hour, WriteTimeout: 300 * time.Millisecond, Spool: spool})
	db.proxy.Stop()
	for _, id := range sessionIDs(0, 200) {
		w.Record(events.Event{TenantID: "tn_a", Type: events.SessionCreated, SessionID: id})
	}
	flush(t, w)
	want := []events.TenantCount{{TenantID: "tn_a", Reason: events.DropSpoolFull, Count: 80}}
	if got := w.Drops(); !slices.Equal(got, want) {
		t.Errorf("drops %+v, want %+v", got, want)
	}
	db.proxy.Start()
	flush(t, w)
	if got, _ := db.stored(t, "tn_a"); !slices.Equal(got, sessionIDs(0, 120)) {
		t.Errorf("stored %d events, want the first 120, in order", len(got))
	}
}
