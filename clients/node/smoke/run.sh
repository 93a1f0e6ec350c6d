#!/usr/bin/env bash
# clients/node/smoke/run.sh — the Node packages as users get them: `npm pack`
# the built @sessiond/client and @sessiond/express (clients/node must be built:
# npm run build), install the two tarballs into a scratch app, and run
# smoke.test.mjs there against a real sessiond (SESSIOND_BIN, or built by the
# testkit). The scratch app lives in a cache folder (SESSIOND_NODE_SMOKE_DIR,
# default ~/.cache/sessiond/node-smoke) so its other dependency, express,
# is not fetched again on every run; the two packages are replaced each time.
# The tarballs are left in <scratch>/pkgs (what `npm publish` would upload).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
node_dir=$(dirname "$here")
scratch=${SESSIOND_NODE_SMOKE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sessiond/node-smoke}

mkdir -p "$scratch"
rm -rf "$scratch/pkgs" "$scratch/node_modules/@sessiond"
mkdir -p "$scratch/pkgs"
(cd "$node_dir" && npm pack --silent --workspace client --workspace express --pack-destination "$scratch/pkgs" >/dev/null)
tarballs=("$scratch"/pkgs/sessiond-*.tgz)
((${#tarballs[@]} == 2)) || { echo "smoke: expected 2 tarballs, got: ${tarballs[*]}" >&2; exit 1; }

# Each tarball must hold its CHANGELOG and built code, and no tests or sources.
for t in "${tarballs[@]}"; do
  list=$(tar -tzf "$t")
  grep -qx 'package/CHANGELOG.md' <<<"$list" || { echo "smoke: $t has no CHANGELOG.md" >&2; exit 1; }
  grep -qx 'package/dist/src/index.js' <<<"$list" || { echo "smoke: $t has no dist/src/index.js" >&2; exit 1; }
  if grep -E '(^package/(src|test)/|/test/|\.test\.)' <<<"$list"; then echo "smoke: $t ships test or source files" >&2; exit 1; fi
done

cp "$here/package.json" "$here/smoke.test.mjs" "$scratch/"
rm -f "$scratch/package-lock.json"
(cd "$scratch" && npm install --no-audit --no-fund --prefer-offline --loglevel=error "${tarballs[@]}")
echo "smoke: installed $(cd "$scratch/pkgs" && echo *) into $scratch" >&2
(cd "$scratch" && SESSIOND_TESTKIT="$node_dir/testkit/dist/src/index.js" node --test smoke.test.mjs)
