// Package redisspool is the events.Spool on Redis: one list,
// "<prefix>:events:spool", of events in the order spooled. Each entry is
// the event's id, a space, and the event as JSON. Pushing and removing are
// Lua scripts whose work is one batch (bounded by the caller's batch
// size), never the whole list.
package redisspool

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
)

// DefaultMax is the default bound of a spool, in events.
const DefaultMax = 1_000_000

// Spool keeps events in a Redis list. It is safe for concurrent use, and
// several instances may share one (see events.Spool).
type Spool struct {
	rdb redis.UniversalClient
	key string
	max int64
}

var _ events.Spool = (*Spool)(nil)

// New returns the spool of the deployment whose Redis keys start with
// prefix, holding at most max events (DefaultMax if max <= 0).
func New(rdb redis.UniversalClient, prefix string, max int64) *Spool {
	if max <= 0 {
		max = DefaultMax
	}
	return &Spool{rdb: rdb, key: prefix + ":events:spool", max: max}
}

// Key is the Redis key of the spool.
func (s *Spool) Key() string { return s.key }

// pushScript appends what fits of ARGV[2..] to the list KEYS[1] under the
// bound ARGV[1], and returns {kept, depth}. Work: one RPUSH of at most one
// batch.
var pushScript = redis.NewScript(`
local room = tonumber(ARGV[1]) - redis.call('LLEN', KEYS[1])
local n = math.min(room, #ARGV - 1)
if n > 0 then
  redis.call('RPUSH', KEYS[1], unpack(ARGV, 2, n + 1))
else
  n = 0
end
return {n, redis.call('LLEN', KEYS[1])}
`)

// removeScript removes from the head of KEYS[1] the leading entries whose
// keys are ARGV, in order, stopping at the first entry that is not, and
// returns {removed, depth}. Work: an LRANGE and a comparison of at most
// #ARGV entries (one batch), then an LTRIM of as many.
var removeScript = redis.NewScript(`
local head = redis.call('LRANGE', KEYS[1], 0, #ARGV - 1)
local n = 0
for i, key in ipairs(ARGV) do
  local entry = head[i]
  if entry == nil or (entry ~= key and string.sub(entry, 1, #key + 1) ~= key .. ' ') then
    break
  end
  n = i
end
if n > 0 then
  redis.call('LTRIM', KEYS[1], n, -1)
end
return {n, redis.call('LLEN', KEYS[1])}
`)

// Push appends batch at the tail as far as the bound allows (see
// events.Spool). Errors are fault.Unavailable.
func (s *Spool) Push(ctx context.Context, batch []events.Event) (int, int64, error) {
	if len(batch) == 0 {
		depth, err := s.Depth(ctx)
		return 0, depth, err
	}
	args := make([]any, 0, len(batch)+1)
	args = append(args, s.max)
	for _, e := range batch {
		b, err := json.Marshal(e)
		if err != nil {
			return 0, 0, fmt.Errorf("redisspool: encode event %s: %w", e.ID, err)
		}
		args = append(args, e.ID+" "+string(b))
	}
	res, err := pushScript.Run(ctx, s.rdb, []string{s.key}, args...).Int64Slice()
	if err != nil {
		return 0, 0, unavailable("push", err)
	}
	return int(res[0]), res[1], nil
}

// Peek returns up to n entries from the head (see events.Spool). Errors
// are fault.Unavailable.
func (s *Spool) Peek(ctx context.Context, n int) ([]events.SpoolEntry, error) {
	raw, err := s.rdb.LRange(ctx, s.key, 0, int64(n)-1).Result()
	if err != nil {
		return nil, unavailable("peek", err)
	}
	out := make([]events.SpoolEntry, len(raw))
	for i, r := range raw {
		key, body, ok := strings.Cut(r, " ")
		if !ok {
			out[i] = events.SpoolEntry{Key: r, Err: fmt.Errorf("redisspool: entry without an id")}
			continue
		}
		out[i].Key = key
		if err := json.Unmarshal([]byte(body), &out[i].Event); err != nil {
			out[i].Err = fmt.Errorf("redisspool: entry %s: %w", key, err)
		} else if out[i].Event.ID != key {
			out[i].Err = fmt.Errorf("redisspool: entry %s holds event %s", key, out[i].Event.ID)
		}
	}
	return out, nil
}

// Remove removes the leading entries that are still those given (see
// events.Spool). Errors are fault.Unavailable.
func (s *Spool) Remove(ctx context.Context, entries []events.SpoolEntry) (int, int64, error) {
	if len(entries) == 0 {
		depth, err := s.Depth(ctx)
		return 0, depth, err
	}
	keys := make([]any, len(entries))
	for i, en := range entries {
		keys[i] = en.Key
	}
	res, err := removeScript.Run(ctx, s.rdb, []string{s.key}, keys...).Int64Slice()
	if err != nil {
		return 0, 0, unavailable("remove", err)
	}
	return int(res[0]), res[1], nil
}

// Depth returns how many events the spool holds. Errors are
// fault.Unavailable.
func (s *Spool) Depth(ctx context.Context) (int64, error) {
	n, err := s.rdb.LLen(ctx, s.key).Result()
	if err != nil {
		return 0, unavailable("depth", err)
	}
	return n, nil
}

func unavailable(op string, err error) error {
	return fault.Wrap(fmt.Errorf("redisspool: %s: %w", op, err), fault.Unavailable, "event spool unavailable")
}
