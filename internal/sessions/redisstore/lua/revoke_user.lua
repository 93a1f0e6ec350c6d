-- revoke_user: end every session of a user except, optionally, one
-- (sessions.Store.RevokeUser), at once, with bounded work: it ends and reads
-- at most `itemise` of them itself (oldest first), and when more are left it
-- writes the user's revocation marker (common.lua's marker()), which ends
-- the rest for every script from now on, until revoke_more has deleted them.
-- Sessions created later are not covered (put() scores them after the
-- cutoff). Nothing is ended when except is not a live session of the user.
-- Work: at most itemise + 1 entries and itemise GETs, plus O(log N).
-- KEYS[1] the user's index, KEYS[2] the bucket index.
local a = {
  now = tonumber(ARGV[1]),
  uid = ARGV[2],
  except = ARGV[3],                 -- '' none
  itemise = tonumber(ARGV[4]),      -- at most this many sessions ended and read here
}
-- Replies 'ok' with the ids of the sessions ended here that were live, and
-- n = how many other sessions the revocation covers, left to revoke_more
-- (0: all done); or 'missing'.
local base = base_of(KEYS[2])
local prior = marker(base, a.uid)
if a.except ~= '' then
  local kept = redis.call('ZSCORE', KEYS[1], a.except) and read(skey(base, a.except))
  if not kept or kept.uid ~= a.uid or expiry(kept, a.now) ~= 'ok' or covered(base, a.except, a.uid, prior) then
    return reply('missing')
  end
end
local top = redis.call('ZRANGE', KEYS[1], '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, 1, 'WITHSCORES')
if #top == 0 then return reply('ok', a.uid) end
-- Every entry now in the index, whatever clock wrote it, is at or before cutoff.
local cutoff = math.max(a.now, tonumber(top[2]))
local _, live, left = end_covered(base, a.uid, cutoff, a.except, a.itemise, a.now, true, prior)
local mk = mkey(base, a.uid)
if left <= 0 then
  if prior then redis.call('DEL', mk) end
  return reply('ok', a.uid, '', live, 0)
end
-- The marker lives as long as the index, past the absolute deadline of every
-- session it covers.
local v = string.format('%d', cutoff) .. ':' .. a.except
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('SET', mk, v, 'PX', ttl) else redis.call('SET', mk, v) end
return reply('ok', a.uid, '', live, left)
