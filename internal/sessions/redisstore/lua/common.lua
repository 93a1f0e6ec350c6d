-- common.lua's definitions that a session script uses (scripts.go's
-- prelude: so each top-level statement here is a commented `local`) are
-- prepended to it, after GRACE_MS (from
-- sessions.ExpiryGrace: how long an expired session is remembered, so that
-- verify can say "expired" rather than "invalid"), MAX_ACTING
-- (sessions.MaxActing) and layout.lua (the
-- session value's decode and encode, generated from layout/layout.go).
-- Keys are named as in docs/architecture.md: base is "P:{T:B}:", the
-- bucket's hash tag, and every
-- key a script builds from base lies in the same Cluster slot as the KEYS it
-- was given. Times are Unix milliseconds from the application's clock.
--
-- Each script names its arguments once, at its top (local a = {...}), in
-- the order scripts.go passes them, and answers with reply().

-- Work bounds: every script does O(1) work plus at most one bounded chunk
-- over a user's or a bucket's entries, whatever the user or tenant holds.
local CAP_WALK = 128      -- oldest entries of a user's index make_room reads at the cap
local FORGET_CHUNK = 128  -- dead index entries one script forgets
local REPORT_MS = 2 * GRACE_MS -- an index entry is forgotten this long after its score

local function skey(base, sid) return base .. 's:' .. sid end
local function ukey(base, uid) return base .. 'u:' .. uid end
local function mkey(base, uid) return base .. 'r:' .. uid end
-- akey is the user's impersonated sessions: a subset of the user's index,
-- with the same scores, so they can be left out of the cap and ended alone.
-- A user has at most MAX_ACTING of them live (sessions.MaxActing).
local function akey(base, uid) return base .. 'a:' .. uid end

-- base_of returns "P:{T:B}:" from the bucket's "P:{T:B}:idx" key.
local function base_of(idxkey) return string.sub(idxkey, 1, -4) end

-- base_of_session returns "P:{T:B}:" from a session's "P:{T:B}:s:<sid>" key
-- (session ids never hold ':').
local function base_of_session(key) return string.match(key, '^(.*:)s:[^:]*$') end

-- reply is every script's answer: {status, uid, session, ids, n, act}.
-- status is a sessions.Status word; uid the session's user ('' when
-- unknown); session an encoded session ('' when none); ids a list and n a
-- number whose meaning each script states (0 when it states none); act the
-- session's actor when it is impersonated and no session is returned (so
-- its events name it), else ''.
local function reply(status, uid, session, ids, n, act)
  return {status, uid or '', session or '', ids or {}, n or 0, act or ''}
end

-- read returns the session at key and its stored bytes (which a script
-- that changed nothing answers as they are, instead of encoding the session
-- again), or nil when there is none (or the key holds something else, such
-- as a session of an older layout).
local function read(key)
  local v = redis.pcall('GET', key)
  if type(v) ~= 'string' then return nil end
  local r = decode(v)
  if not r then return nil end
  return r, v
end

