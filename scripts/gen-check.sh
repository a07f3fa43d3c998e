#!/usr/bin/env bash
# Fail if generated/ is not exactly what `make gen` writes from openapi/ + overrides/.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
scripts/gen.sh "$tmp/generated"
if ! diff -r generated "$tmp/generated"; then
  echo "generated/ has drifted from openapi/ + overrides/: run 'make gen' and commit the result." >&2
  exit 1
fi
echo "generated/ is up to date."
