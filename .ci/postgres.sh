#!/usr/bin/env bash
# Makes a PostgreSQL server ready for the postgres store's tests, on
# loopback only, and prints the line that points the tests at it:
#
#	eval "$(bash .ci/postgres.sh)"
#
# (In a script under set -e, assign the output first so that a failure
# stops it: env="$(bash .ci/postgres.sh)"; eval "$env".)
#
# Idempotent: installs Debian's postgresql package if it is missing, creates
# the cluster if there is none, makes it listen on 127.0.0.1 only, starts it
# if it is down and creates the herald role and database if they are
# missing. Progress goes to stderr; stdout carries only the export line.
set -euo pipefail

PG_PORT="${HERALD_PG_PORT:-5432}"
PG_USER=herald
PG_PASSWORD=herald
PG_DB=herald

log() { echo "postgres.sh: $*" >&2; }

# pg_version prints the major version of the installed server, or nothing.
pg_version() {
	ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1
}

if [ -z "$(pg_version)" ] || ! command -v pg_ctlcluster >/dev/null; then
	log "installing postgresql"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq postgresql >&2
fi
VERSION="$(pg_version)"
CLUSTER=main

if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$VERSION $CLUSTER"; then
	log "creating cluster $VERSION/$CLUSTER"
	pg_createcluster "$VERSION" "$CLUSTER" -p "$PG_PORT" >&2
fi

# Loopback only, on the chosen port, through a file in the cluster's conf.d
# (read after postgresql.conf, so its settings win). A running server picks
# a change up on restart.
CONF_DIR="/etc/postgresql/$VERSION/$CLUSTER/conf.d"
CONF_FILE="$CONF_DIR/herald-tests.conf"
WANT_CONF="# Written by herald's .ci/postgres.sh.
listen_addresses = '127.0.0.1'
port = $PG_PORT
# The store tests open many small pools in parallel.
max_connections = 300
"
CONF_CHANGED=0
if [ "$(cat "$CONF_FILE" 2>/dev/null || true)" != "$(printf '%s' "$WANT_CONF")" ]; then
	mkdir -p "$CONF_DIR"
	printf '%s' "$WANT_CONF" >"$CONF_FILE"
	CONF_CHANGED=1
fi

status() { pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $4}'; }
mkdir -p /var/run/postgresql && chown postgres:postgres /var/run/postgresql
if [ "$(status)" = "online" ] && [ "$CONF_CHANGED" = 1 ]; then
	log "restarting cluster $VERSION/$CLUSTER for the new settings"
	pg_ctlcluster "$VERSION" "$CLUSTER" restart >&2
elif [ "$(status)" != "online" ]; then
	log "starting cluster $VERSION/$CLUSTER"
	pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
fi

for _ in $(seq 1 60); do
	if pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
		break
	fi
	sleep 0.5
done
pg_isready -h 127.0.0.1 -p "$PG_PORT" >&2

psql_admin() { (cd / && runuser -u postgres -- psql -p "$PG_PORT" -v ON_ERROR_STOP=1 -qtA "$@"); }

if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'")" != 1 ]; then
	log "creating role $PG_USER"
	psql_admin -c "CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD'"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]; then
	log "creating database $PG_DB"
	psql_admin -c "CREATE DATABASE $PG_DB OWNER $PG_USER"
fi

echo "export HERALD_TEST_POSTGRES_URL='postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB?sslmode=disable'"
