#!/usr/bin/env bash
# Start a throwaway PostgreSQL 15 server configured for logical replication.
# Usage: start-postgres.sh PORT [DIR]   (DIR defaults to /tmp/opendts-db/postgres-PORT)
# Env:   POSTGRES_PASSWORD (default opendts-root): password of superuser 'postgres' over TCP.
#        PG_BIN (default /usr/lib/postgresql/15/bin), POSTGRES_START_TIMEOUT seconds (default 30).
# Auth:  trust on the unix socket (inside DIR), scram-sha-256 on 127.0.0.1, so wrong passwords are refused.
# Idempotent: exits 0 at once if a server already answers on PORT. Runs as root; the server runs as 'postgres'.
set -euo pipefail

PORT="${1:?usage: $0 PORT [DIR]}"
DIR="${2:-/tmp/opendts-db/postgres-${PORT}}"
PG_PW="${POSTGRES_PASSWORD:-opendts-root}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
TIMEOUT="${POSTGRES_START_TIMEOUT:-30}"

[[ "$PORT" =~ ^[0-9]+$ ]] || { echo "start-postgres: PORT must be a number, got '$PORT'" >&2; exit 2; }
[[ -x "$PG_BIN/postgres" ]] || { echo "start-postgres: no PostgreSQL binaries in $PG_BIN" >&2; exit 1; }

as_pg() { runuser -u postgres -- "$@"; }

if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2; then
  echo "start-postgres: a server already answers on 127.0.0.1:$PORT"
  exit 0
fi

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
chown postgres: "$DIR"
chmod 700 "$DIR"
as_pg test -w "$DIR" \
  || { echo "start-postgres: $DIR is not reachable/writable by user postgres (check its parent directories)" >&2; exit 1; }
DATA="$DIR/data"

if [[ ! -s "$DATA/PG_VERSION" ]]; then
  rm -rf "$DATA"
  echo "start-postgres: initialising $DATA"
  # initdb wants the scram password in a file the postgres user can read.
  PWFILE="$DIR/.pwfile"
  printf '%s\n' "$PG_PW" >"$PWFILE"
  chown postgres: "$PWFILE"
  chmod 600 "$PWFILE"
  if ! as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres --pwfile="$PWFILE" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1; then
    rm -f "$PWFILE"
    echo "start-postgres: initdb failed, see $DIR/initdb.log" >&2
    tail -n 20 "$DIR/initdb.log" >&2
    exit 1
  fi
  rm -f "$PWFILE"
  cat >>"$DATA/postgresql.conf" <<CONF

# --- opendts test server ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
max_connections = 200
password_encryption = 'scram-sha-256'
fsync = off
CONF
fi

if ! as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$DIR/postgres.log" -w -t "$TIMEOUT" start >/dev/null; then
  echo "start-postgres: server did not start within ${TIMEOUT}s; last lines of $DIR/postgres.log:" >&2
  tail -n 20 "$DIR/postgres.log" >&2 || true
  exit 1
fi
"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t "$TIMEOUT" \
  || { echo "start-postgres: no answer on 127.0.0.1:$PORT" >&2; tail -n 20 "$DIR/postgres.log" >&2; exit 1; }

# (Re)apply the password so a changed POSTGRES_PASSWORD takes effect on an existing data dir.
# Dollar-quoting with a random tag keeps any character of the password literal.
TAG="pw$RANDOM$RANDOM"
as_pg "$PG_BIN/psql" -X -q -h "$DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
  -c "ALTER USER postgres PASSWORD \$$TAG\$$PG_PW\$$TAG\$" >/dev/null

echo "start-postgres: ready on 127.0.0.1:$PORT (pid $(head -n1 "$DATA/postmaster.pid"), dir $DIR, user postgres)"
