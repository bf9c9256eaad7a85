#!/bin/sh
# Quick start, command 2 (and what CI runs): install, build, check packaging
# and types, lint, then run every test against the real local services.
# Ends with one plain line: "N passed, N failed".
set -u
cd "$(dirname -- "$0")/.."
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
results=.vitest-results.json
rm -f "$results"

step() {
  echo "==> $*"
  "$@" || { status=$?; echo "step failed ($status): $*"; node scripts/summary.mjs "$results" "$*"; exit 1; }
}

step sh scripts/services.sh
step sh scripts/pnpm.sh install --frozen-lockfile
step sh scripts/pnpm.sh exec turbo run build typecheck lint
step sh scripts/pnpm.sh exec biome check .

echo "==> vitest run"
sh scripts/pnpm.sh exec vitest run --reporter=default --reporter=json --outputFile.json="$results"
code=$?
node scripts/summary.mjs "$results" || code=1
exit $code
