-- create: add one session, enforcing the user's cap, atomically
-- (sessions.Store.Create).
-- KEYS[1] the new session, KEYS[2] the bucket index, KEYS[3] the user's
-- index (only for a user's session).
local a = {
  now = tonumber(ARGV[1]),
  sid = ARGV[2],
  max = tonumber(ARGV[3]),        -- the user's cap, 0 unlimited
  evict_oldest = ARGV[4] == '1',  -- at the cap: evict ('1') or refuse ('0')
  session = ARGV[5],              -- the encoded session
}
-- Replies 'ok' with the evicted ids (oldest first), 'limit' or 'exists'.
local base = base_of(KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 1 then return reply('exists') end
local r = decode(a.session)
if not r then return redis.error_reply('create: malformed session') end
-- Forget index entries past their deadline by more than the grace, during
-- which verify still reports such a session as expired.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', a.now - GRACE_MS)
local ok, evicted = make_room(base, r.uid, a.now, a.max, a.evict_oldest, '')
if not ok then return reply('limit', r.uid) end
put(base, a.sid, r, a.now)
return reply('ok', r.uid, '', evicted)
