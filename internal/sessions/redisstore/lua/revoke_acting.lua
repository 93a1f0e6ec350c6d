-- revoke_acting: end every impersonated session of a user
-- (sessions.Store.RevokeActing), leaving the user's own. Work: at most
-- MAX_ACTING + 1 entries and GETs (make_acting_room keeps the set that
-- small).
-- KEYS[1] the user's impersonated sessions, KEYS[2] the bucket index.
local a = {
  now = tonumber(ARGV[1]),
  uid = ARGV[2],
}
-- Replies 'ok' with the sessions ended that were live, each as
-- "<sid> <actor>" (ids and actors never hold a space).
local base = base_of(KEYS[2])
local m = marker(base, a.uid)
local ended = {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local r = read(skey(base, sid))
  if r and r.uid == a.uid and not covered(base, sid, a.uid, m) and expiry(r, a.now) == 'ok' then
    ended[#ended + 1] = sid .. ' ' .. r.act
  end
  drop(base, sid, a.uid)
end
return reply('ok', a.uid, '', ended)