---------------------------------------------------------------------------
-- The rules the scripts apply atomically. Each is the Go function named
-- beside it in internal/sessions/rules.go, and must give the same results
-- (redisstore's TestLuaRulesAgreeWithGo checks randomized cases).

-- slide: sessions.Slide. The idle deadline of a session used at now.
local function slide(now, idle, exp)
  return math.min(now + idle * 1000, exp)
end

-- The timeouts t the rules below take are sessions.Timeouts: any table
-- with the fields pidle, pabs (the standard lifetime, s), ridle, rabs
-- (remember-me) and iidle, iabs (impersonation; 0: the standard one). The
-- scripts that take them name their arguments so and pass their own a.

-- lifetime: sessions.Timeouts.For. The idle and absolute timeouts of
-- profile prof.
local function lifetime(t, prof)
  if prof == 1 and t.rabs > 0 then return t.ridle, t.rabs end
  if prof == 2 and t.iabs > 0 then return t.iidle, t.iabs end
  return t.pidle, t.pabs
end

-- longest: sessions.Timeouts.Longest.
local function longest(t)
  return math.max(t.pabs, t.rabs, t.iabs)
end

-- effective: sessions.Record.Effective. Applies a tightened policy (the
-- timeouts t of r's profile) to r and returns r.
local function effective(r, t)
  local pidle, pabs = lifetime(t, r.prof)
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

-- add_factors: sessions.AddFactors. amr with each 'method:kind' of add
-- verified at now (ms after base): an existing method's time is replaced in
-- place, a new one appended.
local function add_factors(amr, add, now, base)
  if add == '' then return amr end
  local out, at = {}, {}
  for m, k, t in string.gmatch(amr, '([^:,]+):(%a):(%-?%d+)') do
    out[#out + 1] = {m, k, t}
    at[m] = #out
  end
  for m, k in string.gmatch(add, '([^:,]+):(%a)') do
    local i = at[m]
    if not i then
      out[#out + 1] = {m, k, 0}
      i = #out
      at[m] = i
    end
    out[i][3] = string.format('%d', now - base)
  end
  for i, f in ipairs(out) do out[i] = f[1] .. ':' .. f[2] .. ':' .. f[3] end
  return table.concat(out, ',')
end

-- aal: sessions.AAL. 2 when amr holds factors of two kinds, else 1.
local function aal(amr)
  local first
  for k in string.gmatch(amr, '[^:,]+:(%a):%-?%d+') do
    if not first then first = k elseif k ~= first then return 2 end
  end
  return 1
end

-- step_up_met: sessions.StepUpMet. amr (of a session created at base)
-- gives at least min_aal, and each 'method:ms' of ages was verified at
-- most ms before now.
local function step_up_met(amr, base, now, min_aal, ages)
  if aal(amr) < min_aal then return false end
  if ages == '' then return true end
  local at = {}
  for m, t in string.gmatch(amr, '([^:,]+):%a:(%-?%d+)') do at[m] = base + tonumber(t) end
  for m, age in string.gmatch(ages, '([^:,]+):(%d+)') do
    if not at[m] or now - at[m] > tonumber(age) then return false end
  end
  return true
end

-- renew: sessions.Record.Renew. r regenerated at now for user uid ('' keeps
-- r's); a change of user is a login: a fresh lifetime (remember-me's when
-- remember) and auth_time, no actor, and only the factors of add;
-- otherwise add's factors are added to r's.
local function renew(r, now, uid, set_auth, t, add, remember)
  if uid == '' then uid = r.uid end
  if uid ~= r.uid then
    local prof = 0
    if remember then prof = 1 end
    local idle, abs = lifetime(t, prof)
    if not remember then idle = math.min(idle, r.idle) end
    r.prof, r.act, r.idle = prof, '', idle
    r.ca = now
    r.exp = now + abs * 1000
    r.amr = ''
    set_auth = true
  end
  r.amr = add_factors(r.amr, add, now, r.ca)
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

-- idx_score is session r's score in the bucket index: its idle deadline
-- (never past its absolute one), so the entries scored after now are the
-- live sessions; its lowest bit says what the key's Redis expiry is (odd:
-- the idle deadline plus the grace; even: the absolute deadline), which
-- moves it by at most 1 ms.
local function idx_score(r)
  local s = r.iexp - r.iexp % 2
  if r.iexp + GRACE_MS < r.exp then s = s + 1 end
  return s
end

-- store writes v, the encoding of session r, at key and returns v. With
-- expire, the key expires at key_deadline(r), relative to the application's
-- now (PX, so Redis's own clock never matters; a deadline already past
-- deletes the key); without, it keeps its expiry. Of r it reads only the
-- deadlines, exp and iexp.
local function store(key, r, v, now, expire)
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

-- extend_to makes key, if it exists, live at least until at (after now):
-- it never shortens it, and a key without expiry gets one. One PEXPIRE when
-- that moves the expiry later (GT), a second when it did not (NX: the key
-- had no expiry yet).
local function extend_to(key, at, now)
  if at <= now then return end
  if redis.call('PEXPIRE', key, at - now, 'GT') == 0 then redis.call('PEXPIRE', key, at - now, 'NX') end
end

-- drop deletes one session and its index entries.
local function drop(base, sid, uid)
  redis.call('DEL', skey(base, sid))
  redis.call('ZREM', base .. 'idx', sid)
  if uid and uid ~= '' then
    redis.call('ZREM', ukey(base, uid), sid)
    redis.call('ZREM', akey(base, uid), sid)
  end
end

-- marker returns the user's pending revocation ("log out everywhere" or
-- "other devices" whose deletion is still under way), {cutoff = ms, except
-- = sid or ''}, or nil. It ends every session of the user whose score in the
-- user's index is at most cutoff, except the one kept. One GET.
local function marker(base, uid)
  if uid == '' then return nil end
  local v = redis.call('GET', mkey(base, uid))
  if not v then return nil end
  local sep = string.find(v, ':', 1, true)
  return {cutoff = tonumber(string.sub(v, 1, sep - 1)), except = string.sub(v, sep + 1)}
end

-- covered reports whether marker m ends session sid of uid (O(log N)). A
-- session of a user missing from the user's index is treated as ended.
local function covered(base, sid, uid, m)
  if not m or sid == m.except then return false end
  local s = redis.call('ZSCORE', ukey(base, uid), sid)
  return not s or tonumber(s) <= m.cutoff
end

-- revoked reports whether a pending revocation of its user ends session sid
-- (record r): one GET, and a ZSCORE when there is one. It also returns the
-- marker it read (marker()), for a script that goes on to make_room or put
-- for the same user.
local function revoked(base, sid, r)
  local m = marker(base, r.uid)
  return covered(base, sid, r.uid, m), m
end

-- gone says why session sid has no value: 'missing' (never issued, revoked:
-- revocation removes the index entry too, or forgotten), or, when Redis
-- expired the key, what its index score says the key's expiry was
-- (idx_score): the absolute deadline, 'expired_absolute', or the idle
-- deadline plus the grace, 'expired_idle'. Reported once, and only until
-- REPORT_MS after the score.
local function gone(idxkey, sid, now)
  local s = redis.call('ZSCORE', idxkey, sid)
  if not s then return 'missing' end
  redis.call('ZREM', idxkey, sid)
  s = tonumber(s)
  if now >= s + REPORT_MS then return 'missing' end
  if s % 2 == 1 then return 'expired_idle' end
  return 'expired_absolute'
end

-- forget_dead removes at most FORGET_CHUNK bucket index entries scored more
-- than REPORT_MS ago: their keys expired long since, and verify no longer
-- reports them.
local function forget_dead(idxkey, now)
  local old = redis.call('ZRANGE', idxkey, '-inf', now - REPORT_MS, 'BYSCORE', 'LIMIT', 0, FORGET_CHUNK)
  if #old > 0 then redis.call('ZREM', idxkey, unpack(old)) end
end

-- counted is how many entries of index k are not ended by the pending
-- revocation m, less exclude.
local function counted(k, m, exclude)
  local n = redis.call('ZCARD', k)
  if m then
    n = n - redis.call('ZCOUNT', k, '-inf', m.cutoff)
    if m.except ~= '' and redis.call('ZSCORE', k, m.except) then n = n + 1 end
  end
  if exclude ~= '' and redis.call('ZSCORE', k, exclude) then n = n - 1 end
  return n
end

-- live_count is how many entries of the user's index uk count toward the
-- cap, without reading a session (O(log N)): all of them, less those a
-- pending revocation m ends, less exclude (a session being replaced), less
-- the impersonated ones (in ak), which never count.
local function live_count(uk, ak, m, exclude)
  return counted(uk, m, exclude) - counted(ak, m, exclude)
end

-- oldest returns at most CAP_WALK of the user's oldest entries that count
-- toward the cap (the one a pending revocation keeps first; then, in index
-- order, those after its cutoff).
local function oldest(uk, m)
  local out, lo = {}, '-inf'
  if m then
    lo = '(' .. string.format('%d', m.cutoff)
    if m.except ~= '' and redis.call('ZSCORE', uk, m.except) then out[1] = m.except end
  end
  for _, sid in ipairs(redis.call('ZRANGE', uk, lo, '+inf', 'BYSCORE', 'LIMIT', 0, CAP_WALK - #out)) do
    out[#out + 1] = sid
  end
  return out
end

-- make_room enforces the per-user cap before one session of uid is added,
-- with bounded work whatever the user holds (at most FORGET_CHUNK + CAP_WALK
-- entries, CAP_WALK GETs). It forgets up to FORGET_CHUNK entries that are
-- certainly dead: created at or before now - the longest absolute timeout
-- of t (Record.Effective ends every session there). Then it counts the
-- other entries (live_count); under the cap that is all. At the cap it reads
-- the CAP_WALK oldest, forgets the dead ones among them (under the policy's
-- timeouts; their keys expire on their own, and the bucket index still
-- reports them), counts again, and evicts the oldest live ones read
-- (evict_oldest) or refuses. Exact for a user with at most CAP_WALK entries;
-- beyond, a dead entry newer than the CAP_WALK oldest counts as live until
-- it is among them or certainly dead, and at most CAP_WALK sessions are
-- evicted per call. exclude is a session about to be replaced, which does
-- not count; m is the user's pending revocation (marker()). It returns
-- false when room() refuses, else true and the evicted ids, oldest first.
local function make_room(base, uid, now, max, evict_oldest, exclude, t, m)
  local evicted = {}
  if uid == '' then return true, evicted end
  local uk, ak = ukey(base, uid), akey(base, uid)
  local old = redis.call('ZRANGE', uk, '-inf', now - longest(t) * 1000, 'BYSCORE', 'LIMIT', 0, FORGET_CHUNK)
  if #old > 0 then
    redis.call('ZREM', uk, unpack(old))
    redis.call('ZREM', ak, unpack(old))
  end
  if max <= 0 then return true, evicted end
  local live = live_count(uk, ak, m, exclude)
  local evict, ok = room(live, max, evict_oldest)
  if ok and evict == 0 then return true, evicted end
  local cands = {}
  for _, sid in ipairs(oldest(uk, m)) do
    if sid ~= exclude then
      local r = read(skey(base, sid))
      if r and r.prof == 2 then
        -- impersonated: neither counted nor evicted for the cap
      elseif not r or expiry(effective(r, t), now) ~= 'ok' then
        redis.call('ZREM', uk, sid)
        if redis.call('ZREM', ak, sid) == 0 then live = live - 1 end
      else
        cands[#cands + 1] = sid
      end
    end
  end
  evict, ok = room(live, max, evict_oldest)
  if not ok then return false, evicted end
  for i = 1, math.min(evict, #cands) do
    drop(base, cands[i], uid)
    evicted[#evicted + 1] = cands[i]
  end
  return true, evicted
end

-- put stores v, the encoding of session r, as sid and indexes it: in the
-- bucket index by idx_score (the index outlives its newest entry by
-- GRACE_MS past the absolute deadline), in the user's by created_at, or
-- just after the cutoff of m, the user's pending revocation (marker()),
-- when that is later, so the revocation never covers it. Of r it reads
-- only uid, ca, exp, iexp and prof (what create passes as arguments).
local function put(base, sid, r, v, now, m)
  store(skey(base, sid), r, v, now, true)
  local idx = base .. 'idx'
  redis.call('ZADD', idx, idx_score(r), sid)
  extend_to(idx, r.exp + GRACE_MS, now)
  if r.uid ~= '' then
    local uk = ukey(base, r.uid)
    local score = r.ca
    if m and score <= m.cutoff then score = m.cutoff + 1 end
    redis.call('ZADD', uk, score, sid)
    extend_to(uk, r.exp, now)
    if r.prof == 2 then
      local ak = akey(base, r.uid)
      redis.call('ZADD', ak, score, sid)
      extend_to(ak, r.exp, now)
    end
  end
end

-- ACTING_WALK bounds the entries of a user's impersonated sessions one
-- script reads (make_acting_room, revoke_acting).
local ACTING_WALK = 2 * MAX_ACTING

-- make_acting_room keeps a user's impersonated sessions under MAX_ACTING
-- before one more is added: among the ACTING_WALK oldest entries, it
-- forgets those that ended and evicts the oldest live ones over the bound,
-- counting the entries it did not read as live. Every add goes through
-- here, so the set holds at most MAX_ACTING + 1 entries plus those that
-- ended since; the walk bounds the work whatever it holds (at most
-- ACTING_WALK entries and GETs). m is the user's pending revocation
-- (marker()). It returns the evicted ids, oldest first.
local function make_acting_room(base, uid, now, t, m)
  local ak, evicted, live = akey(base, uid), {}, {}
  local n = redis.call('ZCARD', ak)
  for _, sid in ipairs(redis.call('ZRANGE', ak, 0, ACTING_WALK - 1)) do
    local r = read(skey(base, sid))
    if not r or r.uid ~= uid or covered(base, sid, uid, m) or expiry(effective(r, t), now) ~= 'ok' then
      redis.call('ZREM', ak, sid)
      n = n - 1
    else
      live[#live + 1] = sid
    end
  end
  for i = 1, math.min(#live, n - MAX_ACTING + 1) do
    drop(base, live[i], uid)
    evicted[#evicted + 1] = live[i]
  end
  return evicted
end

-- end_covered ends, oldest first, at most limit sessions of uid whose score
-- in the user's index is at most cutoff, except the one kept (at most
-- limit + 1 entries, one DEL and two ZREMs). With prior, a marker already
-- pending before this revocation, it also reads each one it ends and
-- returns, as live, those that were within their stored deadlines and not
-- ended by prior (so at most limit GETs); without reading (read false) it
-- returns none. It returns the ids ended, the live ones among them, and how
-- many covered entries are left.
local function end_covered(base, uid, cutoff, except, limit, now, read_them, prior)
  local uk = ukey(base, uid)
  local ids = redis.call('ZRANGE', uk, '-inf', cutoff, 'BYSCORE', 'LIMIT', 0, limit + 1, 'WITHSCORES')
  local ended, live = {}, {}
  for i = 1, #ids, 2 do
    local sid = ids[i]
    if sid ~= except and #ended < limit then
      ended[#ended + 1] = sid
      if read_them then
        local r = read(skey(base, sid))
        local before = prior and sid ~= prior.except and tonumber(ids[i + 1]) <= prior.cutoff
        if r and not before and expiry(r, now) == 'ok' then live[#live + 1] = sid end
      end
    end
  end
  if #ended > 0 then
    local keys = {}
    for i, sid in ipairs(ended) do keys[i] = skey(base, sid) end
    redis.call('DEL', unpack(keys))
    redis.call('ZREM', base .. 'idx', unpack(ended))
    redis.call('ZREM', uk, unpack(ended))
    redis.call('ZREM', akey(base, uid), unpack(ended))
  end
  local left = redis.call('ZCOUNT', uk, '-inf', cutoff)
  if except ~= '' and redis.call('ZSCORE', uk, except) then left = left - 1 end
  return ended, live, left
end
