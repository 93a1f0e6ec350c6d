package sessions_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sessions/redisstore"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// BenchmarkEngineVerify measures Manager.Verify alone (HMAC check and the
// one-round-trip script against the local Redis), and BenchmarkRedisPing a
// bare round trip, so the HTTP benchmark's cost can be split:
//
//	go test -run '^$' -bench 'EngineVerify|RedisPing' -benchmem ./internal/sessions/
func BenchmarkEngineVerify(b *testing.B) {
	m, tid, _ := benchManager(b)
	ctx := context.Background()
	c, err := m.Create(ctx, tid, sessions.CreateParams{UserID: "bench", Data: []byte(`{"cart":3}`),
		Device: sessions.Device{UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", IP: "203.0.113.9"}}, sessions.Meta{})
	if err != nil {
		b.Fatal(err)
	}
	p := sessions.VerifyParams{Token: c.Token, CSRFToken: &c.CSRFToken}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Verify(ctx, tid, p, sessions.Meta{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisPing(b *testing.B) {
	rdb := testkit.Redis(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := rdb.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// benchManager returns a manager on the local Redis, under a fresh prefix
// removed at the end, with one tenant on the default policy; it returns the
// manager, the tenant id and the prefix.
func benchManager(b *testing.B) (*sessions.Manager, string, string) {
	rdb := testkit.Redis(b)
	ctx := context.Background()
	prefix := "sd:bench" + secrets.Encode(secrets.Random(4))
	b.Cleanup(func() {
		for _, k := range testkit.ScanKeys(b, rdb, prefix+":*") {
			rdb.Del(ctx, k)
		}
	})
	tid := secrets.NewID(tenants.IDPrefix)
	src := &tenantMap{m: map[string]*tenants.Snapshot{tid: {
		Tenant: tenants.Tenant{ID: tid, Status: tenants.Active},
		Policy: tenants.DefaultPolicy(),
		Keys:   []tenants.Key{newKey(tid, tenants.KeyActive, time.Now())},
	}}}
	m := sessions.NewManager(redisstore.New(rdb, redisstore.Options{Prefix: prefix}), src, sessions.Options{Events: &testkit.Events{}})
	if err := m.LoadScripts(ctx); err != nil {
		b.Fatal(err)
	}
	return m, tid, prefix
}

// BenchmarkEngineVerifyWrites counts the Redis writes (SET, ZADD, PEXPIRE
// run by the scripts on this benchmark's keys, seen through MONITOR) per
// Manager.Verify of one session verified in a loop on the real clock:
//
//	go test -run '^$' -bench EngineVerifyWrites -benchtime=2000x ./internal/sessions/
func BenchmarkEngineVerifyWrites(b *testing.B) {
	m, tid, prefix := benchManager(b)
	ctx := context.Background()
	c, err := m.Create(ctx, tid, sessions.CreateParams{UserID: "bench", Data: []byte(`{"cart":3}`)}, sessions.Meta{})
	if err != nil {
		b.Fatal(err)
	}
	conn, err := net.Dial("tcp", testkit.Redis(b).(*redis.Client).Options().Addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		b.Fatal(err)
	}
	writes := make(chan int)
	go func() {
		n := 0
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			l := strings.ToLower(sc.Text())
			if strings.Contains(l, strings.ToLower(prefix)) && strings.Contains(l, " lua]") &&
				(strings.Contains(l, `"set"`) || strings.Contains(l, `"zadd"`) || strings.Contains(l, `"pexpire"`)) {
				n++
			}
		}
		writes <- n
	}()
	time.Sleep(100 * time.Millisecond)
	p := sessions.VerifyParams{Token: c.Token}
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Verify(ctx, tid, p, sessions.Meta{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	time.Sleep(300 * time.Millisecond)
	conn.Close()
	b.ReportMetric(float64(<-writes)/float64(b.N), "redis-writes/op")
}
