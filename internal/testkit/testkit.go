// Package testkit holds helpers shared by sessiond's tests: a fake clock, a
// fresh Redis key prefix per test, a TCP proxy that can simulate an outage of
// a real dependency, and a log buffer that is safe for concurrent writers.
package testkit

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/secrets"
)

// Clock is a settable clock for time-dependent logic.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at a fixed, whole-second instant.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// RedisURL is the test Redis: SESSIOND_TEST_REDIS_URL or the local default.
func RedisURL() string {
	if u := os.Getenv("SESSIOND_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Redis returns a client for the test Redis, failing the test if it is not
// reachable, and closes it when the test ends.
func Redis(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	opt, err := redis.ParseURL(RedisURL())
	if err != nil {
		tb.Fatalf("SESSIOND_TEST_REDIS_URL: %v", err)
	}
	opt.DisableIdentity = true
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		tb.Fatalf("cannot reach Redis at %s (start it with scripts/services.sh): %v", RedisURL(), err)
	}
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// Prefix returns a fresh Redis key prefix ("sd:t<random>") and deletes every
// key under it when the test ends. Tests may SCAN; sessiond itself never does.
func Prefix(tb testing.TB, rdb redis.UniversalClient) string {
	tb.Helper()
	prefix := "sd:t" + secrets.Encode(secrets.Random(5))
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		for len(keys) > 0 {
			n := min(len(keys), 500)
			rdb.Del(ctx, keys[:n]...)
			keys = keys[n:]
		}
	})
	return prefix
}

// Buffer is a bytes.Buffer safe for concurrent writes, for capturing logs.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
