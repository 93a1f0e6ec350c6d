// Package limits counts failures per key over a sliding window in Redis, so
// every sessiond instance enforces one shared limit (an attacker gains
// nothing by spreading attempts over replicas). Keys live under the
// deployment's Redis prefix, each key's counters in one Cluster slot.
package limits

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
)

// check drops hits older than the window, and answers {blocked, first}:
// blocked when the limit is reached, first for the first refusal of a
// window (the caller records one event for it).
// KEYS: hits zset, reported marker. ARGV: now ms, window ms, limit.
var check = redis.NewScript(`
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then return {0, 0} end
if redis.call('SET', KEYS[2], '1', 'PX', window, 'NX') then return {1, 1} end
return {1, 0}
`)

// fail records one hit at now. KEYS: hits zset. ARGV: now ms, window ms, a
// unique member.
var fail = redis.NewScript(`
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]), ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// Window is one named limit: at most Limit failures per key in Window.
type Window struct {
	rdb    redis.UniversalClient
	base   string
	limit  int
	window time.Duration
}

// New returns the limit called name (e.g. "admin-login-ip") under prefix.
func New(rdb redis.UniversalClient, prefix, name string, limit int, window time.Duration) *Window {
	return &Window{rdb: rdb, base: prefix + ":limit:" + name + ":", limit: limit, window: window}
}

// keys returns the hit zset and the reported marker of key, which is hashed
// so that any string (an email, an IPv6 address) makes a safe key name and
// none is stored in clear.
func (w *Window) keys(key string) []string {
	h := sha256.Sum256([]byte(key))
	tag := "{" + hex.EncodeToString(h[:12]) + "}"
	return []string{w.base + tag + ":hits", w.base + tag + ":reported"}
}

// Blocked reports whether key has reached the limit at now, and whether
// this is the first refusal in the window. It returns fault.Unavailable when
// Redis cannot be reached.
func (w *Window) Blocked(ctx context.Context, key string, now time.Time) (blocked, first bool, err error) {
	res, err := check.Run(ctx, w.rdb, w.keys(key), now.UnixMilli(), w.window.Milliseconds(), w.limit).Int64Slice()
	if err != nil {
		return false, false, fault.Wrap(err, fault.Unavailable, "rate limiter unavailable")
	}
	return res[0] == 1, res[1] == 1, nil
}

// Fail counts one failure of key at now.
func (w *Window) Fail(ctx context.Context, key string, now time.Time) error {
	if err := fail.Run(ctx, w.rdb, w.keys(key)[:1], now.UnixMilli(), w.window.Milliseconds(), secrets.Encode(secrets.Random(8))).Err(); err != nil {
		return fault.Wrap(err, fault.Unavailable, "rate limiter unavailable")
	}
	return nil
}

// Reset forgets key's failures (after a success).
func (w *Window) Reset(ctx context.Context, key string) error {
	ks := w.keys(key)
	// One key at a time: the two share a slot, but DEL of several keys
	// through a cluster client must not depend on it.
	for _, k := range ks {
		if err := w.rdb.Del(ctx, k).Err(); err != nil {
			return fault.Wrap(err, fault.Unavailable, "rate limiter unavailable")
		}
	}
	return nil
}
