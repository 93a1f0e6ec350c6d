-- revoke: delete one session and its index entries.
-- KEYS[1] the session, KEYS[2] the bucket index. ARGV: sid.
-- Returns {'ok', uid} | {'missing'}.
local base = base_of(KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local uid = redis.call('HGET', KEYS[1], 'uid') or ''
drop(base, ARGV[1], uid)
return {'ok', uid}
