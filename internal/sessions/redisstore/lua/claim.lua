-- claim: take a session out of Redis and return it under the policy, to be
-- created again in another bucket (sessions.Store.Claim). Of concurrent
-- claims of one session, exactly one gets it. Work: O(log N).
-- KEYS[1] the session, KEYS[2] the bucket index.
local a = {
  now = tonumber(ARGV[1]),
  sid = ARGV[2],
  pidle = tonumber(ARGV[3]),        -- the policy's idle timeout (s)
  pabs = tonumber(ARGV[4]),         -- the policy's absolute timeout (s)
  ridle = tonumber(ARGV[5]),        -- remember-me's idle timeout (s; 0 none)
  rabs = tonumber(ARGV[6]),         -- remember-me's absolute timeout (s; 0 none)
  iidle = tonumber(ARGV[7]),        -- impersonation's idle timeout (s)
  iabs = tonumber(ARGV[8]),         -- impersonation's absolute timeout (s)
}
-- Replies 'ok' with the session, 'expired_absolute' or 'expired_idle' (with
-- the uid) or 'missing'.
local r = read(KEYS[1])
if not r then return reply(gone(KEYS[2], a.sid, a.now)) end
local base = base_of(KEYS[2])
local ended = revoked(base, a.sid, r)
drop(base, a.sid, r.uid)
if ended then return reply('missing') end
effective(r, a)
local why = expiry(r, a.now)
if why ~= 'ok' then return reply(why, r.uid, '', {}, 0, r.act) end
return reply('ok', r.uid, encode(r))
