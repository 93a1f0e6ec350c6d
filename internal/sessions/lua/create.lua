-- create: add one session, enforcing the user's cap, atomically.
-- KEYS[1] the new session, KEYS[2] the bucket index, KEYS[3] the user's zset
-- (only for a user's session).
-- ARGV: now, sid, uid, max, on_limit, created_at, exp, iexp, then the
-- session's fields as name, value pairs.
-- Returns {'ok', evicted ids} | {'limit'} | {'exists'}.
local base = base_of(KEYS[2])
local now, sid, uid = tonumber(ARGV[1]), ARGV[2], ARGV[3]
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
-- Forget index entries past their deadline by more than the grace, during
-- which verify still reports such a session as expired.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - GRACE_MS)
local ok, evicted = make_room(base, uid, now, tonumber(ARGV[4]), ARGV[5], '')
if not ok then return {'limit'} end
local fields = {}
for i = 9, #ARGV do fields[#fields + 1] = ARGV[i] end
put(base, sid, fields, uid, tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), now)
return {'ok', evicted}
