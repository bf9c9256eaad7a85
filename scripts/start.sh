#!/bin/sh
# Quick start, command 1: install, build, and start evt-gateway in development
# mode on its embedded defaults (http://127.0.0.1:8288, SQLite in ./.evt).
set -eu
cd "$(dirname -- "$0")/.."
sh scripts/pnpm.sh install --frozen-lockfile
sh scripts/pnpm.sh exec turbo run build --filter=@evt/gateway...
exec node apps/gateway/dist/cli.js dev "$@"
