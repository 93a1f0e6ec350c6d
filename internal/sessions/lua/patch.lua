-- patch: replace a live session's data if its version is still the one read.
-- KEYS[1] the session. ARGV: now, expected version, data.
-- Returns {'ok', fields} | {'missing'} | {'conflict'}.
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'exp', 'iexp', 'ver')
if not f[1] or expired(now, f[1], f[2]) then return {'missing'} end
if f[3] ~= ARGV[2] then return {'conflict'} end
redis.call('HSET', KEYS[1], 'data', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'ver', 1)
return {'ok', redis.call('HGETALL', KEYS[1])}
