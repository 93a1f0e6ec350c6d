-- revoke_user: delete every session of a user except, optionally, one
-- (sessions.Store.RevokeUser). Nothing is deleted when except is not a live
-- session of the user.
-- KEYS[1] the user's index, KEYS[2] the bucket index.
local a = {
  now = tonumber(ARGV[1]),
  uid = ARGV[2],
  except = ARGV[3],                 -- '' none
}
-- Replies 'ok' with the revoked ids (those that were live), or 'missing'.
local base = base_of(KEYS[2])
if a.except ~= '' then
  local kept = redis.call('ZSCORE', KEYS[1], a.except) and read(skey(base, a.except))
  if not kept or kept.uid ~= a.uid or expiry(kept, a.now) ~= 'ok' then return reply('missing') end
end
local revoked = {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if sid ~= a.except then
    if not dead(base, sid, a.now) then revoked[#revoked + 1] = sid end
    drop(base, sid, a.uid)
  end
end
return reply('ok', a.uid, '', revoked)
