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
  session = ARGV[5],              -- the encoded session, stored as it is
  -- The fields of that session create reads, from the same record, by their
  -- layout.lua names (a stands for the session in put): it is not decoded.
  uid = ARGV[6],
  prof = tonumber(ARGV[7]),
  ca = tonumber(ARGV[8]),
  exp = tonumber(ARGV[9]),
  iexp = tonumber(ARGV[10]),
  pidle = tonumber(ARGV[11]),     -- the policy's idle timeout (s)
  pabs = tonumber(ARGV[12]),      -- the policy's absolute timeout (s)
  ridle = tonumber(ARGV[13]),     -- remember-me's idle timeout (s; 0 none)
  rabs = tonumber(ARGV[14]),      -- remember-me's absolute timeout (s; 0 none)
  iidle = tonumber(ARGV[15]),     -- impersonation's idle timeout (s)
  iabs = tonumber(ARGV[16]),      -- impersonation's absolute timeout (s)
}
-- Replies 'ok' with the evicted ids (oldest first), 'limit' or 'exists'.
local base = base_of(KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 1 then return reply('exists') end
-- Forget a chunk of index entries verify no longer reports.
forget_dead(KEYS[2], a.now)
local m = marker(base, a.uid)
local ok, evicted
if a.prof == 2 then
  -- an impersonated session never counts toward the user's cap
  ok, evicted = true, make_acting_room(base, a.uid, a.now, a, m)
else
  ok, evicted = make_room(base, a.uid, a.now, a.max, a.evict_oldest, '', a, m)
end
if not ok then return reply('limit', a.uid) end
put(base, a.sid, a, a.session, a.now, m)
return reply('ok', a.uid, '', evicted)
