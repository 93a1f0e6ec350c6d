-- purge: delete every key of one bucket of a tenant: the sessions in its
-- index, their users' indexes, and the index (sessions.Store.PurgeBuckets).
-- KEYS[1] the bucket index. No arguments.
-- Replies 'ok'.
local base = base_of(KEYS[1])
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local users = {}
for _, sid in ipairs(members) do
  local r = read(skey(base, sid))
  if r and r.uid ~= '' then users[r.uid] = true end
  redis.call('DEL', skey(base, sid))
end
for uid in pairs(users) do redis.call('DEL', ukey(base, uid)) end
redis.call('DEL', KEYS[1])
return reply('ok')
