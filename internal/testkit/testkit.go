// Package testkit holds helpers shared by sessiond's tests: a fake clock, a
// fresh Redis key prefix per test, a TCP proxy that can simulate an outage of
// a real dependency, and a log buffer that is safe for concurrent writers.
package testkit

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
)

// Clock is a settable clock for time-dependent logic.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at the real time, truncated to the
// second. Tests assert times relative to it, never fixed dates: Redis and
// PostgreSQL compare what sessiond writes with their own clocks, so a test
// clock far from the real time must not change any outcome (see
// NewClockAt and the engine's clock-skew test).
//
// SESSIOND_TEST_CLOCK_OFFSET (a Go duration such as 43800h or -43800h)
// shifts every such clock, so the whole suite can be run years ahead of or
// behind the real time that Redis, PostgreSQL and the browser use.
func NewClock() *Clock {
	return NewClockAt(time.Now().Add(ClockOffset()).Truncate(time.Second))
}

// ClockOffset is SESSIOND_TEST_CLOCK_OFFSET, or 0 when unset. A value that
// does not parse panics: a suite run meant to be shifted must not silently
// run unshifted.
func ClockOffset() time.Duration {
	v := os.Getenv("SESSIOND_TEST_CLOCK_OFFSET")
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		panic("SESSIOND_TEST_CLOCK_OFFSET: " + err.Error())
	}
	return d
}

// NewClockAt returns a clock stopped at t.
func NewClockAt(t time.Time) *Clock {
	return &Clock{now: t}
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

// RedisClusterAddrs returns the seed addresses of the test Redis Cluster
// (SESSIOND_TEST_REDIS_CLUSTER, comma-separated), or nil when the tests run
// on a standalone Redis.
func RedisClusterAddrs() []string {
	if addrs := os.Getenv("SESSIOND_TEST_REDIS_CLUSTER"); addrs != "" {
		return strings.Split(addrs, ",")
	}
	return nil
}

// Redis returns a client for the test Redis: the cluster named by
// SESSIOND_TEST_REDIS_CLUSTER if set, else RedisURL. It fails the test if
// Redis is not reachable, and closes the client when the test ends. This is
// the one place tests choose between a cluster and a standalone Redis.
func Redis(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	var rdb redis.UniversalClient
	if addrs := RedisClusterAddrs(); addrs != nil {
		rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, DisableIdentity: true})
	} else {
		opt, err := redis.ParseURL(RedisURL())
		if err != nil {
			tb.Fatalf("SESSIOND_TEST_REDIS_URL: %v", err)
		}
		opt.DisableIdentity = true
		rdb = redis.NewClient(opt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		tb.Fatalf("cannot reach the test Redis (start it with scripts/services.sh, or set SESSIOND_TEST_REDIS_URL / SESSIOND_TEST_REDIS_CLUSTER): %v", err)
	}
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// ScanKeys returns every key matching pattern, on every master of a
// cluster. Tests may SCAN; sessiond itself never does.
func ScanKeys(tb testing.TB, rdb redis.UniversalClient, pattern string) []string {
	tb.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var keys []string
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	default:
		tb.Fatalf("unsupported Redis client %T", rdb)
	}
	if err != nil {
		tb.Fatalf("scan %s: %v", pattern, err)
	}
	return keys
}

// Prefix returns a fresh Redis key prefix ("sd:t<random>") and deletes every
// key under it when the test ends.
func Prefix(tb testing.TB, rdb redis.UniversalClient) string {
	tb.Helper()
	prefix := "sd:t" + secrets.Encode(secrets.Random(5))
	tb.Cleanup(func() {
		for _, k := range ScanKeys(tb, rdb, prefix+":*") {
			rdb.Del(context.Background(), k) // one by one: a cluster's keys span slots
		}
	})
	return prefix
}

// KeyExpiry returns when key expires, on the application clock now: now
// plus the key's PTTL. Redis counts expiry with its own clock, so tests
// compare deadlines this way, never with PEXPIRETIME. It fails the test if
// the key does not exist or has no expiry.
func KeyExpiry(tb testing.TB, rdb redis.UniversalClient, key string, now time.Time) time.Time {
	tb.Helper()
	ttl, err := rdb.PTTL(context.Background(), key).Result()
	if err != nil || ttl < 0 {
		tb.Fatalf("PTTL %s: %v %v (want a key with an expiry)", key, ttl, err)
	}
	return now.Add(ttl)
}

// Events is an events.Recorder that keeps every event it is given, for
// tests that assert what was recorded. It is safe for concurrent use.
type Events struct {
	mu   sync.Mutex
	list []events.Event
}

// Record keeps e.
func (r *Events) Record(e events.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, e)
}

// All returns every event kept so far, oldest first.
func (r *Events) All() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Event(nil), r.list...)
}

// OfType returns the events kept so far of type t, oldest first.
func (r *Events) OfType(t events.Type) []events.Event {
	var out []events.Event
	for _, e := range r.All() {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

// Take returns the events kept since the last Take and forgets them.
func (r *Events) Take() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.list
	r.list = nil
	return out
}

// WantCode fails the test unless err carries the fault code.
func WantCode(tb testing.TB, err error, code fault.Code) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want %s", code)
	}
	if got := fault.CodeOf(err); got != code {
		tb.Fatalf("got %s (%v), want %s", got, err, code)
	}
}

// Ptr returns a pointer to v, for optional fields of requests and patches.
func Ptr[T any](v T) *T { return &v }

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
