-- claim: take a live session out of Redis and return it, so that it can be
-- re-created in another bucket (regenerate across buckets). Of concurrent
-- claims of one session, exactly one gets it.
-- KEYS[1] the session, KEYS[2] the bucket index. ARGV: now, sid.
-- Returns {'ok', fields} | {'missing'} | {'expired_absolute'|'expired_idle', uid}.
local base = base_of(KEYS[2])
local now, sid = tonumber(ARGV[1]), ARGV[2]
local flat = redis.call('HGETALL', KEYS[1])
local f = to_map(flat)
if not f.exp then return {gone(KEYS[2], sid, now), ''} end
local uid = f.uid or ''
drop(base, sid, uid)
local why = expired(now, f.exp, f.iexp)
if why then return {why, uid} end
return {'ok', flat}
