#!/usr/bin/env bash
# Change tracking (issue 5): capture throughput into the change log, consume throughput with kafka-python and
# confluent-kafka, and end-to-end latency at a steady rate. Usage: bench/subscription.sh [CHANGES] (default 200000)
# Env: OPENDTS_BIN (default target/release/opendts, built when missing or older than the sources),
#      BENCH_MARIADB_PORT (use that running MariaDB, root / $MARIADB_ROOT_PASSWORD, with a fresh database,
#      instead of a throwaway server), LATENCY_RATE (5000 changes/s), LATENCY_SECONDS (20), LATENCY_WRITERS (8),
#      KEEP_SERVER_LOG=path (copy the OpenDTS log there before cleaning up).
# Method and output: see bench/subscription_consume.py.
set -euo pipefail
cd "$(dirname "$0")/.."
CHANGES="${1:-200000}"
PY="$PWD/.venv/bin/python"
BIN="${OPENDTS_BIN:-$PWD/target/release/opendts}"
export MARIADB_ROOT_PASSWORD="${MARIADB_ROOT_PASSWORD:-opendts-root}"

if [[ -z "${OPENDTS_BIN:-}" ]]; then
  if [[ ! -x "$BIN" ]] || [[ -n "$(find crates Cargo.toml Cargo.lock -type f -newer "$BIN" -print -quit)" ]]; then
    cargo build --release -p opendts
  fi
fi

WORK="$(mktemp -d /tmp/opendts-bench-subscription.XXXXXX)"
chmod 755 "$WORK"  # mariadbd runs as mysql
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
DB="bench_sub_$$"
SERVER_PID=""
OWN_DB=""
if [[ -n "${BENCH_MARIADB_PORT:-}" ]]; then
  DB_PORT="$BENCH_MARIADB_PORT"
else
  DB_PORT="$(free_port)"
  OWN_DB=1
fi
dbsql() { MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$DB_PORT" -uroot -N -B -e "$1"; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ -f "$WORK/server.log" ]]; then
    [[ -n "${KEEP_SERVER_LOG:-}" ]] && cp "$WORK/server.log" "$KEEP_SERVER_LOG"
    if [[ $rc -ne 0 ]]; then
      echo "--- last lines of the OpenDTS log ---" >&2
      tail -n 30 "$WORK/server.log" >&2 || true
    fi
  fi
  if [[ -n "$OWN_DB" ]]; then
    bash scripts/db/stop-mariadb.sh "$DB_PORT" "$WORK/mariadb" >/dev/null 2>&1 || true
  else
    dbsql "DROP DATABASE IF EXISTS \`$DB\`" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

if [[ -n "$OWN_DB" ]]; then
  MARIADB_SERVER_ID=31 bash scripts/db/start-mariadb.sh "$DB_PORT" "$WORK/mariadb" >/dev/null
fi

echo "== machine =="
echo "nproc $(nproc); memory $(free -m | awk '/^Mem:/ {print $2 " MiB total, " $7 " MiB available"}'); $(uname -sr)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "MariaDB $(dbsql 'SELECT VERSION()') on 127.0.0.1:$DB_PORT ($([[ -n "$OWN_DB" ]] && echo "throwaway server in $WORK/mariadb" || echo "existing server, database $DB")); innodb_flush_log_at_trx_commit=$(dbsql 'SELECT @@innodb_flush_log_at_trx_commit'), sync_binlog=$(dbsql 'SELECT @@sync_binlog')"
echo "OpenDTS $BIN ($(date -r "$BIN" '+%F %T')); loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

KEY="$("$BIN" accesskey create --data-dir "$WORK/data" --json)"
API_PORT="$(free_port)"
OPENDTS_LOG="${OPENDTS_LOG:-info}" "$BIN" serve --data-dir "$WORK/data" --listen "127.0.0.1:$API_PORT" \
  --kafka-listen 127.0.0.1:0 2>"$WORK/server.log" >&2 &
SERVER_PID=$!
for _ in $(seq 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$API_PORT") 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "opendts serve exited" >&2; exit 1; }
  sleep 0.05
done

"$PY" bench/subscription_consume.py --changes "$CHANGES" --api-port "$API_PORT" --db-port "$DB_PORT" --db "$DB" \
  --key "$KEY" --data-dir "$WORK/data" --server-pid "$SERVER_PID" --rate "${LATENCY_RATE:-5000}" \
  --seconds "${LATENCY_SECONDS:-20}" --writers "${LATENCY_WRITERS:-8}"

echo
echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "OpenDTS log: $(grep -c . "$WORK/server.log") lines, $(grep -c -E 'WARN|ERROR' "$WORK/server.log" || true) WARN/ERROR"
grep -E 'WARN|ERROR' "$WORK/server.log" | sort | uniq -c | sort -rn | head -n 10 || true
