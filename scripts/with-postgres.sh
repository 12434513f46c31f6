#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL cluster, then removes the cluster.
# Usage: ./scripts/with-postgres.sh COMMAND [ARGS...]
#
# Installs Debian's postgresql package if missing, runs initdb + pg_ctl as the postgres
# user (initdb refuses root) on a temporary directory, with its unix socket
# inside that directory, and exports FIELDSYNC_TEST_POSTGRES with the
# connection settings (no database name: each test creates its own database).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_packages postgresql
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
    as_pg=(runuser -u postgres --)
elif [ "$(id -un)" != postgres ]; then
    as_pg=(sudo -u postgres)
fi

dir=$(mktemp -d /tmp/fieldsync-pg.XXXXXX)
chmod 755 "$dir"
chown postgres "$dir" 2>/dev/null || sudo chown postgres "$dir"
# No TCP listener: the port only names the socket file in our private directory, so it
# cannot clash with another cluster.
port=5432

cleanup() {
    "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

"${as_pg[@]}" "$bin/initdb" --no-sync -D "$dir/data" -A trust -U fieldsync -E UTF8 >/dev/null
# Durability is irrelevant for a cluster that is deleted afterwards; benchmarks set
# FIELDSYNC_PG_DURABLE=1 to measure with PostgreSQL's default (durable) settings.
options="-p $port -k $dir -c listen_addresses='' -c max_connections=300"
if [ "${FIELDSYNC_PG_DURABLE:-0}" != 1 ]; then
    options="$options -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi
# FIELDSYNC_PG_OPTIONS adds server options, e.g. to profile statements:
# "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all".
options="$options ${FIELDSYNC_PG_OPTIONS:-}"
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -o "$options" start >/dev/null
echo "==> throwaway PostgreSQL on $dir (port $port)"

export FIELDSYNC_TEST_POSTGRES="host=$dir port=$port user=fieldsync"
"$@"
