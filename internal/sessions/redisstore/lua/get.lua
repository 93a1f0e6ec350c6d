-- get: read one session as stored (sessions.Store.Get, Records), unless a
-- pending revocation of its user ended it. Read-only. Work: O(log N).
-- KEYS[1] the session.
local a = {
  sid = ARGV[1],
}
-- Replies 'ok' with the session as stored, or 'missing' with n = 1 when the
-- key exists all the same (a session of an older layout, or one a pending
-- revocation ended), 0 when it does not.
local v = redis.pcall('GET', KEYS[1])
if type(v) ~= 'string' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return reply('missing', '', '', {}, 1) end
  return reply('missing')
end
local r = decode(v)
if not r or revoked(base_of_session(KEYS[1]), a.sid, r) then return reply('missing', '', '', {}, 1) end
return reply('ok', r.uid, v)
