#!/usr/bin/env bash
# scripts/chromium.sh — make sure Debian's Chromium is installed for the
# admin UI's browser tests (internal/admin/browser_test.go drives it with
# chromedp). Installs the `chromium` package when /usr/bin/chromium is
# missing; needs root (or sudo) and the Debian package mirror.
set -euo pipefail

bin=${SESSIOND_CHROMIUM:-/usr/bin/chromium}
if [[ -x $bin ]]; then
  "$bin" --version 2>/dev/null || true
  exit 0
fi

echo "chromium: $bin is missing; installing Debian's chromium package" >&2
sudo=()
if ((EUID != 0)); then
  command -v sudo >/dev/null || { echo "chromium: not root and no sudo; install the chromium package by hand" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
"$bin" --version
