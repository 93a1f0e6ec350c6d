#!/usr/bin/env bash
# clients/test.sh — the client suites (clients/SCENARIOS.md), as scripts/test's
# clients phase runs them: builds sessiond once (SESSIOND_BIN), installs the
# Node packages from their lockfiles (npm ci), then runs
#   clients/node        tsc, then node --test (@sessiond/client, @sessiond/express
#                       driving examples/express-app); then clients/node/smoke/run.sh
#                       packs both packages and smoke-tests the installed tarballs
#   clients/python      builds the wheel and sdist (python3 -m build --no-isolation,
#                       into clients/python/dist), installs the wheel into a venv
#                       cached under ${XDG_CACHE_HOME:-~/.cache}/sessiond (one per
#                       wheel: a changed wheel gets a new venv), then runs a copy of
#                       clients/python/tests with that venv's python (client, async
#                       client, cache, WSGI/Flask, ASGI/Starlette/FastAPI, Django,
#                       webhooks, the README's snippets)
# against real sessiond servers the suites start on free ports, each with a
# fresh PostgreSQL database (dropped at the end) and Redis prefix. The Go client
# (clients/go, its own module) runs in scripts/test's go phases.
# Needs PostgreSQL and Redis up (scripts/services.sh), Go, Node 20+, psql, and a
# python3 with build, setuptools and venv (Debian: python3-build python3-setuptools
# python3-venv; the framework tests use python3-httpx python3-starlette
# python3-fastapi python3-flask python3-django, and skip, saying so, without them).
#
# `clients/test.sh python` (or `node`) runs one suite only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

suites=${*:-node python}
want() { [[ " $suites " == *" $1 "* ]]; }
tools=(go psql)
if want node; then tools+=(node npm); fi
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { echo "clients: '$tool' not found" >&2; exit 1; }
done
if want node; then
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
    || { echo "clients: Node.js 20 or newer is needed (have $(node --version))" >&2; exit 1; }
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [[ -z ${SESSIOND_BIN:-} ]]; then
  echo "clients: go build -o $tmp/sessiond ./cmd/server" >&2
  go build -o "$tmp/sessiond" ./cmd/server
  export SESSIOND_BIN=$tmp/sessiond
fi

failed=()
npm_ci() { (cd "$1" && npm ci --no-audit --no-fund --loglevel=error); }

if want node; then
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
fi

# The first python3 that can build a wheel and make a venv (pyenv's often cannot;
# Debian's can once its packages are installed).
pick_python() {
  local py
  for py in ${SESSIOND_PYTHON:-} python3 /usr/bin/python3; do
    "$py" -c 'import build, setuptools, venv, ensurepip' 2>/dev/null && { echo "$py"; return 0; }
  done
  return 1
}

python_suite() {
  local py repo=$PWD dist=$PWD/clients/python/dist
  py=$(pick_python) || {
    echo "clients: python: no python3 with build, setuptools and venv" \
      "(Debian: apt-get install python3-build python3-setuptools python3-venv)" >&2
    return 1
  }
  # Build from a copy, so the checkout gets no build/ or egg-info; a fixed
  # SOURCE_DATE_EPOCH makes the same sources give the same wheel (and venv).
  mkdir -p "$tmp/py-src"
  cp -r clients/python/{pyproject.toml,MANIFEST.in,README.md,CHANGELOG.md,sessiond} "$tmp/py-src/"
  rm -rf "$dist"
  SOURCE_DATE_EPOCH=315532800 PYTHONDONTWRITEBYTECODE=1 "$py" -m build --no-isolation -o "$dist" "$tmp/py-src" \
    >"$tmp/py-build.log" 2>&1 || { cat "$tmp/py-build.log" >&2; return 1; }
  local wheel sum cache venv
  wheel=$(echo "$dist"/sessiond-*-py3-none-any.whl)
  sum=$(sha256sum "$wheel" | cut -c1-16)
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/sessiond
  venv=$cache/py-venv-$sum
  echo "clients: python: $(basename "$wheel") (and $(basename "$dist"/sessiond-*.tar.gz)), venv $venv" >&2
  if [[ ! -x $venv/bin/python ]]; then
    # Made aside and moved in place: runs in parallel never see half a venv.
    mkdir -p "$cache"
    rm -rf "$venv.tmp.$$"
    "$py" -m venv --system-site-packages "$venv.tmp.$$" &&
      "$venv.tmp.$$/bin/python" -m pip install -q --no-index --no-deps --disable-pip-version-check "$wheel" &&
      { mv -T "$venv.tmp.$$" "$venv" 2>/dev/null || rm -rf "$venv.tmp.$$"; } || { rm -rf "$venv.tmp.$$"; return 1; }
    find "$cache" -maxdepth 1 -name 'py-venv-*' -mtime +7 -exec rm -rf {} + 2>/dev/null || true
  fi
  touch "$venv"
  # The tests run from a copy too: the checkout is not on sys.path, so
  # `import sessiond` can only find the installed wheel (tests/test_package.py checks).
  mkdir -p "$tmp/py-tests"
  cp -r clients/python/tests "$tmp/py-tests/"
  (cd "$tmp/py-tests" && SESSIOND_REPO=$repo SESSIOND_PY_INSTALLED=1 PYTHONDONTWRITEBYTECODE=1 \
    "$venv/bin/python" -m unittest -v)
}

if want python; then
  echo "clients: python (clients/python: wheel, cached venv, tests)" >&2
  # Debian's build tools and frameworks, installed when missing (no PyPI needed).
  scripts/python-deps.sh || echo "clients: python: scripts/python-deps.sh failed; trying with what is installed" >&2
  python_suite || failed+=(python)
fi

if ((${#failed[@]})); then
  echo "clients: FAIL: ${failed[*]}" >&2
  exit 1
fi
echo "clients: OK" >&2
