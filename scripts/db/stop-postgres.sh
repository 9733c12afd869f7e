#!/usr/bin/env bash
# Stop a PostgreSQL server started by start-postgres.sh, by the pid in its data dir.
# Usage: stop-postgres.sh PORT [DIR]   (DIR defaults to /tmp/opendts-db/postgres-PORT)
# The data directory is kept; delete DIR to start afresh next time.
set -euo pipefail

PORT="${1:?usage: $0 PORT [DIR]}"
DIR="${2:-/tmp/opendts-db/postgres-${PORT}}"
PIDFILE="$DIR/data/postmaster.pid"

if [[ ! -s "$PIDFILE" ]]; then
  echo "stop-postgres: no pid file at $PIDFILE; nothing to stop"
  exit 0
fi
PID="$(head -n1 "$PIDFILE")"
if ! kill -0 "$PID" 2>/dev/null; then
  echo "stop-postgres: pid $PID is not running"
  exit 0
fi

# SIGINT is PostgreSQL's "fast" shutdown (disconnects clients); escalate after 30 s.
kill -INT "$PID"
for ((i = 0; i < 150; i++)); do
  kill -0 "$PID" 2>/dev/null || { echo "stop-postgres: stopped pid $PID"; exit 0; }
  sleep 0.2
done
echo "stop-postgres: pid $PID ignored SIGINT for 30s, sending SIGQUIT" >&2
kill -QUIT "$PID" 2>/dev/null || true
