# scripts/bench.d/apps/apps.sh — `scripts/bench --apps`, sourced once the
# bench's Redis, database and sessiond are up (it uses url, redis_port, fill,
# tmp, here, repo, new_tenant, run_wrk, workload's variables, say and die).
#
# The seed tutorial's Express app (app.mjs: helmet, JSON POST /login, GET
# /profile, POST /logout) three ways, side by side in this one run: on
# express-session + connect-redis (the seeds' stack, the same Redis), on
# @sessiond/express with the cache off, and with it on. Each round: GET
# /profile over 1,000 logged-in cookies on the three apps back to back, then
# POST /login of a new user per request on the three; wrk -t$threads
# -c$connections for $duration s each (after 2 s of warm-up).
# Then the revocation latency: two app instances with the cache on, N
# revocations (driver.mjs). npm packages are installed once into a cache
# directory keyed by the lockfile; the SDK is clients/node of this repository,
# built here.

command -v node >/dev/null && command -v npm >/dev/null || die "--apps needs node and npm"
apps_src=$here/bench.d/apps
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/sessiond-bench
deps=$cache_root/apps-$(sha256sum "$apps_src/package-lock.json" | cut -c1-16)
if [[ ! -d $deps/node_modules ]]; then
  say "apps: npm ci into $deps (express, helmet, express-session, connect-redis, redis)"
  rm -rf "$deps" && mkdir -p "$deps"
  cp "$apps_src/package.json" "$apps_src/package-lock.json" "$deps/"
  (cd "$deps" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || { rm -rf "$deps"; die "npm ci failed"; }
fi
say "apps: building the Node SDK (clients/node: npm ci, npm run build)"
(cd "$repo/clients/node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null && npm run build >/dev/null) ||
  die "could not build clients/node"
mkdir -p "$tmp/apps"
cp "$apps_src/app.mjs" "$apps_src/driver.mjs" "$tmp/apps/"
ln -sfn "$deps/node_modules" "$tmp/apps/node_modules"

akey=$(new_tenant "bench apps")
# start_app MODE — start app.mjs in MODE on a free port; sets app_url and app_pid.
start_app() {
  local port
  port=$("$fill" freeport)
  APP_MODE=$1 PORT=$port REDIS_URL="redis://127.0.0.1:$redis_port/0" \
    SESSION_SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n') \
    SESSIOND_URL=$url SESSIOND_API_KEY=$akey \
    SDK_EXPRESS="file://$repo/clients/node/express/dist/src/index.js" \
    node "$tmp/apps/app.mjs" >>"$tmp/apps.log" 2>&1 &
  app_pid=$! app_url=http://127.0.0.1:$port
  app_pids+=("$app_pid")
  node_pid=$app_pid # the bench's cleanup stops it if we die
  for _ in $(seq 100); do
    curl -s -o /dev/null "$app_url/profile" && return 0
    kill -0 "$app_pid" 2>/dev/null || { tail -20 "$tmp/apps.log" >&2; die "the $1 app exited"; }
    sleep 0.1
  done
  die "the $1 app did not start"
}
stop_apps() {
  local p
  for p in "${app_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${app_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  app_pids=() node_pid=
}
# app_run NAME WRKMODE FILE — one measured wrk run against app_url; appends
# "ROUND NAME WRKMODE req/s p50 p99 errors app_us sessiond_us redis_us" to apps_rows:
# the last three are CPU time per request of the app (node), sessiond and Redis
# during the run (sessiond's includes the change stream and background touches).
apps_rows=()
app_run() {
  wrk -t"$threads" -c"$connections" -d2s -s "$apps_src/apps.lua" "$app_url" -- "$2" "$3" "warm$run_n" >/dev/null
  target=$app_url server_pid=$app_pid
  say "wrk: $1 $2 (${duration} s)"
  run_n=$((run_n + 1))
  local line a0 s0 r0 a1 s1 r1
  a0=$(ticks "$app_pid") s0=$(ticks "$sessiond_pid") r0=$(ticks "$redis_pid")
  wrk -t"$threads" -c"$connections" -d"${duration}s" --timeout 10s -s "$apps_src/apps.lua" "$app_url" -- "$2" "$3" "r$run_n" >"$tmp/wrk.out"
  a1=$(ticks "$app_pid") s1=$(ticks "$sessiond_pid") r1=$(ticks "$redis_pid")
  line=$(grep '^BENCH ' "$tmp/wrk.out") || { cat "$tmp/wrk.out" >&2; die "wrk printed no result"; }
  eval "${line#BENCH }"
  apps_rows+=("$round $1 $2 $(awk -v r="$requests" -v d="$duration_us" -v a=$((a1 - a0)) -v s=$((s1 - s0)) -v rd=$((r1 - r0)) -v t="$clk_tck" \
    'BEGIN {us = 1e6 / t / r; printf "%.0f %d %d %d %.0f %.0f %.0f", r / (d / 1e6), '"$p50_us"', '"$p99_us"', '"$((non2xx + socket_errors))"', a * us, s * us, rd * us}')")
}

# Rounds. The three apps run side by side all along (an idle app costs nothing),
# and each workload is measured on the three back to back, so that the apps a
# ratio compares are measured seconds apart: this machine's speed drifts from
# minute to minute. Every other round runs them in the reverse order, so that
# a drift within a round favours none of them. The table gives the medians
# over rounds.
modes=(express-session sessiond sessiond-cache)
declare -A urls pids
for mode in "${modes[@]}"; do
  start_app "$mode"
  urls[$mode]=$app_url pids[$mode]=$app_pid
  node "$tmp/apps/driver.mjs" login "$app_url" 1000 "$tmp/cookies.$mode"
done
for round in $(seq "$apps_rounds"); do
  order=("${modes[@]}")
  ((round % 2)) || order=("${modes[2]}" "${modes[1]}" "${modes[0]}")
  say "apps: round $round of $apps_rounds: ${order[*]}"
  for workload in profile login; do
    for mode in "${order[@]}"; do
      app_url=${urls[$mode]} app_pid=${pids[$mode]}
      file=-
      [[ $workload == login ]] || file=$tmp/cookies.$mode
      app_run "$mode" "$workload" "$file"
    done
  done
done
stop_apps

say "apps: revocation latency, two instances with the cache on, $revocations revocations"
start_app sessiond-cache; a1=$app_url
start_app sessiond-cache; a2=$app_url
sleep 1 # both change streams connected and ready
rev=$(node "$tmp/apps/driver.mjs" revocation --apps "$a1,$a2" --sessiond "$url" --key "$akey" --n "$revocations")
stop_apps
eval "${rev#REVOCATION }" # n= p50_us= p99_us= max_us= accepted_before_delivery=

# The table: medians over the rounds; each ratio is the median of the rounds'
# ratios to express-session's same workload in the same round.
row() { # MODE LABEL
  printf '%s\n' "${apps_rows[@]}" | awk -v m="$1" -v label="$2" '
    function median(list,   n, a, i, j, t) {
      n = split(list, a, " ")
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
      k = $2 " " $3; rounds[$1] = 1; at[$1 " " k] = $4
      rps[k] = rps[k] " " $4; p50[k] = p50[k] " " $5; p99[k] = p99[k] " " $6; bad[k] += $7
      app[k] = app[k] " " $8; sd[k] = sd[k] " " $9; rd[k] = rd[k] " " $10
    }
    END {
      split("profile login", ws, " ")
      for (i = 1; i <= 2; i++) {
        w = ws[i]; list = ""
        for (r in rounds) list = list " " at[r " " m " " w] / at[r " express-session " w]
        ratio[w] = median(list)
      }
      g = m " profile"; l = m " login"
      printf "| %s | %d (%.2f×) | %.1f | %.1f | %d / %d / %d | %d (%.2f×) | %.1f | %d / %d / %d | %d |\n", label,
        median(rps[g]), ratio["profile"], median(p50[g]) / 1000, median(p99[g]) / 1000, median(app[g]), median(sd[g]), median(rd[g]),
        median(rps[l]), ratio["login"], median(p99[l]) / 1000, median(app[l]), median(sd[l]), median(rd[l]), bad[g] + bad[l]
    }'
}
# spread — every round's ratios, so the table's medians show their spread.
spread() {
  printf '%s\n' "${apps_rows[@]}" | awk '
    { at[$1 " " $2 " " $3] = $4; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
    END {
      for (i = 1; i <= n; i++) {
        r = order[i]
        printf "%sround %s: cache off %.2f×, %.2f×; cache on %.2f×, %.2f×", (i > 1 ? "; " : ""), r,
          at[r " sessiond profile"] / at[r " express-session profile"], at[r " sessiond login"] / at[r " express-session login"],
          at[r " sessiond-cache profile"] / at[r " express-session profile"], at[r " sessiond-cache login"] / at[r " express-session login"]
      }
    }'
}
lock=$apps_src/package-lock.json
version() { jq -r ".packages[\"node_modules/$1\"].version" "$lock"; }
cat <<EOF
### Apps: the seed tutorial's Express app on sessiond and on express-session

scripts/bench.d/apps/app.mjs (Node $(node --version), express $(version express), helmet $(version helmet)): JSON
\`POST /login\`, \`GET /profile\`, \`POST /logout\`; sessions on express-session $(version express-session) +
connect-redis $(version connect-redis) (the same Redis as sessiond), or on @sessiond/express (clients/node
of this repository) with the cache off and on. One Node process per app; wrk -t$threads -c$connections,
${duration} s per workload after 2 s of warm-up; \`GET /profile\` rotates through 1,000 logged-in cookies,
\`POST /login\` logs in a new user per request. The three apps run side by side; each of $apps_rounds rounds
measures \`GET /profile\` on the three back to back, then \`POST /login\`, in the reverse order every other
round. Each figure is the median over the rounds, and each ratio the median of the rounds' ratios to express-session's same workload. "CPU µs/req" is
the CPU time per request of the app's Node process / sessiond / Redis during the run (sessiond's includes
its change stream and the cache's background touches); unlike req/s it barely moves when the rest of the
machine is busy.

| app | GET /profile req/s | p50 ms | p99 ms | CPU µs/req app / sessiond / Redis | POST /login req/s | login p99 ms | CPU µs/req app / sessiond / Redis | non-2xx + socket errors |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
$(row express-session "express-session + connect-redis")
$(row sessiond "@sessiond/express, cache off")
$(row sessiond-cache "@sessiond/express, cache on")

Each round's ratios to express-session (GET /profile, POST /login): $(spread)

Revocation latency, two app instances with the cache on (each its own change stream): $n samples
($revocations revocations × 2 instances). Each: log in, read /profile twice on both (cached), revoke the
session in sessiond (\`DELETE /v1/sessions/{id}\`), then poll /profile on both until it answers 401;
latency from the revoke's acknowledgement to the first 401 (a poll's round trip included):
**p50 $(awk -v v="$p50_us" 'BEGIN {printf "%.2f", v / 1000}') ms, p99 $(awk -v v="$p99_us" 'BEGIN {printf "%.2f", v / 1000}') ms**, max $(awk -v v="$max_us" 'BEGIN {printf "%.2f", v / 1000}') ms;
$accepted_before_delivery polls were still accepted between acknowledgement and delivery.

EOF
