-- revoke_acting: end a chunk of a user's impersonated sessions
-- (sessions.Store.RevokeActing calls it until none is left), leaving the
-- user's own. Work: at most ACTING_WALK entries and GETs, whatever the set
-- holds (make_acting_room keeps it about that small anyway).
-- KEYS[1] the user's impersonated sessions, KEYS[2] the bucket index.
local a = {
  now = tonumber(ARGV[1]),
  uid = ARGV[2],
}
-- Replies 'ok' with the sessions ended that were live, each as
-- "<sid> <actor>" (ids and actors never hold a space), and n = how many
-- entries are left for the next call (0: done).
local base = base_of(KEYS[2])
local m = marker(base, a.uid)
local ended = {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, ACTING_WALK - 1)) do
  local r = read(skey(base, sid))
  if r and r.uid == a.uid and not covered(base, sid, a.uid, m) and expiry(r, a.now) == 'ok' then
    ended[#ended + 1] = sid .. ' ' .. r.act
  end
  drop(base, sid, a.uid)
end
return reply('ok', a.uid, '', ended, redis.call('ZCARD', KEYS[1]))
