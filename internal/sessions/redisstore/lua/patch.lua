-- patch: replace a live session's data if its version is still the one
-- read (sessions.Store.Patch). The deadlines and the key's expiry stay.
-- Work: O(log N) (the session, its user's pending revocation).
-- KEYS[1] the session.
local a = {
  now = tonumber(ARGV[1]),
  sid = ARGV[2],
  version = tonumber(ARGV[3]),      -- the version the data was read at
  data = ARGV[4],
}
-- Replies 'ok' with the session written, 'conflict' or 'missing'.
local r = read(KEYS[1])
if not r or expiry(r, a.now) ~= 'ok' then return reply('missing') end
if revoked(base_of_session(KEYS[1]), a.sid, r) then return reply('missing') end
if r.ver ~= a.version then return reply('conflict', r.uid) end
r.data = a.data
r.ver = r.ver + 1
return reply('ok', r.uid, store(KEYS[1], r, encode(r), a.now, false))
