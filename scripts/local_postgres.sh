#!/usr/bin/env bash
# Start (creating it on first use) a PostgreSQL server for a labelling team, with its data in
# data/pg, listening on 127.0.0.1:${PGPORT:-5433}; print the THOUGHTSCOPE_DB URL to use.
# `scripts/local_postgres.sh stop` stops it. For a shared server on a network, point
# THOUGHTSCOPE_DB at your own PostgreSQL instead.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${PGPORT:-5433}"
bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
if [ -z "$bindir" ]; then
  echo "PostgreSQL is not installed (run: make system-deps)" >&2
  exit 1
fi
data="$PWD/data/pg"
run() {
  # initdb and the server refuse to run as root: run them as the postgres user then.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "${1:-start}" = stop ]; then
  run "$bindir/pg_ctl" -D "$data/cluster" -m fast -w stop
  exit 0
fi
mkdir -p "$data"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$data"
if [ ! -f "$data/cluster/PG_VERSION" ]; then
  run "$bindir/initdb" -D "$data/cluster" -A trust -U postgres -E UTF8 --locale=C >/dev/null
fi
if ! run "$bindir/pg_ctl" -D "$data/cluster" status >/dev/null 2>&1; then
  run "$bindir/pg_ctl" -D "$data/cluster" -l "$data/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $data" start >/dev/null
fi
run "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = 'thoughtscope'" | grep -q 1 ||
  run "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres thoughtscope
echo "postgresql+psycopg://postgres@127.0.0.1:$port/thoughtscope"
