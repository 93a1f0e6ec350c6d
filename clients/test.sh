#!/usr/bin/env bash
# clients/test.sh — the client suites (clients/SCENARIOS.md), as scripts/test's
# clients phase runs them: builds sessiond once (SESSIOND_BIN), installs the
# Node packages from their lockfiles (npm ci), then runs
#   clients/node        tsc, then node --test (@sessiond/client, @sessiond/express
#                       driving examples/express-app); then clients/node/smoke/run.sh
#                       packs both packages and smoke-tests the installed tarballs
#   clients/python      python3 -m unittest (client, WSGI middleware)
# against real sessiond servers the suites start on free ports, each with a
# fresh PostgreSQL database (dropped at the end) and Redis prefix. The Go client
# (clients/go, its own module) runs in scripts/test's go phases.
# Needs PostgreSQL and Redis up (scripts/services.sh), Go, Node 20+, python3, psql.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for tool in go node npm python3 psql; do
  command -v "$tool" >/dev/null || { echo "clients: '$tool' not found" >&2; exit 1; }
done
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || { echo "clients: Node.js 20 or newer is needed (have $(node --version))" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [[ -z ${SESSIOND_BIN:-} ]]; then
  echo "clients: go build -o $tmp/sessiond ./cmd/server" >&2
  go build -o "$tmp/sessiond" ./cmd/server
  export SESSIOND_BIN=$tmp/sessiond
fi

failed=()
npm_ci() { (cd "$1" && npm ci --no-audit --no-fund --loglevel=error); }

echo "clients: node (clients/node, examples/express-app)" >&2
if npm_ci clients/node && npm_ci examples/express-app; then
  (cd clients/node && npm test) || failed+=(node)
  # The packages as users install them: npm pack, then a scratch app installs
  # the tarballs (cached in ~/.cache/sessiond/node-smoke) and runs a smoke test.
  echo "clients: node packages (npm pack → install into a scratch app → smoke test)" >&2
  clients/node/smoke/run.sh || failed+=(node-packages)
  echo "clients: node scenarios again with the local session cache on" >&2
  (cd clients/node && SESSIOND_TEST_CACHE=1 node --test express/dist/test/scenarios.test.js) || failed+=(node-cache)
else
  failed+=(node-install)
fi

echo "clients: python (clients/python)" >&2
(cd clients/python && PYTHONDONTWRITEBYTECODE=1 python3 -m unittest -v) || failed+=(python)

if ((${#failed[@]})); then
  echo "clients: FAIL: ${failed[*]}" >&2
  exit 1
fi
echo "clients: OK" >&2
