-- create: add one session, enforcing the user's cap, atomically
-- (sessions.Store.Create). Work: make_room's bound plus FORGET_CHUNK bucket
-- index entries, whatever the user or the bucket holds.
-- KEYS[1] the new session, KEYS[2] the bucket index, KEYS[3] the user's
-- index (only for a user's session).
local a = {
  now = tonumber(ARGV[1]),
  sid = ARGV[2],
  max = tonumber(ARGV[3]),        -- the user's cap, 0 unlimited
  evict_oldest = ARGV[4] == '1',  -- at the cap: evict ('1') or refuse ('0')
  session = ARGV[5],              -- the encoded session
  pidle = tonumber(ARGV[6]),      -- the policy's idle timeout (s)
  pabs = tonumber(ARGV[7]),       -- the policy's absolute timeout (s)
  ridle = tonumber(ARGV[8]),        -- remember-me's idle timeout (s; 0 none)
  rabs = tonumber(ARGV[9]),         -- remember-me's absolute timeout (s; 0 none)
  iidle = tonumber(ARGV[10]),        -- impersonation's idle timeout (s)
  iabs = tonumber(ARGV[11]),         -- impersonation's absolute timeout (s)
}
-- Replies 'ok' with the evicted ids (oldest first), 'limit' or 'exists'.
local base = base_of(KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 1 then return reply('exists') end
local r = decode(a.session)
if not r then return redis.error_reply('create: malformed session') end
-- Forget a chunk of index entries verify no longer reports.
forget_dead(KEYS[2], a.now)
local ok, evicted
if r.prof == 2 then
  -- an impersonated session never counts toward the user's cap
  ok, evicted = true, make_acting_room(base, r.uid, a.now, timeouts(a))
else
  ok, evicted = make_room(base, r.uid, a.now, a.max, a.evict_oldest, '', timeouts(a))
end
if not ok then return reply('limit', r.uid) end
put(base, a.sid, r, a.now)
return reply('ok', r.uid, '', evicted)
