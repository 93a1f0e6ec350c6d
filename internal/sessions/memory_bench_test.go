package sessions_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/testkit"
)

// BenchmarkMemoryPerSession reports Redis memory per live session (INFO
// used_memory before and after) for sessions with device info and a small
// data object, two devices per user. Run it alone against an otherwise idle
// Redis, with a fixed count:
//
//	go test -run '^$' -bench MemoryPerSession -benchtime 100000x ./internal/sessions/
func BenchmarkMemoryPerSession(b *testing.B) {
	m, tid, prefix := benchManager(b)
	rdb := testkit.Redis(b)
	ctx := context.Background()
	usedMemory := func() int64 {
		info, err := rdb.Info(ctx, "memory").Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		b.Fatal("no used_memory in INFO")
		return 0
	}
	before := usedMemory()
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				_, err := m.Create(ctx, tid, sessions.CreateParams{
					UserID: fmt.Sprintf("user-%d", i/2),
					Data:   []byte(`{"cart":3,"locale":"en-GB","theme":"dark"}`),
					Device: sessions.Device{UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", IP: "203.0.113.42"},
				}, sessions.Meta{})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(usedMemory()-before)/float64(b.N), "bytes/session")
	reportKeyMemory(b, rdb, prefix)
}

// reportKeyMemory reports MEMORY USAGE (value, key name and the main
// dictionary's entry; not the expiry dictionary's) averaged over up to 200
// keys of each structure of the layout under prefix: the session value, a
// user zset (two sessions here) and a bucket index, per entry.
func reportKeyMemory(b *testing.B, rdb redis.UniversalClient, prefix string) {
	ctx := context.Background()
	kinds := []struct{ part, unit string }{{":s:", "B/session-key"}, {":u:", "B/user-zset"}, {":idx", "B/index-entry"}}
	samples := map[string][]string{}
	for _, k := range testkit.ScanKeys(b, rdb, prefix+":*") {
		for _, kind := range kinds {
			if strings.Contains(k, kind.part) && len(samples[kind.part]) < 200 {
				samples[kind.part] = append(samples[kind.part], k)
			}
		}
	}
	for _, kind := range kinds {
		var bytes, n int64
		for _, k := range samples[kind.part] {
			used, err := rdb.MemoryUsage(ctx, k).Result()
			if err != nil {
				b.Fatal(err)
			}
			bytes += used
			n++
			if kind.part == ":idx" {
				n += rdb.ZCard(ctx, k).Val() - 1
			}
		}
		if n > 0 {
			b.ReportMetric(float64(bytes)/float64(n), kind.unit)
		}
	}
}
