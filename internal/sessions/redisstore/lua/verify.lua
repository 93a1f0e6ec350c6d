-- verify: read, check, slide and re-expire one session in one round trip
-- (sessions.Store.Verify). Every check runs before any write, so a failed
-- check never slides the timer; a use within the touch interval of the last
-- one recorded writes nothing. Work: O(log N) (a GET of the session and
-- of its user's pending revocation, at most one ZSCORE, one ZADD).
-- KEYS[1] the session, KEYS[2] the bucket index.
local a = {
  now = tonumber(ARGV[1]),
  sid = ARGV[2],
  pidle = tonumber(ARGV[3]),        -- the policy's idle timeout (s)
  pabs = tonumber(ARGV[4]),         -- the policy's absolute timeout (s)
  rolling = ARGV[5] == '1',         -- slide the idle deadline
  csrf_mismatch = ARGV[6] == '1',   -- the caller compared the CSRF token
  max_auth_age = tonumber(ARGV[7]), -- ms; negative: no check
  ua_mode = ARGV[8],                -- binding modes: off, report, enforce
  ua = ARGV[9],                     -- the presented user agent
  ip_mode = ARGV[10],
  ipb = ARGV[11],                   -- the presented IP's binding key
  kid = ARGV[12],                   -- the key signing the token now; '' keep
  touch = tonumber(ARGV[13]),       -- ms: the touch interval; 0 always writes
  min_aal = tonumber(ARGV[14]),     -- the assurance level required
  ages = ARGV[15],                  -- 'method:ms,…': each factor's maximum age
  ridle = tonumber(ARGV[16]),        -- remember-me's idle timeout (s; 0 none)
  rabs = tonumber(ARGV[17]),         -- remember-me's absolute timeout (s; 0 none)
  iidle = tonumber(ARGV[18]),        -- impersonation's idle timeout (s)
  iabs = tonumber(ARGV[19]),         -- impersonation's absolute timeout (s)
}

-- fresh: sessions.Fresh. The recorded last use is recent enough that this
-- use need not be written: within the touch interval, min(touch, idle/10).
local function fresh(r, now, touch)
  return now - r.ls < math.min(touch, r.idle * 100)
end
-- Replies 'ok' with the session written and the mismatched attributes
-- (report mode), 'binding' with the mismatched attributes, 'csrf',
-- 'reauth', 'step_up' (with the session as read, to name what it lacks),
-- 'expired_absolute', 'expired_idle' (with the uid) or 'missing'.
local r, stored = read(KEYS[1])
if not r then return reply(gone(KEYS[2], a.sid, a.now)) end
local base = base_of(KEYS[2])
if revoked(base, a.sid, r) then
  drop(base, a.sid, r.uid)
  return reply('missing')
end
local idle, exp = r.idle, r.exp
effective(r, a)
local tightened = r.idle ~= idle or r.exp ~= exp
local why = expiry(r, a.now)
if why ~= 'ok' then
  drop(base, a.sid, r.uid)
  return reply(why, r.uid, '', {}, 0, r.act)
end
local mismatched, enforce = {}, false
if binding_mismatch(a.ua_mode, a.ua, r.ua) then
  mismatched[#mismatched + 1] = 'user_agent'
  enforce = a.ua_mode == 'enforce'
end
if binding_mismatch(a.ip_mode, a.ipb, r.ipb) then
  mismatched[#mismatched + 1] = 'ip'
  enforce = enforce or a.ip_mode == 'enforce'
end
if enforce then return reply('binding', r.uid, '', mismatched, 0, r.act) end
if a.csrf_mismatch then return reply('csrf', r.uid, '', {}, 0, r.act) end
if needs_reauth(a.now, r.at, a.max_auth_age) then return reply('reauth', r.uid, '', {}, 0, r.act) end
if not step_up_met(r.amr, r.ca, a.now, a.min_aal, a.ages) then return reply('step_up', r.uid, encode(r)) end
-- Nothing to write when the last use recorded is fresh and the deadlines
-- and key stand: the idle deadline then lags this use by less than the
-- touch interval (the session may end that much early, never late).
if not tightened and (a.kid == '' or a.kid == r.kid) and fresh(r, a.now, a.touch) then
  return reply('ok', r.uid, stored, mismatched)
end
r.ls = a.now
if a.rolling then r.iexp = slide(a.now, r.idle, r.exp) end
if a.kid ~= '' then r.kid = a.kid end
local moved = a.rolling or tightened
if moved then redis.call('ZADD', KEYS[2], 'XX', idx_score(r), a.sid) end
return reply('ok', r.uid, store(KEYS[1], r, encode(r), a.now, moved), mismatched)
