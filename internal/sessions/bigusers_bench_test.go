package sessions_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sessions/redisstore"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// Large users: the cost of one call when a user holds thousands of
// sessions (the per-user work of every script is bounded, so these stay
// flat as the user grows). Run alone, a few iterations:
//
//	go test -run '^$' -bench CreateAtCap -benchtime 200x ./internal/sessions/
//	go test -run '^$' -bench RevokeUser -benchtime 3x ./internal/sessions/
//
// (RevokeUser refills its user before each iteration, untimed.)

// bigUser returns a manager, its tenant source, the tenant and the number
// of sessions user "big" holds (n, filled with an unlimited cap).
func bigUser(b *testing.B, n int) (*sessions.Manager, *tenantMap, string) {
	b.Helper()
	rdb := testkit.Redis(b)
	ctx := context.Background()
	prefix := "sd:bench" + secrets.Encode(secrets.Random(4))
	b.Cleanup(func() {
		for _, k := range testkit.ScanKeys(b, rdb, prefix+":*") {
			rdb.Del(ctx, k)
		}
	})
	tid := secrets.NewID(tenants.IDPrefix)
	pol := tenants.DefaultPolicy()
	pol.MaxSessionsPerUser = 0
	src := &tenantMap{m: map[string]*tenants.Snapshot{tid: {
		Tenant: tenants.Tenant{ID: tid, Status: tenants.Active},
		Policy: pol,
		Keys:   []tenants.Key{newKey(tid, tenants.KeyActive, time.Now())},
	}}}
	m := sessions.NewManager(redisstore.New(rdb, redisstore.Options{Prefix: prefix}), src, sessions.Options{Events: &testkit.Events{}})
	if err := m.LoadScripts(ctx); err != nil {
		b.Fatal(err)
	}
	fill(b, m, tid, n)
	return m, src, tid
}

func fill(b *testing.B, m *sessions.Manager, tid string, n int) {
	b.Helper()
	for range n {
		if _, err := m.Create(context.Background(), tid, sessions.CreateParams{UserID: "big"}, sessions.Meta{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateAtCap: one more login of a user with 9,000 sessions, under
// a cap of 10,000, at a cap of 9,000 (evict_oldest: each create evicts
// one), and unlimited.
func BenchmarkCreateAtCap(b *testing.B) {
	for _, c := range []struct {
		name string
		max  int
	}{{"cap=10000", 10000}, {"cap=9000-evict", 9000}, {"cap=0", 0}} {
		b.Run(c.name, func(b *testing.B) {
			m, src, tid := bigUser(b, 9000)
			src.update(tid, func(s *tenants.Snapshot) {
				s.Policy.MaxSessionsPerUser = c.max
				s.Policy.OnLimit = tenants.EvictOldest
			})
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				if _, err := m.Create(ctx, tid, sessions.CreateParams{UserID: "big"}, sessions.Meta{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRevokeUser: log out everywhere a user with 20,000 or 60,000
// sessions (the call's own time, until it returns: the user is refilled
// before each call, untimed).
func BenchmarkRevokeUser(b *testing.B) {
	for _, n := range []int{20000, 60000} {
		b.Run(fmt.Sprint("sessions=", n), func(b *testing.B) {
			m, _, tid := bigUser(b, 0)
			ctx := context.Background()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				m.Wait()
				fill(b, m, tid, n)
				b.StartTimer()
				if _, err := m.RevokeUser(ctx, tid, "big", "", sessions.Meta{}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			m.Wait()
		})
	}
}
