-- common.lua is prepended to every session script. Keys are named as in
-- docs/architecture.md: base is "P:{T:B}:", the bucket's hash tag, and every
-- key a script builds from base lies in the same Cluster slot as the KEYS it
-- was given. Times are Unix milliseconds from the application's clock.

local function skey(base, sid) return base .. 's:' .. sid end
local function ukey(base, uid) return base .. 'u:' .. uid end

-- base_of returns "P:{T:B}:" from the bucket's "P:{T:B}:idx" key.
local function base_of(idxkey) return string.sub(idxkey, 1, -4) end

-- drop deletes one session and its index entries.
local function drop(base, sid, uid)
  redis.call('DEL', skey(base, sid))
  redis.call('ZREM', base .. 'idx', sid)
  if uid and uid ~= '' then redis.call('ZREM', ukey(base, uid), sid) end
end

-- dead reports whether a session is gone or past one of its deadlines.
local function dead(base, sid, now)
  local f = redis.call('HMGET', skey(base, sid), 'exp', 'iexp')
  if not f[1] then return true end
  return now >= tonumber(f[1]) or now >= tonumber(f[2])
end

-- expired returns 'expired_absolute', 'expired_idle' or nil for a session's
-- exp and iexp fields.
local function expired(now, exp, iexp)
  if now >= tonumber(exp) then return 'expired_absolute' end
  if now >= tonumber(iexp) then return 'expired_idle' end
  return nil
end

-- gone says why session sid has no hash: 'missing' (never issued, or
-- revoked: revocation removes the index entry too), or, when Redis expired
-- the hash, 'expired_absolute' / 'expired_idle' told apart by the absolute
-- deadline the index still holds for GRACE_MS (reported once).
local function gone(idxkey, sid, now)
  local deadline = redis.call('ZSCORE', idxkey, sid)
  if not deadline then return 'missing' end
  redis.call('ZREM', idxkey, sid)
  if now >= tonumber(deadline) then return 'expired_absolute' end
  return 'expired_idle'
end

-- effective returns a session's idle timeout (s), idle deadline and
-- absolute deadline (ms) under the tenant's policy now: a policy tightened
-- since the session began applies (idle from the last use, absolute from
-- creation); a looser one never lengthens the session.
local function effective(ca, ls, idle, iexp, exp, pidle, pabs)
  if pidle < idle then
    idle = pidle
    if ls + idle * 1000 < iexp then iexp = ls + idle * 1000 end
  end
  if ca + pabs * 1000 < exp then exp = ca + pabs * 1000 end
  if iexp > exp then iexp = exp end
  return idle, iexp, exp
end

-- expire_at makes key expire at deadline at (ms, application clock), given
-- the application's now: a relative PEXPIRE, so Redis's own clock never
-- matters. A deadline already past deletes the key.
local function expire_at(key, at, now)
  redis.call('PEXPIRE', key, math.max(at - now, 0))
end

-- extend_to makes key live at least until at (never shortens it).
local function extend_to(key, at, now)
  local cur = redis.call('PTTL', key)
  if cur ~= -2 and cur < at - now then expire_at(key, at, now) end
end

-- GRACE_MS (set from sessions.ExpiryGrace, before this file) is how long an
-- expired session is remembered, so verify can say "expired" rather than
-- "invalid": the idle-expired hash is kept that long (never past the absolute
-- deadline), and the bucket index, which holds every session's absolute
-- deadline, keeps an expired session's entry, and outlives its newest entry,
-- by as much.

-- key_deadline is the Redis expiry of a session key: the idle deadline plus
-- the grace, never past the absolute deadline.
local function key_deadline(exp, iexp)
  local at = iexp + GRACE_MS
  if at > exp then at = exp end
  return at
end

-- make_room enforces the per-user cap before one session of uid is added.
-- It first removes the user's dead sessions (all of them under a cap; the 16
-- oldest when unlimited, to keep the work bounded). exclude is a session that
-- is about to be replaced and does not count. It returns false when the cap
-- is reached under 'reject', else true and the evicted ids, oldest first.
local function make_room(base, uid, now, max, onlimit, exclude)
  local evicted = {}
  if uid == '' then return true, evicted end
  local uk = ukey(base, uid)
  local stop = -1
  if max <= 0 then stop = 15 end
  local live = {}
  for _, sid in ipairs(redis.call('ZRANGE', uk, 0, stop)) do
    if dead(base, sid, now) then
      -- Expired, not revoked: the bucket index keeps it for the grace.
      redis.call('DEL', skey(base, sid))
      redis.call('ZREM', uk, sid)
    elseif sid ~= exclude then
      live[#live + 1] = sid
    end
  end
  if max <= 0 then return true, evicted end
  local excess = #live - max + 1
  if excess <= 0 then return true, evicted end
  if onlimit ~= 'evict_oldest' then return false, evicted end
  for i = 1, excess do
    drop(base, live[i], uid)
    evicted[#evicted + 1] = live[i]
  end
  return true, evicted
end

-- put writes session sid from a flat field list and indexes it.
local function put(base, sid, fields, uid, ca, exp, iexp, now)
  local sk = skey(base, sid)
  redis.call('HSET', sk, unpack(fields))
  expire_at(sk, key_deadline(exp, iexp), now)
  local idx = base .. 'idx'
  redis.call('ZADD', idx, exp, sid)
  extend_to(idx, exp + GRACE_MS, now)
  if uid ~= '' then
    local uk = ukey(base, uid)
    redis.call('ZADD', uk, ca, sid)
    extend_to(uk, exp, now)
  end
end

-- to_map turns an HGETALL reply into a table.
local function to_map(flat)
  local m = {}
  for i = 1, #flat, 2 do m[flat[i]] = flat[i + 1] end
  return m
end

