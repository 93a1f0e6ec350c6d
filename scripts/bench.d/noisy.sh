# scripts/bench.d/noisy.sh — the noisy-neighbour scenario, sourced by
# `scripts/bench --noisy` once its Redis, database and sessiond are up (it uses
# the bench's url, op, fill, tmp, rcli, run_wrk, used_memory, say and die).
# See "Noisy neighbours" in docs/benchmarks.md.
#
# Tenant B (the victim) is measured alone and then while tenant A (a fresh
# tenant per phase) does one noisy thing. In every phase B runs wrk on its
# verify for $duration seconds and creates $k_events sessions spread over the
# run (users "b<phase>-<i>"), whose session.created events must all be
# stored. The heavy lifting is cmd/benchfill's (load, policy, probe-data,
# revoke-user, count-events); this file only sequences it and prints.

if ((small)); then
  n_cap=900 n_logout=6000 n_forge=5000 n_ceil=30 k_events=100 forge_max=30 d=2
else
  n_cap=9000 n_logout=60000 n_forge=100000 n_ceil=500 k_events=1000 forge_max=120 d=10
fi
((quick)) && d=3
((duration_set)) && d=$duration
duration=$d
out_md=${noisy_out:-/tmp/sessiond-noisy-$(date -u +%Y%m%d-%H%M%S).md}
cap_rate=50 # A's creates a second for its user at the cap

# Redis logs every command slower than 1 ms; each phase reads what it logged.
rcli config set slowlog-log-slower-than 1000 >/dev/null
rcli config set slowlog-max-len 1024 >/dev/null

dropped() {
  curl -fsS "$url/metrics" -H "Authorization: Bearer $op" |
    awk '/^sessiond_events_dropped_total/ {s += $NF} END {printf "%d\n", s}'
}

