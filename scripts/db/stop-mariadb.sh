#!/usr/bin/env bash
# Stop a MariaDB server started by start-mariadb.sh, by the pid in its DIR.
# Usage: stop-mariadb.sh PORT [DIR]   (DIR defaults to /tmp/opendts-db/mariadb-PORT)
# The data directory is kept; delete DIR to start afresh next time.
set -euo pipefail

PORT="${1:?usage: $0 PORT [DIR]}"
DIR="${2:-/tmp/opendts-db/mariadb-${PORT}}"
PIDFILE="$DIR/mysqld.pid"

if [[ ! -s "$PIDFILE" ]]; then
  echo "stop-mariadb: no pid file at $PIDFILE; nothing to stop"
  exit 0
fi
PID="$(cat "$PIDFILE")"
if ! kill -0 "$PID" 2>/dev/null; then
  echo "stop-mariadb: pid $PID is not running"
  rm -f "$PIDFILE"
  exit 0
fi

# SIGTERM is a clean shutdown; escalate after 30 s.
kill -TERM "$PID"
for ((i = 0; i < 150; i++)); do
  kill -0 "$PID" 2>/dev/null || { echo "stop-mariadb: stopped pid $PID"; exit 0; }
  sleep 0.2
done
echo "stop-mariadb: pid $PID ignored SIGTERM for 30s, sending SIGKILL" >&2
kill -KILL "$PID" 2>/dev/null || true
rm -f "$PIDFILE"
