-- revoke_user: delete every session of a user except, optionally, one.
-- KEYS[1] the user's zset, KEYS[2] the bucket index. ARGV: now, uid, except
-- ('' none). Nothing is deleted when except is not a live session of uid.
-- Returns {'ok', revoked ids (those that were live)} | {'not_found'}.
local base = base_of(KEYS[2])
local now, uid, except = tonumber(ARGV[1]), ARGV[2], ARGV[3]
if except ~= '' then
  if not redis.call('ZSCORE', KEYS[1], except) or dead(base, except, now)
    or redis.call('HGET', skey(base, except), 'uid') ~= uid then
    return {'not_found'}
  end
end
local revoked = {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if sid ~= except then
    if not dead(base, sid, now) then revoked[#revoked + 1] = sid end
    drop(base, sid, uid)
  end
end
return {'ok', revoked}
