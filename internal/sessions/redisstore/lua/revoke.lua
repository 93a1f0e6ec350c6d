-- revoke: delete one session and its index entries (sessions.Store.Revoke).
-- Work: O(log N). KEYS[1] the session, KEYS[2] the bucket index.
local a = {
  sid = ARGV[1],
}
-- Replies 'ok' with the uid, or 'missing' (also for a session a pending
-- revocation already ended).
local r = read(KEYS[1])
if not r then return reply('missing') end
local base = base_of(KEYS[2])
local ended = revoked(base, a.sid, r)
drop(base, a.sid, r.uid)
if ended then return reply('missing') end
return reply('ok', r.uid, '', {}, 0, r.act)
