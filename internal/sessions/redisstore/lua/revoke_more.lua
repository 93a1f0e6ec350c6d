-- revoke_more: delete the next chunk of the sessions a pending revocation
-- of the user covers (sessions.Store.RevokeUserChunk), and the marker once
-- none is left. Work: at most limit + 1 entries, one DEL, two ZREMs, none
-- read, plus O(log N).
-- KEYS[1] the user's index, KEYS[2] the bucket index.
local a = {
  uid = ARGV[1],
  limit = tonumber(ARGV[2]),        -- at most this many sessions deleted
}
-- Replies 'more' or 'ok' (nothing left), with n = the sessions deleted.
local base = base_of(KEYS[2])
local m = marker(base, a.uid)
if not m then return reply('ok', a.uid) end
local ended, _, left = end_covered(base, a.uid, m.cutoff, m.except, a.limit, 0, false, nil)
if left > 0 then return reply('more', a.uid, '', {}, #ended) end
redis.call('DEL', mkey(base, a.uid))
return reply('ok', a.uid, '', {}, #ended)
