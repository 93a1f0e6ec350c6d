-- verify: read, check, slide and re-expire one session in one round trip.
-- KEYS[1] the session, KEYS[2] the bucket index.
-- ARGV: now, sid, csrf ('' not presented, '1' matched, '0' mismatched: the
-- caller compared it in constant time), max_auth_age in ms ('' none),
-- user agent binding mode, presented user agent, IP binding mode, presented
-- IP prefix, rolling ('1'/'0'), kid to record ('' keep), the policy's idle
-- and absolute timeouts in seconds (a tightened policy shortens the session).
-- Checks run before any write, so a failed check never slides the timer.
-- Returns {'ok', fields, mismatched} | {'missing'} (never issued, revoked) |
-- {'expired_absolute'|'expired_idle'|'csrf'|'reauth', uid} |
-- {'binding', uid, mismatched}.
local base = base_of(KEYS[2])
local now, sid = tonumber(ARGV[1]), ARGV[2]
local h = redis.call('HMGET', KEYS[1], 'uid', 'exp', 'iexp', 'at', 'ua', 'ipn', 'idle', 'ca', 'ls')
if not h[2] then return {gone(KEYS[2], sid, now), ''} end
local uid = h[1] or ''
local idle, iexp, exp = effective(tonumber(h[8]), tonumber(h[9]), tonumber(h[7]),
  tonumber(h[3]), tonumber(h[2]), tonumber(ARGV[11]), tonumber(ARGV[12]))
local tightened = idle ~= tonumber(h[7]) or exp ~= tonumber(h[2])
local why = expired(now, exp, iexp)
if why then
  drop(base, sid, uid)
  return {why, uid}
end
local mismatched, enforce = {}, false
-- A session created with a device attribute must present it again: leaving
-- it out is a mismatch, or enforce could be bypassed by omitting the device.
local function bind(mode, presented, stored, name)
  if mode == 'off' or not stored or stored == '' or presented == stored then return end
  mismatched[#mismatched + 1] = name
  if mode == 'enforce' then enforce = true end
end
bind(ARGV[5], ARGV[6], h[5], 'user_agent')
bind(ARGV[7], ARGV[8], h[6], 'ip')
if enforce then return {'binding', uid, mismatched} end
if ARGV[3] == '0' then return {'csrf', uid} end
if ARGV[4] ~= '' then
  if not h[4] or now - tonumber(h[4]) > tonumber(ARGV[4]) then return {'reauth', uid} end
end
local upd = {'ls', now}
if ARGV[9] == '1' then
  iexp = now + idle * 1000
  if iexp > exp then iexp = exp end
end
if ARGV[9] == '1' or tightened then
  upd[#upd + 1] = 'iexp'
  upd[#upd + 1] = iexp
  expire_at(KEYS[1], key_deadline(exp, iexp), now)
end
if tightened then
  for _, kv in ipairs({'exp', exp, 'idle', idle}) do upd[#upd + 1] = kv end
  redis.call('ZADD', KEYS[2], 'XX', exp, sid)
end
if ARGV[10] ~= '' then
  upd[#upd + 1] = 'kid'
  upd[#upd + 1] = ARGV[10]
end
redis.call('HSET', KEYS[1], unpack(upd))
return {'ok', redis.call('HGETALL', KEYS[1]), mismatched}
