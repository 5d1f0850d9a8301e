#!/usr/bin/env bash
# Install (Debian) what the test suite uses beside Python: PostgreSQL, started here, and
# Chromium for the dashboard's browser tests. Prints the variable that points the tests at
# the database.
set -euo pipefail
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}
export DEBIAN_FRONTEND=noninteractive

if ! command -v pg_ctlcluster >/dev/null || [ ! -x /usr/bin/chromium ]; then
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq postgresql chromium >&2
fi

cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
if [ -z "$cluster" ]; then
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  $SUDO pg_createcluster "$version" main >&2
  cluster="$version main"
fi
# shellcheck disable=SC2086
$SUDO pg_ctlcluster $cluster start >&2 2>/dev/null || true
# Crash recovery after an unclean stop can take a while on a busy machine: wait up to 60 s.
for _ in $(seq 300); do
  as_postgres psql -qtAc "select 1" >/dev/null 2>&1 && break
  sleep 0.2
done
as_postgres psql -qtAc "select 1 from pg_roles where rolname='berrys'" | grep -q 1 \
  || as_postgres psql -qc "create role berrys login superuser password 'berrys'" >&2
as_postgres psql -qtAc "select 1 from pg_database where datname='berrys_test'" | grep -q 1 \
  || as_postgres createdb -O berrys berrys_test >&2

echo "export BERRYS_TEST_DATABASE_URL=postgresql+asyncpg://berrys:berrys@127.0.0.1:5432/berrys_test"
