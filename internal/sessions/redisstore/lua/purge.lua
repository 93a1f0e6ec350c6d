-- purge: delete the next chunk of one bucket of a tenant: at most limit
-- sessions of its index, their users' indexes and pending revocations
-- (UNLINK: freed off the main thread, whatever their size), and the index
-- once empty (sessions.Store.PurgeBuckets calls it until then). Work: at
-- most limit entries and GETs.
-- KEYS[1] the bucket index.
local a = {
  limit = tonumber(ARGV[1]),
}
-- Replies 'more' while the index holds sessions, else 'ok'.
local base = base_of(KEYS[1])
local members = redis.call('ZRANGE', KEYS[1], 0, a.limit - 1)
local users = {}
for _, sid in ipairs(members) do
  local r = read(skey(base, sid))
  if r and r.uid ~= '' then users[r.uid] = true end
  redis.call('DEL', skey(base, sid))
end
for uid in pairs(users) do redis.call('UNLINK', ukey(base, uid), mkey(base, uid), akey(base, uid)) end
if #members > 0 then redis.call('ZREM', KEYS[1], unpack(members)) end
if redis.call('EXISTS', KEYS[1]) == 1 then return reply('more') end
return reply('ok')
