#!/bin/sh
# Quick start, command 1: install, build, and start evt-gateway in development
# mode on its embedded defaults (http://127.0.0.1:8288, SQLite in ./.evt).
# The gateway replaces this shell (exec), and package.json's "start" execs this
# script, so `npm start` has the gateway as its direct child: stopping npm
# (Ctrl-C, SIGTERM) stops the gateway, never leaving it running on its port.
# EVT_START_SKIP_BUILD=1 skips install and build (tests of the signal chain).
set -eu
cd "$(dirname -- "$0")/.."
if [ "${EVT_START_SKIP_BUILD:-}" != "1" ]; then
  sh scripts/pnpm.sh install --frozen-lockfile
  sh scripts/pnpm.sh exec turbo run build --filter=@evt/gateway...
fi
exec node apps/gateway/dist/cli.js dev "$@"
