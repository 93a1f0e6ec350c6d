-- regenerate: replace a session by a new one in the same bucket, atomically.
-- The old session dies; the new one keeps the device and the data, and
-- created_at and the absolute deadline unless the user changes (a login
-- starts a fresh lifetime under the policy's absolute timeout).
-- KEYS[1] the old session, KEYS[2] the new session, KEYS[3] the bucket index,
-- KEYS[4] the new user's zset (when the user changes).
-- ARGV: now, old sid, new sid, new uid ('' keep), set auth_time ('1'/'0'),
-- kid, max, on_limit, the policy's idle and absolute timeouts (s).
-- Returns {'ok', fields, evicted ids} | {'missing'} |
-- {'expired_absolute'|'expired_idle'|'limit', uid}.
local base = base_of(KEYS[3])
local now, old_sid, new_sid = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local f = to_map(redis.call('HGETALL', KEYS[1]))
if not f.exp then return {gone(KEYS[3], old_sid, now), ''} end
local old_uid = f.uid or ''
local idle, iexp, exp = effective(tonumber(f.ca), tonumber(f.ls), tonumber(f.idle),
  tonumber(f.iexp), tonumber(f.exp), tonumber(ARGV[9]), tonumber(ARGV[10]))
local why = expired(now, exp, iexp)
if why then
  drop(base, old_sid, old_uid)
  return {why, old_uid}
end
local uid = ARGV[4]
if uid == '' then uid = old_uid end
local ok, evicted = make_room(base, uid, now, tonumber(ARGV[7]), ARGV[8], old_sid)
if not ok then return {'limit', old_uid} end
drop(base, old_sid, old_uid)
if uid ~= old_uid then
  -- A login (the user changes) starts a fresh lifetime; nothing else does.
  f.ca = now
  exp = now + tonumber(ARGV[10]) * 1000
end
iexp = now + idle * 1000
if iexp > exp then iexp = exp end
f.idle, f.exp = idle, exp
f.uid = nil
if uid ~= '' then f.uid = uid end
if ARGV[5] == '1' then f.at = now end
f.ls, f.iexp, f.kid = now, iexp, ARGV[6]
local fields = {}
for k, v in pairs(f) do
  fields[#fields + 1] = k
  fields[#fields + 1] = v
end
put(base, new_sid, fields, uid, tonumber(f.ca), exp, iexp, now)
return {'ok', redis.call('HGETALL', KEYS[2]), evicted}
