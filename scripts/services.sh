#!/bin/sh
# Makes sure the services the tests talk to are answering: Redis and
# PostgreSQL on their standard local ports, and the test database exists.
# Starts them with this machine's commands when they are not answering.
set -u
redis_ok() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
pg_ok() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
wait_for() { i=0; while ! "$1"; do i=$((i + 1)); [ "$i" -ge 60 ] && return 1; sleep 0.5; done; }

if ! redis_ok; then
  echo "services: Redis is not answering on 127.0.0.1:6379, starting it"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  wait_for redis_ok || { echo "services: Redis did not start (needed on 127.0.0.1:6379)"; exit 1; }
fi

if ! pg_ok; then
  echo "services: PostgreSQL is not answering on 127.0.0.1:5432, starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  wait_for pg_ok || { echo "services: PostgreSQL did not start (needed on 127.0.0.1:5432)"; exit 1; }
fi

db=evt_test
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
  echo "services: creating database $db"
  createdb -h 127.0.0.1 -U postgres "$db" || { echo "services: could not create database $db"; exit 1; }
fi
echo "services: Redis and PostgreSQL ($db) are ready"

# The console's browser tests drive the Chromium Debian packages (no browser download).
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  echo "services: installing chromium for the console's browser tests"
  (apt-get install -y chromium >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y chromium >/dev/null 2>&1; }) \
    || echo "services: could not install chromium (apt-get install -y chromium); the console tests will say so"
fi
