package events_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/testkit"
)

// BenchmarkEventsThroughA30sPostgreSQLCut records about 1,050 events a
// second from 10 tenants for 30 s while PostgreSQL is cut (refused) or
// frozen (hanging) through a proxy, with the writer's production defaults
// and the Redis spool, then restores PostgreSQL and reports how many of
// the recorded events are stored (kept/op), once each. It takes real
// time (the outage is 30 s of wall clock); run it alone:
//
//	go test -run '^$' -bench EventsThroughA30sPostgreSQLCut -benchtime 1x ./internal/events/
func BenchmarkEventsThroughA30sPostgreSQLCut(b *testing.B) {
	const (
		outage  = 30 * time.Second
		tick    = 10 * time.Millisecond
		perTick = 10 // ~1,000 events a second, from 10 tenants
	)
	for _, mode := range []struct {
		name          string
		begin, finish func(p *testkit.Proxy)
	}{
		{"refused", (*testkit.Proxy).Stop, (*testkit.Proxy).Start},
		{"hanging", (*testkit.Proxy).Freeze, (*testkit.Proxy).Thaw},
	} {
		b.Run(mode.name, func(b *testing.B) {
			for range b.N {
				db := newProxiedDB(b)
				spool := newSpool(b)
				w := runWriter(b, db.via, events.WriterOptions{Spool: spool})
				mode.begin(db.proxy)
				recorded := 0
				for end := time.Now().Add(outage); time.Now().Before(end); time.Sleep(tick) {
					for range perTick {
						w.Record(events.Event{TenantID: fmt.Sprintf("tn_%d", recorded%10), Type: events.SessionCreated, SessionID: fmt.Sprint(recorded)})
						recorded++
					}
				}
				spooled := w.SpoolDepth()
				mode.finish(db.proxy)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				w.Flush(ctx)
				cancel()
				var stored, distinct int
				if err := db.direct.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT eid) FROM events`).Scan(&stored, &distinct); err != nil {
					b.Fatal(err)
				}
				if stored != distinct {
					b.Fatalf("%d rows for %d distinct events", stored, distinct)
				}
				b.ReportMetric(float64(recorded), "recorded/op")
				b.ReportMetric(float64(stored), "kept/op")
				b.ReportMetric(float64(w.Dropped()), "dropped/op")
				b.Logf("%s for %v: recorded %d, stored %d once each, dropped %d (%+v), %d in the spool when it returned",
					mode.name, outage, recorded, stored, w.Dropped(), w.Drops(), spooled)
			}
		})
	}
}
