// Package attempts bounds attempts per key (a client IP, an account) with
// counters in Redis, so every sessiond instance enforces one shared limit (an
// attacker gains nothing by spreading attempts over replicas). An attempt is
// reserved atomically before it is checked, so concurrent attempts cannot all
// slip past a limit; one that turns out not to be a failure is released.
// Keys live under the deployment's Redis prefix, each key's counters in one
// Cluster slot. Times come from the caller's clock.
package attempts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
)

// FirstDelay is the delay a backoff limit imposes after its free attempts;
// each further attempt doubles it, up to the limit's maximum.
const FirstDelay = time.Second

// keepAttempts bounds how many attempts a backoff key remembers beyond its
// free ones; the delay reaches any sensible maximum long before.
const keepAttempts = 64

// reserve reserves one attempt or refuses it, in one step.
//
// KEYS: attempts zset (score = time ms, member = reservation id), last
// refusal report (time ms). ARGV: now ms, window ms, limit, max delay ms (0:
// hard limit), first delay ms, reservation id, attempts kept past limit.
//
// Hard limit: attempts older than the window are dropped; with limit left,
// the attempt is refused until enough of them have aged out.
// Backoff: once no attempt has come for a window, all are forgotten; past
// limit attempts, an attempt must come at least d after the latest one, d
// doubling per attempt from the first delay up to the maximum.
//
// Returns {1} when reserved, or {0, wait ms, first}: first is 1 for the first
// refusal of a window (the caller records one event for it).
var reserve = redis.NewScript(`
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local maxDelay, firstDelay = tonumber(ARGV[4]), tonumber(ARGV[5])
local wait = 0
if maxDelay == 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  local n = redis.call('ZCARD', KEYS[1])
  if n >= limit then
    local leaving = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
    wait = tonumber(leaving[2]) + window - now
  end
else
  local latest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if latest[2] and now - tonumber(latest[2]) >= window then
    redis.call('DEL', KEYS[1])
    latest = {}
  end
  local n = redis.call('ZCARD', KEYS[1])
  if n >= limit then
    local delay = firstDelay * 2 ^ math.min(n - limit, 40)
    if delay > maxDelay then delay = maxDelay end
    wait = tonumber(latest[2]) + delay - now
  end
end
if wait > 0 then
  local first = 0
  local reported = tonumber(redis.call('GET', KEYS[2]))
  if not reported or now - reported >= window then
    redis.call('SET', KEYS[2], ARGV[1], 'PX', window)
    first = 1
  end
  return {0, math.ceil(wait), first}
end
redis.call('ZADD', KEYS[1], now, ARGV[6])
if maxDelay > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(limit + tonumber(ARGV[7]) + 1))
end
redis.call('PEXPIRE', KEYS[1], window)
return {1}
`)

// Window is one named limit on the attempts of each key.
type Window struct {
	rdb    redis.UniversalClient
	base   string
	limit  int
	window time.Duration
}

// New returns the limit called name (e.g. "admin-login-ip") under prefix:
// limit attempts per key in window (see Reserve for the two ways to count).
func New(rdb redis.UniversalClient, prefix, name string, limit int, window time.Duration) *Window {
	return &Window{rdb: rdb, base: prefix + ":limit:" + name + ":", limit: limit, window: window}
}

// keys returns the attempts zset and the refusal report of key, which is
// hashed so that any string (an email, an IPv6 address, bytes that are not
// UTF-8) makes a safe key name and none is stored in clear.
func (w *Window) keys(key string) []string {
	h := sha256.Sum256([]byte(key))
	tag := "{" + hex.EncodeToString(h[:12]) + "}"
	return []string{w.base + tag + ":hits", w.base + tag + ":reported"}
}

// Reserve counts one attempt of key at now, before the attempt is checked,
// or refuses it; one Redis script does both, so concurrent attempts never
// exceed the limit. With maxDelay 0 the limit is hard: at most limit
// attempts in any window. With maxDelay > 0 it is a backoff: limit attempts
// pass freely, then each one must come FirstDelay, 2×, 4×… (at most
// maxDelay) after the latest, and a key quiet for a whole window starts
// afresh.
//
// On success id names the reservation (for Release). On refusal id is
// empty, wait says when an attempt may come again, and firstRefusal is true
// for the first refusal of a window. Errors: fault.Unavailable when Redis
// cannot be reached.
func (w *Window) Reserve(ctx context.Context, key string, now time.Time, maxDelay time.Duration) (id string, wait time.Duration, firstRefusal bool, err error) {
	id = secrets.Encode(secrets.Random(10))
	res, err := reserve.Run(ctx, w.rdb, w.keys(key), now.UnixMilli(), w.window.Milliseconds(), w.limit,
		maxDelay.Milliseconds(), FirstDelay.Milliseconds(), id, keepAttempts).Int64Slice()
	if err != nil {
		return "", 0, false, fault.Wrap(err, fault.Unavailable, "rate limiter unavailable")
	}
	if res[0] == 1 {
		return id, 0, false, nil
	}
	return "", time.Duration(res[1]) * time.Millisecond, res[2] == 1, nil
}

// Release takes back reservation id of key: the attempt was not a failure
// (or was never checked).
func (w *Window) Release(ctx context.Context, key, id string) error {
	if err := w.rdb.ZRem(ctx, w.keys(key)[0], id).Err(); err != nil {
		return fault.Wrap(err, fault.Unavailable, "rate limiter unavailable")
	}
	return nil
}

// Reset forgets every attempt of key (after a success).
func (w *Window) Reset(ctx context.Context, key string) error {
	// One key at a time: the two share a slot, but DEL of several keys
	// through a cluster client must not depend on it.
	for _, k := range w.keys(key) {
		if err := w.rdb.Del(ctx, k).Err(); err != nil {
			return fault.Wrap(err, fault.Unavailable, "rate limiter unavailable")
		}
	}
	return nil
}
