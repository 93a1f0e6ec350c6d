-- scripts/bench.d/sessiond.lua — wrk workloads for scripts/bench.
--
--   wrk -t2 -c50 -d10s -s sessiond.lua URL -- MODE KEY FILE TAG
--
-- MODE   verify  POST /v1/sessions/verify, rotating through the tokens in FILE
--        create  POST /v1/sessions, a login per request: a new user id
--                "<TAG>-<thread>-<n>" and device info (118-character user agent, an IP)
--        mix     90 % verify, 10 % create, picked at random per request
--        logout  DELETE /v1/users/{user}/sessions?except={id}, rotating through
--                the "<user> <id>" lines of FILE (each thread its own share)
--        xverify, xcreate, xmix
--                the same against the Express comparison app (bench.d/express):
--                POST /verify with the sid cookies in FILE, POST /login
-- KEY    the tenant's API key ("-" for the Express app)
-- TAG    makes create's user ids unique per run
--
-- done() prints one machine-readable line for scripts/bench:
--   BENCH requests=N duration_us=N p50_us=N p99_us=N non2xx=N socket_errors=N

local UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778 Safari/537.36"

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local mode, tag, lines, reqs, n, i, step, created

local function read_lines(path)
  local t = {}
  for line in io.lines(path) do
    if line ~= "" then t[#t + 1] = line end
  end
  return t
end

local express = false

local function verify_request(token)
  if express then
    return wrk.format("POST", "/verify", {Cookie = "sid=" .. token})
  end
  return wrk.format("POST", "/v1/sessions/verify", nil, '{"token":"' .. token .. '"}')
end

local function create_request()
  created = created + 1
  local body = string.format(
    '{"user_id":"%s-%d-%d","device":{"user_agent":"%s","ip":"10.%d.%d.%d"}}',
    tag, tid, created, UA, tid % 256, math.floor(created / 256) % 256, created % 256)
  return wrk.format("POST", express and "/login" or "/v1/sessions", nil, body)
end

function init(args)
  mode, tag = args[1], args[4] or "w"
  if mode:sub(1, 1) == "x" then
    express, mode = true, mode:sub(2)
  else
    wrk.headers["Authorization"] = "Bearer " .. args[2]
  end
  wrk.headers["Content-Type"] = "application/json"
  created = 0
  math.randomseed(os.time() * 1000 + tid)
  reqs = {}
  if mode == "verify" or mode == "mix" then
    for _, token in ipairs(read_lines(args[3])) do
      reqs[#reqs + 1] = verify_request(token)
    end
  elseif mode == "logout" then
    local all = read_lines(args[3])
    -- Threads take alternate lines, so no two threads log out the same user.
    local nthreads = tonumber(args[5]) or 2
    for k = tid, #all, nthreads do
      local user, id = all[k]:match("^(%S+)%s+(%S+)$")
      reqs[#reqs + 1] = wrk.format("DELETE", "/v1/users/" .. user .. "/sessions?except=" .. id)
    end
  elseif mode ~= "create" then
    error("unknown mode " .. tostring(mode))
  end
  n = #reqs
  i = (tid * 7919) % math.max(n, 1)
end

local function next_pooled()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

function request()
  if mode == "create" then
    return create_request()
  elseif mode == "mix" then
    if math.random() < 0.9 then return next_pooled() end
    return create_request()
  end
  return next_pooled()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
