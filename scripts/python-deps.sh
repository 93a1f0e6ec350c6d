#!/usr/bin/env bash
# scripts/python-deps.sh — make sure Debian's Python can build the Python
# client's wheel and run its framework tests (clients/test.sh python). PyPI
# may be out of reach, so everything comes from Debian's packages: build
# tools (python3-build, python3-setuptools, python3-venv, python3-wheel) and
# the frameworks the middlewares are tested with (httpx, Starlette, FastAPI,
# Flask, Django, uvicorn). Installs only what /usr/bin/python3 cannot import;
# needs root (or sudo) and the Debian package mirror.
set -euo pipefail

py=/usr/bin/python3
declare -A pkg=(
  [build]=python3-build [setuptools]=python3-setuptools [venv]=python3-venv [ensurepip]=python3-venv
  [wheel]=python3-wheel [httpx]=python3-httpx [starlette]=python3-starlette [fastapi]=python3-fastapi
  [flask]=python3-flask [django]=python3-django [uvicorn]=python3-uvicorn
)
missing=()
for mod in "${!pkg[@]}"; do
  [[ -x $py ]] && "$py" -c "import $mod" 2>/dev/null && continue
  [[ " ${missing[*]} " == *" ${pkg[$mod]} "* ]] || missing+=("${pkg[$mod]}")
done
((${#missing[@]})) || exit 0

echo "python-deps: installing Debian's ${missing[*]}" >&2
sudo=()
if ((EUID != 0)); then
  command -v sudo >/dev/null || { echo "python-deps: not root and no sudo; apt-get install ${missing[*]} by hand" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends python3 "${missing[@]}" >/dev/null
