-- common.lua is prepended to every session script, after GRACE_MS (from
-- sessions.ExpiryGrace: how long an expired session is remembered, so that
-- verify can say "expired" rather than "invalid"). Keys are named as in
-- docs/architecture.md: base is "P:{T:B}:", the bucket's hash tag, and every
-- key a script builds from base lies in the same Cluster slot as the KEYS it
-- was given. Times are Unix milliseconds from the application's clock.
--
-- Each script names its arguments once, at its top (local a = {...}), in
-- the order scripts.go passes them, and answers with reply().

local function skey(base, sid) return base .. 's:' .. sid end
local function ukey(base, uid) return base .. 'u:' .. uid end

-- base_of returns "P:{T:B}:" from the bucket's "P:{T:B}:idx" key.
local function base_of(idxkey) return string.sub(idxkey, 1, -4) end

-- reply is every script's answer: {status, uid, session, ids}. status is a
-- sessions.Status word; uid the session's user ('' when unknown); session
-- an encoded session ('' when none); ids a list whose meaning each script
-- states.
local function reply(status, uid, session, ids)
  return {status, uid or '', session or '', ids or {}}
end

-- The session value: a msgpack array, always of 14 fields in this order
-- (codec.go has the same): 1 uid, 2 ca, 3 ls, 4 at, 5 exp, 6 idle, 7 iexp,
-- 8 ver, 9 kid, 10 ua, 11 ip, 12 ipb, 13 lbl, 14 data. ls, exp and iexp are
-- ms after ca; at is ms after ca, or -1 when the user never authenticated.
-- decode returns a table of named fields with absolute times (at 0: never),
-- or nil for anything else.
local function decode(s)
  local ok, f = pcall(cmsgpack.unpack, s)
  if not ok or type(f) ~= 'table' or #f ~= 14 then return nil end
  local ca = f[2]
  local at = 0
  if f[4] ~= -1 then at = ca + f[4] end
  return {uid = f[1], ca = ca, ls = ca + f[3], at = at, exp = ca + f[5], idle = f[6],
    iexp = ca + f[7], ver = f[8], kid = f[9], ua = f[10], ip = f[11], ipb = f[12],
    lbl = f[13], data = f[14]}
end

-- encode reverses decode.
local function encode(r)
  local at = -1
  if r.at ~= 0 then at = r.at - r.ca end
  return cmsgpack.pack({r.uid, r.ca, r.ls - r.ca, at, r.exp - r.ca, r.idle,
    r.iexp - r.ca, r.ver, r.kid, r.ua, r.ip, r.ipb, r.lbl, r.data})
end

-- read returns the session at key, or nil when there is none (or the key
-- holds something else, such as a session of an older layout).
local function read(key)
  local v = redis.pcall('GET', key)
  if type(v) ~= 'string' then return nil end
  return decode(v)
end

