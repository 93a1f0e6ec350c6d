#!/usr/bin/env bash
# scripts/redis-tls-acl.sh start|stop|url — a throwaway TLS-only Redis with ACLs.
#
# Listens only on 127.0.0.1:SESSIOND_TLS_PORT (default 7200) over TLS, with a
# private CA and a server certificate (SAN 127.0.0.1, localhost) made with
# openssl in SESSIOND_TLS_DIR (default ${TMPDIR:-/tmp}/sessiond-redis-tls).
# Clients are not asked for certificates; they must trust ca.crt. The default
# user is off; user "sessiond" (random password in the dir, mode 0600) may only
# touch keys ~sd:* and channels &sd:*, with +@all -@dangerous.
# "url" prints rediss://sessiond:<password>@127.0.0.1:<port>/0 and, on a second
# line, the CA file. The password and ACL live in a 0600 config file, so they
# never appear on a command line.
set -euo pipefail

readonly PORT=${SESSIOND_TLS_PORT:-7200}
readonly DIR=${SESSIOND_TLS_DIR:-${TMPDIR:-/tmp}/sessiond-redis-tls}
readonly MARKER=.sessiond-redis-tls   # only a directory holding this is ever removed

say() { printf 'redis-tls-acl: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# tls_cli ARGS... — redis-cli over TLS as user sessiond.
tls_cli() {
  REDISCLI_AUTH=$(<"$DIR/password") redis-cli --tls --cacert "$DIR/ca.crt" \
    -h 127.0.0.1 -p "$PORT" --user sessiond "$@" 2>/dev/null | tr -d '\r'
}

# running — our server answers PING over TLS with the sessiond user.
running() { [[ -f $DIR/password && -f $DIR/ca.crt ]] && [[ $(tls_cli ping) == PONG ]]; }

# pid_of — the pid from our pid file if that process is a live redis-server.
pid_of() {
  local pid
  [[ -f $DIR/redis.pid ]] || return 0
  pid=$(<"$DIR/redis.pid")
  [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server* ]] && echo "$pid"
  return 0
}

# make_pki — private CA (ca.crt) and server key/cert for 127.0.0.1/localhost.
make_pki() {
  (
    cd "$DIR"
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
      -keyout ca.key -out ca.crt -days 30 -subj "/CN=sessiond test CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
      -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
    cat >server.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EXT
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out server.crt -days 30 -extfile server.ext 2>/dev/null
    chmod 0644 ca.crt server.crt
  )
}

# write_conf — the server config: TLS only, default user off, user sessiond.
write_conf() {
  local pw
  pw=$(<"$DIR/password")
  cat >"$DIR/redis.conf" <<CONF
bind 127.0.0.1
port 0
tls-port $PORT
tls-cert-file $DIR/server.crt
tls-key-file $DIR/server.key
tls-ca-cert-file $DIR/ca.crt
tls-auth-clients no
daemonize yes
pidfile $DIR/redis.pid
logfile $DIR/redis.log
dir $DIR
save ""
appendonly no
user default off
user sessiond on >$pw resetkeys ~sd:* resetchannels &sd:* -@all +@all -@dangerous
CONF
}

start() {
  command -v redis-server >/dev/null || die "redis-server not found: apt-get install -y redis-server"
  command -v openssl >/dev/null || die "openssl not found: apt-get install -y openssl"
  if running; then say "already running on 127.0.0.1:$PORT"; return 0; fi
  stop
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "port $PORT is already in use (set SESSIOND_TLS_PORT)"
  fi
  (umask 077 && mkdir -p -- "$DIR")
  touch -- "$DIR/$MARKER"
  umask 077
  openssl rand -hex 24 >"$DIR/password"
  make_pki
  write_conf
  redis-server "$DIR/redis.conf"
  for ((i = 0; i < 100; i++)); do running && break; sleep 0.1; done
  running || { cat "$DIR/redis.log" >&2 || true; stop; die "TLS Redis did not come up"; }
  say "ready on 127.0.0.1:$PORT (CA $DIR/ca.crt)"
}

# stop — kill our server by its pid file and remove the directory.
stop() {
  local pid
  [[ -d $DIR ]] || return 0
  [[ -f $DIR/$MARKER ]] || die "$DIR exists but was not made by this script; not touching it"
  pid=$(pid_of)
  if [[ -n $pid ]]; then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  fi
  rm -rf -- "$DIR"
  say "stopped"
}

# url — connection URL, then the CA file.
url() {
  [[ -f $DIR/password ]] || die "not started (run: $0 start)"
  printf 'rediss://sessiond:%s@127.0.0.1:%s/0\n%s\n' "$(<"$DIR/password")" "$PORT" "$DIR/ca.crt"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  url) url ;;
  *) die "usage: $0 start|stop|url" ;;
esac
