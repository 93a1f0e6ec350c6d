-- regenerate: replace a session by its renewal in the same bucket,
-- atomically (sessions.Store.Regenerate). The old session dies; the new one
-- keeps the device and the data (renew()). Work: make_room's bound, plus
-- O(log N).
-- KEYS[1] the old session, KEYS[2] the new session, KEYS[3] the bucket
-- index, KEYS[4] the new user's index (when the user changes).
local a = {
  now = tonumber(ARGV[1]),
  old_sid = ARGV[2],
  new_sid = ARGV[3],
  uid = ARGV[4],                    -- the new user; '' keeps the old one
  set_auth = ARGV[5] == '1',        -- re-authenticated: auth_time = now
  kid = ARGV[6],                    -- the key signing the new token
  max = tonumber(ARGV[7]),          -- the user's cap, 0 unlimited
  evict_oldest = ARGV[8] == '1',
  pidle = tonumber(ARGV[9]),        -- the policy's idle timeout (s)
  pabs = tonumber(ARGV[10]),        -- the policy's absolute timeout (s)
  add = ARGV[11],                   -- factors proved now, 'method:kind,…'
  remember = ARGV[12] == '1',       -- a login with remember-me
  ridle = tonumber(ARGV[13]),        -- remember-me's idle timeout (s; 0 none)
  rabs = tonumber(ARGV[14]),         -- remember-me's absolute timeout (s; 0 none)
  iidle = tonumber(ARGV[15]),        -- impersonation's idle timeout (s)
  iabs = tonumber(ARGV[16]),         -- impersonation's absolute timeout (s)
}
-- Replies 'ok' with the new session and the evicted ids, or
-- 'expired_absolute', 'expired_idle', 'limit' (with the old uid; 'limit'
-- leaves the old session intact) or 'missing'.
local base = base_of(KEYS[3])
local r = read(KEYS[1])
if not r then return reply(gone(KEYS[3], a.old_sid, a.now)) end
local old_uid = r.uid
local ended, m = revoked(base, a.old_sid, r)
if ended then
  drop(base, a.old_sid, old_uid)
  return reply('missing')
end
effective(r, a)
local why = expiry(r, a.now)
if why ~= 'ok' then
  drop(base, a.old_sid, old_uid)
  return reply(why, old_uid, '', {}, 0, r.act)
end
local uid = a.uid
if uid == '' then uid = old_uid end
if uid ~= old_uid then m = marker(base, uid) end
local ok, evicted = make_room(base, uid, a.now, a.max, a.evict_oldest, a.old_sid, a, m)
if not ok then return reply('limit', old_uid) end
drop(base, a.old_sid, old_uid)
renew(r, a.now, a.uid, a.set_auth, a, a.add, a.remember)
r.kid = a.kid
local v = encode(r)
put(base, a.new_sid, r, v, a.now, m)
return reply('ok', r.uid, v, evicted)
