#!/usr/bin/env bash
# scripts/services.sh — make sure the PostgreSQL and Redis the tests use are up.
#
# Local targets (127.0.0.1:5432 and 127.0.0.1:6379, the defaults) are started
# with this machine's documented commands if they do not answer. If
# SESSIOND_TEST_DATABASE_URL or REDIS_URL point elsewhere, that service is only
# checked, never started (SESSIOND_TEST_REDIS_URL, which the Go tests read,
# wins over REDIS_URL). Safe to run any number of times.
set -euo pipefail

readonly WAIT_SECONDS=30
readonly INSTALL_HINT="apt-get install -y postgresql redis-server"

db_url=${SESSIOND_TEST_DATABASE_URL:-}
redis_url=${SESSIOND_TEST_REDIS_URL:-${REDIS_URL:-}}

# say MESSAGE... — log to stderr with the script's name.
say() { printf 'services: %s\n' "$*" >&2; }

# need_tool NAME — exit 1 with the install hint if NAME is not in PATH.
need_tool() {
  if ! command -v "$1" >/dev/null 2>&1; then
    say "'$1' not found; install the services with: $INSTALL_HINT"
    exit 1
  fi
}

# host_port URL — print "host port" of a URL (port empty when absent).
host_port() {
  local rest=${1#*://}
  rest=${rest%%[/?#]*}   # drop path and query
  rest=${rest##*@}       # drop user:password@
  local host=$rest port=
  if [[ $rest == \[*\]* ]]; then         # [ipv6]:port
    host=${rest%%]*}; host=${host#[}
    [[ $rest == *]:* ]] && port=${rest##*]:}
  elif [[ $rest == *:* ]]; then
    host=${rest%:*}; port=${rest##*:}
  fi
  printf '%s %s\n' "$host" "$port"
}

# is_local URL DEFAULT_PORT — true if URL is empty or names the local default.
is_local() {
  [[ -z $1 ]] && return 0
  [[ $1 == *://* ]] || return 1          # key=value DSNs: treat as remote
  local host port
  read -r host port < <(host_port "$1")
  case $host in 127.0.0.1 | localhost | ::1 | '') ;; *) return 1 ;; esac
  [[ -z $port || $port == "$2" ]]
}

# pg_up / redis_up — does the target answer right now?
pg_up() {
  if [[ -n $db_url ]]; then
    pg_isready -q -d "$db_url" -t 2 >/dev/null 2>&1
  else
    pg_isready -q -h 127.0.0.1 -p 5432 -t 2 >/dev/null 2>&1
  fi
}
redis_up() {
  local out
  if [[ -n $redis_url ]]; then
    out=$(redis-cli --no-auth-warning -u "$redis_url" ping 2>/dev/null) || return 1
  else
    out=$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null) || return 1
  fi
  [[ $out == PONG ]]
}

need_tool pg_isready
need_tool redis-cli

# Start what is local and down (only these two documented commands).
if ! pg_up; then
  if is_local "$db_url" 5432; then
    need_tool pg_ctlcluster
    if [[ ! -d /etc/postgresql ]] || [[ -z $(ls /etc/postgresql) ]]; then
      say "no PostgreSQL cluster in /etc/postgresql; install with: $INSTALL_HINT"
      exit 1
    fi
    say "starting PostgreSQL"
    # Exit status 2 means "already running" (e.g. still starting); keep waiting.
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || say "pg_ctlcluster exited $?"
  else
    say "PostgreSQL at SESSIOND_TEST_DATABASE_URL is not local: only checking"
  fi
fi
if ! redis_up; then
  if is_local "$redis_url" 6379; then
    need_tool redis-server
    say "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  else
    say "Redis at ${SESSIOND_TEST_REDIS_URL:+SESSIOND_TEST_}REDIS_URL is not local: only checking"
  fi
fi

# Wait until both answer.
deadline=$((SECONDS + WAIT_SECONDS))
until pg_up && redis_up; do
  if ((SECONDS >= deadline)); then
    pg_up || say "PostgreSQL does not answer after ${WAIT_SECONDS}s"
    redis_up || say "Redis does not answer after ${WAIT_SECONDS}s"
    exit 1
  fi
  sleep 0.5
done
say "PostgreSQL and Redis are up"
