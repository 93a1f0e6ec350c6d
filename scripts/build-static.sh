#!/usr/bin/env bash
# scripts/build-static.sh OUTPATH — build the static sessiond binary exactly as
# the Dockerfile does (tests call this to exercise the shipped binary).
# KEEP THE go build LINE IDENTICAL TO THE ONE IN Dockerfile.
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: $0 OUTPATH" >&2; exit 2; }
out=$1
[[ $out == /* ]] || out=$PWD/$out   # relative to the caller, before the cd
VERSION=${VERSION:-dev}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o "$out" ./cmd/server
