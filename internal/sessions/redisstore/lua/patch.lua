-- patch: replace a live session's data if its version is still the one
-- read (sessions.Store.Patch). The deadlines and the key's expiry stay.
-- KEYS[1] the session.
local a = {
  now = tonumber(ARGV[1]),
  version = tonumber(ARGV[2]),      -- the version the data was read at
  data = ARGV[3],
}
-- Replies 'ok' with the session written, 'conflict' or 'missing'.
local r = read(KEYS[1])
if not r or expiry(r, a.now) ~= 'ok' then return reply('missing') end
if r.ver ~= a.version then return reply('conflict', r.uid) end
r.data = a.data
r.ver = r.ver + 1
return reply('ok', r.uid, store(KEYS[1], r, a.now, false))