---------------------------------------------------------------------------
-- The rules the scripts apply atomically. Each is the Go function named
-- beside it in internal/sessions/rules.go, and must give the same results
-- (redisstore's TestLuaRulesAgreeWithGo checks randomized cases).

-- slide: sessions.Slide. The idle deadline of a session used at now.
local function slide(now, idle, exp)
  return math.min(now + idle * 1000, exp)
end

-- effective: sessions.Record.Effective. Applies a tightened policy (its
-- idle and absolute timeouts, s) to r and returns r.
local function effective(r, pidle, pabs)
  if pidle < r.idle then
    r.idle = pidle
    r.iexp = math.min(r.iexp, r.ls + pidle * 1000)
  end
  r.exp = math.min(r.exp, r.ca + pabs * 1000)
  r.iexp = math.min(r.iexp, r.exp)
  return r
end

-- expiry: sessions.Record.Expiry. 'ok', 'expired_absolute' or
-- 'expired_idle'.
local function expiry(r, now)
  if now >= r.exp then return 'expired_absolute' end
  if now >= r.iexp then return 'expired_idle' end
  return 'ok'
end

-- renew: sessions.Record.Renew. r regenerated at now for user uid ('' keeps
-- r's); a change of user is a login: a fresh lifetime and auth_time.
local function renew(r, now, uid, set_auth, pabs)
  if uid == '' then uid = r.uid end
  if uid ~= r.uid then
    r.ca = now
    r.exp = now + pabs * 1000
    set_auth = true
  end
  r.uid = uid
  if set_auth then r.at = now end
  r.ls = now
  r.iexp = slide(now, r.idle, r.exp)
  return r
end

-- binding_mismatch: sessions.BindingMismatch.
local function binding_mismatch(mode, presented, stored)
  if mode ~= 'report' and mode ~= 'enforce' then return false end
  return stored ~= '' and presented ~= stored
end

-- needs_reauth: sessions.NeedsReauth. max_age in ms, negative: no check.
local function needs_reauth(now, at, max_age)
  if max_age < 0 then return false end
  return at == 0 or now - at > max_age
end

-- room: sessions.Cap.Room. How many of the oldest of a user's live
-- sessions to evict before one more is added, and whether it may be.
local function room(live, max, evict_oldest)
  if max <= 0 then return 0, true end
  local excess = live - max + 1
  if excess <= 0 then return 0, true end
  if not evict_oldest then return 0, false end
  return excess, true
end

---------------------------------------------------------------------------
-- Storage: where sessions, their indexes and their Redis expiry are kept.

-- key_deadline is the Redis expiry of a session: its idle deadline plus
-- the grace, never past its absolute deadline.
local function key_deadline(r)
  return math.min(r.iexp + GRACE_MS, r.exp)
end

-- store writes session r at key and returns its encoding. With expire, the
-- key expires at key_deadline(r), relative to the application's now
-- (PX, so Redis's own clock never matters; a deadline already past deletes
-- the key); without, it keeps its expiry.
local function store(key, r, now, expire)
  local v = encode(r)
  if not expire then
    redis.call('SET', key, v, 'KEEPTTL')
    return v
  end
  local ttl = key_deadline(r) - now
  if ttl > 0 then
    redis.call('SET', key, v, 'PX', ttl)
  else
    redis.call('DEL', key)
  end
  return v
end

-- extend_to makes key live at least until at (never shortens it).
local function extend_to(key, at, now)
  local cur = redis.call('PTTL', key)
  if cur ~= -2 and cur < at - now then redis.call('PEXPIRE', key, math.max(at - now, 0)) end
end

-- drop deletes one session and its index entries.
local function drop(base, sid, uid)
  redis.call('DEL', skey(base, sid))
  redis.call('ZREM', base .. 'idx', sid)
  if uid and uid ~= '' then redis.call('ZREM', ukey(base, uid), sid) end
end

-- dead reports whether session sid is gone or past one of its deadlines.
local function dead(base, sid, now)
  local r = read(skey(base, sid))
  return not r or expiry(r, now) ~= 'ok'
end

-- gone says why session sid has no value: 'missing' (never issued, or
-- revoked: revocation removes the index entry too), or, when Redis expired
-- the key, 'expired_absolute' / 'expired_idle' told apart by the absolute
-- deadline the bucket index still holds for GRACE_MS (reported once).
local function gone(idxkey, sid, now)
  local deadline = redis.call('ZSCORE', idxkey, sid)
  if not deadline then return 'missing' end
  redis.call('ZREM', idxkey, sid)
  if now >= tonumber(deadline) then return 'expired_absolute' end
  return 'expired_idle'
end

-- make_room enforces the per-user cap before one session of uid is added.
-- It first removes the user's dead sessions (all of them under a cap; the 16
-- oldest when unlimited, to keep the work bounded). exclude is a session that
-- is about to be replaced and does not count. It returns false when room()
-- refuses, else true and the evicted ids, oldest first.
local function make_room(base, uid, now, max, evict_oldest, exclude)
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
  local evict, ok = room(#live, max, evict_oldest)
  if not ok then return false, evicted end
  for i = 1, evict do
    drop(base, live[i], uid)
    evicted[#evicted + 1] = live[i]
  end
  return true, evicted
end

-- put stores session r as sid, indexes it, and returns its encoding. The
-- bucket index holds its absolute deadline, and outlives its newest entry
-- by GRACE_MS; the user's index holds its created_at.
local function put(base, sid, r, now)
  local v = store(skey(base, sid), r, now, true)
  local idx = base .. 'idx'
  redis.call('ZADD', idx, r.exp, sid)
  extend_to(idx, r.exp + GRACE_MS, now)
  if r.uid ~= '' then
    local uk = ukey(base, r.uid)
    redis.call('ZADD', uk, r.ca, sid)
    extend_to(uk, r.exp, now)
  end
  return v
end

