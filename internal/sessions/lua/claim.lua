-- claim: take a live session out of Redis and return it, so that it can be
-- re-created in another bucket (regenerate across buckets). Of concurrent
-- claims of one session, exactly one gets it.
-- KEYS[1] the session, KEYS[2] the bucket index. ARGV: now, sid, the
-- policy's idle and absolute timeouts (s), which the returned fields obey.
-- Returns {'ok', fields} | {'missing'} | {'expired_absolute'|'expired_idle', uid}.
local base = base_of(KEYS[2])
local now, sid = tonumber(ARGV[1]), ARGV[2]
local f = to_map(redis.call('HGETALL', KEYS[1]))
if not f.exp then return {gone(KEYS[2], sid, now), ''} end
local uid = f.uid or ''
drop(base, sid, uid)
local idle, iexp, exp = effective(tonumber(f.ca), tonumber(f.ls), tonumber(f.idle),
  tonumber(f.iexp), tonumber(f.exp), tonumber(ARGV[3]), tonumber(ARGV[4]))
local why = expired(now, exp, iexp)
if why then return {why, uid} end
-- As strings, like every other field: a Lua number would come back as an
-- integer reply.
f.idle, f.iexp, f.exp = string.format('%.0f', idle), string.format('%.0f', iexp), string.format('%.0f', exp)
local out = {}
for k, v in pairs(f) do
  out[#out + 1] = k
  out[#out + 1] = v
end
return {'ok', out}
