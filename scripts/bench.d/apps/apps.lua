-- scripts/bench.d/apps/apps.lua — wrk workloads against bench.d/apps/app.mjs.
--
--   wrk -t2 -c50 -d10s -s apps.lua URL -- MODE FILE TAG
--
-- MODE   profile  GET /profile, rotating through the sid cookies in FILE
--        login    POST /login (JSON), a new user "<TAG>-<thread>-<n>" per request
-- done() prints the line scripts/bench reads:
--   BENCH requests=N duration_us=N p50_us=N p99_us=N non2xx=N socket_errors=N

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

local mode, tag, reqs, n, i, created

function init(args)
  mode, tag = args[1], args[3] or "w"
  created = 0
  reqs = {}
  if mode == "profile" then
    for line in io.lines(args[2]) do
      if line ~= "" then reqs[#reqs + 1] = wrk.format("GET", "/profile", {Cookie = "sid=" .. line}) end
    end
  elseif mode ~= "login" then
    error("unknown mode " .. tostring(mode))
  end
  n = #reqs
  i = (tid * 7919) % math.max(n, 1)
end

function request()
  if mode == "login" then
    created = created + 1
    return wrk.format("POST", "/login", {["Content-Type"] = "application/json"},
      string.format('{"username":"%s-%d-%d","password":"pw"}', tag, tid, created))
  end
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
