-- revoke: delete one session and its index entries (sessions.Store.Revoke).
-- KEYS[1] the session, KEYS[2] the bucket index.
local a = {
  sid = ARGV[1],
}
-- Replies 'ok' with the uid, or 'missing'.
local r = read(KEYS[1])
if not r then return reply('missing') end
drop(base_of(KEYS[2]), a.sid, r.uid)
return reply('ok', r.uid)
