#!/usr/bin/env bash
# scripts/container-test.sh — the container phase of scripts/test.
#
# Builds the repository's Dockerfile, unchanged, with podman; runs the image
# as its non-root user with the secrets mounted as files, the way
# docker-compose.yml does; and checks /healthz, the image's HEALTHCHECK
# command, a tenant and a session created and verified through it, and the
# image's size. The container reaches the host's PostgreSQL and Redis
# (--network host) on a database and Redis prefix of its own, removed after.
#
# With no container engine it installs Debian's podman and runc (as root);
# where that is impossible it says why and exits 0 (the phase is skipped).
#
# Base images. Where the Dockerfile's base images cannot be pulled (these
# machines reach Debian's mirror but not Docker Hub or gcr.io), the script
# builds STAND-INS locally and tags them with the Dockerfile's names:
#   docker.io/library/golang:1.26-bookworm   Debian bookworm (debootstrap
#       --variant=minbase, from Debian's packages) plus this host's Go
#       toolchain in /usr/local/go, GOPATH=/go, as the real image has, and
#       the host's CA bundle (for `go mod download` through this network);
#   gcr.io/distroless/static-debian12:nonroot  a rootfs of a few host files,
#       as distroless static has: /etc/passwd and /etc/group with root,
#       nobody and nonroot (65532), CA certificates, time zones, /tmp,
#       /home/nonroot; user 65532, no shell.
# Each stand-in carries the label org.sessiond.standin=true (`podman image
# inspect` shows it) and stays in podman's image store, so later runs reuse
# them (and the build's cached layers); the debootstrap tarball is kept in
# ${XDG_CACHE_HOME:-~/.cache}/sessiond-container. SESSIOND_CONTAINER_PULL=1
# tries pulling the real images first.
#
# podman specifics: --format docker keeps the HEALTHCHECK (the OCI image
# format has none); -v mounts a Go build cache kept between runs into the
# build's RUN steps (not into the image), so a warm run compiles only what
# changed; --runtime runc and a containers.conf with
# `default_ulimits = []` (in CONTAINERS_CONF) are what run containers on these
# machines; SESSIOND_CONTAINER_RUNTIME overrides the runtime.
#
# Then the compose file: its sessiond service's steps, by hand (see
# compose_by_hand below).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

IMAGE=localhost/sessiond:container-test
GO_IMAGE=docker.io/library/golang:1.26-bookworm
RUN_IMAGE=gcr.io/distroless/static-debian12:nonroot
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/sessiond-container
RUNTIME=${SESSIOND_CONTAINER_RUNTIME:-/usr/sbin/runc}

skip() { echo "SKIP: container phase: $*" >&2; exit 0; }
fail() { echo "FAIL: container phase: $*" >&2; exit 1; }
step() { printf -- '--- %s (%ds)\n' "$*" "$SECONDS" >&2; }

# The engine: Debian's podman and runc, installed when missing.
if ! command -v podman >/dev/null || [[ ! -x $RUNTIME ]]; then
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    skip "no podman/runc here and not root on Debian to install them (apt-get install podman runc)"
  fi
  step "installing podman and runc from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends podman runc >&2 ||
    skip "apt-get install podman runc failed"
fi
work=$(mktemp -d)
printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "%s"\n' "$RUNTIME" >"$work/containers.conf"
export CONTAINERS_CONF=$work/containers.conf
# No systemd here: podman cannot schedule healthcheck timers and says so on
# every run; the healthcheck is run on demand below, so that line is dropped.
pm() { podman --runtime "$RUNTIME" "$@" 2> >(grep -v 'unable to get systemd connection' >&2); }
pm info >/dev/null 2>"$work/info.err" || skip "podman cannot run here: $(tail -1 "$work/info.err")"

