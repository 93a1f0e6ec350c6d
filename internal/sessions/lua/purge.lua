-- purge: delete every key of one bucket of a tenant: the sessions in its
-- index, their users' zsets, and the index.
-- KEYS[1] the bucket index. Returns the number of sessions deleted.
local base = base_of(KEYS[1])
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local users = {}
for _, sid in ipairs(members) do
  local uid = redis.call('HGET', skey(base, sid), 'uid')
  if uid then users[uid] = true end
  redis.call('DEL', skey(base, sid))
end
for uid in pairs(users) do redis.call('DEL', ukey(base, uid)) end
redis.call('DEL', KEYS[1])
return #members
