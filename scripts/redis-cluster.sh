#!/usr/bin/env bash
# scripts/redis-cluster.sh start|stop|addrs — a throwaway Redis Cluster for tests.
#
# 3 masters + 3 replicas on 127.0.0.1, ports SESSIOND_CLUSTER_PORT..+5
# (default 7100..7105), one directory per node under SESSIOND_CLUSTER_DIR
# (default ${TMPDIR:-/tmp}/sessiond-cluster). "start" returns once every node
# reports cluster_state:ok and every replica master_link_status:up; it is a
# no-op when the cluster is already healthy. "stop" kills the nodes by their
# pid files and removes the directory. "addrs" prints host:port,host:port,...
set -euo pipefail

readonly BASE_PORT=${SESSIOND_CLUSTER_PORT:-7100}
readonly DIR=${SESSIOND_CLUSTER_DIR:-${TMPDIR:-/tmp}/sessiond-cluster}
readonly NODES=6 REPLICAS=3 READY_TIMEOUT=60
readonly MARKER=.sessiond-cluster   # only a directory holding this is ever removed

ports=()
for ((i = 0; i < NODES; i++)); do ports+=($((BASE_PORT + i))); done

say() { printf 'redis-cluster: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# cli PORT ARGS... — run one command against a node (no CRs in the output).
cli() { local p=$1; shift; redis-cli -h 127.0.0.1 -p "$p" "$@" 2>/dev/null | tr -d '\r'; }

# addrs — the node addresses, comma separated.
addrs() { local IFS=,; printf '%s\n' "${ports[*]/#/127.0.0.1:}"; }

# healthy — every node says cluster_state:ok and knows all nodes; exactly
# $REPLICAS replicas, each with master_link_status:up.
healthy() {
  local p info repl up=0
  for p in "${ports[@]}"; do
    info=$(cli "$p" cluster info) || return 1
    [[ $info == *cluster_state:ok* && $info == *"cluster_known_nodes:$NODES"* ]] || return 1
    repl=$(cli "$p" info replication) || return 1
    if [[ $repl == *role:slave* ]]; then
      [[ $repl == *master_link_status:up* ]] || return 1
      up=$((up + 1))
    fi
  done
  ((up == REPLICAS))
}

# pid_of PORT — the pid of our node on PORT if it is alive, else nothing.
pid_of() {
  local f=$DIR/$1/redis.pid pid
  [[ -f $f ]] || return 0
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server* ]] && echo "$pid"
  return 0
}

# stop — kill our nodes (by pid file), wait for them to exit, remove $DIR.
stop() {
  local p pid pids=()
  [[ -d $DIR ]] || return 0
  [[ -f $DIR/$MARKER ]] || die "$DIR exists but was not made by this script; not touching it"
  for p in "${ports[@]}"; do
    pid=$(pid_of "$p")
    [[ -n $pid ]] && kill "$pid" 2>/dev/null && pids+=("$pid")
  done
  for pid in "${pids[@]}"; do
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  done
  rm -rf -- "$DIR"
  say "stopped"
}

# start — start the nodes, create the cluster, wait for readiness.
start() {
  command -v redis-server >/dev/null || die "redis-server not found: apt-get install -y redis-server"
  if healthy; then say "already running and healthy: $(addrs)"; return 0; fi
  stop   # clear a half-started or dead cluster of ours
  local p t0
  t0=$(date +%s%N)
  for p in "${ports[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      die "port $p is already in use by another server (set SESSIOND_CLUSTER_PORT)"
    fi
  done
  mkdir -p -- "$DIR"
  touch -- "$DIR/$MARKER"
  for p in "${ports[@]}"; do
    mkdir -p -- "$DIR/$p"
    redis-server --port "$p" --bind 127.0.0.1 --dir "$DIR/$p" \
      --cluster-enabled yes --cluster-config-file nodes.conf \
      --save "" --appendonly no --repl-diskless-sync-delay 0 \
      --cluster-node-timeout 2000 --daemonize yes \
      --pidfile "$DIR/$p/redis.pid" --logfile "$DIR/$p/redis.log" 9>&-  # not the lock
  done
  for p in "${ports[@]}"; do
    for ((i = 0; i < 100; i++)); do [[ $(cli "$p" ping) == PONG ]] && break; sleep 0.1; done
    [[ $(cli "$p" ping) == PONG ]] || { stop; die "node $p did not start (see $DIR/$p/redis.log)"; }
  done
  local create_log=$DIR/create.log
  # shellcheck disable=SC2046 # one word per address, on purpose
  if ! redis-cli --cluster create $(addrs | tr , ' ') --cluster-replicas 1 --cluster-yes >"$create_log" 2>&1; then
    cat "$create_log" >&2; stop; die "cluster create failed"
  fi
  local deadline=$((SECONDS + READY_TIMEOUT))
  until healthy; do
    if ((SECONDS >= deadline)); then
      for p in "${ports[@]}"; do
        say "node $p: $(cli "$p" cluster info | grep -E '^cluster_state') $(cli "$p" info replication | grep -E '^(role|master_link_status)' | tr '\n' ' ')"
      done
      stop; die "cluster not ready after ${READY_TIMEOUT}s"
    fi
    sleep 0.2
  done
  say "ready in $((($(date +%s%N) - t0) / 1000000)) ms: $(addrs)"
}

# Serialise start/stop of the same cluster between concurrent callers.
lock() {
  exec 9>"${TMPDIR:-/tmp}/sessiond-cluster-$BASE_PORT.lock"
  flock 9
}

case ${1:-} in
  start) lock; start ;;
  stop) lock; stop ;;
  addrs) addrs ;;
  *) die "usage: $0 start|stop|addrs" ;;
esac