ctr=sessiond-ct-$$
db=sessiond_ct_$$
prefix=ct$$
project=sdct$$ # podman-compose's, for its dry run
cleanup() {
  local rc=$?
  pm rm -f -t 0 "$ctr" >/dev/null 2>&1 || true
  # podman-compose --dry-run still creates the project's volumes and network.
  pm volume rm -f "${project}_pgdata" "${project}_redisdata" >/dev/null 2>&1 || true
  pm network rm -f "${project}_default" >/dev/null 2>&1 || true
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "$prefix:*" 2>/dev/null | xargs -r redis-cli -h 127.0.0.1 -p 6379 del >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

# standin_golang builds the golang stand-in: debootstrapped bookworm plus
# the host's Go (which must be the Dockerfile's Go 1.26).
standin_golang() {
  [[ $(go env GOVERSION) == go1.26* ]] || fail "the golang stand-in needs the host's Go to be 1.26, found $(go env GOVERSION)"
  [[ $(id -u) == 0 ]] || skip "building the golang stand-in needs root (debootstrap)"
  local tarball=$CACHE/bookworm-minbase.tar
  if [[ ! -s $tarball ]]; then
    command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y debootstrap >&2 ||
      skip "debootstrap is missing and could not be installed"
    step "debootstrap bookworm (minbase, ca-certificates) into $tarball, once"
    mkdir -p "$CACHE"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
      { tail -5 "$work/debootstrap.log" >&2; skip "debootstrap failed (no Debian mirror?)"; }
    tar -C "$work/rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$work/rootfs"
  fi
  step "importing $GO_IMAGE (stand-in: bookworm + host $(go env GOVERSION))"
  # One tree, one tarball (podman refuses a tar with a path twice): the
  # Debian rootfs with Go in /usr/local/go.
  mkdir -p "$work/go"
  tar -C "$work/go" -xf "$tarball"
  mkdir -p "$work/go/go/bin" "$work/go/go/src"
  cp -a "$(go env GOROOT)" "$work/go/usr/local/go"
  # The host's CA bundle: `go mod download` must trust what the host trusts
  # (a network may re-sign TLS with its own CA).
  cp /etc/ssl/certs/ca-certificates.crt "$work/go/etc/ssl/certs/ca-certificates.crt"
  tar -C "$work/go" -cf "$work/golang.tar" .
  rm -rf "$work/go"
  pm import \
    --change 'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV GOPATH=/go' --change "ENV GOLANG_VERSION=$(go env GOVERSION | sed 's/^go//')" \
    --change 'WORKDIR /go' --change 'CMD ["bash"]' \
    --change 'LABEL org.sessiond.standin=true' \
    "$work/golang.tar" "$GO_IMAGE" >/dev/null
  rm -f "$work/golang.tar"
}

# standin_distroless builds the distroless static:nonroot stand-in from a
# few host files: what a static binary needs, and nothing to run but it.
standin_distroless() {
  step "building $RUN_IMAGE (stand-in: host CA certificates and time zones, users root/nobody/nonroot)"
  local r=$work/distroless
  mkdir -p "$r/etc/ssl/certs" "$r/usr/share" "$r/tmp" "$r/home/nonroot" "$r/root"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\ntty:x:5:\nstaff:x:50:\n' >"$r/etc/group"
  printf 'hosts: files dns\n' >"$r/etc/nsswitch.conf"
  printf 'PRETTY_NAME="Distroless stand-in (sessiond container test)"\n' >"$r/etc/os-release"
  cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/"
  cp -a /usr/share/zoneinfo "$r/usr/share/"
  chmod 1777 "$r/tmp"
  chmod 0700 "$r/home/nonroot" "$r/root"
  chown 65532:65532 "$r/home/nonroot"
  tar -C "$r" -cf "$work/distroless.tar" .
  pm import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'USER 65532' --change 'WORKDIR /home/nonroot' \
    --change 'LABEL org.sessiond.standin=true' \
    "$work/distroless.tar" "$RUN_IMAGE" >/dev/null
  rm -rf "$r" "$work/distroless.tar"
}

# base IMAGE BUILDER — the image itself if present (pulled earlier, or a
# stand-in from an earlier run), pulled if SESSIOND_CONTAINER_PULL=1 and
# reachable, else the stand-in.
base() {
  if pm image exists "$1"; then
    echo "using $1$( [[ $(pm image inspect --format '{{index .Labels "org.sessiond.standin"}}' "$1") == true ]] && echo ' (stand-in)')" >&2
    return
  fi
  if [[ ${SESSIOND_CONTAINER_PULL:-} == 1 ]] && timeout 120 podman pull -q "$1" >/dev/null 2>&1; then
    return
  fi
  "$2"
}

step "base images"
base "$GO_IMAGE" standin_golang
base "$RUN_IMAGE" standin_distroless

step "podman build (the Dockerfile, unchanged; --format docker keeps HEALTHCHECK)"
t0=$SECONDS
version=$(git describe --always 2>/dev/null || echo dev)
# A Go build cache kept between runs and mounted into the build's RUN steps
# (podman build -v; never part of the image): later runs compile only what
# changed. The Dockerfile itself is untouched.
mkdir -p "$CACHE/go-build"
pm build -q --pull=never --format docker --network host --build-arg VERSION="$version" \
  -v "$CACHE/go-build:/root/.cache/go-build" -t "$IMAGE" . >/dev/null ||
  fail "podman build failed"
build_secs=$((SECONDS - t0))

inspect() { pm image inspect --format "$1" "$IMAGE"; }
user=$(inspect '{{.Config.User}}')
health=$(inspect '{{json .HealthCheck}}')
size=$(inspect '{{.Size}}')
[[ $user == nonroot:nonroot ]] || fail "image user is '$user', want nonroot:nonroot"
[[ $health == *'"/sessiond","healthcheck"'* ]] || fail "image HEALTHCHECK is $health, want [CMD /sessiond healthcheck]"
printf 'image %s: %d bytes (%.1f MB), user %s, built in %ds\n' "$IMAGE" "$size" "$(awk -v s="$size" 'BEGIN {print s / 1e6}')" "$user" "$build_secs" >&2
((size < 50000000)) || fail "image is $size bytes; a static binary on distroless should stay under 50 MB"

step "secrets as files, made by the image's own keygen"
mkdir -p "$work/secrets"
pm run --rm "$IMAGE" keygen master-key >"$work/secrets/master_key"
pm run --rm "$IMAGE" keygen operator-token >"$work/secrets/operator_token"
chmod 0644 "$work/secrets"/*   # the container's user (65532) must read them
op=$(cat "$work/secrets/operator_token")

# A free port on the host: the container shares its network.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port

step "podman run as the image's user, secrets mounted read-only at /run/secrets (as compose mounts them)"
pm run -d --name "$ctr" --network host \
  -v "$work/secrets/master_key:/run/secrets/master_key:ro" \
  -v "$work/secrets/operator_token:/run/secrets/operator_token:ro" \
  -e SESSIOND_ADDR="127.0.0.1:$port" \
  -e DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable" \
  -e REDIS_URL=redis://127.0.0.1:6379/0 -e SESSIOND_REDIS_PREFIX="$prefix" \
  -e SESSIOND_OPERATOR_TOKEN_FILE=/run/secrets/operator_token \
  -e SESSIOND_MASTER_KEY_FILE=/run/secrets/master_key \
  "$IMAGE" >/dev/null

for _ in $(seq 100); do
  curl -fsS "$url/healthz" >/dev/null 2>&1 && break
  [[ $(pm inspect --format '{{.State.Running}}' "$ctr") == true ]] || { pm logs "$ctr" >&2; fail "the container exited"; }
  sleep 0.2
done
curl -fsS "$url/healthz" >/dev/null || { pm logs "$ctr" | tail -20 >&2; fail "/healthz did not answer 200"; }
echo "/healthz: 200" >&2

pid=$(pm inspect --format '{{.State.Pid}}' "$ctr")
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[[ $uid == 65532 ]] || fail "the server runs as uid $uid, want 65532 (nonroot)"
echo "server process uid: $uid (nonroot)" >&2

# The HEALTHCHECK command, run inside the container as the engine runs it.
pm healthcheck run "$ctr" >/dev/null 2>"$work/hc.err" || fail "podman healthcheck run: $(cat "$work/hc.err")"
pm exec "$ctr" /sessiond healthcheck || fail "/sessiond healthcheck exited non-zero"
echo "HEALTHCHECK (/sessiond healthcheck): healthy" >&2

step "a tenant, a session created and verified through the container"
api() { curl -sS -X "$1" "$url$2" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' ${4:+--data "$4"}; }
key=$(api POST /v1/tenants "$op" '{"name": "container test"}' | jq -r .api_key.secret)
[[ $key == sk_* ]] || fail "tenant create: no API key"
created=$(api POST /v1/sessions "$key" '{"user_id": "alice", "data": {"from": "container"}}')
token=$(jq -r .token <<<"$created")
[[ -n $token && $token != null ]] || fail "session create: $created"
verified=$(api POST /v1/sessions/verify "$key" "{\"token\": \"$token\"}")
jq -e '.session.user_id == "alice" and .session.data.from == "container"' <<<"$verified" >/dev/null ||
  fail "session verify: $verified"
jq -e '.code == "session_invalid"' <<<"$(api POST /v1/sessions/verify "$key" '{"token": "forged"}')" >/dev/null ||
  fail "a forged token was not refused"
echo "session created and verified: user alice" >&2

# The compose file's sessiond service, by hand: podman-compose would also
# need postgres:15 and redis:7, which cannot be pulled here, so the steps
# above already run its service as it declares it (same image build, the
# same *_FILE variables and /run/secrets paths, files readable by 65532, the
# same healthcheck command); what is left is to check the file says so.
step "docker-compose.yml: the sessiond service matches what was run"
compose=docker-compose.yml
for want in 'SESSIOND_OPERATOR_TOKEN_FILE: /run/secrets/operator_token' 'SESSIOND_MASTER_KEY_FILE: /run/secrets/master_key' \
  'test: ["CMD", "/sessiond", "healthcheck"]' 'keygen master-key > secrets/master_key' 'keygen operator-token > secrets/operator_token'; do
  grep -qF -- "$want" "$compose" || fail "$compose no longer says: $want"
done
# podman-compose (Debian's 1.0.3 has no `config`): --dry-run prints the
# podman commands `up` would run; the sessiond one must mount the secrets
# read-only at the paths its _FILE variables name. (1.0.3 turns a CMD
# healthcheck into `/bin/sh -c …`, which distroless has no shell for: under
# podman-compose the service reports unhealthy while it serves; docker compose
# runs it as written. Said here so nobody is surprised.)
if command -v podman-compose >/dev/null; then
  mkdir -p "$work/compose/secrets"
  cp "$compose" "$work/compose/docker-compose.yml"
  cp "$work/secrets/master_key" "$work/secrets/operator_token" "$work/compose/secrets/"
  (cd "$work/compose" && podman-compose --dry-run -p "$project" up --no-build -d) >"$work/compose.out" 2>&1 ||
    fail "podman-compose --dry-run up: $(tail -3 "$work/compose.out")"
  run_line=$(grep -- "--name=${project}_sessiond_1" "$work/compose.out") || fail "podman-compose would not run the sessiond service"
  for want in '-e SESSIOND_MASTER_KEY_FILE=/run/secrets/master_key' '-e SESSIOND_OPERATOR_TOKEN_FILE=/run/secrets/operator_token' \
    '--volume ./secrets/master_key:/run/secrets/master_key:ro' '--volume ./secrets/operator_token:/run/secrets/operator_token:ro'; do
    [[ $run_line == *"$want"* ]] || fail "podman-compose would run sessiond without: $want"
  done
  echo "podman-compose --dry-run up: sessiond gets the same secrets and variables as above" >&2
  [[ $run_line == *'/bin/sh -c /sessiond'* ]] &&
    echo "note: podman-compose $(podman-compose version 2>/dev/null | awk '/podman-compose/ {print $NF; exit}') wraps the CMD healthcheck in /bin/sh (absent in distroless); docker compose does not" >&2
fi

printf 'OK: container phase in %ds (build %ds); image %d bytes\n' "$SECONDS" "$build_secs" "$size" >&2