# slowlog — "MAX_MS CMD WHOSE OVER2 LOGGED": the slowest call Redis logged
# since the last SLOWLOG RESET (ms, its command, and whose keys it touched: B,
# A or -, from the tenant id in its arguments), how many took over 2 ms, and
# how many were logged (at most slowlog-max-len: more means it overflowed).
slowlog() {
  rcli --json slowlog get 1024 | jq -r --arg b "$idB" '
    [.[] | {us: .[2], cmd: (.[3][0] // "?" | ascii_upcase),
            tn: ([.[3][] | strings | capture("(?<t>tn_[a-z2-7]{16})")? | .t] | first // "")}] as $e
    | ($e | max_by(.us) // {us: 0, cmd: "-", tn: ""}) as $m
    | "\($m.us / 1000) \($m.cmd) \(if $m.tn == "" then "-" elif $m.tn == $b then "B" else "A" end) \([$e[] | select(.us > 2000)] | length) \($e | length)"'
}

# mk_tenant NAME VAR — create a tenant with the default policy; set VAR_key
# (its API key) and VAR_id.
mk_tenant() {
  local r
  r=$(curl -fsS -X POST "$url/v1/tenants" -H "Authorization: Bearer $op" \
    -H 'Content-Type: application/json' -d "{\"name\": \"$1\"}")
  printf -v "$2_key" '%s' "$(jq -r .api_key.secret <<<"$r")"
  printf -v "$2_id" '%s' "$(jq -r .tenant.id <<<"$r")"
}

# lift_cap ID: the operator raises tenant ID's max_sessions_per_user ceiling to
# the engine's largest cap (10000), so phases a and b measure the engine at the
# most an operator can allow; versions without ceilings answer 400 (ignored).
lift_cap() {
  curl -sS -o /dev/null -X PATCH "$url/v1/tenants/$1" -H "Authorization: Bearer $op" \
    -H 'Content-Type: application/json' -d '{"limits": {"max_sessions_per_user": 10000}}' || true
}

# --- tenant B, the victim ----------------------------------------------------------
# The benchmark's usual policy: a cap of 10 devices per user, evict oldest.
mk_tenant "noisy B (victim)" B
keyB=$B_key idB=$B_id
"$fill" policy -url "$url" -key "$keyB" -set 'max_sessions_per_user=10,on_limit="evict_oldest"' >/dev/null
# B is a tenant its operator gave room: where the version has per-tenant
# operator ceilings (PATCH /v1/tenants/{id} "limits"), B's request rate and
# event ceilings are lifted, so that B's own limits do not cut its rate; A
# keeps the deployment's defaults. A version without them answers 400.
b_limits=$(curl -sS -o /dev/null -w '%{http_code}' -X PATCH "$url/v1/tenants/$idB" \
  -H "Authorization: Bearer $op" -H 'Content-Type: application/json' \
  -d '{"limits": {"requests_per_second": 10000000, "events_per_minute": 100000000}}')
case $b_limits in
  2??) b_limits="B's requests_per_second and events_per_minute ceilings lifted (PATCH /v1/tenants/{id}); A has the deployment's defaults" ;;
  *) b_limits="no per-tenant ceilings in this version (PATCH /v1/tenants/{id} limits: $b_limits)" ;;
esac
say "noisy: B: $token_pool sessions to verify"
"$fill" create -url "$url" -key "$keyB" -n "$token_pool" -per-user 2 -data -prefix bpool -tokens "$tmp/btokens"

commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(git -C "$src" status --porcelain --untracked-files=no 2>/dev/null) ]] || commit="$commit (with uncommitted changes)"
header=$(
  cat <<EOF
## sessiond noisy-neighbour benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')

- sessiond: $src, commit $commit
- machine: $(nproc) cores, $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}'); load average at start $(cut -d' ' -f1-3 /proc/loadavg)
- B: wrk -t$threads -c$connections on \`POST /v1/sessions/verify\` (1000 tokens) for $d s per phase, plus $k_events creates spread over the run
- ceilings: $b_limits
- sizes: cap user $n_cap sessions, log-out-everywhere user $n_logout, ceiling tenant up to $n_ceil sessions, $n_forge forgeries$( ((small)) && echo ' (--small: a smoke test, not a measurement)')
EOF
)
say "noisy: sizes: $n_cap / $n_logout / $n_ceil / $n_forge, $k_events B events, $d s per phase"

# --- one phase ------------------------------------------------------------------------
rows=() phase_n=0 base_rps=
# phase NAME NOISE... — run B's wrk and creates while NOISE (a command, run in
# the background; its stdout goes to $tmp/noise.out) runs; append a row.
# Sets the globals the caller's notes read: ph_mem (used_memory growth).
phase() {
  local name=$1 bp bc_pid noise_pid drop0 drop1 mem0 rps pct sl bnote=
  shift
  phase_n=$((phase_n + 1)) bp=b$phase_n
  say "noisy: phase $phase_n: $name (${d} s)"
  rcli slowlog reset >/dev/null
  drop0=$(dropped) mem0=$(used_memory)
  "$fill" load -url "$url" -key "$keyB" -mode create -prefix "$bp" -n "$k_events" -c 4 \
    -rate "$(awk -v k="$k_events" -v d="$d" 'BEGIN {print k / d}')" -duration "$((d + 5))s" -var bc >"$tmp/bc.out" &
  bc_pid=$!
  "$@" >"$tmp/noise.out" &
  noise_pid=$!
  run_wrk verify "$keyB" "$tmp/btokens"
  wait "$noise_pid" || die "phase $name: the noisy tenant's client failed"
  wait "$bc_pid" || die "phase $name: B's creates failed"
  sl=$(slowlog)
  drop1=$(dropped)
  ph_mem=$(($(used_memory) - mem0))
  eval "$(<"$tmp/bc.out")"
  eval "$("$fill" count-events -url "$url" -key "$keyB" -type session.created -prefix "$bp-" -marker "${bp}end" -var bev)"
  ((bev_marker)) || bnote+=" B's marker event not stored;"
  ((bc_ok == k_events)) || bnote+=" B created $bc_ok of $k_events (codes $bc_codes);"
  ((non2xx == 0)) || bnote+=" B verify non-2xx $non2xx;"
  rps=$(awk -v r="$((requests - non2xx))" -v u="$duration_us" 'BEGIN {printf "%.0f", r / (u / 1e6)}')
  base_rps=${base_rps:-$rps}
  pct=$(awk -v r="$rps" -v b="$base_rps" 'BEGIN {printf "%.0f %%", 100 * r / b}')
  read -r sl_ms sl_cmd sl_who sl_over sl_n <<<"$sl"
  say "noisy: $name: B $rps req/s ($pct of alone), p99 $((p99_us / 1000)) ms, B events: $bev_count/$bc_ok, largest Redis call $sl_ms ms ($sl_cmd on $sl_who's keys), dropped $drop0 → $drop1"
  ph_row="| $name | $rps | $pct | $(awk -v p="$p99_us" 'BEGIN {printf "%.2f", p / 1000}') | $bev_count/$bc_ok | $sl_ms ($sl_cmd, $sl_who; $sl_over over 2 ms$( ((sl_n < 1024)) || echo ', log full')) | $drop0 → $drop1 |$bnote"
}

# --- baseline: B alone ----------------------------------------------------------------
phase "B alone" true
rows+=("$ph_row the reference |")

# --- a. a user at the highest accepted cap --------------------------------------------
mk_tenant "noisy A1 (cap)" A
keyA=$A_key
lift_cap "$A_id"
eval "$("$fill" policy -url "$url" -key "$keyA" -set 'on_limit="evict_oldest"' -max max_sessions_per_user=10000 -var pa)"
fill_a=$((n_cap < pa_max_sessions_per_user ? n_cap : pa_max_sessions_per_user))
say "noisy: A1: cap $pa_max_sessions_per_user${pa_notes:+ ($pa_notes)}; filling user a1-0 with $fill_a sessions"
# Filled without a cap where the version allows it (a create under a cap may
# cost what the user's sessions number: that is what the phase measures, not
# what the fill should wait for), then the cap is set back for the phase.
eval "$("$fill" policy -url "$url" -key "$keyA" -max "max_sessions_per_user=$pa_max_sessions_per_user" -zero max_sessions_per_user -var pf)"
"$fill" create -url "$url" -key "$keyA" -n "$fill_a" -per-user "$fill_a" -c 8 -prefix a1
"$fill" policy -url "$url" -key "$keyA" -set "max_sessions_per_user=$pa_max_sessions_per_user" >/dev/null
sleep 1 # the policy reaches the tenant cache
noise_cap() {
  "$fill" load -url "$url" -key "$keyA" -mode create -user a1-0 -rate "$cap_rate" -c 2 \
    -n $((cap_rate * d + cap_rate)) -duration "${d}s" -var a
}
phase "a. user at the cap" noise_cap
eval "$(<"$tmp/noise.out")"
rows+=("$ph_row cap $pa_max_sessions_per_user${pa_notes:+ ($pa_notes)}, user with $fill_a sessions; A: $a_ok creates at ≤ $cap_rate/s, p99 $((a_p99_us / 1000)) ms, 429s $a_r429 (codes $a_codes) |")

# --- b. log out everywhere over n_logout sessions -------------------------------------
mk_tenant "noisy A2 (log out everywhere)" A
keyA=$A_key
lift_cap "$A_id"
eval "$("$fill" policy -url "$url" -key "$keyA" -set 'on_limit="evict_oldest"' -max "max_sessions_per_user=$n_logout" -zero max_sessions_per_user -var pb)"
fill_b=$n_logout
((pb_max_sessions_per_user == 0 || pb_max_sessions_per_user >= n_logout)) || fill_b=$pb_max_sessions_per_user
say "noisy: A2: cap $pb_max_sessions_per_user${pb_notes:+ ($pb_notes)}; filling user a2-0 with $fill_b sessions"
"$fill" create -url "$url" -key "$keyA" -n "$fill_b" -per-user "$fill_b" -c 64 -prefix a2
noise_logout() {
  "$fill" revoke-user -url "$url" -key "$keyA" -user a2-0 \
    -delay "$(awk -v d="$d" 'BEGIN {print d / 4}')s" -var rv
}
phase "b. log out everywhere" noise_logout
eval "$(<"$tmp/noise.out")"
rows+=("$ph_row cap $pb_max_sessions_per_user${pb_notes:+ ($pb_notes)}, user with $fill_b sessions; DELETE: $rv_status in $rv_ms ms, $( ((rv_count >= 0)) && echo "$rv_count revoked" || echo 'count not in the response') |")

# --- c. a tenant at its policy's ceilings ---------------------------------------------
mk_tenant "noisy A3 (ceilings)" A
keyA=$A_key
eval "$("$fill" policy -url "$url" -key "$keyA" -set 'on_limit="evict_oldest"' \
  -max absolute_timeout=34560000,idle_timeout=34560000,max_data_bytes=1048576,max_sessions_per_user=10000 \
  -zero max_sessions_per_user -var pc)"
eval "$("$fill" probe-data -url "$url" -key "$keyA" -max "$pc_max_data_bytes" -prefix a3probe -var pd)"
((pd_bytes > 0)) || die "A3: no create with data was accepted"
say "noisy: A3: idle $pc_idle_timeout s, absolute $pc_absolute_timeout s, data $pc_max_data_bytes B (creates take $pd_bytes B), cap $pc_max_sessions_per_user${pc_notes:+ ($pc_notes)}"
noise_ceilings() {
  "$fill" load -url "$url" -key "$keyA" -mode create -prefix a3 -data-bytes "$pd_bytes" -c 2 \
    -n "$n_ceil" -duration "${d}s" -var c
}
phase "c. tenant at its ceilings" noise_ceilings
eval "$(<"$tmp/noise.out")"
rows+=("$ph_row policy idle/absolute $pc_idle_timeout/$pc_absolute_timeout s, max_data_bytes $pc_max_data_bytes, cap $pc_max_sessions_per_user${pc_notes:+ ($pc_notes)}; A: $c_ok creates of $pd_bytes B data (codes $c_codes); Redis used_memory +$((ph_mem / 1048576)) MiB |")

# --- d. forgeries from random device IPs -----------------------------------------------
mk_tenant "noisy A4 (forgeries)" A
keyA=$A_key
"$fill" create -url "$url" -key "$keyA" -n 1 -per-user 1 -prefix a4tpl -tokens "$tmp/a4token"
noise_forge() {
  "$fill" load -url "$url" -key "$keyA" -mode forge -template "$(head -1 "$tmp/a4token")" -c 8 \
    -n "$n_forge" -duration "${forge_max}s" -var f
}
phase "d. $n_forge forgeries" noise_forge
eval "$(<"$tmp/noise.out")"
eval "$("$fill" count-events -url "$url" -key "$keyA" -marker a4end -wait 30s -var aev)"
rows+=("$ph_row A: $f_sent forged verifies in $f_secs s, $f_r429 answered 429 (codes $f_codes); events stored for A: $aev_count ($aev_types) |")

# --- report ------------------------------------------------------------------------------
report=$(
  cat <<EOF
$header

| phase | B req/s (2xx) | B % of alone | B p99 ms | B events stored/created | largest Redis call ms | events dropped (all tenants, before → after) | notes |
|---|---:|---:|---:|---:|---|---|---|
$(printf '%s\n' "${rows[@]}")

Target: B keeps at least 80 % of its rate alone in every phase, every B event is
stored, and no Redis call takes over 2 ms. "largest Redis call" is the slowest
entry of Redis's SLOWLOG (commands over 1 ms; reset before each phase) and its
command (EVALSHA is a script) and whose keys it used (A or B); "log full" means more than 1024 calls were logged.
Each phase's A is a fresh tenant; A's 429s are its own limits at work.
EOF
)
printf '%s\n' "$report"
printf '%s\n' "$report" >"$out_md"
say "noisy: table written to $out_md; total $((SECONDS - started)) s"
